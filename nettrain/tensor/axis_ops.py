"""Ops along one axis: cumsum/cumprod, diff, flip and roll (NumPy semantics, Theano's names)."""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from .alloc import _int_scalar
from .type import TensorType


def _as_tensor(x):
    from .basic import as_tensor_variable

    return as_tensor_variable(x)


def _is_float(v):
    return v.type.dtype.startswith(("float", "complex"))


def _axis(axis, ndim, name):
    """Normalise an int ``axis`` (negatives allowed) or raise a clear error."""
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError("%s: axis %d is out of range for a %d-d tensor" % (name, axis, ndim))
    return axis % ndim


# ------------------------------------------------------------ cumsum/cumprod
class CumOp(Op):
    """Cumulative sum (``mode='add'``) or product (``mode='mul'``); ``axis=None`` flattens."""

    __props__ = ("axis", "mode")

    def __init__(self, axis=None, mode="add"):
        if mode not in ("add", "mul"):
            raise ValueError("CumOp: mode must be 'add' or 'mul', got %r" % (mode,))
        self.axis = None if axis is None else int(axis)
        self.mode = mode

    def make_node(self, x):
        from .reduction import _sum_dtype

        x = _as_tensor(x)
        if self.axis is None:
            shape = (int(np.prod(x.type.shape)) if None not in x.type.shape else None,)
        else:
            if not 0 <= self.axis < x.type.ndim:
                raise ValueError("cum%s: axis %d is out of range for %s" % (self.mode[:3], self.axis, x.type))
            shape = x.type.shape
        return Apply(self, [x], [TensorType(_sum_dtype(x.type.dtype, "add"), shape)()])

    def perform(self, node, inputs, output_storage):
        fn = np.cumsum if self.mode == "add" else np.cumprod
        output_storage[0][0] = fn(inputs[0], axis=self.axis, dtype=node.outputs[0].type.dtype)

    def infer_shape(self, node, input_shapes):
        if self.axis is None:
            from .math import prod

            return [(prod(_as_tensor(list(input_shapes[0]))) if input_shapes[0] else _int_scalar(1),)]
        return input_shapes

    def L_op(self, inputs, outputs, output_grads):
        from .basic import cast
        from .shape import reshape, shape

        (x,) = inputs
        if not _is_float(x):
            return [None]
        gz = output_grads[0]
        axis = 0 if self.axis is None else self.axis
        if self.mode == "mul":
            # Theano's rule, d/dx_i of sum_j gz_j prod_{k<=j} x_k; undefined where x == 0.
            gz = gz * outputs[0]
        g = flip(CumOp(axis, "add")(flip(gz, axis)), axis)
        if self.mode == "mul":
            g = g / (x.flatten() if self.axis is None else x)
        if self.axis is None:
            g = reshape(g, shape(x), ndim=x.type.ndim)
        return [cast(g, x.type.dtype)]

    def R_op(self, inputs, eval_points):
        if self.mode != "add" or eval_points[0] is None:
            return None if self.mode != "add" else [None]
        return [self(eval_points[0])]


def cumsum(x, axis=None):
    """Cumulative sum along ``axis`` (flattened when None), as NumPy.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.cumsum(x).eval({x: [1., 2., 3.]})
    array([1., 3., 6.])
    """
    x = _as_tensor(x)
    return CumOp(None if axis is None else _axis(axis, x.type.ndim, "cumsum"), "add")(x)


def cumprod(x, axis=None):
    """Cumulative product along ``axis`` (flattened when None), as NumPy.

    The gradient divides by ``x`` (as in Theano), so it is not defined where ``x`` is 0.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.cumprod(x).eval({x: [1., 2., 3.]})
    array([1., 2., 6.])
    """
    x = _as_tensor(x)
    return CumOp(None if axis is None else _axis(axis, x.type.ndim, "cumprod"), "mul")(x)


# --------------------------------------------------------------------- flip
class Flip(Op):
    """Reverse the order of elements along ``axes`` (a view)."""

    __props__ = ("axes",)
    view_map = {0: [0]}

    def __init__(self, axes):
        self.axes = tuple(sorted(int(a) for a in axes))

    def make_node(self, x):
        x = _as_tensor(x)
        for a in self.axes:
            _axis(a, x.type.ndim, "flip")
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.flip(inputs[0], self.axes)

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def grad(self, inputs, output_grads):
        return [self(output_grads[0])]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]


