"""C kernels for ``Dot``, ``Gemm``, ``Gemv`` and ``Ger`` that call NumPy's own BLAS.

:func:`find_blas` looks for the CBLAS routines of the BLAS library NumPy
ships or links (``scipy_cblas_sgemm64_`` in NumPy 2 wheels, ``cblas_sgemm64_``
in NumPy 1 wheels, plain ``cblas_sgemm`` elsewhere) and takes their
addresses; a kernel receives the routine's address as its first argument,
so the compiled library links against nothing and its source depends only
on the dtype and the BLAS integer width.  Where no such library is found
the ops keep running their ``perform`` (``numpy.dot``).

Operands whose rows or columns are contiguous (a transpose is just a view)
go to BLAS with a transpose flag and a leading dimension instead of a copy.
``Gemm``/``Gemv``/``Ger`` first write ``beta * z`` into the fresh output
(broadcasting ``z`` as the op allows) and then let BLAS accumulate into it.
"""

import ctypes
import functools
import glob
import os

import numpy as np

from ...tensor.blas import Dot, Gemm, Gemv, Ger, _fmt
from .buffers import OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES

_ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger")
# (prefix, suffix, C type of BLAS integers) of the CBLAS symbol conventions we know
_SCHEMES = (("scipy_cblas_", "64_", "int64_t"), ("cblas_", "64_", "int64_t"), ("scipy_cblas_", "", "int"),
            ("cblas_", "", "int"))  # fmt: skip
_ORDER, _NOTRANS, _TRANS = 101, 111, 112  # CblasRowMajor, CblasNoTrans, CblasTrans


class Blas:
    """The CBLAS routines found: ``addr[name]`` (e.g. ``'sgemm'``) and their integer C type."""

    def __init__(self, path, int_type, addr, lib):
        self.path, self.int_type, self.addr = path, int_type, addr
        self._lib = lib  # keeps the library loaded


def _candidate_paths():
    """BLAS libraries NumPy ships (wheels) or has loaded (system / conda builds)."""
    root = os.path.dirname(np.__file__)
    paths = []
    for d in (os.path.join(os.path.dirname(root), "numpy.libs"), os.path.join(root, ".libs")):
        paths += sorted(glob.glob(os.path.join(d, "*blas*")))
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if p.startswith("/") and "blas" in os.path.basename(p) and p not in paths:
                    paths.append(p)
    except OSError:
        pass
    return paths


@functools.lru_cache(maxsize=None)
def find_blas():
    """The :class:`Blas` of NumPy's BLAS library, or None when none is found."""
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, int_type in _SCHEMES:
            try:
                fns = {r: getattr(lib, prefix + r + suffix) for r in _ROUTINES}
            except AttributeError:
                continue
            addr = {r: ctypes.cast(f, ctypes.c_void_p).value for r, f in fns.items()}
            return Blas(path, int_type, addr, lib)
    return None


# ---------------------------------------------------------------- C sources
def _fill(t, dst, n_rows, n_cols, src, s0, s1):
    """C loop writing ``beta * src`` (byte strides, 0 where broadcast) into the contiguous ``dst``."""
    return ("    for (int64_t i = 0; i < %s; i++) {\n"
            "      const char *zr = %s + i * %s; %s *restrict cr = %s + i * %s;\n"
            "      if (%s == sizeof(%s)) {\n        const %s *restrict zz = (const %s *)zr;\n"
            "#pragma omp simd\n        for (int64_t j = 0; j < %s; j++) cr[j] = bt * zz[j];\n"
            "      } else {\n        for (int64_t j = 0; j < %s; j++) cr[j] = bt * *(const %s *)(zr + j * %s);\n"
            "      }\n    }\n"
            % (n_rows, src, s0, t, dst, n_cols, s1, t, t, t, n_cols, n_cols, t, s1))  # fmt: skip


