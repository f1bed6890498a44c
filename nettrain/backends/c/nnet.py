"""C kernels for the softmax family and the fused softmax + 1-hot crossentropy.

All of them work row by row on a C-contiguous ``(m, k)`` view (the softmax
axis last; other layouts are copied first), with OpenMP over rows for large
inputs.  Each mirrors its op's ``perform``: the row maximum propagates NaN
and is replaced by 0 when not finite, exponentials are taken in the input
dtype, sums accumulate in double (the reference sums pairwise in the input
dtype: results agree within rounding).  Class indices are checked in C; on
a bad one the reference check runs to raise its exact error.
"""

import numpy as np

from ...tensor.nnet.crossentropy import _check_indices, _check_rows
from ...tensor.nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx
from ...tensor.nnet.softmax_ops import LogSoftmax, Softmax, SoftmaxGrad
from .buffers import OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES

_FLOATS = ("float32", "float64")

# row loop shared by every kernel: rows split over threads when the input is large
_ROWS = """#ifdef _OPENMP
#pragma omp parallel for schedule(static) if(m > 1 && m * k >= NT_PAR_MIN_HEAVY)
#endif
  for (int64_t r = 0; r < m; r++) {"""


def _row_max(t, sfx):
    """C statements setting ``mx`` to the stabilizing maximum of row ``xr``."""
    return ("    %s mx = -INFINITY;\n"
            "    for (int64_t j = 0; j < k; j++) mx = nt_max_%s(mx, xr[j]);\n"
            "    if (!isfinite(mx)) mx = 0;\n") % (t, sfx)  # fmt: skip


def _names(dtype):
    """``(C type, helper suffix, libm suffix)`` of a float dtype."""
    return (C_TYPES[dtype], "f32", "f") if dtype == "float32" else (C_TYPES[dtype], "f64", "")


def _softmax_source(dtype, log):
    t, sfx, f = _names(dtype)
    if log:
        tail = ("    const %s lse = log%s((%s)s);\n"
                "#pragma omp simd\n"
                "    for (int64_t j = 0; j < k; j++) or_[j] = (xr[j] - mx) - lse;\n") % (t, f, t)  # fmt: skip
        body = "      s += exp%s(xr[j] - mx);" % f
    else:
        tail = ("    const %s st = (%s)s;\n"
                "#pragma omp simd\n"
                "    for (int64_t j = 0; j < k; j++) or_[j] = or_[j] / st;\n") % (t, t)  # fmt: skip
        body = "      const %s e = exp%s(xr[j] - mx); or_[j] = e; s += e;" % (t, f)
    return ("NT_EXPORT void %s(int64_t m, int64_t k, const char *px, char *po)\n{\n"
            "  const %s *x = (const %s *)px; %s *o = (%s *)po;\n%s\n"
            "    const %s *restrict xr = x + r * k; %s *restrict or_ = o + r * k;\n%s"
            "    double s = 0;\n#pragma omp simd reduction(+:s)\n"
            "    for (int64_t j = 0; j < k; j++) {\n%s\n    }\n%s  }\n}\n"
            % (NAME, t, t, t, t, _ROWS, t, t, _row_max(t, sfx), body, tail))  # fmt: skip


def _softmax_grad_source(dtype):
    t = C_TYPES[dtype]
    return ("NT_EXPORT void %s(int64_t m, int64_t k, const char *pdy, const char *psm, char *po)\n{\n"
            "  const %s *dy = (const %s *)pdy, *sm = (const %s *)psm; %s *o = (%s *)po;\n%s\n"
            "    const %s *restrict d = dy + r * k, *restrict s = sm + r * k; %s *restrict or_ = o + r * k;\n"
            "    double acc = 0;\n#pragma omp simd reduction(+:acc)\n"
            "    for (int64_t j = 0; j < k; j++) acc += (double)(d[j] * s[j]);\n"
            "    const %s a = (%s)acc;\n#pragma omp simd\n"
            "    for (int64_t j = 0; j < k; j++) or_[j] = (d[j] - a) * s[j];\n  }\n}\n"
            % (NAME, t, t, t, t, t, _ROWS, t, t, t, t))  # fmt: skip


