"""Theano's ``T.extra_ops``: tile, repeat, broadcast_to, fill_diagonal, bincount, unique, to_one_hot.

The ops along one axis (cumsum, cumprod, diff, flip, roll) live in :mod:`.axis_ops` and
``squeeze`` in :mod:`.shape`; both are re-exported here under Theano's names.
"""

import numpy as np

from ..configdefaults import config
from ..graph.basic import Apply, Constant
from ..graph.op import Op
from .alloc import _int_scalar, _static_int, alloc, as_shape_scalars
from .axis_ops import CumOp, DiffGrad, DiffOp, Flip, Roll, cumprod, cumsum, diff, flip, roll  # noqa: F401
from .axis_ops import _as_tensor, _axis, _is_float
from .shape import squeeze  # noqa: F401  (Theano's T.extra_ops.squeeze)
from .type import TensorType


# --------------------------------------------------------------------- tile
def tile(x, reps, ndim=None):
    """Repeat ``x`` ``reps[i]`` times along each axis (NumPy's ``tile``).

    ``reps`` is a list of ints or int scalars, or an int vector (give ``ndim``
    when its length is unknown).  Built from ``alloc`` and ``reshape``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.tile(x, (2, 2)).eval({x: [1., 2.]})
    array([[1., 2., 1., 2.],
           [1., 2., 1., 2.]])
    """
    from .elemwise import DimShuffle
    from .shape import reshape, shape_i, specify_shape

    x = _as_tensor(x)
    rv = getattr(reps, "type", None)
    if rv is not None and rv.ndim == 1 and rv.shape[0] is None and ndim is not None:
        from .subtensor import getitem

        reps = [getitem(reps, i) for i in range(ndim)]
    reps = as_shape_scalars(reps, "tile reps")
    if ndim is not None and (ndim < x.type.ndim or ndim < len(reps)):
        raise ValueError("tile: ndim=%d is less than x.ndim=%d or len(reps)=%d" % (ndim, x.type.ndim, len(reps)))
    nd = max(x.type.ndim, len(reps), ndim or 0)
    reps = [_int_scalar(1)] * (nd - len(reps)) + reps
    if x.type.ndim < nd:
        x = DimShuffle(x.type.broadcastable, ("x",) * (nd - x.type.ndim) + tuple(range(x.type.ndim)))(x)
    # (s0, s1) -> (1, s0, 1, s1) -> alloc (r0, s0, r1, s1) -> reshape (r0*s0, r1*s1)
    order = [d for i in range(nd) for d in ("x", i)]
    big = alloc(DimShuffle(x.type.broadcastable, order)(x), *[d for i in range(nd) for d in (reps[i], shape_i(x, i))])
    out = reshape(big, [reps[i] * shape_i(x, i) for i in range(nd)], ndim=nd)
    static = []
    for r, s in zip(reps, x.type.shape):
        r = _static_int(r)
        static.append(r * s if r is not None and s is not None else 0 if r == 0 or s == 0 else None)
    return specify_shape(out, tuple(static))


