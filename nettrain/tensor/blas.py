"""Matrix-product ops: ``Dot`` (1-d/2-d, NumPy's ``dot``, which calls BLAS) and
``MatMul`` (stacks of matrices with NumPy's ``matmul`` batch broadcasting).

Every other product (``dot`` of N-d tensors, ``tensordot``, ``outer``,
``batched_dot``, ...) is built in :mod:`nettrain.tensor.linalg` from these two
ops plus reshapes and transposes, so a backend needs only a GEMM/GEMV kernel
and a batched GEMM kernel.
"""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from .type import TensorType


def _fmt(shape):
    """A static or run-time shape as text, ``?`` for unknown lengths."""
    return "(%s%s)" % (", ".join("?" if s is None else str(s) for s in shape), "," if len(shape) == 1 else "")


def _is_float(v):
    return v.type.dtype.startswith(("float", "complex"))


def _as_grad(x, g):
    """``g`` as the gradient of ``x``: None for integer inputs, else cast to x's dtype."""
    from .basic import cast

    if not _is_float(x):
        return None
    return cast(g, x.type.dtype)


def _swap_last(x):
    """Swap the last two dimensions (a view)."""
    from .elemwise import DimShuffle

    nd = x.type.ndim
    return DimShuffle(x.type.broadcastable, tuple(range(nd - 2)) + (nd - 1, nd - 2))(x)


def _sum_terms(terms):
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


