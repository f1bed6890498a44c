"""Symbolic metrics (mean over the batch, in the output's float dtype).

Examples
--------
>>> import nettrain.tensor as T
>>> from nettrain import metrics
>>> z, y = T.dmatrix('z'), T.ivector('y')
>>> float(metrics.accuracy(z, y).eval({z: [[0., 1.], [3., 2.]], y: [1, 1]}))
0.5
"""

import math

from .configdefaults import config
from .tensor import math as _m
from .tensor.basic import as_tensor_variable, cast
from .tensor.reduction import argmax, mean


def _float_dtype(z):
    return z.type.dtype if z.type.dtype.startswith("float") else config.floatX


def accuracy(output, target):
    """Fraction of rows whose highest score is the target class.

    ``output`` is ``(batch, classes)`` (logits or probabilities); ``target``
    holds class indices ``(batch,)`` or one-hot rows ``(batch, classes)``.
    """
    z, t = as_tensor_variable(output), as_tensor_variable(target)
    if z.type.ndim != 2:
        raise ValueError("accuracy: output must be a (batch, classes) matrix, got %s" % z.type)
    if t.type.ndim == 2:
        t = argmax(t, axis=-1)
    elif t.type.ndim != 1:
        raise ValueError("accuracy: target must be class indices (vector) or one-hot rows (matrix), got %s" % t.type)
    return mean(cast(_m.eq(argmax(z, axis=-1), t), _float_dtype(z)))


def binary_accuracy(output, target, from_logits=True, threshold=0.5):
    """Fraction of entries where ``output`` thresholded at ``threshold`` (a probability) equals the 0/1 target.

    With ``from_logits=True`` (the default, like the losses) ``output`` holds
    logits and is compared with ``logit(threshold)`` (0 for 0.5).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("binary_accuracy: threshold must be in (0, 1), got %r" % (threshold,))
    z, t = as_tensor_variable(output), as_tensor_variable(target)
    cut = math.log(threshold / (1.0 - threshold)) if from_logits else threshold
    pred = _m.gt(z, cut)
    return mean(cast(_m.eq(pred, _m.gt(t, 0.5)), _float_dtype(z)))


__all__ = ["accuracy", "binary_accuracy"]