# ------------------------------------------------------------------- repeat
class RepeatOp(Op):
    """``numpy.repeat(x, repeats, axis)`` with a scalar or vector of int ``repeats``."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, repeats):
        x = _as_tensor(x)
        repeats = _as_tensor(repeats)
        if not repeats.type.dtype.startswith(("int", "uint")):
            raise TypeError("repeat: repeats must be integers, got %s" % repeats.type)
        if repeats.type.ndim > 1:
            raise TypeError("repeat: repeats must be a scalar or a vector, got %s" % repeats.type)
        from .basic import cast

        repeats = cast(repeats, "int64")
        ax = _axis(self.axis, x.type.ndim, "repeat")
        shape = list(x.type.shape)
        n = shape[ax]
        if isinstance(repeats, Constant):
            r = repeats.data
            if np.any(r < 0):
                raise ValueError("repeat: negative repeats %s" % (r,))
            if r.ndim == 1 and n is not None and len(r) not in (1, n):
                raise ValueError("repeat: %d repeats for an axis of length %d" % (len(r), n))
            shape[ax] = int(r.sum()) if r.ndim == 1 and len(r) == n else int(r.flat[0]) * n if n is not None else None
        else:
            shape[ax] = None
        return Apply(self, [x, repeats], [TensorType(x.type.dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        x, repeats = inputs
        if np.any(repeats < 0):
            raise ValueError("repeat: negative repeats %s" % (repeats,))
        if repeats.ndim == 1 and len(repeats) not in (1, x.shape[self.axis]):
            n = x.shape[self.axis]
            raise ValueError("repeat: %d repeats for axis %d of length %d" % (len(repeats), self.axis, n))
        output_storage[0][0] = np.repeat(x, repeats, axis=self.axis)

    def infer_shape(self, node, input_shapes):
        from .reduction import sum

        x_shape = list(input_shapes[0])
        repeats = node.inputs[1]
        x_shape[self.axis] = x_shape[self.axis] * repeats if repeats.type.ndim == 0 else sum(repeats)
        return [tuple(x_shape)]

    def grad(self, inputs, output_grads):
        from .basic import cast
        from .shape import shape_i

        x, repeats = inputs
        if not _is_float(x):
            return [None, None]
        g = RepeatSum(self.axis)(output_grads[0], repeats, shape_i(x, self.axis))
        return [cast(g, x.type.dtype), None]

    def connection_pattern(self, node):
        return [[True], [False]]


class RepeatSum(Op):
    """The adjoint of :class:`RepeatOp`: sum each run of repeated entries back into one."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, gz, repeats, n):
        gz = _as_tensor(gz)
        shape = list(gz.type.shape)
        n = _int_scalar(n)
        shape[self.axis] = _static_int(n)
        return Apply(self, [gz, _as_tensor(repeats), n], [TensorType(gz.type.dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        gz, repeats, n = inputs
        g = np.moveaxis(gz, self.axis, 0)
        reps = np.broadcast_to(repeats, (int(n),))
        out = np.zeros((int(n),) + g.shape[1:], dtype=gz.dtype)
        full = reps > 0
        if g.shape[0]:  # runs are contiguous: reduceat on the starts of the non-empty runs
            starts = (np.cumsum(reps) - reps)[full]
            out[full] = np.add.reduceat(g, starts, axis=0)
        output_storage[0][0] = np.moveaxis(out, 0, self.axis)

    def infer_shape(self, node, input_shapes):
        s = list(input_shapes[0])
        s[self.axis] = node.inputs[2]
        return [tuple(s)]

    def grad(self, inputs, output_grads):
        return [RepeatOp(self.axis)(output_grads[0], inputs[1]), None, None]

    def connection_pattern(self, node):
        return [[True], [False], [False]]


def repeat(x, repeats, axis=None):
    """Repeat each element of ``x`` (NumPy's ``repeat``); ``axis=None`` flattens first.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.repeat(x, [1, 2]).eval({x: [1., 2.]})
    array([1., 2., 2.])
    """
    from .shape import flatten

    x = _as_tensor(x)
    if axis is None:
        x, axis = flatten(x), 0
    return RepeatOp(_axis(axis, x.type.ndim, "repeat"))(x, repeats)


# ------------------------------------------------------------- broadcast_to
def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a new array; only dimensions of static length 1 broadcast).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.row('x', dtype='float64')
    >>> T.broadcast_to(x, (2, 2)).eval({x: [[1., 2.]]})
    array([[1., 2.],
           [1., 2.]])
    """
    return alloc(x, as_shape_scalars(shape))


# ------------------------------------------------------------ fill_diagonal
class FillDiagonal(Op):
    """A copy of ``a`` with its ``offset``-th diagonal set to the scalar ``val``."""

    __props__ = ()

    def make_node(self, a, val, offset):
        from .basic import cast

        a, val = _as_tensor(a), _as_tensor(val)
        if a.type.ndim < 2:
            raise TypeError("fill_diagonal: the array must have at least 2 dimensions, got %s" % a.type)
        if val.type.ndim != 0:
            raise TypeError("fill_diagonal: the value must be a scalar, got %s" % val.type)
        if val.type.dtype != a.type.dtype:
            if not getattr(val, "weak", False) and not np.can_cast(val.type.dtype, a.type.dtype, "same_kind"):
                raise TypeError("fill_diagonal: cannot put a %s value into a %s array" % (val.type.dtype, a.type.dtype))
            val = cast(val, a.type.dtype)
        offset = _int_scalar(offset, "offset")
        if a.type.ndim > 2 and _static_int(offset) != 0:
            raise ValueError("fill_diagonal: an offset needs a 2-d array")
        return Apply(self, [a, val, offset], [a.type()])

    def perform(self, node, inputs, output_storage):
        a, val, offset = inputs
        out = a.copy()
        offset = int(offset)
        if a.ndim > 2:
            if len(set(a.shape)) != 1:
                raise ValueError(
                    "fill_diagonal: all dimensions of a %d-d array must be equal, got %s" % (a.ndim, a.shape)
                )
            np.fill_diagonal(out, val)
        else:
            n, m = a.shape
            i = np.arange(max(0, min(n + min(offset, 0), m - max(offset, 0))))
            out[i - min(offset, 0), i + max(offset, 0)] = val
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        from .alloc import eye
        from ..graph.grad import grad_not_implemented
        from .math import switch
        from .reduction import sum
        from .shape import shape_i

        a, val, offset = inputs
        (gz,) = output_grads
        ga = self(gz, 0, offset) if _is_float(a) else None
        if a.type.ndim > 2:
            return [ga, grad_not_implemented(self, 1, val, "only for 2-d arrays"), None]
        on_diag = eye(shape_i(gz, 0), shape_i(gz, 1), offset, dtype="bool")
        return [ga, sum(switch(on_diag, gz, 0)) if _is_float(val) else None, None]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


def fill_diagonal(a, val):
    """A copy of ``a`` with its main diagonal set to ``val`` (NumPy's ``fill_diagonal``, not in place).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dmatrix('a')
    >>> T.fill_diagonal(a, 5.).eval({a: [[0., 1.], [2., 3.]]})
    array([[5., 1.],
           [2., 5.]])
    """
    return FillDiagonal()(a, val, 0)


def fill_diagonal_offset(a, val, offset):
    """A copy of the matrix ``a`` with its ``offset``-th diagonal set to ``val`` (Theano's name)."""
    return FillDiagonal()(a, val, offset)


# ----------------------------------------------------------------- bincount
class BinCountOp(Op):
    """``numpy.bincount(x, weights, minlength)``; no gradient."""

    __props__ = ()

    def make_node(self, x, minlength, weights=None):  # the order of the node's inputs, so clones rebuild it
        x = _as_tensor(x)
        if x.type.ndim != 1 or not x.type.dtype.startswith(("int", "uint", "bool")):
            raise TypeError("bincount: x must be a vector of non-negative integers, got %s" % x.type)
        inputs = [x, _int_scalar(minlength, "minlength")]
        dtype = "int64"
        if weights is not None:
            weights = _as_tensor(weights)
            if weights.type.ndim != 1:
                raise TypeError("bincount: weights must be a vector, got %s" % weights.type)
            inputs.append(weights)
            dtype = "float64"  # NumPy accumulates weights in float64
        return Apply(self, inputs, [TensorType(dtype, (None,))()])

    def perform(self, node, inputs, output_storage):
        x, minlength = inputs[:2]
        weights = inputs[2] if len(inputs) > 2 else None
        if x.size and x.min() < 0:
            raise ValueError("bincount: x must be non-negative, got minimum %d" % x.min())
        if weights is not None and weights.shape != x.shape:
            raise ValueError("bincount: weights of shape %s for x of shape %s" % (weights.shape, x.shape))
        output_storage[0][0] = np.bincount(x, weights, int(minlength)).astype(node.outputs[0].type.dtype)

    def grad(self, inputs, output_grads):
        from ..graph.grad import grad_not_implemented

        return [None, None] + [grad_not_implemented(self, 2, inputs[2])] * (len(inputs) > 2)

    def connection_pattern(self, node):
        return [[False], [False]] + [[True]] * (len(node.inputs) - 2)


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """Count the occurrences of each value in the int vector ``x`` (NumPy's ``bincount``).

    Negative values always raise ``ValueError`` (``assert_nonneg`` is accepted for Theano).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.lvector('x')
    >>> T.bincount(x).eval({x: [0, 2, 2]})
    array([1, 0, 2])
    """
    return BinCountOp()(x, 0 if minlength is None else minlength, weights)


# ------------------------------------------------------------------- unique
class Unique(Op):
    """``numpy.unique`` with its optional index, inverse and count outputs; no gradient."""

    __props__ = ("return_index", "return_inverse", "return_counts", "axis")

    def __init__(self, return_index=False, return_inverse=False, return_counts=False, axis=None):
        self.return_index, self.return_inverse = bool(return_index), bool(return_inverse)
        self.return_counts = bool(return_counts)
        self.axis = None if axis is None else int(axis)

    def make_node(self, x):
        x = _as_tensor(x)
        if self.axis is not None:
            _axis(self.axis, x.type.ndim, "unique")
        # Ask NumPy for the output ranks, which depend on its version for the inverse.
        probe = np.unique(np.zeros((1,) * max(x.type.ndim, 1)), True, True, True, axis=self.axis)
        if self.axis is None:
            outs = [TensorType(x.type.dtype, (None,))()]
        else:
            shape = list(x.type.shape)
            shape[self.axis] = None
            outs = [TensorType(x.type.dtype, tuple(shape))()]
        for flag, p in zip((self.return_index, self.return_inverse, self.return_counts), probe[1:]):
            if flag:
                outs.append(TensorType("int64", (None,) * (p.ndim if x.type.ndim else 1))())
        return Apply(self, [x], outs)

    def perform(self, node, inputs, output_storage):
        res = np.unique(inputs[0], self.return_index, self.return_inverse, self.return_counts, axis=self.axis)
        res = res if isinstance(res, tuple) else (res,)
        for out, r, var in zip(output_storage, res, node.outputs):
            out[0] = np.asarray(r, dtype=var.type.dtype).reshape(r.shape if r.ndim == var.type.ndim else (-1,))

    def grad(self, inputs, output_grads):
        from ..graph.grad import grad_not_implemented

        return [grad_not_implemented(self, 0, inputs[0])]


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """The sorted unique elements of ``ar`` (NumPy's ``unique``); a list when extra outputs are asked.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.lvector('x')
    >>> T.unique(x).eval({x: [3, 1, 3]})
    array([1, 3])
    """
    return Unique(return_index, return_inverse, return_counts, axis)(ar)


# --------------------------------------------------------------- to_one_hot
def to_one_hot(y, nb_class, dtype=None):
    """One-hot rows for the int vector ``y`` of class indices (Theano's ``to_one_hot``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> y = T.lvector('y')
    >>> T.to_one_hot(y, 3, dtype='int8').eval({y: [2, 0]})
    array([[0, 0, 1],
           [1, 0, 0]], dtype=int8)
    """
    from .alloc import arange
    from .basic import cast
    from .math import eq

    y = _as_tensor(y)
    if y.type.ndim != 1 or not y.type.dtype.startswith(("int", "uint")):
        raise TypeError("to_one_hot: y must be a vector of integers, got %s" % y.type)
    return cast(eq(y.dimshuffle(0, "x"), arange(nb_class).dimshuffle("x", 0)), dtype or config.floatX)


__all__ = [
    "RepeatOp", "RepeatSum", "CumOp", "Flip", "DiffOp", "DiffGrad", "Roll", "FillDiagonal", "BinCountOp", "Unique",
    "tile", "repeat", "cumsum", "cumprod", "flip", "diff", "broadcast_to", "roll", "fill_diagonal",
    "fill_diagonal_offset", "bincount", "unique", "to_one_hot",
]  # fmt: skip