def gemm_par_source(t, it):
    """C of ``NAME_gemm_par(g, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)``: the CBLAS gemm ``g``
    split over OpenMP threads by bands of C's rows (or columns, when wider than tall).

    Each band is one single-threaded BLAS call (nettrain sets BLAS to one thread when its
    OpenMP kernels are loaded: see ``backends/threads.py``), so every element of C is
    accumulated in the same order whatever the thread count.  Bands hold at least
    ``NT_GEMM_BAND_MIN`` multiply-adds (and 16 rows): OpenBLAS computes products under
    ~1e6 multiply-adds with other kernels (its "small matrix" path), whose rounding differs,
    and smaller bands would not pay for waking a thread anyway.  Used by Dot/Gemm (the
    convolution kernels share whole chunks out between their threads instead); inside a parallel region
    (never, today) the call stays whole.
    """
    return ("#ifdef _OPENMP\n#include <omp.h>\n#endif\n"
            "#ifndef NT_GEMM_BAND_MIN\n#define NT_GEMM_BAND_MIN 2097152.0  /* multiply-adds per band */\n#endif\n"
            "typedef void (*%(N)s_pgemm_t)(int, int, int, %(it)s, %(it)s, %(it)s, %(t)s, const %(t)s *, %(it)s,\n"
            "                               const %(t)s *, %(it)s, %(t)s, %(t)s *, %(it)s);\n"
            "static void %(N)s_gemm_par(%(N)s_pgemm_t g, int order, int ta, int tb, %(it)s m, %(it)s n,\n"
            "    %(it)s k, %(t)s alpha, const %(t)s *a, %(it)s lda, const %(t)s *b, %(it)s ldb, %(t)s beta,\n"
            "    %(t)s *c, %(it)s ldc)\n"
            "{\n"
            "#ifdef _OPENMP\n"
            "  const int rows = m >= n;\n"
            "  const int64_t len = rows ? m : n, blocks = (len + 15) / 16;  /* bands of 16: whole register tiles */\n"
            "  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();\n"
            "  const double bands = (double)m * (double)n * (double)k / NT_GEMM_BAND_MIN;\n"
            "  if (bands < nt) nt = (int)bands;\n"
            "  if (len < 32 * (int64_t)nt) nt = (int)(len / 32);\n"
            "  if (nt > 1) {\n"
            "#pragma omp parallel num_threads(nt)\n"
            "    {\n"
            "      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();\n"
            "      const int64_t p0 = blocks * t / nt * 16, e = blocks * (t + 1) / nt * 16, p1 = e < len ? e : len;\n"
            "      if (p1 > p0) {\n"
            "        if (rows)\n"
            "          g(order, ta, tb, p1 - p0, n, k, alpha, a + (ta == %(T)d ? p0 : p0 * lda), lda, b, ldb, beta,\n"
            "            c + p0 * ldc, ldc);\n"
            "        else\n"
            "          g(order, ta, tb, m, p1 - p0, k, alpha, a, lda, b + (tb == %(T)d ? p0 * ldb : p0), ldb, beta,\n"
            "            c + p0, ldc);\n"
            "      }\n"
            "    }\n"
            "    return;\n"
            "  }\n"
            "#endif\n"
            "  g(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);\n"
            "}\n" % dict(N=NAME, t=t, it=it, T=_TRANS))  # fmt: skip


def _gemm_source(dtype, it):
    t = C_TYPES[dtype]
    head = gemm_par_source(t, it)
    return head + ("NT_EXPORT void %s(void *fp, int64_t m, int64_t n, int64_t k, double alpha, double beta,\n"
            "    int ta, const char *a, int64_t lda, int tb, const char *b, int64_t ldb,\n"
            "    const char *z, int64_t zs0, int64_t zs1, char *pc)\n{\n"
            "  typedef void (*gemm_t)(int, int, int, %s, %s, %s, %s, const %s *, %s, const %s *, %s, %s, %s *, %s);\n"
            "  %s *c = (%s *)pc; %s bcoef = 0;\n"
            "  if (z == pc) {  /* in place: a shared variable's update, or a compiled loop's gradient sum */\n"
            "    const %s bt = (%s)beta;  /* the rounding of the out-of-place fill below */\n"
            "    if (beta != 1.0)\n      for (int64_t i = 0; i < m * n; i++) c[i] = bt * c[i];\n"
            "    bcoef = 1;\n"
            "  } else if (z != NULL) {\n    const %s bt = (%s)beta;\n%s    bcoef = 1;\n  }\n"
            "  if (k > 0)\n    %s_gemm_par((%s_pgemm_t)fp, %d, ta ? %d : %d, tb ? %d : %d, m, n, k, (%s)alpha,\n"
            "                 (const %s *)a, lda, (const %s *)b, ldb, bcoef, c, n);\n"
            "  else if (z == NULL)\n    for (int64_t i = 0; i < m * n; i++) c[i] = 0;\n}\n"
            % (NAME, it, it, it, t, t, it, t, it, t, t, it, t, t, t, t, t, t, t,
               _fill(t, "c", "m", "n", "z", "zs0", "zs1"),
               NAME, NAME, _ORDER, _TRANS, _NOTRANS, _TRANS, _NOTRANS, t, t, t))  # fmt: skip


