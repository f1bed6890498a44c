"""Matrix-product ops: ``Dot`` (1-d/2-d, NumPy's ``dot``, which calls BLAS) and
``MatMul`` (stacks of matrices with NumPy's ``matmul`` batch broadcasting),
plus the fused BLAS updates ``Gemm``, ``Gemv`` and ``Ger`` that the
``specialize`` rewrites (:mod:`nettrain.tensor.rewriting.blas`) make from
``dot`` plus elementwise arithmetic.

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


# ---------------------------------------------------------------------------
# BLAS updates: ``beta * z + alpha * product``.  alpha and beta are 0-d tensor
# inputs (not props), so a new learning rate is new data, not a new op.


def _float_operands(name, names, vars_):
    """Check that the array operands share one float dtype; return it."""
    dtypes = {v.type.dtype for v in vars_}
    if len(dtypes) != 1 or not next(iter(dtypes)).startswith("float"):
        raise TypeError(
            "%s: %s must have one float dtype, got %s"
            % (name, ", ".join(names), ", ".join("%s %s" % (n, v.type) for n, v in zip(names, vars_)))
        )
    return dtypes.pop()


def _scalar_input(name, label, v, dtype):
    """``v`` as a 0-d tensor of ``dtype`` (cast when needed)."""
    from .basic import as_tensor_variable, cast

    v = as_tensor_variable(v)
    if v.type.ndim != 0:
        raise TypeError("%s: %s must be a 0-d tensor, got %s" % (name, label, v.type))
    return v if v.type.dtype == dtype else cast(v, dtype)


def _check_ndim(name, label, v, ndim):
    if v.type.ndim != ndim:
        raise TypeError("%s: %s must be %d-d, got %s" % (name, label, ndim, v.type))


def _update_shape(name, z_static, prod_static):
    """Static output shape: the product's, which ``z`` broadcasts to where its length is 1."""
    out = []
    for zs, ps_ in zip(z_static, prod_static):
        if zs == 1:
            out.append(ps_)
        elif zs is not None and ps_ is not None and zs != ps_:
            raise ValueError(
                "%s: z of shape %s does not match the product's shape %s" % (name, _fmt(z_static), _fmt(prod_static))
            )
        else:
            out.append(ps_ if ps_ is not None else zs)
    return tuple(out)


def _add_scaled(name, prod, alpha, z, beta, z_static):
    """``beta * z + alpha * prod`` in ``prod``'s (fresh) buffer; z is only read."""
    bad = [d for d in range(z.ndim) if z_static[d] != 1 and z.shape[d] != prod.shape[d]]
    if bad:
        raise ValueError("%s: z of shape %s does not match the product's shape %s" % (name, _fmt(z.shape),
                                                                                      _fmt(prod.shape)))  # fmt: skip
    if alpha != 1:
        prod *= alpha
    prod += z if beta == 1 else beta * z
    return prod


def _product(name, a, b, dtype):
    """``numpy.dot(a, b)`` as a fresh array of ``dtype``, with a clear error when misaligned."""
    if a.shape[-1] != b.shape[0]:
        raise ValueError("%s: shapes %s and %s are not aligned" % (name, _fmt(a.shape), _fmt(b.shape)))
    return np.asarray(np.dot(a, b), dtype=dtype)


def _sum_to(z, g):
    """Sum ``g`` over the dimensions along which ``z`` was broadcast (static length 1)."""
    from .reduction import sum as _sum

    axes = tuple(d for d in range(z.type.ndim) if z.type.shape[d] == 1)
    return _sum(g, axis=axes, keepdims=True) if axes else g


