"""CUDA kernels for ``Dot``, ``MatMul``, ``Gemm``, ``Gemv`` and ``Ger``: cuBLAS on a GPU, NumPy on the emulator.

The BLAS calls are planned in pure Python and run by cuBLAS on a GPU or by
NumPy on the emulator (``cublas.py``), so the whole device path (placement,
plans, copies, output allocation, the ``beta * z`` prefill kernel) runs in CI.

Operands whose rows and columns both have non-unit strides are copied to
contiguous memory by a copy kernel first.  ``Gemm``/``Gemv``/``Ger`` write
``beta * z`` (``z`` broadcast as the op allows) into the fresh output with a
kernel and let BLAS accumulate into it, so ``beta * z`` is computed exactly as
``perform`` does even where ``beta`` is 0 and ``z`` holds infinities.  Shapes
``perform`` rejects are handed to ``perform`` on the host, which raises its error.
"""


import numpy as np

from ...tensor.blas import Dot, Gemm, Gemv, Ger, MatMul, _batch_shape
from .darray import DeviceArray
from .elemwise import merged_layout
from .registry import NAME, CudaKernel, cuda_kernel, grid_for
from .cublas import (  # noqa: F401 - re-exported: the plans and executors live in cublas.py
    CuBlas, HostBlas, blas_for, blas_usable, cublas_info, cublas_status, gemm_plan, gemv_plan, ger_plan,
    matrix_layout, vector_inc)
from .runtime import to_host
from .shape_ops import contiguous, copy_source

OP_N, OP_T = 0, 1  # cublasOperation_t
BLOCK = 256
_CTYPE = {"float32": "float", "float64": "double"}


# ------------------------------------------------------------------ device helpers
def copy_kernels(nd, *itemsizes):
    """Source of ``NAME_copy<itemsize>`` kernels (strided rank-``nd`` arrays into contiguous memory)."""
    return "".join(copy_source(nd, s).replace(NAME + "_copy(", "%s_copy%d(" % (NAME, s))
                   for s in sorted(set(itemsizes)))  # fmt: skip


def make_contiguous(get, rt, x):
    """``x`` when C-contiguous, else a contiguous copy made by ``NAME_copy<itemsize>`` of rank ``x.ndim``."""
    return contiguous(get, rt, x, "%s_copy%d" % (NAME, x.itemsize))


def perform_on_host(node, args, outs):
    """Run ``perform`` on host copies: it raises its own error for shapes it rejects (or computes the rest)."""
    node.op.perform(node, [to_host(a) for a in args], outs)


def _fill_source(dtype):
    t = _CTYPE[dtype]
    return ('extern "C" __global__ void %s_fill(int64_t m, int64_t n, const char *__restrict__ z, int64_t zs0, '
            "int64_t zs1, %s beta, %s *__restrict__ out)\n{\n"
            "  for (int64_t i = NT_TID; i < m * n; i += NT_STEP) {\n"
            "    const int64_t r = i / n, c = i - r * n;\n"
            "    out[i] = beta * *(const %s *)(z + r * zs0 + c * zs1);\n  }\n}\n"
            % (NAME, t, t, t))  # fmt: skip


def prefill(get, rt, out, z, beta):
    """``out = beta * z`` (out contiguous, 1-d or 2-d; z broadcast along its length-1 dimensions)."""
    shape = (1,) * (2 - out.ndim) + out.shape
    zs = [0] * (2 - z.ndim) + [0 if n == 1 else s for n, s in zip(z.shape, z.strides)]
    n = shape[0] * shape[1]
    if n:
        get(NAME + "_fill")(grid_for(n, BLOCK), (BLOCK, 1, 1),
                            [np.int64(shape[0]), np.int64(shape[1]), np.uintp(z.ptr), np.int64(zs[0]),
                             np.int64(zs[1]), out.dtype.type(beta), np.uintp(out.ptr)])  # fmt: skip


def blas_matrix(get, rt, a):
    """``a`` (2-d) itself when BLAS can read it in place, else a contiguous copy."""
    return a if matrix_layout(a.shape, a.strides, a.itemsize) is not None else make_contiguous(get, rt, a)


def blas_vector(get, rt, v):
    """``v`` (1-d) itself when its increment is positive, else a contiguous copy."""
    if vector_inc(v) is not None:
        return v
    n = v.shape[0]
    return make_contiguous(get, rt, v.view((1, n), (0, v.strides[0]))).view((n,), (v.itemsize,))