def _bad_index_loop(yt):
    """C statements returning the first row whose class index is outside [0, k)."""
    return ("  { const %s *yy = (const %s *)py;\n"
            "    for (int64_t r = 0; r < m; r++) { const int64_t yi = (int64_t)yy[r];"
            " if (yi < 0 || yi >= k) return r; } }\n") % (yt, yt)  # fmt: skip


def _ce_source(dtype, ydtype):
    t, sfx, f = _names(dtype)
    yt = C_TYPES[ydtype]
    return ("NT_EXPORT int64_t %s(int64_t m, int64_t k, const char *px, const char *py, char *po)\n{\n%s"
            "  const %s *x = (const %s *)px; const %s *y = (const %s *)py; %s *o = (%s *)po;\n%s\n"
            "    const %s *restrict xr = x + r * k;\n%s"
            "    double s = 0;\n#pragma omp simd reduction(+:s)\n"
            "    for (int64_t j = 0; j < k; j++) s += exp%s(xr[j] - mx);\n"
            "    o[r] = -((xr[(int64_t)y[r]] - mx) - log%s((%s)s));\n  }\n  return -1;\n}\n"
            % (NAME, _bad_index_loop(yt), t, t, yt, yt, t, t, _ROWS, t, _row_max(t, sfx), f, f, t))  # fmt: skip


def _ce_dx_source(dtype, ydtype):
    t = C_TYPES[dtype]
    yt = C_TYPES[ydtype]
    return ("NT_EXPORT int64_t %s(int64_t m, int64_t k, const char *pg, int64_t gstep, const char *psm,"
            " const char *py, char *po)\n{\n%s"
            "  const %s *g = (const %s *)pg, *sm = (const %s *)psm; const %s *y = (const %s *)py;"
            " %s *o = (%s *)po;\n%s\n"
            "    const %s *restrict s = sm + r * k; %s *restrict or_ = o + r * k;\n"
            "    const %s w = g[r * gstep]; const int64_t yi = (int64_t)y[r];\n"
            "#pragma omp simd\n"
            "    for (int64_t j = 0; j < k; j++) or_[j] = (s[j] - (%s)(j == yi)) * w;\n  }\n  return -1;\n}\n"
            % (NAME, _bad_index_loop(yt), t, t, t, yt, yt, t, t, _ROWS, t, t, t, t))  # fmt: skip


def _as(a, dt):
    """``a`` as a C-contiguous ndarray of ``dt`` (no copy when it already is one)."""
    if type(a) is not np.ndarray or a.dtype != dt:
        a = np.asarray(a, dtype=dt)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _rows(shape):
    k = shape[-1] if shape else 1
    return (int(np.prod(shape[:-1])) if k else 0), k


def _last_axis(op, node):
    return node.inputs[0].type.ndim - 1 == op.axis


@c_kernel.register(Softmax)
@c_kernel.register(LogSoftmax)
def softmax_kernel(op, node):
    """``softmax`` / ``log_softmax`` along the last axis."""
    dtype = node.outputs[0].type.dtype
    if dtype not in _FLOATS or node.inputs[0].type.dtype != dtype or not _last_axis(op, node):
        return None
    dt = np.dtype(dtype)

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            x = _as(args[0], dt)
            out = pool.empty(x.shape)
            m, k = _rows(x.shape)
            if m:
                fn(m, k, fb(x), fb(out))
            outs[0][0] = out

        return run

    src = _softmax_source(dtype, isinstance(op, LogSoftmax))
    return Kernel(src, "void %s(int64_t, int64_t, const char *, char *);" % NAME, bind)


