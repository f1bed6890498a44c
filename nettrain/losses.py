"""Loss functions and weight penalties (symbolic; the Trainer minimizes their sum).

Losses reduce over the batch with ``reduction='mean'`` (default), ``'sum'``
or ``'none'`` (one value per example). Crossentropies take logits by default
(``from_logits=True``) and use the stable ``log_softmax`` / ``softplus`` forms.

Examples
--------
>>> import numpy as np
>>> import nettrain.tensor as T
>>> from nettrain import losses
>>> z, y = T.dmatrix('z'), T.ivector('y')
>>> float(losses.categorical_crossentropy(z, y).eval({z: [[0., 1000.]], y: [0]}))
1000.0
"""

from .configdefaults import config
from .tensor import math as _m
from .tensor import nnet as _nnet
from .tensor.basic import as_tensor_variable, cast, constant
from .tensor.reduction import mean
from .tensor.reduction import sum as _sum


def _reduce(per_example, reduction, what):
    if reduction == "mean":
        return mean(per_example)
    if reduction == "sum":
        return _sum(per_example)
    if reduction == "none":
        return per_example
    raise ValueError("%s: reduction must be 'mean', 'sum' or 'none', got %r" % (what, reduction))


def _per_example(elementwise):
    """Mean over every axis but the first (one value per example)."""
    if elementwise.type.ndim <= 1:
        return elementwise
    return mean(elementwise, axis=tuple(range(1, elementwise.type.ndim)))


def categorical_crossentropy(output, target, from_logits=True, reduction="mean"):
    """Crossentropy of class scores ``output`` (batch, classes) against ``target``.

    Parameters
    ----------
    output : matrix
        Logits (``from_logits=True``) or probabilities.
    target : int vector or matrix
        Class indices, or one-hot / soft target distributions.
    """
    z, t = as_tensor_variable(output), as_tensor_variable(target)
    if z.type.ndim != 2:
        raise ValueError("categorical_crossentropy: output must be a (batch, classes) matrix, got %s" % z.type)
    if t.type.ndim not in (1, 2):
        raise ValueError("categorical_crossentropy: target must be class indices or a matrix, got %s" % t.type)
    if t.type.ndim == 1 and not t.type.dtype.startswith(("int", "uint")):
        raise TypeError("categorical_crossentropy: a vector target must hold integer class indices, got %s" % t.type)
    if from_logits:
        if t.type.ndim == 1:
            per = _nnet.crossentropy_softmax_1hot(z, t)[0]
        else:
            per = -_sum(cast(t, z.type.dtype) * _nnet.log_softmax(z, axis=-1), axis=-1)
    else:
        per = _nnet.categorical_crossentropy(z, t if t.type.ndim == 1 else cast(t, z.type.dtype))
    return _reduce(per, reduction, "categorical_crossentropy")


def binary_crossentropy(output, target, from_logits=True, reduction="mean"):
    """Elementwise binary crossentropy of logits (or probabilities) ``output`` against 0/1 ``target``."""
    z, t = as_tensor_variable(output), as_tensor_variable(target)
    t = cast(t, z.type.dtype)
    if from_logits:
        elem = _nnet.sigmoid_binary_crossentropy(z, t)
    else:
        elem = _nnet.binary_crossentropy(z, t)
    return _reduce(_per_example(elem), reduction, "binary_crossentropy")


def mse(output, target, reduction="mean"):
    """Mean squared error."""
    z, t = as_tensor_variable(output), as_tensor_variable(target)
    return _reduce(_per_example(_m.sqr(z - cast(t, z.type.dtype))), reduction, "mse")


def mae(output, target, reduction="mean"):
    """Mean absolute error."""
    z, t = as_tensor_variable(output), as_tensor_variable(target)
    return _reduce(_per_example(_m.abs(z - cast(t, z.type.dtype))), reduction, "mae")


l1 = mae
mean_squared_error = mse
mean_absolute_error = mae


def _regularizable(params):
    """The shared variables of a Layer, a dict or a list that are tagged regularizable (default: yes)."""
    if hasattr(params, "named_params"):
        params = params.params(regularizable=True)
    elif isinstance(params, dict):
        params = list(params.values())
    return [p for p in params if getattr(p.tag, "regularizable", True)]


def _penalty(params, fn):
    terms = [_sum(fn(p)) for p in _regularizable(params)]
    if not terms:
        return constant(0.0, dtype=config.floatX)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def l2_penalty(params):
    """``sum(p ** 2)`` over the regularizable parameters (a Layer, a dict or a list of shared variables).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> from nettrain.losses import l2_penalty
    >>> w = theano.shared(np.array([1., 2.]))
    >>> float(l2_penalty([w]).eval())
    5.0
    """
    return _penalty(params, _m.sqr)


def l1_penalty(params):
    """``sum(|p|)`` over the regularizable parameters."""
    return _penalty(params, _m.abs)


__all__ = [
    "categorical_crossentropy", "binary_crossentropy", "mse", "mae", "l1", "mean_squared_error",
    "mean_absolute_error", "l2_penalty", "l1_penalty",
]  # fmt: skip