def gemm(blas, a, b, out, alpha=1.0, beta=0.0, count=1, sa=0, sb=0, sc=0):
    """``out = alpha a @ b + beta out`` on the device (``count`` products ``sa, sb, sc`` elements apart)."""
    (m, k), n = a.shape, b.shape[1]
    if m == 0 or n == 0 or count == 0:
        return
    if k == 0:  # an empty sum: zeros (BLAS's leading-dimension rules get awkward for empty operands)
        if beta == 0:
            item, (s0, s1) = out.itemsize, out.strides
            # one memset per matrix, row or column, whichever is contiguous
            runs = [(0, m * n)] if s0 == n * item and s1 == item else (
                [(r * s0, n) for r in range(m)] if s1 == item else [(c * s1, m) for c in range(n)])
            for i in range(count):
                for off, length in runs:
                    out.rt.memset(out.ptr + i * sc * item + off, 0, length * item)
        return
    ta, tb, m_, n_, k_, lda, ldb, ldc, swap = gemm_plan(a, b, out)
    (p, sp), (q, sq) = ((b, sb), (a, sa)) if swap else ((a, sa), (b, sb))
    blas.gemm(out.dtype, ta, tb, m_, n_, k_, alpha, p.ptr, lda, q.ptr, ldb, beta, out.ptr, ldc, count, sp, sq, sc)


def gemv(blas, A, x, y, alpha=1.0, beta=0.0):
    """``y = alpha A @ x + beta y`` on the device."""
    if y.shape[0] == 0:
        return
    if A.shape[1] == 0:
        if beta == 0:
            y.rt.memset(y.ptr, 0, y.nbytes)
        return
    trans, m, n, lda, incx, incy = gemv_plan(A, x, y)
    blas.gemv(y.dtype, trans, m, n, alpha, A.ptr, lda, x.ptr, incx, beta, y.ptr, incy)


def ger(blas, x, y, out, alpha=1.0):
    """``out += alpha outer(x, y)`` on the device."""
    if out.size == 0:
        return
    m, n, incx, incy, lda, swap = ger_plan(x, y, out)
    p, q = (y, x) if swap else (x, y)
    blas.ger(out.dtype, m, n, alpha, p.ptr, incx, q.ptr, incy, out.ptr, lda)


# ------------------------------------------------------------------ kernels
def _float_dtype(node, n_arrays):
    """The float32/float64 dtype shared by the node's array operands and output, or None."""
    dtype = node.outputs[0].type.dtype
    if dtype not in _CTYPE or any(v.type.dtype != dtype for v in node.inputs[:n_arrays] if v.type.ndim):
        return None
    return dtype if blas_usable() else None


def _z_ok(z, z_static, shape):
    return all(z_static[d] == 1 or z.shape[d] == shape[d] for d in range(z.ndim))


@cuda_kernel.register(Dot)
def dot_kernel(op, node):
    """Every ``Dot`` of float32/float64 operands through GEMM (matrix-matrix) or GEMV (the rest)."""
    dtype = _float_dtype(node, 2)
    if dtype is None:
        return None
    nx, ny = (v.type.ndim for v in node.inputs)
    dt = np.dtype(dtype)

    def bind(get, rt):
        blas = blas_for(rt)

        def run(node, args, outs):
            x, y = args
            if x.shape[-1] != y.shape[0]:
                return perform_on_host(node, args, outs)
            out = DeviceArray.empty(rt, x.shape[:-1] + y.shape[1:], dt)
            if nx == 2 and ny == 2:
                gemm(blas, blas_matrix(get, rt, x), blas_matrix(get, rt, y), out)
            elif nx == 2:
                gemv(blas, blas_matrix(get, rt, x), blas_vector(get, rt, y), out)
            elif ny == 2:  # x @ y = y.T @ x
                gemv(blas, blas_matrix(get, rt, y).T, blas_vector(get, rt, x), out)
            else:  # a 1 x K matrix times a vector
                k = x.shape[0]
                xm = blas_matrix(get, rt, x.view((1, k), (0, x.strides[0])))
                gemv(blas, xm, blas_vector(get, rt, y), out.view((1,), (dt.itemsize,)))
            outs[0][0] = out

        return run

    return CudaKernel(_fill_source(dtype) + copy_kernels(2, dt.itemsize), bind)


def _update_kernel(op_class, n_arrays, host_inputs, shape_of, compute):
    """Register the kernel of a BLAS update ``(beta *) z + alpha * product``.

    ``shape_of(args)`` is the output shape, or None when the operands do not
    fit (``perform`` then raises); ``compute(get, rt, blas, out, *args)`` fills
    ``out``, first with (``beta *``) ``z`` through the fill kernel.
    """

    def kernel(op, node):
        dtype = _float_dtype(node, n_arrays)
        if dtype is None:
            return None
        dt, z_static = np.dtype(dtype), node.inputs[0].type.shape

        def bind(get, rt):
            blas = blas_for(rt)

            def run(node, args, outs):
                shape = shape_of(args)
                if shape is None or not _z_ok(args[0], z_static, shape):
                    return perform_on_host(node, args, outs)
                out = DeviceArray.empty(rt, shape, dt)
                compute(get, rt, blas, out, *args)
                outs[0][0] = out

            return run

        return CudaKernel(_fill_source(dtype) + copy_kernels(2, dt.itemsize), bind, host_inputs=host_inputs)

    kernel.__name__ = "cuda_%s_kernel" % op_class.__name__.lower()
    kernel.__doc__ = compute.__doc__
    return cuda_kernel.register(op_class)(kernel)