@c_kernel.register(SoftmaxGrad)
def softmax_grad_kernel(op, node):
    """``(dy - sum(dy * sm)) * sm`` along the last axis."""
    dtype = node.outputs[0].type.dtype
    if dtype not in _FLOATS or any(v.type.dtype != dtype for v in node.inputs) or not _last_axis(op, node):
        return None
    dt = np.dtype(dtype)

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            dy, sm = _as(args[0], dt), _as(args[1], dt)
            if dy.shape != sm.shape:
                raise ValueError("SoftmaxGrad: dy of shape %s and softmax of shape %s differ" % (dy.shape, sm.shape))
            out = pool.empty(sm.shape)
            m, k = _rows(sm.shape)
            if m:
                fn(m, k, fb(dy), fb(sm), fb(out))
            outs[0][0] = out

        return run

    return Kernel(_softmax_grad_source(dtype), "void %s(int64_t, int64_t, const char *, const char *, char *);"
                  % NAME, bind)  # fmt: skip


def _int_dtype(v):
    d = v.type.dtype
    return d if d in C_TYPES and d.startswith(("int", "uint")) else None


def crossentropy_dtypes(node, n_float, labels):
    """``(float dtype, label dtype)`` when the first ``n_float`` inputs have the output's float dtype and
    input ``labels`` holds integer class indices (what the C and CUDA crossentropy kernels take), else None."""
    dtype, ydtype = node.outputs[0].type.dtype, _int_dtype(node.inputs[labels])
    if dtype not in _FLOATS or any(v.type.dtype != dtype for v in node.inputs[:n_float]) or ydtype is None:
        return None
    return dtype, ydtype


@c_kernel.register(CrossentropySoftmax1Hot)
def crossentropy_softmax_kernel(op, node):
    """``-log_softmax(x)[i, y[i]]`` per row."""
    found = crossentropy_dtypes(node, 1, 1)
    if found is None:
        return None
    dtype, ydtype = found
    dt, ydt = np.dtype(dtype), np.dtype(ydtype)
    name = "crossentropy_softmax_1hot"

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            x, y = _as(args[0], dt), _as(args[1], ydt)
            _check_rows(name, x, y)
            m, k = x.shape
            out = pool.empty((m,))
            if m and fn(m, k, fb(x), fb(y), fb(out)) >= 0:
                _check_indices(name, k, y)  # raises the reference's error
            outs[0][0] = out

        return run

    return Kernel(_ce_source(dtype, ydtype), "int64_t %s(int64_t, int64_t, const char *, const char *, char *);"
                  % NAME, bind)  # fmt: skip


@c_kernel.register(CrossentropySoftmax1HotDx)
def crossentropy_softmax_dx_kernel(op, node):
    """``g[:, None] * (sm - onehot(y))``."""
    found = crossentropy_dtypes(node, 2, 2)
    if found is None:
        return None
    dtype, ydtype = found
    dt, ydt = np.dtype(dtype), np.dtype(ydtype)
    g_static_one = node.inputs[0].type.shape[0] == 1
    name = "crossentropy_softmax_1hot_dx"

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            g, sm, y = _as(args[0], dt), _as(args[1], dt), _as(args[2], ydt)
            _check_rows(name, sm, y)
            m, k = sm.shape
            ng = g.shape[0]
            if ng not in (m, 1) or (ng == 1 and not g_static_one and m != 1):
                raise ValueError("%s: %d row weights for %d rows" % (name, ng, m))
            out = pool.empty(sm.shape)
            if m and fn(m, k, fb(g), 1 if ng == m else 0, fb(sm), fb(y), fb(out)) >= 0:
                _check_indices(name, k, y)
            outs[0][0] = out

        return run

    cdef = "int64_t %s(int64_t, int64_t, const char *, int64_t, const char *, const char *, char *);" % NAME
    return Kernel(_ce_dx_source(dtype, ydtype), cdef, bind)


__all__ = ["softmax_kernel", "softmax_grad_kernel", "crossentropy_softmax_kernel", "crossentropy_softmax_dx_kernel",
           "crossentropy_dtypes"]