def _gemv_source(dtype, it):
    t = C_TYPES[dtype]
    return ("NT_EXPORT void %s(void *fp, int64_t m, int64_t n, double alpha, double beta, int ta,\n"
            "    const char *a, int64_t lda, const char *x, int64_t incx, const char *z, int64_t zs, char *py)\n{\n"
            "  typedef void (*gemv_t)(int, int, %s, %s, %s, const %s *, %s, const %s *, %s, %s, %s *, %s);\n"
            "  %s *y = (%s *)py; const int64_t ny = ta ? n : m, nk = ta ? m : n; %s bcoef = 0;\n"
            "  if (z != NULL) {\n    const %s bt = (%s)beta;\n%s    bcoef = 1;\n  }\n"
            "  if (nk > 0)\n    ((gemv_t)fp)(%d, ta ? %d : %d, m, n, (%s)alpha, (const %s *)a, lda,\n"
            "                 (const %s *)x, incx, bcoef, y, 1);\n"
            "  else if (z == NULL)\n    for (int64_t i = 0; i < ny; i++) y[i] = 0;\n}\n"
            % (NAME, it, it, t, t, it, t, it, t, t, it, t, t, t, t, t, _fill(t, "y", "1", "ny", "z", "0", "zs"),
               _ORDER, _TRANS, _NOTRANS, t, t, t))  # fmt: skip


def _ger_source(dtype, it):
    t = C_TYPES[dtype]
    return ("NT_EXPORT void %s(void *fp, int64_t m, int64_t n, double alpha, const char *x, int64_t incx,\n"
            "    const char *y, int64_t incy, const char *z, int64_t zs0, int64_t zs1, char *pc)\n{\n"
            "  typedef void (*ger_t)(int, %s, %s, %s, const %s *, %s, const %s *, %s, %s *, %s);\n"
            "  %s *c = (%s *)pc; const %s bt = 1;\n%s"
            "  ((ger_t)fp)(%d, m, n, (%s)alpha, (const %s *)x, incx, (const %s *)y, incy, c, n);\n}\n"
            % (NAME, it, it, t, t, it, t, it, t, it, t, t, t, _fill(t, "c", "m", "n", "z", "zs0", "zs1"),
               _ORDER, t, t, t))  # fmt: skip


# ----------------------------------------------------------- Python drivers
def _matrix(a, item):
    """``(array, transposed, leading dimension)`` describing the 2-d ``a`` to row-major BLAS."""
    r, c = a.shape
    s0, s1 = a.strides
    if a.flags.c_contiguous:
        return a, 0, max(1, c)
    if a.flags.f_contiguous:
        return a, 1, max(1, r)
    if s1 == item and s0 > 0 and s0 % item == 0 and s0 >= c * item:
        return a, 0, s0 // item  # rows of a larger matrix
    if s0 == item and s1 > 0 and s1 % item == 0 and s1 >= r * item:
        return a, 1, s1 // item
    a = np.ascontiguousarray(a)
    return a, 0, max(1, c)


def _vector(v, item):
    """``(array, increment)`` of the 1-d ``v``; BLAS increments must be positive here."""
    s = v.strides[0]
    if v.shape[0] <= 1:
        return v, 1
    if s > 0 and s % item == 0:
        return v, s // item
    v = np.ascontiguousarray(v)
    return v, 1


def _zstrides(z):
    """Byte strides of ``z`` with 0 along its length-1 (broadcast) dimensions."""
    return [0 if n == 1 else s for n, s in zip(z.shape, z.strides)]


def _check_z(name, z, z_static, shape):
    bad = [d for d in range(z.ndim) if z_static[d] != 1 and z.shape[d] != shape[d]]
    if bad:
        raise ValueError("%s: z of shape %s does not match the product's shape %s" % (name, _fmt(z.shape),
                                                                                      _fmt(shape)))  # fmt: skip


def _arr(a, dt):
    return a if type(a) is np.ndarray and a.dtype == dt else np.asarray(a, dtype=dt)


