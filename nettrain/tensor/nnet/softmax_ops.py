"""Softmax family: ``Softmax``, its gradient ``SoftmaxGrad`` (an op of its own so
backends can give it a kernel), ``LogSoftmax``, and ``softmax_with_bias``.

Both forward ops subtract the maximum along ``axis`` first, so rows such as
``[1000, -1000]`` give finite results.

.. note::
   Write ``log(softmax(x))`` as ``log_softmax(x)``: until the stabilizing
   rewrite ``local_log_softmax_to_logsoftmax`` lands, ``log(softmax(x))``
   is computed literally and gives ``-inf`` (and NaN gradients) where the
   softmax underflows.
"""

import numpy as np

from ...graph.basic import Apply
from ...graph.op import Op
from ..type import TensorType


def _float_input(x, name):
    """``x`` as a tensor; integer inputs are cast to the float dtype ``exp`` would give."""
    from .. import scalar_op as ps
    from ..basic import as_tensor_variable, cast

    x = as_tensor_variable(x)
    if x.type.ndim == 0:
        raise TypeError("%s needs at least a 1-d tensor, got %s" % (name, x.type))
    if not x.type.dtype.startswith("float"):
        x = cast(x, ps.Exp().output_dtypes(x.type.dtype)[0])
    return x


def _check_axis(op, x):
    if not 0 <= op.axis < x.type.ndim:
        raise ValueError("%s: axis %d is out of range for %s" % (op, op.axis, x.type))


def _stable_max(x, axis):
    """Row maxima with non-finite ones replaced by 0 (as scipy.special.softmax does)."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m[~np.isfinite(m)] = 0
    return m


def _norm_axis(axis, ndim):
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError("axis %d is out of range for a %d-d tensor" % (axis, ndim))
    return axis % ndim


class Softmax(Op):
    """``exp(x) / sum(exp(x), axis)``, computed as ``exp(x - max)`` normalized."""

    __props__ = ("axis",)

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def make_node(self, x):
        x = _float_input(x, "softmax")
        _check_axis(self, x)
        return Apply(self, [x], [x.type.clone()()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        with np.errstate(invalid="ignore", over="ignore"):
            e = np.exp(x - _stable_max(x, self.axis))
            out = e / np.sum(e, axis=self.axis, keepdims=True)
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def L_op(self, inputs, outputs, output_grads):
        return [SoftmaxGrad(self.axis)(output_grads[0], outputs[0])]

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, [self(inputs[0])], output_grads)

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        # The Jacobian is symmetric, so J v is the same product as v^T J.
        return [SoftmaxGrad(self.axis)(eval_points[0], self(inputs[0]))]


class SoftmaxGrad(Op):
    """Gradient of softmax: ``(dy - sum(dy * sm, axis)) * sm`` for ``sm = softmax(x)``."""

    __props__ = ("axis",)

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def make_node(self, dy, sm):
        from ..basic import as_tensor_variable

        dy, sm = as_tensor_variable(dy), as_tensor_variable(sm)
        if dy.type.ndim != sm.type.ndim:
            raise TypeError("SoftmaxGrad: dy %s and sm %s need the same ndim" % (dy.type, sm.type))
        _check_axis(self, sm)
        dtype = np.result_type(dy.type.numpy_dtype, sm.type.numpy_dtype).name
        shape = tuple(a if a is not None else b for a, b in zip(sm.type.shape, dy.type.shape))
        return Apply(self, [dy, sm], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        dy, sm = inputs
        if dy.shape != sm.shape:
            raise ValueError("SoftmaxGrad: dy of shape %s and softmax of shape %s differ" % (dy.shape, sm.shape))
        out = (dy - np.sum(dy * sm, axis=self.axis, keepdims=True)) * sm
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def grad(self, inputs, output_grads):
        from ..basic import cast
        from ..reduction import sum as _sum

        dy, sm = inputs
        (g,) = output_grads
        # out = sm * (dy - s) with s = sum(dy * sm): linear and self-adjoint in dy.
        g_dy = self(g, sm)
        s = _sum(dy * sm, axis=self.axis, keepdims=True)
        g_sm = g * (dy - s) - dy * _sum(g * sm, axis=self.axis, keepdims=True)
        return [cast(g_dy, dy.type.dtype), cast(g_sm, sm.type.dtype)]


class LogSoftmax(Op):
    """``x - log(sum(exp(x), axis))``, computed as ``x - max - log(sum(exp(x - max)))``."""

    __props__ = ("axis",)

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def make_node(self, x):
        x = _float_input(x, "log_softmax")
        _check_axis(self, x)
        return Apply(self, [x], [x.type.clone()()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            xs = x - _stable_max(x, self.axis)
            out = xs - np.log(np.sum(np.exp(xs), axis=self.axis, keepdims=True))
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def L_op(self, inputs, outputs, output_grads):
        from ..math import exp
        from ..reduction import sum as _sum

        (gz,) = output_grads
        return [gz - exp(outputs[0]) * _sum(gz, axis=self.axis, keepdims=True)]

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, [self(inputs[0])], output_grads)

    def R_op(self, inputs, eval_points):
        from ..math import exp
        from ..reduction import sum as _sum

        (ev,) = eval_points
        if ev is None:
            return [None]
        return [ev - _sum(exp(self(inputs[0])) * ev, axis=self.axis, keepdims=True)]


def softmax(x, axis=None):
    """Softmax along ``axis`` (the last by default), stable for large inputs.

    As in Theano 1.0, ``softmax(vector)`` without an ``axis`` is a 1-row
    matrix (programs index it as ``s[:, 0, :]`` after a scan); give
    ``axis=-1`` for a vector result.  ``log(softmax(x))`` is rewritten into
    the stable ``log_softmax(x)``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.nnet.softmax(x).eval({x: [[1000., -1000.]]})
    array([[1., 0.]])
    """
    x = _theano_row(_float_input(x, "softmax"), axis)
    return Softmax(_norm_axis(-1 if axis is None else axis, x.type.ndim))(x)


def _theano_row(x, axis):
    """Theano 1.0's rule: with no axis given, a vector is softmaxed as a 1-row matrix."""
    if axis is None and x.type.ndim == 1:
        from ..elemwise import DimShuffle

        return DimShuffle(x.type.broadcastable, ("x", 0))(x)
    return x


def log_softmax(x, axis=None):
    """``log(softmax(x))`` along ``axis`` (the last by default), computed stably (finite for any finite input).

    A vector without an ``axis`` gives a 1-row matrix, as ``softmax`` (Theano 1.0).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.nnet.log_softmax(x).eval({x: [[1000., -1000.]]})
    array([[    0., -2000.]])
    """
    x = _theano_row(_float_input(x, "log_softmax"), axis)
    return LogSoftmax(_norm_axis(-1 if axis is None else axis, x.type.ndim))(x)


logsoftmax = log_softmax


def softmax_with_bias(x, b):
    """Theano's ``softmax_with_bias``: ``softmax(x + b)`` with ``b`` a vector added to each row.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x, b = T.dmatrix('x'), T.dvector('b')
    >>> T.nnet.softmax_with_bias(x, b).eval({x: [[0., 0.]], b: [0., 0.]})
    array([[0.5, 0.5]])
    """
    from ..basic import as_tensor_variable

    x, b = as_tensor_variable(x), as_tensor_variable(b)
    if b.type.ndim != 1:
        raise TypeError("softmax_with_bias: b must be a vector, got %s" % b.type)
    return softmax(x + b)


__all__ = ["Softmax", "SoftmaxGrad", "LogSoftmax", "softmax", "log_softmax", "logsoftmax", "softmax_with_bias"]
