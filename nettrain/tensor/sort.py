"""Sorting: sort and argsort along one axis (``axis=None`` sorts the flattened array)."""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from .type import TensorType

_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _prepare(a, axis, kind, name):
    """``(a, axis)`` with ``axis=None`` turned into a flattened ``a`` and ``axis=0``."""
    from .basic import as_tensor_variable
    from .shape import flatten

    a = as_tensor_variable(a)
    if kind not in _KINDS:
        raise ValueError("%s: kind must be one of %s, got %r" % (name, ", ".join(_KINDS), kind))
    if axis is None:
        return flatten(a), 0
    if a.type.ndim == 0:
        raise ValueError("%s: cannot sort a 0-d tensor along axis %s; use axis=None" % (name, axis))
    axis = int(axis)
    if not -a.type.ndim <= axis < a.type.ndim:
        raise ValueError("%s: axis %d is out of range for %s" % (name, axis, a.type))
    return a, axis % a.type.ndim


class _AlongAxis(Op):
    """Shared set-up of the sorting ops: a ``kind`` and a checked, non-negative ``axis``."""

    __props__ = ("kind", "axis")

    def __init__(self, kind="quicksort", axis=-1):
        self.kind = kind
        self.axis = int(axis)

    def _input(self, a):
        from .basic import as_tensor_variable

        a = as_tensor_variable(a)
        if not 0 <= self.axis < a.type.ndim:
            raise ValueError("%s: axis %d is out of range for %s" % (type(self).__name__, self.axis, a.type))
        return a


class SortOp(_AlongAxis):
    """``numpy.sort(a, axis, kind)``; the gradient scatters back through the sorting permutation."""

    def make_node(self, a):
        a = self._input(a)
        return Apply(self, [a], [a.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.sort(inputs[0], axis=self.axis, kind=self.kind)

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def grad(self, inputs, output_grads):
        (a,) = inputs
        if not a.type.dtype.startswith(("float", "complex")):
            return [None]
        # out[..., j] = a[..., p[j]] with p = argsort(a), so da[..., p[j]] = gz[..., j],
        # i.e. da = gz taken at the inverse permutation argsort(p).
        perm = ArgSortOp(self.kind, self.axis)(a)
        return [PermuteAlongAxis(self.axis)(output_grads[0], ArgSortOp("stable", self.axis)(perm))]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [PermuteAlongAxis(self.axis)(eval_points[0], ArgSortOp(self.kind, self.axis)(inputs[0]))]


class ArgSortOp(_AlongAxis):
    """``numpy.argsort(a, axis, kind)`` as int64 indices; not differentiable."""

    def make_node(self, a):
        a = self._input(a)
        return Apply(self, [a], [TensorType("int64", a.type.shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.argsort(inputs[0], axis=self.axis, kind=self.kind).astype(np.int64, copy=False)

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def grad(self, inputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


class PermuteAlongAxis(Op):
    """``numpy.take_along_axis(x, perm, axis)`` where ``perm`` permutes each lane along ``axis``.

    Because ``perm`` is a permutation, the adjoint is the same op with the
    inverse permutation, so gradients of any order stay in this op.
    """

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, perm):
        from .basic import as_tensor_variable

        x, perm = as_tensor_variable(x), as_tensor_variable(perm)
        if not perm.type.dtype.startswith(("int", "uint")) or perm.type.ndim != x.type.ndim:
            raise TypeError(
                "PermuteAlongAxis: perm must be an integer tensor of ndim %d, got %s" % (x.type.ndim, perm.type)
            )
        shape = tuple(s if s is not None else p for s, p in zip(x.type.shape, perm.type.shape))
        return Apply(self, [x, perm], [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, perm = inputs
        if x.shape != perm.shape:
            raise ValueError("PermuteAlongAxis: values of shape %s and permutation of shape %s" % (x.shape, perm.shape))
        output_storage[0][0] = np.take_along_axis(x, perm, axis=self.axis)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        x, perm = inputs
        return [self(output_grads[0], ArgSortOp("stable", self.axis)(perm)), None]

    def connection_pattern(self, node):
        return [[True], [False]]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0], inputs[1])]


def sort(a, axis=-1, kind="quicksort", order=None):
    """Sorted copy of ``a`` along ``axis`` (the flattened array when None), as NumPy.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.sort(x).eval({x: [3., 1., 2.]})
    array([1., 2., 3.])
    """
    if order is not None:
        raise ValueError("sort: order= (structured arrays) is not supported")
    a, axis = _prepare(a, axis, kind, "sort")
    return SortOp(kind, axis)(a)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """Indices (int64) that sort ``a`` along ``axis`` (the flattened array when None), as NumPy.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.argsort(x).eval({x: [3., 1., 2.]})
    array([1, 2, 0])
    """
    if order is not None:
        raise ValueError("argsort: order= (structured arrays) is not supported")
    a, axis = _prepare(a, axis, kind, "argsort")
    return ArgSortOp(kind, axis)(a)


__all__ = ["SortOp", "ArgSortOp", "PermuteAlongAxis", "sort", "argsort"]