def _gemm_update(get, rt, blas, out, z, alpha, x, y, beta):
    """``beta * z + alpha * dot(x, y)``: ``beta * z`` written by a kernel, then GEMM accumulates."""
    prefill(get, rt, out, z, float(beta))
    gemm(blas, blas_matrix(get, rt, x), blas_matrix(get, rt, y), out, float(alpha), 1.0)


def _gemv_update(get, rt, blas, out, z, alpha, A, x, beta):
    """``beta * z + alpha * dot(A, x)``: ``beta * z`` written by a kernel, then GEMV accumulates."""
    prefill(get, rt, out, z, float(beta))
    gemv(blas, blas_matrix(get, rt, A), blas_vector(get, rt, x), out, float(alpha), 1.0)


def _ger_update(get, rt, blas, out, A, alpha, x, y):
    """``A + alpha * outer(x, y)``: A copied (broadcast) by a kernel, then GER accumulates."""
    prefill(get, rt, out, A, 1.0)
    ger(blas, blas_vector(get, rt, x), blas_vector(get, rt, y), out, float(alpha))


gemm_kernel = _update_kernel(Gemm, 5, (1, 4), lambda a: (a[2].shape[0], a[3].shape[1])
                             if a[2].shape[1] == a[3].shape[0] else None, _gemm_update)  # fmt: skip
gemv_kernel = _update_kernel(Gemv, 5, (1, 4), lambda a: a[2].shape[:1] if a[2].shape[1] == a[3].shape[0] else None,
                             _gemv_update)  # fmt: skip
ger_kernel = _update_kernel(Ger, 4, (1,), lambda a: (a[2].shape[0], a[3].shape[0]), _ger_update)


def _batch_layout(a, b, out):
    """Merged batch dimensions and the element strides of a, b, out along them (0 where broadcast)."""
    nb = out.ndim - 2
    st = [[0 if v.shape[d] == 1 else v.strides[d] // v.itemsize for d in range(nb)] for v in (a, b, out)]
    return merged_layout(out.shape[:nb], st)


@cuda_kernel.register(MatMul)
def matmul_kernel(op, node):
    """Stacks of products: one strided-batched GEMM per run of uniformly spaced matrices."""
    dtype = _float_dtype(node, 2)
    if dtype is None:
        return None
    dt, nd = np.dtype(dtype), node.outputs[0].type.ndim
    ta, tb = node.inputs[0].type.shape[:-2], node.inputs[1].type.shape[:-2]

    def bind(get, rt):
        blas = blas_for(rt)

        def run(node, args, outs):
            a, b = args
            batch = _batch_shape(a.shape[:-2], b.shape[:-2], ta, tb)
            if a.shape[-1] != b.shape[-2] or batch is None:
                return perform_on_host(node, args, outs)
            out = DeviceArray.empty(rt, batch + (a.shape[-2], b.shape[-1]), dt)
            mats = []
            for v in (a, b):
                lay = matrix_layout(v.shape[-2:], v.strides[-2:], v.itemsize)
                if lay is None or any(s < 0 for s in v.strides[:-2]):
                    v = make_contiguous(get, rt, v)
                mats.append(v)
            a, b = mats
            shp, (sa, sb, sc) = _batch_layout(a, b, out)
            outer, n_inner = (shp[:-1], shp[-1]) if shp else ([], 1)
            item = dt.itemsize
            for idx in np.ndindex(*outer):
                oa, ob, oc = (sum(i * s for i, s in zip(idx, st)) * item for st in (sa, sb, sc))
                mat = [v.view(v.shape[-2:], v.strides[-2:], o) for v, o in ((a, oa), (b, ob), (out, oc))]
                gemm(blas, *mat, count=n_inner, sa=sa[-1] if shp else 0, sb=sb[-1] if shp else 0,
                     sc=sc[-1] if shp else 0)  # fmt: skip
            outs[0][0] = out

        return run

    return CudaKernel(copy_kernels(nd, dt.itemsize), bind)


__all__ = ["gemm_plan", "gemv_plan", "ger_plan", "matrix_layout", "vector_inc", "HostBlas", "CuBlas",
           "blas_for", "cublas_info", "cublas_status", "blas_usable", "copy_kernels", "make_contiguous",
           "perform_on_host", "prefill", "blas_matrix", "blas_vector", "gemm", "gemv", "ger", "dot_kernel",
           "gemm_kernel", "gemv_kernel", "ger_kernel", "matmul_kernel"]  # fmt: skip
