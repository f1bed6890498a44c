"""``shared``: variables whose values persist between function calls."""

import numpy as np

from ..graph.basic import SharedVariable

_constructors = []


def shared_constructor(ctor):
    """Register ``ctor(value, name, strict, allow_downcast, borrow, **kw)``.

    Constructors are tried newest first; one returns a SharedVariable or
    raises TypeError to let the next one try.
    """
    _constructors.insert(0, ctor)
    return ctor


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False, **kwargs):
    """A shared variable holding ``value``.

    Parameters
    ----------
    value : array_like or object
        The initial value (copied unless ``borrow=True``).
    name : str, optional
        A name used in errors, printing and checkpoints.
    strict : bool
        Keep ``value``'s exact type (no conversion).
    borrow : bool
        Use ``value`` itself as storage instead of a copy.
    broadcastable, shape : optional
        Static shape information (by default every dimension may change size
        with ``set_value``, as in Theano).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> w = theano.shared(np.zeros(3), name='w')
    >>> w.get_value()
    array([0., 0., 0.])
    >>> w.set_value(np.ones(3))
    >>> w.get_value()
    array([1., 1., 1.])
    """
    if isinstance(value, SharedVariable):
        raise TypeError("shared() got a shared variable %s; pass its value (get_value()) instead" % value)
    if hasattr(value, "owner") and hasattr(value, "type"):
        raise TypeError("shared() needs a concrete value, got the symbolic variable %s; use .eval() first" % value)
    errors = []
    for ctor in _constructors:
        try:
            var = ctor(value, name=name, strict=strict, allow_downcast=allow_downcast, borrow=borrow, **kwargs)
        except TypeError as e:
            errors.append(str(e))
            continue
        return var
    raise TypeError(
        "no shared variable type accepts a value of type %s: %s" % (type(value).__name__, "; ".join(errors))
    )


@shared_constructor
def tensor_constructor(value, name=None, strict=False, allow_downcast=None, borrow=False, broadcastable=None,
                       shape=None, target=None):  # fmt: skip
    """Shared tensors for NumPy arrays and Python/NumPy scalars."""
    from ..tensor.type import TensorType
    from ..tensor.variable import TensorSharedVariable

    if isinstance(value, (bool, int, float, complex, np.generic)) or isinstance(value, np.ndarray):
        arr = np.asarray(value)
        if isinstance(value, float) and not strict:
            from ..configdefaults import config

            # A Python float follows floatX, as Theano users expect.
            arr = np.asarray(value, dtype=config.floatX)
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError("cannot make a shared tensor of dtype %s" % arr.dtype)
        if shape is None:
            if broadcastable is None:
                broadcastable = (False,) * arr.ndim
            shape = tuple(1 if b else None for b in broadcastable)
        typ = TensorType(arr.dtype.name, shape=shape)
        var = TensorSharedVariable(typ, arr if isinstance(value, np.ndarray) and borrow else arr, name=name,
                                   strict=strict, allow_downcast=allow_downcast, borrow=borrow)  # fmt: skip
        from ..configdefaults import config

        if str(config.device) != "cpu":
            from .. import backends  # noqa: F401 - the CUDA backend installs the device placer

        var.place()
        return var
    raise TypeError("not an array or scalar")


__all__ = ["shared", "shared_constructor", "SharedVariable"]