class _ScaledProduct(Op):
    """``beta * z + alpha * dot(a, b)``: the shared part of Gemm and Gemv.

    Subclasses set ``name``, ``labels`` (the names of z, a, b in messages) and
    ``ndims`` (their required ranks).
    """

    __props__ = ()
    name = labels = ndims = None

    def make_node(self, z, alpha, a, b, beta):
        from .basic import as_tensor_variable

        z, a, b = as_tensor_variable(z), as_tensor_variable(a), as_tensor_variable(b)
        for label, v, nd in zip(self.labels, (z, a, b), self.ndims):
            _check_ndim(self.name, label, v, nd)
        dtype = _float_operands(self.name, self.labels, (z, a, b))
        prod = Dot().make_node(a, b).outputs[0].type.shape
        shape = _update_shape(self.name, z.type.shape, prod)
        alpha, beta = _scalar_input(self.name, "alpha", alpha, dtype), _scalar_input(self.name, "beta", beta, dtype)
        return Apply(self, [z, alpha, a, b, beta], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        z, alpha, a, b, beta = inputs
        prod = _product(self.name, a, b, node.outputs[0].type.numpy_dtype)
        output_storage[0][0] = _add_scaled(self.name, prod, alpha, z, beta, node.inputs[0].type.shape)


class Gemm(_ScaledProduct):
    """``gemm(z, alpha, x, y, beta) = beta * z + alpha * dot(x, y)`` for matrices.

    ``z`` broadcasts along its dimensions of static length 1 (a bias row);
    ``alpha`` and ``beta`` are 0-d.  Inputs are never overwritten.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.tensor.blas import gemm
    >>> z, x, y = T.dmatrix('z'), T.dmatrix('x'), T.dmatrix('y')
    >>> gemm(z, 2.0, x, y, 0.5).eval({z: np.ones((1, 1)), x: np.eye(1), y: np.eye(1)})
    array([[2.5]])
    """

    name, labels, ndims = "gemm", ("z", "x", "y"), (2, 2, 2)

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[2][0], input_shapes[3][1])]

    def grad(self, inputs, output_grads):
        from .reduction import sum as _sum

        z, alpha, x, y, beta = inputs
        (g,) = output_grads
        prod = Dot()(x, y)
        return [
            _sum_to(z, beta * g),
            _sum(g * prod),
            alpha * Dot()(g, y.T),
            alpha * Dot()(x.T, g),
            _sum(g * z),
        ]


class Gemv(_ScaledProduct):
    """``gemv(z, alpha, A, x, beta) = beta * z + alpha * dot(A, x)`` for a matrix ``A`` and vectors.

    ``dot(x, A)`` is ``gemv`` of ``A.T``.  ``z`` may have static length 1
    (broadcast).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.tensor.blas import gemv
    >>> z, A, x = T.dvector('z'), T.dmatrix('A'), T.dvector('x')
    >>> gemv(z, 1.0, A, x, 1.0).eval({z: [1., 1.], A: np.eye(2), x: [2., 3.]})
    array([3., 4.])
    """

    name, labels, ndims = "gemv", ("z", "A", "x"), (1, 2, 1)

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[2][0],)]

    def grad(self, inputs, output_grads):
        from .reduction import sum as _sum

        z, alpha, A, x, beta = inputs
        (g,) = output_grads
        return [
            _sum_to(z, beta * g),
            _sum(g * Dot()(A, x)),
            alpha * Dot()(g.dimshuffle(0, "x"), x.dimshuffle("x", 0)),
            alpha * Dot()(A.T, g),
            _sum(g * z),
        ]


class Ger(Op):
    """``ger(A, alpha, x, y) = A + alpha * outer(x, y)`` for a matrix ``A`` and vectors.

    ``A`` may have dimensions of static length 1 (broadcast).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.tensor.blas import ger
    >>> A, x, y = T.dmatrix('A'), T.dvector('x'), T.dvector('y')
    >>> ger(A, 2.0, x, y).eval({A: np.zeros((1, 2)), x: [1.], y: [1., 2.]})
    array([[2., 4.]])
    """

    __props__ = ()

    def make_node(self, A, alpha, x, y):
        from .basic import as_tensor_variable

        A, x, y = as_tensor_variable(A), as_tensor_variable(x), as_tensor_variable(y)
        for label, v, nd in (("A", A, 2), ("x", x, 1), ("y", y, 1)):
            _check_ndim("ger", label, v, nd)
        dtype = _float_operands("ger", ("A", "x", "y"), (A, x, y))
        shape = _update_shape("ger", A.type.shape, (x.type.shape[0], y.type.shape[0]))
        alpha = _scalar_input("ger", "alpha", alpha, dtype)
        return Apply(self, [A, alpha, x, y], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        A, alpha, x, y = inputs
        prod = np.outer(x, y).astype(node.outputs[0].type.numpy_dtype, copy=False)
        output_storage[0][0] = _add_scaled("ger", prod, alpha, A, 1, node.inputs[0].type.shape)

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[2][0], input_shapes[3][0])]

    def grad(self, inputs, output_grads):
        A, alpha, x, y = inputs
        (g,) = output_grads
        gy_dir = Dot()(g, y)  # g·y, reused by the gradients of alpha and x
        return [_sum_to(A, g), Dot()(x, gy_dir), alpha * gy_dir, alpha * Dot()(x, g)]


gemm = Gemm()
gemv = Gemv()
ger = Ger()

__all__ = ["Dot", "MatMul", "Gemm", "Gemv", "Ger", "gemm", "gemv", "ger"]