def _pointer_fn(ffi):
    fb, cast = fast_from_buffer(ffi), ffi.cast

    def ptr(a):
        if a.flags.c_contiguous:
            return fb(a)
        return cast("char *", a.__array_interface__["data"][0])

    return ptr


def _gemm_call(fn, ffi, fp, ptr, x, y, alpha, beta, z, zs, out, item):
    a, ta, lda = _matrix(x, item)
    b, tb, ldb = _matrix(y, item)
    m, n = out.shape
    if m and n:
        fn(fp, m, n, x.shape[1], alpha, beta, ta, ptr(a), lda, tb, ptr(b), ldb, z, zs[0], zs[1], ptr(out))


def _gemv_call(fn, ffi, fp, ptr, A, transpose, x, alpha, beta, z, zs, out, item):
    """``out = alpha * op(A) @ x (+ beta * z)`` with ``op(A) = A.T`` when ``transpose``."""
    a, ta, lda = _matrix(A, item)
    v, inc = _vector(x, item)
    rows, cols = A.shape
    if ta:  # BLAS sees the stored matrix A.T
        rows, cols = cols, rows
    ta ^= transpose
    if out.shape[0]:
        fn(fp, rows, cols, alpha, beta, ta, ptr(a), lda, ptr(v), inc, z, zs, ptr(out))


def _check_dot(name, a, b):
    if a.shape[-1] != b.shape[0]:
        raise ValueError("%s: shapes %s and %s are not aligned" % (name, _fmt(a.shape), _fmt(b.shape)))


def _float_node(node, n_arrays):
    """The common float dtype of the node's array operands and output, or None."""
    dtype = node.outputs[0].type.dtype
    if dtype not in ("float32", "float64"):
        return None
    if any(v.type.dtype != dtype for v in node.inputs[:n_arrays] if v.type.ndim):
        return None
    return dtype


def _routine(blas, dtype, kind):
    return blas.addr[("s" if dtype == "float32" else "d") + kind]


@c_kernel.register(Dot)
def dot_kernel(op, node):
    """Matrix-matrix and matrix-vector ``dot`` through BLAS (vector-vector keeps ``perform``)."""
    blas = find_blas()
    dtype = _float_node(node, 2)
    nx, ny = (v.type.ndim for v in node.inputs)
    if blas is None or dtype is None or (nx, ny) == (1, 1):
        return None
    dt = np.dtype(dtype)
    item = dt.itemsize
    kind = "gemm" if (nx, ny) == (2, 2) else "gemv"
    src = (_gemm_source if kind == "gemm" else _gemv_source)(dtype, blas.int_type)
    cdef = _CDEFS[kind]

    def bind(fn, ffi):
        fp, ptr, null = ffi.cast("void *", _routine(blas, dtype, kind)), _pointer_fn(ffi), ffi.NULL
        pool = OutputPool(dt)

        def run(node, args, outs):
            x, y = _arr(args[0], dt), _arr(args[1], dt)
            if x.shape[-1] != y.shape[0]:
                raise ValueError("dot: shapes %s and %s are not aligned: %d (dim %d) != %d (dim 0)"
                                 % (_fmt(x.shape), _fmt(y.shape), x.shape[-1], x.ndim - 1, y.shape[0]))  # fmt: skip
            out = pool.empty(x.shape[:-1] + y.shape[1:])
            if nx == 2 and ny == 2:
                _gemm_call(fn, ffi, fp, ptr, x, y, 1.0, 0.0, null, (0, 0), out, item)
            elif nx == 2:
                _gemv_call(fn, ffi, fp, ptr, x, 0, y, 1.0, 0.0, null, 0, out, item)
            else:  # vector . matrix = matrix.T . vector
                _gemv_call(fn, ffi, fp, ptr, y, 1, x, 1.0, 0.0, null, 0, out, item)
            outs[0][0] = out

        return run

    return Kernel(src, cdef % NAME, bind)