def flip(x, axis=None):
    """Reverse ``x`` along ``axis`` (all axes when None), as NumPy's ``flip``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.flip(x).eval({x: [1., 2., 3.]})
    array([3., 2., 1.])
    """
    x = _as_tensor(x)
    if axis is None:
        axes = range(x.type.ndim)
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    axes = sorted({_axis(a, x.type.ndim, "flip") for a in axes})
    return Flip(axes)(x) if axes else x


# --------------------------------------------------------------------- diff
class DiffOp(Op):
    """``numpy.diff(x, n, axis)``; :class:`DiffGrad` is its adjoint."""

    __props__ = ("n", "axis")

    def __init__(self, n=1, axis=-1):
        self.n = int(n)
        self.axis = int(axis)

    def make_node(self, x):
        x = _as_tensor(x)
        shape = list(x.type.shape)
        if shape[self.axis] is not None:
            shape[self.axis] = max(shape[self.axis] - self.n, 0)
        return Apply(self, [x], [TensorType(x.type.dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.diff(inputs[0], n=self.n, axis=self.axis)

    def infer_shape(self, node, input_shapes):
        from .math import maximum

        s = list(input_shapes[0])
        s[self.axis] = maximum(s[self.axis] - self.n, 0)
        return [tuple(s)]

    def grad(self, inputs, output_grads):
        (x,) = inputs
        if not _is_float(x):
            return [None]
        return [DiffGrad(self.n, self.axis)(output_grads[0], x)]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]


class DiffGrad(Op):
    """Adjoint of ``diff``: maps a gradient of the differences back to the shape of ``x``."""

    __props__ = ("n", "axis")

    def __init__(self, n, axis):
        self.n = int(n)
        self.axis = int(axis)

    def make_node(self, gz, x):
        gz = _as_tensor(gz)
        return Apply(self, [gz, x], [TensorType(gz.type.dtype, x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        gz, x = inputs
        g = np.moveaxis(gz, self.axis, -1)
        if x.shape[self.axis] <= self.n:  # diff of a too-short axis is empty: no gradient
            g = np.zeros(g.shape[:-1] + (x.shape[self.axis],), dtype=gz.dtype)
        else:
            zero = np.zeros(g.shape[:-1] + (1,), dtype=gz.dtype)
            for _ in range(self.n):  # d(x[i+1] - x[i]) spreads +g to i+1 and -g to i
                g = np.concatenate([zero, g], axis=-1) - np.concatenate([g, zero], axis=-1)
        output_storage[0][0] = np.moveaxis(g, -1, self.axis).astype(gz.dtype, copy=False)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def grad(self, inputs, output_grads):
        return [DiffOp(self.n, self.axis)(output_grads[0]), None]

    def connection_pattern(self, node):
        return [[True], [False]]


def diff(x, n=1, axis=-1):
    """The ``n``-th discrete difference along ``axis`` (NumPy's ``diff``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.diff(x).eval({x: [1., 4., 9.]})
    array([3., 5.])
    """
    x = _as_tensor(x)
    if x.type.ndim == 0:
        raise ValueError("diff requires at least a 1-d input")
    if int(n) < 0:
        raise ValueError("diff: order n must be non-negative, got %d" % n)
    if int(n) == 0:
        return x
    return DiffOp(n, _axis(axis, x.type.ndim, "diff"))(x)


# --------------------------------------------------------------------- roll
class Roll(Op):
    """``numpy.roll(x, shift, axis)`` with a symbolic int ``shift``; ``axis=None`` rolls the flat array."""

    __props__ = ("axis",)

    def __init__(self, axis=None):
        self.axis = None if axis is None else int(axis)

    def make_node(self, x, shift):
        x = _as_tensor(x)
        if self.axis is not None:
            _axis(self.axis, x.type.ndim, "roll")
        return Apply(self, [x, _int_scalar(shift, "roll shift")], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.roll(inputs[0], int(inputs[1]), axis=self.axis)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        return [self(output_grads[0], -inputs[1]), None]

    def connection_pattern(self, node):
        return [[True], [False]]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0], inputs[1])]


def roll(x, shift, axis=None):
    """Shift the elements of ``x`` cyclically by ``shift`` along ``axis`` (NumPy's ``roll``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.roll(x, 1).eval({x: [1., 2., 3.]})
    array([3., 1., 2.])
    """
    x = _as_tensor(x)
    return Roll(None if axis is None else _axis(axis, x.type.ndim, "roll"))(x, shift)


__all__ = ["CumOp", "DiffOp", "DiffGrad", "Flip", "Roll", "cumsum", "cumprod", "diff", "flip", "roll"]