class Dot(Op):
    """Product of 1-d/2-d tensors: vector·vector -> scalar, matrix·vector,
    vector·matrix and matrix·matrix, computed by ``numpy.dot`` (BLAS).

    The output dtype is NumPy's: ``int32·int32`` stays int32 and
    ``float32·float32`` stays float32.
    """

    __props__ = ()

    def make_node(self, x, y):
        from .basic import as_tensor_variable

        x, y = as_tensor_variable(x), as_tensor_variable(y)
        if x.type.ndim not in (1, 2) or y.type.ndim not in (1, 2):
            raise TypeError(
                "Dot takes 1-d or 2-d tensors, got %s and %s; use nettrain.tensor.dot for other ranks"
                % (x.type, y.type)
            )
        kx, ky = x.type.shape[-1], y.type.shape[0]
        if kx is not None and ky is not None and kx != ky:
            raise ValueError(
                "dot: shapes %s and %s are not aligned: %d (dim %d) != %d (dim 0)"
                % (_fmt(x.type.shape), _fmt(y.type.shape), kx, x.type.ndim - 1, ky)
            )
        dtype = np.result_type(x.type.numpy_dtype, y.type.numpy_dtype).name
        shape = x.type.shape[:-1] + y.type.shape[1:]
        return Apply(self, [x, y], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, y = inputs
        if x.shape[-1] != y.shape[0]:
            raise ValueError(
                "dot: shapes %s and %s are not aligned: %d (dim %d) != %d (dim 0)"
                % (_fmt(x.shape), _fmt(y.shape), x.shape[-1], x.ndim - 1, y.shape[0])
            )
        # vector·vector gives a NumPy scalar: always store an ndarray.
        output_storage[0][0] = np.asarray(np.dot(x, y), dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        xs, ys = input_shapes
        return [tuple(xs[:-1]) + tuple(ys[1:])]

    def grad(self, inputs, output_grads):
        x, y = inputs
        (gz,) = output_grads
        nx, ny = x.type.ndim, y.type.ndim
        if nx == 1 and ny == 1:  # gz is a scalar
            gx, gy = gz * y, gz * x
        elif nx == 2 and ny == 1:
            gx = gz.dimshuffle(0, "x") * y.dimshuffle("x", 0)
            gy = self(x.T, gz)
        elif nx == 1 and ny == 2:
            gx = self(y, gz)
            gy = x.dimshuffle(0, "x") * gz.dimshuffle("x", 0)
        else:
            gx = self(gz, y.T)
            gy = self(x.T, gz)
        return [_as_grad(x, gx), _as_grad(y, gy)]

    def R_op(self, inputs, eval_points):
        x, y = inputs
        ex, ey = eval_points
        terms = []
        if ex is not None:
            terms.append(self(ex, y))
        if ey is not None:
            terms.append(self(x, ey))
        return [_sum_terms(terms)]


def _batch_shape(a_shape, b_shape, a_static, b_static):
    """Broadcast batch dims; only dims of static length 1 broadcast (Theano's rule)."""
    out = []
    for sa, sb, ta, tb in zip(a_shape, b_shape, a_static, b_static):
        if ta == 1:
            out.append(sb)
        elif tb == 1:
            out.append(sa)
        elif sa is not None and sb is not None and sa != sb:
            return None
        else:
            out.append(sa if sa is not None else sb)
    return tuple(out)


class MatMul(Op):
    """Stacks of matrix products with ``numpy.matmul`` semantics.

    Both inputs have the same ndim >= 2 (``matmul`` aligns ranks and promotes
    1-d operands before calling it).  Leading (batch) dimensions broadcast
    only where their static length is 1, as in ``Elemwise``; a run-time length
    of 1 in a dimension not known to be 1 is an error, which keeps gradients
    exact.
    """

    __props__ = ()

    def make_node(self, a, b):
        from .basic import as_tensor_variable

        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.type.ndim < 2 or a.type.ndim != b.type.ndim:
            raise TypeError("MatMul takes two tensors of the same ndim >= 2, got %s and %s" % (a.type, b.type))
        sa, sb = a.type.shape, b.type.shape
        if sa[-1] is not None and sb[-2] is not None and sa[-1] != sb[-2]:
            raise ValueError(
                "matmul: shapes %s and %s are not aligned: %d (dim %d) != %d (dim %d)"
                % (_fmt(sa), _fmt(sb), sa[-1], len(sa) - 1, sb[-2], len(sb) - 2)
            )
        batch = _batch_shape(sa[:-2], sb[:-2], sa[:-2], sb[:-2])
        if batch is None:
            raise ValueError("matmul: batch dimensions of shapes %s and %s do not match" % (_fmt(sa), _fmt(sb)))
        dtype = np.result_type(a.type.numpy_dtype, b.type.numpy_dtype).name
        return Apply(self, [a, b], [TensorType(dtype, batch + (sa[-2], sb[-1]))()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        ta, tb = node.inputs[0].type.shape, node.inputs[1].type.shape
        if a.shape[-1] != b.shape[-2] or _batch_shape(a.shape[:-2], b.shape[:-2], ta[:-2], tb[:-2]) is None:
            raise ValueError(
                "matmul: shapes %s and %s do not match (the last dim of the first must equal the second-to-last "
                "of the second; batch dims must be equal unless known to have length 1)"
                % (_fmt(a.shape), _fmt(b.shape))
            )
        output_storage[0][0] = np.asarray(np.matmul(a, b), dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        sa, sb = input_shapes
        static_a = node.inputs[0].type.shape
        batch = tuple(lb if t == 1 else la for la, lb, t in zip(sa[:-2], sb[:-2], static_a[:-2]))
        return [batch + (sa[-2], sb[-1])]

    def grad(self, inputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        out_shape = self.make_node(a, b).outputs[0].type.shape
        ga = _unbroadcast(a, self(gz, _swap_last(b)), out_shape)
        gb = _unbroadcast(b, self(_swap_last(a), gz), out_shape)
        return [_as_grad(a, ga), _as_grad(b, gb)]

    def R_op(self, inputs, eval_points):
        a, b = inputs
        ea, eb = eval_points
        terms = []
        if ea is not None:
            terms.append(self(ea, b))
        if eb is not None:
            terms.append(self(a, eb))
        return [_sum_terms(terms)]


def _unbroadcast(x, g, out_shape):
    """Sum ``g`` over the batch dims along which ``x`` was broadcast."""
    from .reduction import sum as _sum

    nd = x.type.ndim
    axes = tuple(d for d in range(nd - 2) if x.type.shape[d] == 1 and out_shape[d] != 1)
    return _sum(g, axis=axes, keepdims=True) if axes else g


__all__ = ["Dot", "MatMul"]
