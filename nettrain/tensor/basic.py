"""Tensor constructors, constants and conversions (Theano's public names)."""

import numpy as np

from ..configdefaults import config
from ..graph.basic import Variable
from .type import TensorType, normalize_dtype
from .variable import TensorConstant, TensorSharedVariable, TensorVariable


def constant(x, name=None, ndim=None, dtype=None):
    """A constant tensor holding ``x``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> c = T.constant([1.0, 2.0])
    >>> c.type
    TensorType(float64, shape=(2,))
    """
    weak = isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic) and dtype is None
    if dtype is not None:
        arr = np.asarray(x, dtype=normalize_dtype(dtype))
    elif isinstance(x, (np.ndarray, np.generic)):
        arr = np.asarray(x)
    else:
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError("cannot make a tensor constant from %r" % (x,))
        if arr.dtype == np.float64:
            arr = arr.astype(config.floatX)  # Python floats follow floatX
    if ndim is not None:
        if arr.ndim < ndim:
            arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
        elif arr.ndim > ndim:
            raise ValueError("constant %r has more than %d dimensions" % (x, ndim))
    if arr.dtype.name not in _SUPPORTED:
        if arr.dtype.kind == "U" or arr.dtype.kind == "S" or arr.dtype == object:
            raise TypeError("cannot make a tensor constant from %r (dtype %s)" % (x, arr.dtype))
        arr = arr.astype(normalize_dtype(arr.dtype))
    typ = TensorType(arr.dtype.name, arr.shape)
    return TensorConstant(typ, arr, name=name, weak=weak)


_SUPPORTED = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}  # fmt: skip


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """Return ``x`` as a tensor Variable (constants for Python/NumPy data).

    Lists or tuples that contain variables are stacked into one tensor.
    """
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError("expected a tensor variable, got %s of type %s" % (x, x.type))
        if ndim is not None and x.type.ndim != ndim:
            if x.type.ndim > ndim and all(s == 1 for s in x.type.shape[: x.type.ndim - ndim]):
                from .elemwise import DimShuffle

                k = x.type.ndim - ndim
                return DimShuffle(x.type.broadcastable, tuple(range(k, x.type.ndim)))(x)
            raise TypeError("expected a %d-d tensor, got %s" % (ndim, x.type))
        if dtype is not None and x.type.dtype != normalize_dtype(dtype):
            return cast(x, dtype)
        return x
    if hasattr(x, "owner") and hasattr(x, "outputs"):  # an Apply node
        if len(x.outputs) != 1:
            raise TypeError("cannot convert a multi-output Apply to a single tensor")
        return as_tensor_variable(x.outputs[0], name, ndim)
    if isinstance(x, (list, tuple)) and _contains_variable(x):
        from .join import stack

        return stack([as_tensor_variable(e) for e in x])
    return constant(x, name=name, ndim=ndim, dtype=dtype)


as_tensor = as_tensor_variable


def _contains_variable(seq):
    for e in seq:
        if isinstance(e, Variable):
            return True
        if isinstance(e, (list, tuple)) and _contains_variable(e):
            return True
    return False


def get_scalar_constant_value(v):
    """The Python value of a 0-d (or all-equal) constant, else raise."""
    if isinstance(v, (int, float, np.number)):
        return v
    if isinstance(v, TensorConstant):
        d = v.data
        if d.size >= 1 and (d.ndim == 0 or (d == d.flat[0]).all()):
            return d.flat[0]
    raise NotScalarConstantError(v)


class NotScalarConstantError(ValueError):
    """The variable is not a constant scalar."""


# --------------------------------------------------------------- cast/like
def cast(x, dtype):
    """Symbolic ``x.astype(dtype)``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.cast(T.ivector('i'), 'float32').dtype
    'float32'
    """
    from .elemwise import Elemwise
    from .scalar_op import Cast

    x = as_tensor_variable(x)
    dtype = normalize_dtype(dtype)
    if x.type.dtype == dtype:
        return x
    return Elemwise(Cast(dtype))(x)


