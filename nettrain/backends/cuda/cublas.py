"""cuBLAS calls planned in pure Python and run by cuBLAS (GPU) or NumPy (emulator).

* :func:`gemm_plan`, :func:`gemv_plan` and :func:`ger_plan`: from the shapes and
  byte strides of row- or column-major operands, the arguments of the
  column-major BLAS call (transpose flags, sizes, leading dimensions).  Row-major
  ``C = A @ B`` is column-major ``C^T = B^T A^T``, so a row-major output swaps
  the operands (``swap``) and a transposed view is just a transpose flag;
* executors: :class:`CuBlas` (cuBLAS through cffi's ABI mode, host pointer mode
  for ``alpha``/``beta``) and :class:`HostBlas` (NumPy on the host memory behind
  the emulator's device pointers, with cuBLAS's argument conventions);
  :func:`blas_for` picks one for a runtime.
"""

import ctypes
import functools
import glob
import os
import sys

import numpy as np

from .runtime import get_runtime

OP_N, OP_T = 0, 1  # cublasOperation_t
_CTYPE = {"float32": "float", "float64": "double"}


# ------------------------------------------------------------------ plans (pure Python)
def matrix_layout(shape, strides, itemsize):
    """``('row' | 'col', ld)`` of a 2-d operand whose rows or columns are contiguous, else None.

    ``ld`` (in elements) is at least the length of a contiguous run, as BLAS requires.
    """
    if type(shape) is not tuple or type(strides) is not tuple:  # device arrays hold tuples already
        shape, strides = tuple(map(int, shape)), tuple(map(int, strides))
    return _matrix_layout(shape, strides, itemsize)