@c_kernel.register(Gemm)
def gemm_kernel(op, node):
    """``beta * z + alpha * dot(x, y)`` through BLAS gemm."""
    blas = find_blas()
    dtype = _float_node(node, 5)
    if blas is None or dtype is None:
        return None
    dt = np.dtype(dtype)
    z_static = node.inputs[0].type.shape

    def bind(fn, ffi, inplace=False):
        fp, ptr = ffi.cast("void *", _routine(blas, dtype, "gemm")), _pointer_fn(ffi)
        pool = OutputPool(dt)

        def run(node, args, outs):
            z, alpha, x, y, beta = (_arr(a, dt) for a in args)
            _check_dot("gemm", x, y)
            shape = (x.shape[0], y.shape[1])
            _check_z("gemm", z, z_static, shape)
            if inplace and _takes_result(args[0], z, x, y, shape):
                out = z  # the kernel sees z == out: it adds alpha * x y into it
            else:
                out = pool.empty(shape)
            _gemm_call(fn, ffi, fp, ptr, x, y, float(alpha), float(beta), ptr(z), _zstrides(z), out, dt.itemsize)
            outs[0][0] = out

        return run

    # bind_inplace: a shared variable's update, computed in its own buffer (inplace.py)
    return Kernel(_gemm_source(dtype, blas.int_type), _CDEFS["gemm"] % NAME, bind,
                  lambda fn, ffi: bind(fn, ffi, inplace=True))  # fmt: skip


def _takes_result(given, z, x, y, shape):
    """True when the array ``z`` (the argument ``given`` as is) can be overwritten by the product's result."""
    return (z is given and z.shape == shape and z.flags.c_contiguous and z.flags.writeable
            and not np.may_share_memory(z, x) and not np.may_share_memory(z, y))  # fmt: skip


@c_kernel.register(Gemv)
def gemv_kernel(op, node):
    """``beta * z + alpha * dot(A, x)`` through BLAS gemv."""
    blas = find_blas()
    dtype = _float_node(node, 5)
    if blas is None or dtype is None:
        return None
    dt = np.dtype(dtype)
    z_static = node.inputs[0].type.shape

    def bind(fn, ffi):
        fp, ptr = ffi.cast("void *", _routine(blas, dtype, "gemv")), _pointer_fn(ffi)
        pool = OutputPool(dt)

        def run(node, args, outs):
            z, alpha, A, x, beta = (_arr(a, dt) for a in args)
            _check_dot("gemv", A, x)
            shape = (A.shape[0],)
            _check_z("gemv", z, z_static, shape)
            out = pool.empty(shape)
            _gemv_call(fn, ffi, fp, ptr, A, 0, x, float(alpha), float(beta), ptr(z), _zstrides(z)[0], out,
                       dt.itemsize)  # fmt: skip
            outs[0][0] = out

        return run

    return Kernel(_gemv_source(dtype, blas.int_type), _CDEFS["gemv"] % NAME, bind)


@c_kernel.register(Ger)
def ger_kernel(op, node):
    """``A + alpha * outer(x, y)`` through BLAS ger."""
    blas = find_blas()
    dtype = _float_node(node, 4)
    if blas is None or dtype is None:
        return None
    dt = np.dtype(dtype)
    item = dt.itemsize
    a_static = node.inputs[0].type.shape

    def bind(fn, ffi):
        fp, ptr = ffi.cast("void *", _routine(blas, dtype, "ger")), _pointer_fn(ffi)
        pool = OutputPool(dt)

        def run(node, args, outs):
            A, alpha, x, y = (_arr(a, dt) for a in args)
            shape = (x.shape[0], y.shape[0])
            _check_z("ger", A, a_static, shape)
            out = pool.empty(shape)
            if out.size:
                xv, incx = _vector(x, item)
                yv, incy = _vector(y, item)
                zs = _zstrides(A)
                fn(fp, shape[0], shape[1], float(alpha), ptr(xv), incx, ptr(yv), incy, ptr(A), zs[0], zs[1],
                   ptr(out))  # fmt: skip
            outs[0][0] = out

        return run

    return Kernel(_ger_source(dtype, blas.int_type), _CDEFS["ger"] % NAME, bind)


_CDEFS = {
    "gemm": "void %s(void *, int64_t, int64_t, int64_t, double, double, int, const char *, int64_t, int, "
            "const char *, int64_t, const char *, int64_t, int64_t, char *);",
    "gemv": "void %s(void *, int64_t, int64_t, double, double, int, const char *, int64_t, const char *, int64_t, "
            "const char *, int64_t, char *);",
    "ger": "void %s(void *, int64_t, int64_t, double, const char *, int64_t, const char *, int64_t, const char *, "
           "int64_t, int64_t, char *);",
}  # fmt: skip

__all__ = ["Blas", "find_blas", "dot_kernel", "gemm_kernel", "gemv_kernel", "ger_kernel"]