def zeros_like(x, dtype=None, opt=False):
    """Zeros with the shape of ``x`` (and its dtype unless given)."""
    from .math import fill

    x = as_tensor_variable(x)
    dt = normalize_dtype(dtype) if dtype is not None else x.type.dtype
    return fill(x, constant(np.zeros((), dtype=dt)))


def ones_like(x, dtype=None, opt=False):
    """Ones with the shape of ``x`` (and its dtype unless given)."""
    from .math import fill

    x = as_tensor_variable(x)
    dt = normalize_dtype(dtype) if dtype is not None else x.type.dtype
    return fill(x, constant(np.ones((), dtype=dt)))


# ----------------------------------------------------------- constructors
def tensor(dtype=None, broadcastable=None, name=None, shape=None):
    """A symbolic input tensor: ``T.tensor('float32', (False, True))``."""
    if isinstance(dtype, (tuple, list)) and broadcastable is None:
        broadcastable, dtype = dtype, None
    if shape is None and broadcastable is None:
        raise TypeError("tensor() needs broadcastable= or shape=")
    if isinstance(broadcastable, str) and name is None:
        raise TypeError("tensor(dtype, broadcastable, name): broadcastable must be a tuple of bools")
    return TensorType(dtype or config.floatX, shape=shape, broadcastable=broadcastable)(name)


def _maker(ndim, dtype=None, pattern=None):
    def make(name=None, dtype=dtype, shape=None):
        bc = pattern if pattern is not None else (False,) * ndim
        if shape is not None:
            return TensorType(dtype or config.floatX, shape=shape)(name)
        return TensorType(dtype or config.floatX, broadcastable=bc)(name)

    return make


_KINDS = {
    "scalar": (0, None), "vector": (1, None), "row": (2, (True, False)), "col": (2, (False, True)),
    "matrix": (2, None), "tensor3": (3, None), "tensor4": (4, None), "tensor5": (5, None),
    "tensor6": (6, None), "tensor7": (7, None),
}  # fmt: skip
_PREFIX = {
    "b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64",
    "c": "complex64", "z": "complex128",
}  # fmt: skip

_g = globals()
for _kind, (_nd, _pat) in _KINDS.items():
    _g[_kind] = _maker(_nd, None, _pat)
    for _p, _dt in _PREFIX.items():
        _g[_p + _kind] = _maker(_nd, _dt, _pat)
del _g


def _many(kind, names, dtype):
    """Theano's ``_multi``: ``dscalars('x', 'y')``, ``dscalars('xy')`` (one per letter),
    ``dscalars(['x', 'y'])``, ``dscalars(2)``; also ``dscalars('x, y')``.
    A single one-letter name gives one variable, not a list, as in Theano."""
    make = globals()[kind]
    if len(names) == 1 and isinstance(names[0], (int, np.integer)):
        return [make(None, dtype=dtype) for _ in range(int(names[0]))]
    if len(names) == 1:
        names = names[0]
        if isinstance(names, str) and "," in names:
            names = [n.strip() for n in names.split(",")]
    if len(names) == 1:
        return make(names[0] if not isinstance(names, str) else names, dtype=dtype)
    return [make(n, dtype=dtype) for n in names]


def _many_maker(kind, dtype):
    def make(*names, dtype=dtype):
        return _many(kind, names, dtype)

    return make


scalars = _many_maker("scalar", None)
vectors = _many_maker("vector", None)
matrices = _many_maker("matrix", None)
for _p, _dt in _PREFIX.items():
    globals()[_p + "scalars"] = _many_maker("scalar", _dt)
    globals()[_p + "vectors"] = _many_maker("vector", _dt)
    globals()[_p + "matrices"] = _many_maker("matrix", _dt)

__all__ = (
    ["constant", "as_tensor_variable", "as_tensor", "cast", "zeros_like", "ones_like", "tensor",
     "get_scalar_constant_value", "NotScalarConstantError", "TensorType", "TensorVariable",
     "TensorConstant", "TensorSharedVariable", "scalars", "vectors", "matrices"]
    + list(_KINDS) + [p + k for k in _KINDS for p in _PREFIX]
    + [p + k for k in ("scalars", "vectors", "matrices") for p in _PREFIX]
)  # fmt: skip