@functools.lru_cache(maxsize=4096)  # pure, and asked several times per product on every call
def _matrix_layout(shape, strides, itemsize):
    r, c = shape
    s0, s1 = strides
    if (c <= 1 or s1 == itemsize) and (r <= 1 or (s0 > 0 and s0 % itemsize == 0 and s0 >= c * itemsize)):
        return "row", max(1, c, s0 // itemsize if r > 1 else 1)
    if (r <= 1 or s0 == itemsize) and (c <= 1 or (s1 > 0 and s1 % itemsize == 0 and s1 >= r * itemsize)):
        return "col", max(1, r, s1 // itemsize if c > 1 else 1)
    return None


def vector_inc(v):
    """The positive element increment of the 1-d ``v`` for BLAS, or None (a copy is needed)."""
    n, s, item = v.shape[0], v.strides[0], v.dtype.itemsize
    if n <= 1:
        return 1
    return s // item if s > 0 and s % item == 0 else None


def _layout(a):
    lay = matrix_layout(a.shape, a.strides, a.dtype.itemsize)
    if lay is None:
        raise ValueError("operand of shape %s and strides %s has no contiguous rows or columns; copy it first"
                         % (tuple(a.shape), tuple(a.strides)))  # fmt: skip
    return lay


def gemm_plan(a, b, out):
    """Column-major GEMM arguments computing ``out = a @ b`` for 2-d strided operands.

    Parameters
    ----------
    a, b, out : array-likes with ``shape``, ``strides`` (bytes) and ``dtype``
        ``(M, K)``, ``(K, N)`` and ``(M, N)``; each must have contiguous rows or
        columns (:func:`matrix_layout`), else ValueError.

    Returns
    -------
    (transa, transb, m, n, k, lda, ldb, ldc, swap) : tuple of int
        The arguments of ``cublas?gemm``; its first operand is ``b`` (and its
        second ``a``) when ``swap``, which is the case for a row-major ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> a, b, c = np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 4))
    >>> gemm_plan(a, b, c)  # C^T (4 x 2) = B^T (4 x 3) A^T (3 x 2), all untransposed in column-major
    (0, 0, 4, 2, 3, 4, 3, 4, True)
    >>> gemm_plan(a.T.copy().T, b, c.T.copy().T)  # column-major a and out: no swap
    (0, 1, 2, 4, 3, 2, 4, 2, False)
    """
    (m_, k_), (k2, n_) = a.shape, b.shape
    if k_ != k2 or tuple(out.shape) != (m_, n_):
        raise ValueError("gemm_plan: shapes %s @ %s -> %s do not match" % (tuple(a.shape), tuple(b.shape),
                                                                            tuple(out.shape)))  # fmt: skip
    (ka, lda), (kb, ldb), (kc, ldc) = _layout(a), _layout(b), _layout(out)
    if kc == "row":  # column-major out^T = b^T a^T: a row-major operand is its own transpose, column-major
        return (OP_N if kb == "row" else OP_T, OP_N if ka == "row" else OP_T, n_, m_, k_, ldb, lda, ldc, True)
    return (OP_N if ka == "col" else OP_T, OP_N if kb == "col" else OP_T, m_, n_, k_, lda, ldb, ldc, False)


def gemv_plan(A, x, y):
    """Column-major GEMV arguments ``(trans, m, n, lda, incx, incy)`` computing ``y = A @ x``.

    ``A`` must have contiguous rows or columns and ``x``, ``y`` positive
    increments (else ValueError).  ``m, n`` are the stored matrix's sizes.
    """
    r, c = A.shape
    if tuple(x.shape) != (c,) or tuple(y.shape) != (r,):
        raise ValueError("gemv_plan: shapes %s @ %s -> %s do not match" % (tuple(A.shape), tuple(x.shape),
                                                                            tuple(y.shape)))  # fmt: skip
    kind, lda = _layout(A)
    incx, incy = vector_inc(x), vector_inc(y)
    if incx is None or incy is None:
        raise ValueError("gemv_plan: vectors need positive strides; copy them first")
    if kind == "row":  # column-major storage of A^T
        return OP_T, c, r, lda, incx, incy
    return OP_N, r, c, lda, incx, incy


def ger_plan(x, y, out):
    """Column-major GER arguments ``(m, n, incx, incy, lda, swap)`` for ``out += outer(x, y)``.

    With a row-major ``out`` (``swap``) BLAS updates ``out^T += outer(y, x)``:
    its ``x`` argument is ``y`` and the increments are given in that order.
    """
    r, c = out.shape
    if tuple(x.shape) != (r,) or tuple(y.shape) != (c,):
        raise ValueError("ger_plan: outer(%s, %s) does not fit %s" % (tuple(x.shape), tuple(y.shape),
                                                                     tuple(out.shape)))  # fmt: skip
    kind, lda = _layout(out)
    incx, incy = vector_inc(x), vector_inc(y)
    if incx is None or incy is None:
        raise ValueError("ger_plan: vectors need positive strides; copy them first")
    if kind == "row":
        return c, r, incy, incx, lda, True
    return r, c, incx, incy, lda, False


# ------------------------------------------------------------------ executors
def host_buffer(ptr, dtype, count):
    """A writable NumPy view of ``count`` elements of host memory at address ``ptr``."""
    dt = np.dtype(dtype)
    raw = (ctypes.c_char * max(1, int(count) * dt.itemsize)).from_address(int(ptr))
    return np.frombuffer(raw, dt, int(count))


class HostBlas:
    """The emulator's BLAS: cuBLAS's arguments (column-major, leading dimensions, increments) computed by
    NumPy on the memory at the pointers, which is host memory on the emulator.  Like BLAS, ``beta == 0``
    never reads the output."""

    name = "host"

    def __init__(self):
        self.calls = 0

    @staticmethod
    def _mat(ptr, dtype, rows, cols, ld):
        """The column-major ``rows x cols`` matrix with leading dimension ``ld`` at ``ptr``."""
        buf = host_buffer(ptr, dtype, (cols - 1) * ld + rows if rows and cols else 0)
        return np.lib.stride_tricks.as_strided(buf, (rows, cols), (buf.itemsize, ld * buf.itemsize))

    @staticmethod
    def _vec(ptr, dtype, n, inc):
        buf = host_buffer(ptr, dtype, (n - 1) * inc + 1 if n else 0)
        return np.lib.stride_tricks.as_strided(buf, (n,), (inc * buf.itemsize,))

    def _update(self, c, p, alpha, beta):
        """``c = alpha * p + beta * c``."""
        self.calls += 1
        if alpha != 1:
            p *= alpha
        if beta != 0:
            p += c if beta == 1 else beta * c
        c[...] = p

    def gemm(self, dtype, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, count=1, sa=0, sb=0, sc=0):
        item = np.dtype(dtype).itemsize
        for i in range(count):
            a = self._mat(A + i * sa * item, dtype, *((m, k) if ta == OP_N else (k, m)), lda)
            b = self._mat(B + i * sb * item, dtype, *((k, n) if tb == OP_N else (n, k)), ldb)
            p = np.dot(a if ta == OP_N else a.T, b if tb == OP_N else b.T)
            self._update(self._mat(C + i * sc * item, dtype, m, n, ldc), p, alpha, beta)

    def gemv(self, dtype, trans, m, n, alpha, A, lda, x, incx, beta, y, incy):
        a = self._mat(A, dtype, m, n, lda)
        nx, ny = (m, n) if trans == OP_T else (n, m)
        p = np.dot(a.T if trans == OP_T else a, self._vec(x, dtype, nx, incx))
        self._update(self._vec(y, dtype, ny, incy), p, alpha, beta)

    def ger(self, dtype, m, n, alpha, x, incx, y, incy, A, lda):
        a = self._mat(A, dtype, m, n, lda)
        p = self._vec(x, dtype, m, incx)[:, None] * self._vec(y, dtype, n, incy)[None, :]
        self._update(a, p, alpha, 1.0)


_CDEF = """
typedef struct cublasContext *cublasHandle_t;
int cublasCreate_v2(cublasHandle_t *handle);
int cublasGetProperty(int type, int *value);
const char *cublasGetStatusString(int status);
int cublasSetPointerMode_v2(cublasHandle_t handle, int mode);
"""
for _t, _p in (("float", "S"), ("double", "D")):
    _CDEF += (
        "int cublas{p}gemm_v2(cublasHandle_t, int, int, int, int, int, const {t} *, const {t} *, int, const {t} *, "
        "int, const {t} *, {t} *, int);\n"
        "int cublas{p}gemmStridedBatched(cublasHandle_t, int, int, int, int, int, const {t} *, const {t} *, int, "
        "long long, const {t} *, int, long long, const {t} *, {t} *, int, long long, int);\n"
        "int cublas{p}gemv_v2(cublasHandle_t, int, int, int, const {t} *, const {t} *, int, const {t} *, int, "
        "const {t} *, {t} *, int);\n"
        "int cublas{p}ger_v2(cublasHandle_t, int, int, const {t} *, const {t} *, int, const {t} *, int, {t} *, int);\n"
    ).format(t=_t, p=_p)


def _cublas_candidates():
    """Paths (or sonames) of libcublas: the CUDA toolkit, NVIDIA's pip wheels, then the loader's search path."""
    roots = [os.environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH")] + ["/usr/local/cuda"]
    dirs = []
    for r in filter(None, roots):
        dirs += [os.path.join(r, "lib64"), os.path.join(r, "lib"), os.path.join(r, "targets", "x86_64-linux", "lib")]
    for p in sys.path:  # nvidia-cublas wheels: nvidia/cublas/lib (CUDA 12) or nvidia/cu13/lib (CUDA 13)
        dirs += sorted(glob.glob(os.path.join(p or ".", "nvidia", "*", "lib")))
    paths = []
    for d in dirs:
        found = sorted(glob.glob(os.path.join(d, "libcublas.so*")), key=len)
        paths += [f for f in found if f not in paths]
    return paths + ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"]


@functools.lru_cache(maxsize=None)
def _load():
    """``(ffi, lib, path)`` of the first libcublas that loads; raises OSError listing the tries."""
    import cffi

    ffi, errors = cffi.FFI(), []
    ffi.cdef(_CDEF)
    for path in _cublas_candidates():
        try:
            if os.path.isabs(path):  # its libcublasLt sits beside it but may not be on the loader's path
                for lt in sorted(glob.glob(os.path.join(os.path.dirname(path), "libcublasLt.so*")), key=len)[:1]:
                    ctypes.CDLL(lt, mode=ctypes.RTLD_GLOBAL)
            return ffi, ffi.dlopen(path), path
        except OSError as e:
            errors.append("%s: %s" % (path, (str(e) or type(e).__name__).split(".  Additionally")[0]))
    raise OSError("libcublas not found (install the CUDA toolkit or `pip install nvidia-cublas`); tried:\n  "
                  + "\n  ".join(errors))  # fmt: skip


def cublas_info():
    """What the CUDA backend knows of cuBLAS: a dict for programs (see :func:`cublas_status` for people).

    Returns
    -------
    dict
        ``found`` (bool), ``path`` of the library, ``version`` ('13.1.0', from
        ``cublasGetProperty``, which needs no GPU) and ``error`` (why it is not
        usable, else '').

    Examples
    --------
    >>> sorted(cublas_info())
    ['error', 'found', 'path', 'version']
    """
    try:
        ffi, lib, path = _load()
    except OSError as e:
        return dict(found=False, path=None, version=None, error=str(e))
    version, error = None, ""
    try:
        v = ffi.new("int *")
        parts = []
        for prop in (0, 1, 2):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
            status = lib.cublasGetProperty(prop, v)
            if status:
                raise RuntimeError("cublasGetProperty failed with status %d" % status)
            parts.append(str(v[0]))
        version = ".".join(parts)
    except (AttributeError, RuntimeError) as e:
        error = str(e)
    return dict(found=True, path=path, version=version, error=error)


def cublas_status():
    """``(found, detail)`` for ``python -m nettrain.cuda``: the cuBLAS library and version, or why it is missing.

    Examples
    --------
    >>> found, detail = cublas_status()
    >>> found == ("cuBLAS" in detail)
    True
    """
    info = cublas_info()
    if not info["found"]:
        return False, info["error"]
    return True, "cuBLAS %s at %s%s" % (info["version"] or "(version unknown)", info["path"],
                                         "; " + info["error"] if info["error"] else "")  # fmt: skip


class CuBlas:
    """cuBLAS on the current CUDA context (the runtime's), default stream, host pointer mode."""

    name = "cublas"

    def __init__(self):
        self.ffi, self.lib, self.path = _load()
        handle = self.ffi.new("cublasHandle_t *")
        self._check(self.lib.cublasCreate_v2(handle), "cublasCreate_v2")
        self.handle = handle[0]
        self._check(self.lib.cublasSetPointerMode_v2(self.handle, 0), "cublasSetPointerMode_v2")
        self.calls = 0

    def _check(self, status, what):
        if status:
            try:
                text = self.ffi.string(self.lib.cublasGetStatusString(status)).decode()
            except AttributeError:  # older cuBLAS has no status strings
                text = "status %d" % status
            raise RuntimeError("cuBLAS %s failed: %s (%d)" % (what, text, status))

    def _args(self, dtype, *ints):
        if any(not -(2**31) <= int(i) < 2**31 for i in ints):
            raise ValueError("cuBLAS: sizes %s exceed its 32-bit integers" % (ints,))
        t, p = _CTYPE[str(dtype)], "S" if str(dtype) == "float32" else "D"
        return t, p, self.ffi.cast

    def gemm(self, dtype, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, count=1, sa=0, sb=0, sc=0):
        t, p, cast = self._args(dtype, m, n, k, lda, ldb, ldc, count)
        new, h, tp = self.ffi.new, self.handle, t + " *"
        self.calls += 1
        if count == 1:
            st = getattr(self.lib, "cublas%sgemm_v2" % p)(h, ta, tb, m, n, k, new(tp, alpha), cast(tp, A), lda,
                                                           cast(tp, B), ldb, new(tp, beta), cast(tp, C), ldc)
            return self._check(st, "%sgemm" % p)
        st = getattr(self.lib, "cublas%sgemmStridedBatched" % p)(h, ta, tb, m, n, k, new(tp, alpha), cast(tp, A), lda,
                                                                  sa, cast(tp, B), ldb, sb, new(tp, beta),
                                                                  cast(tp, C), ldc, sc, count)  # fmt: skip
        self._check(st, "%sgemmStridedBatched" % p)

    def gemv(self, dtype, trans, m, n, alpha, A, lda, x, incx, beta, y, incy):
        t, p, cast = self._args(dtype, m, n, lda, incx, incy)
        new, tp = self.ffi.new, t + " *"
        self.calls += 1
        st = getattr(self.lib, "cublas%sgemv_v2" % p)(self.handle, trans, m, n, new(tp, alpha), cast(tp, A), lda,
                                                       cast(tp, x), incx, new(tp, beta), cast(tp, y), incy)
        self._check(st, "%sgemv" % p)

    def ger(self, dtype, m, n, alpha, x, incx, y, incy, A, lda):
        t, p, cast = self._args(dtype, m, n, lda, incx, incy)
        tp = t + " *"
        self.calls += 1
        st = getattr(self.lib, "cublas%sger_v2" % p)(self.handle, m, n, self.ffi.new(tp, alpha), cast(tp, x), incx,
                                                      cast(tp, y), incy, cast(tp, A), lda)
        self._check(st, "%sger" % p)


def blas_for(rt):
    """The BLAS executor of runtime ``rt`` (made once per runtime)."""
    ex = getattr(rt, "_nt_blas", None)
    if ex is None:
        ex = rt._nt_blas = HostBlas() if rt.name == "emulator" else CuBlas()
    return ex


def blas_usable():
    """True unless the process's runtime is a real GPU without a loadable cuBLAS (then BLAS ops stay on the host)."""
    rt = get_runtime()
    return rt is None or rt.name == "emulator" or cublas_info()["found"]

__all__ = ["gemm_plan", "gemv_plan", "ger_plan", "matrix_layout", "vector_inc", "host_buffer", "HostBlas", "CuBlas",
           "blas_for", "blas_usable", "cublas_info", "cublas_status", "OP_N", "OP_T"]  # fmt: skip
