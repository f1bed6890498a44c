"""C kernels for pooling: ``Pool`` (every mode), ``MaxPoolGrad``, ``AveragePoolGrad`` and ``MaxPoolGradGrad``.

Pooling over 1, 2 or 3 trailing dimensions runs as 3-d pooling (missing
axes get length 1 and window 1) on a C-contiguous ``(planes, n0, n1, n2)``
view; OpenMP splits the planes (batch x channel) of large inputs.  Window
sizes, strides and padding are op parameters, so they are compile-time
constants of a kernel: the windows that lie entirely inside the image have
constant trip counts, are unrolled and vectorized across the windows of an
output row; the border windows (padding, partial windows) go through a small
out-of-line function.  Image sizes are runtime arguments.

Each kernel mirrors its op's ``perform`` bit for bit (up to the sign of a zero
maximum: NumPy's vectorized maximum itself returns either of two equal zeros):

* a window covers its real elements only (padding and the partial windows of
  ``ignore_border=False`` are clipped off): padding never wins a max and adds
  nothing to a sum; sums accumulate in the input dtype in row-major window
  order, and averages divide in double by ``_counts``' divisor (padding
  counted for 'average_inc_pad' only), rounding once to the output dtype;
* the max propagates NaN; the gradient goes to the *first* maximal element
  (row-major) of a window, a NaN beating any number;
* where windows overlap, gradient windows are accumulated in reverse
  row-major order, which adds the contributions to each element in the order
  of ``perform``'s window offsets; average gradients add in double, as
  ``perform`` adds ``gz / counts`` (a float64 array) to the gradient.

Shapes that ``perform`` would broadcast or reject (an output gradient of
another shape) are handed to ``perform`` itself, which raises its own error.
"""

import numpy as np

from ...tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool
from .buffers import OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES

_FLOATS = ("float32", "float64")
_SFX = {"float32": "f32", "float64": "f64"}  # suffix of nt_pool_sel_*

# Helpers of every pooling kernel (guarded: several pooling kernels may share one library).
_HELPERS = r"""
#ifndef NT_POOL_HELPERS
#define NT_POOL_HELPERS
#include <string.h>
/* real index range [*lo, *hi) of window i along an axis of length n (padding clipped off) */
static inline void nt_pool_span(int64_t i, int64_t n, int64_t k, int64_t s, int64_t p, int64_t *lo, int64_t *hi)
{
  const int64_t st = i * s - p, e = st + k;
  *lo = st > 0 ? st : 0;
  *hi = e < n ? e : n;
}
/* the few clipped windows of an image (its border) run out-of-line code that is cheap to compile */
#if defined(__GNUC__) && !defined(__clang__)
#define NT_POOL_COLD __attribute__((noinline, optimize("O1")))
#else
#define NT_POOL_COLD __attribute__((noinline))
#endif
/* t ? a : b without a branch (the comparisons of pooling are data-dependent: branches mispredict) */
#define NT_POOL_SEL(S, T, U) \
static inline T nt_pool_sel_##S(int t, T a, T b) { \
  U ua, ub; const U mk = (U)0 - (U)(t != 0); memcpy(&ua, &a, sizeof(T)); memcpy(&ub, &b, sizeof(T)); \
  ua = (ua & mk) | (ub & ~mk); memcpy(&a, &ua, sizeof(T)); return a; }
NT_POOL_SEL(f32, float, uint32_t)
NT_POOL_SEL(f64, double, uint64_t)
/* window i's divisor along an axis, as perform's _counts (padding counted for average_inc_pad) */
static inline double nt_pool_count(int64_t i, int64_t n, int64_t k, int64_t s, int64_t p, int inc_pad)
{
  int64_t lo, hi;
  if (inc_pad) {
    const int64_t st = i * s, e = st + k, end = n + 2 * p;
    return (double)((e < end ? e : end) - st);
  }
  nt_pool_span(i, n, k, s, p, &lo, &hi);
  return (double)(hi - lo);
}
#endif
"""

# Window k of output row (i, j): its elements xq[e] in row-major order.  A full window (every element
# real) has constant trip counts, so the compiler unrolls them and vectorizes the loop over k.
_UNROLL = "\n#pragma GCC unroll 16\n"
_FULL = (_UNROLL + "for (int64_t da = 0; da < K0; da++)" + _UNROLL + "for (int64_t db = 0; db < K1; db++)" + _UNROLL
         + "for (int64_t d = 0; d < K2; d++) { const int64_t e = base + (da * n1 + db) * n2 + k * S2 + d; %s }\n")
_FULL_REVERSED = (_UNROLL + "for (int64_t da = K0 - 1; da >= 0; da--)" + _UNROLL
                  + "for (int64_t db = K1 - 1; db >= 0; db--)" + _UNROLL + "for (int64_t d = K2 - 1; d >= 0; d--)"
                  " { const int64_t e = base + (da * n1 + db) * n2 + k * S2 + d; %s }\n")
_CLIPPED = ("for (int64_t a = a0; a < a1; a++) for (int64_t b = b0; b < b1; b++) for (int64_t c = c0; c < c1; c++)"
            " { const int64_t e = (a * n1 + b) * n2 + c; %s }")

# divisor of window k of row (i, j) ('average_inc_pad' counts padding; full windows hold K0 * K1 * K2)
_COUNT = ("(nt_pool_count(i, n0, K0, S0, P0, INC) * nt_pool_count(j, n1, K1, S1, P1, INC)"
          " * nt_pool_count(k, n2, K2, S2, P2, INC))")

def _max(sfx, loops):
    """C statements setting ``m`` to the window maximum, as the prelude's ``nt_max`` folds it (NaN propagates)."""
    return ("TX m = -INFINITY; %s\n"
            % loops % ("const TX v = xq[e]; m = nt_pool_sel_%s((v > m) | (isnan(v) & !isnan(m)), v, m);" % sfx))


# The first maximal element of a window is its first element equal to the maximum (a NaN when the
# maximum is NaN): perform's "v > best, or v is the first NaN" scan stops changing exactly there.
_IS_MAX = "const TX v = xq[e]; const int t = (v == m) | (isnan(v) & isnan(m));"


def _kernel(geometry, window, args, planes, head, tx, tg, reverse, full=None):
    """Kernel ``void NT_KERNEL(pg, args...)`` running ``window(loops, full)`` for every window of every plane.

    ``pg`` holds {planes, n0, n1, n2, o0, o1, o2}; ``geometry`` the compile-time macros (window sizes K*,
    strides S*, padding P*, ...).  ``planes`` is ``(parameters, arguments)`` of the per-plane function:
    restrict-qualified parameters (restrict on locals is lost when OpenMP outlines the loop) and the
    pointers of plane q.  Windows run in reverse row-major order when ``reverse``.  Full windows are
    handled inline (vectorized; ``full`` replaces their loop over [f0, f1)); the few clipped ones by one
    out-of-line function (less code to compile).
    """
    def loop(lo, hi):
        return ("for (int64_t k = (%s) - 1; k >= (%s); k--)" % (hi, lo) if reverse
                else "for (int64_t k = %s; k < %s; k++)" % (lo, hi))  # fmt: skip

    names = ", ".join(p.split("*")[-1].replace("restrict", "").strip() for p in planes[0].split(","))
    rows = ("for (int64_t i = o0 - 1; i >= 0; i--) for (int64_t j = o1 - 1; j >= 0; j--)" if reverse
            else "for (int64_t i = 0; i < o0; i++) for (int64_t j = 0; j < o1; j++)")  # fmt: skip
    # full windows of a row touch distinct elements unless windows overlap (then only reverse kernels
    # write, in order): tell the compiler, which cannot prove it for runtime image sizes
    if full is None:
        full = "%s    %s { %s }\n" % ("" if reverse else "#pragma omp simd\n", loop("f0", "f1"), window(_FULL, True))
    low = "    if (f0 > 0) %s_clipped(g, i, j, 0, f0, %s);\n" % (NAME, names)
    high = "    if (f1 < o2) %s_clipped(g, i, j, f1, o2, %s);\n" % (NAME, names)
    defs = "".join("#define %s %s\n" % kv for kv in [("TX", tx), ("TG", tg)] + geometry)
    undefs = "".join("#undef %s\n" % k for k, _ in [("TX", tx), ("TG", tg)] + geometry)
    shape = "  const int64_t n0 = g[1], n1 = g[2], n2 = g[3], o0 = g[4], o1 = g[5], o2 = g[6];\n"
    spans = ("  int64_t a0, a1, b0, b1;\n"
             "  nt_pool_span(i, n0, K0, S0, P0, &a0, &a1); nt_pool_span(j, n1, K1, S1, P1, &b0, &b1);\n"
             "  const int64_t orow = (i * o1 + j) * o2;\n  (void)orow; (void)o0;\n")  # fmt: skip
    return ("%s%s"
            "/* windows [klo, khi) of output row (i, j) that reach into padding or past the image */\n"
            "static NT_POOL_COLD void %s_clipped(const int64_t *g, int64_t i, int64_t j, int64_t klo,"
            " int64_t khi, %s)\n{\n%s%s"
            "  %s { int64_t c0, c1; nt_pool_span(k, n2, K2, S2, P2, &c0, &c1); %s }\n}\n"
            "static void %s_plane(const int64_t *g, int64_t kin0, int64_t kin1, %s)\n{\n%s%s"
            "  %s {\n"
            "  %s"
            "    const int64_t base = (a0 * n1 + b0) * n2 - P2;\n"
            "    /* windows [f0, f1) of this row are full; the others are clipped */\n"
            "    const int full = a1 - a0 == K0 && b1 - b0 == K1;\n"
            "    const int64_t f0 = full ? kin0 : o2, f1 = full ? kin1 : o2;\n%s"
            "  }\n}\n"
            "NT_EXPORT void %s(const char *pg, %s)\n{\n"
            "  const int64_t *g = (const int64_t *)pg, np_ = g[0];\n%s"
            "  const int64_t isz = n0 * n1 * n2, osz = o0 * o1 * o2;\n"
            "  /* windows [kin0, kin1) along the last axis whose every element is real */\n"
            "  int64_t kin0 = (P2 + S2 - 1) / S2, kin1 = n2 + P2 - K2 < 0 ? 0 : (n2 + P2 - K2) / S2 + 1;\n"
            "  if (kin1 > o2) kin1 = o2;\n  if (kin0 > kin1) kin0 = kin1;\n"
            "#ifdef _OPENMP\n"
            "#pragma omp parallel for schedule(static) if(np_ > 1 && np_ * (isz + osz) >= NT_PAR_MIN_HEAVY)\n"
            "#endif\n"
            "  for (int64_t q = 0; q < np_; q++) %s_plane(g, kin0, kin1, %s);\n"
            "}\n%s"
            % (_HELPERS, defs, NAME, planes[0], shape, spans, loop("klo", "khi"), window(_CLIPPED, False),
               NAME, planes[0], shape, head, rows, spans.replace("\n  ", "\n    "),
               "".join([high, full, low] if reverse else [low, full, high]),
               NAME, args, shape, NAME, planes[1], undefs))


def _geometry_macros(op):
    """Window sizes K0..K2, strides S0..S2 and padding P0..P2 (pooling over fewer axes: window 1)."""
    pad = 3 - op.nd
    ws, st, pd = (1,) * pad + op.ws, (1,) * pad + op.stride, (0,) * pad + op.pad
    macros = [("K%d" % i, str(v)) for i, v in enumerate(ws)] + [("S%d" % i, str(v)) for i, v in enumerate(st)]
    macros += [("P%d" % i, str(v)) for i, v in enumerate(pd)]
    return macros + [("INC", "1" if op.mode == "average_inc_pad" else "0")]


def _overlapping(op):
    """True when windows overlap: then gradients add in perform's order (reverse window order)."""
    return any(s < k for s, k in zip(op.stride, op.ws))


def _pool_source(op, dtype):
    """``z`` = max, sum or average of each window."""
    t = C_TYPES[dtype]
    planes = ("const TX *restrict xq, TX *restrict zq", "(const TX *)px + q * isz, (TX *)pz + q * osz")
    if op.mode == "max":
        def window(loops, full):
            return _max(_SFX[dtype], loops) + " zq[orow + k] = m;"
    else:
        # sums in the input dtype, in row-major window order; averages divide in double
        div = "" if op.mode == "sum" else "(TX)((double)s / %s)"

        def window(loops, full):
            res = "s" if not div else div % ("(double)(K0 * K1 * K2)" if full else _COUNT)
            # perform starts from the first element of a full window (-0.0 + x == x keeps a -0.0 sum) and
            # adds the +0.0 fill of padding in the others (a zero sum is then +0.0)
            return "TX s = %s; %s zq[orow + k] = %s;" % ("-0.0" if full else "0", loops % "s += xq[e];", res)
    return _kernel(_geometry_macros(op), window, "const char *px, char *pz", planes, "", t, t, False)


def _max_grad_source(op, xdtype, gdtype):
    """``gx`` += ``gz`` of each window at the window's first maximal element."""
    planes = ("const TX *restrict xq, const TG *restrict gzq, TG *restrict gq",
              "(const TX *)px + q * isz, (const TG *)pgz + q * osz, (TG *)pgx + q * isz")
    head = "  memset(gq, 0, (size_t)(n0 * n1 * n2) * sizeof(TG));\n"

    def window(loops, full):
        # every element of a window gets + gz (its first maximum) or + 0, as perform adds np.where(idx == k, gz, 0)
        sel = "nt_pool_sel_%s" % _SFX[gdtype]
        return (_max(_SFX[xdtype], loops) + " TG r = gzq[orow + k]; "
                + loops % (_IS_MAX + " gq[e] += %s(t, r, (TG)0); r = %s(t, (TG)0, r);" % (sel, sel)))

    full = None
    if _overlapping(op):
        # Overlapping windows share elements, so a row's windows must add in turn.  Adding only the gradient
        # at the argmax gives the same sums (perform's + 0.0 elsewhere never changes a sum that starts at +0.0),
        # so the argmax of a chunk of windows is found vectorized first, then scattered in reverse order.
        first = _FULL_REVERSED % (_IS_MAX + " best += (e - best) & -(int64_t)t;")  # last match in reverse order
        full = ("    for (int64_t kh = f1; kh > f0; kh -= 64) {\n"
                "      const int64_t kl = kh - 64 > f0 ? kh - 64 : f0;\n"
                "      int64_t at[64];\n"
                "#pragma omp simd\n"
                "      for (int64_t k = kl; k < kh; k++) { %s int64_t best = 0; %s at[k - kl] = best; }\n"
                "      for (int64_t k = kh - 1; k >= kl; k--) gq[at[k - kl]] += gzq[orow + k];\n"
                "    }\n") % (_max(_SFX[xdtype], _FULL), first)  # fmt: skip
    return _kernel(_geometry_macros(op), window, "const char *px, const char *pgz, char *pgx", planes, head,
                   C_TYPES[xdtype], C_TYPES[gdtype], _overlapping(op), full)  # fmt: skip


def _max_grad_grad_source(op, xdtype, gdtype):
    """``z`` = ``ggx`` at each window's first maximal element (0 for a window without real elements)."""
    planes = ("const TX *restrict xq, const TG *restrict ggq, TG *restrict zq",
              "(const TX *)px + q * isz, (const TG *)pgg + q * isz, (TG *)pz + q * osz")

    def window(loops, full):
        return (_max(_SFX[xdtype], loops) + " TG z = 0; int open = 1; "
                + loops % (_IS_MAX + " const TG w = ggq[e]; z = nt_pool_sel_%s(t & open, w, z); open &= !t;"
                           % _SFX[gdtype])
                + " zq[orow + k] = z;")  # fmt: skip

    return _kernel(_geometry_macros(op), window, "const char *px, const char *pgg, char *pz", planes, "",
                   C_TYPES[xdtype], C_TYPES[gdtype], False)  # fmt: skip


def _avg_grad_source(op, gdtype):
    """``gx`` += ``gz`` of each window (divided by its count unless 'sum') on every real element."""
    planes = ("const TG *restrict gzq, TG *restrict gq", "(const TG *)pgz + q * osz, (TG *)pgx + q * isz")
    head = "  memset(gq, 0, (size_t)(n0 * n1 * n2) * sizeof(TG));\n"
    div = "" if op.mode == "sum" else " / %s"

    def window(loops, full):
        # perform divides in float64 (gz / counts) and adds that to the gradient buffer in float64
        gv = "(double)gzq[orow + k]" + (div % ("(double)(K0 * K1 * K2)" if full else _COUNT) if div else "")
        return "const double gv = %s; %s" % (gv, loops % "gq[e] = (TG)((double)gq[e] + gv);")

    t = C_TYPES[gdtype]
    return _kernel(_geometry_macros(op), window, "const char *pgz, char *pgx", planes, head, t, t, _overlapping(op))


def _as(a, dt):
    """``a`` as a C-contiguous ndarray of ``dt`` (no copy when it already is one)."""
    if type(a) is not np.ndarray or a.dtype != dt:
        a = np.asarray(a, dtype=dt)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class _Geometry:
    """``(g, pooled shape)`` per image shape: g = {planes, n0, n1, n2, o0, o1, o2} as the kernels read it."""

    __slots__ = ("op", "cache")

    def __init__(self, op):
        self.op, self.cache = op, {}

    def __call__(self, shape):
        hit = self.cache.get(shape)
        if hit is None:
            op, nd = self.op, self.op.nd
            lead, img, out = shape[: len(shape) - nd], shape[len(shape) - nd:], op.out_dims(shape)
            planes = int(np.prod(lead, dtype=np.int64))
            g = np.array([planes] + [1] * (3 - nd) + list(img) + [1] * (3 - nd) + list(out), dtype=np.int64)
            if len(self.cache) >= 64:  # a function called on ever new shapes must not grow without bound
                self.cache.clear()
            hit = self.cache[shape] = (g, lead + out)
        return hit


def _supported(op, node, dtypes):
    return op.nd <= 3 and all(node.inputs[i].type.dtype in _FLOATS for i in dtypes)


@c_kernel.register(Pool)
def pool_kernel(op, node):
    """Max, sum or average pooling of a float image."""
    if not _supported(op, node, (0,)):
        return None
    dtype = node.inputs[0].type.dtype
    dt = np.dtype(dtype)

    def bind(fn, ffi):
        fb, pool, geometry = fast_from_buffer(ffi), OutputPool(dt), _Geometry(op)

        def run(node, args, outs):
            x = _as(args[0], dt)
            g, out_shape = geometry(x.shape)
            z = pool.empty(out_shape)
            fn(fb(g), fb(x), fb(z))
            outs[0][0] = z

        return run

    return Kernel(_pool_source(op, dtype), "void %s(const char *, const char *, char *);" % NAME, bind)


def _grad_kernel(op, node, source, pooled_second):
    """Kernel for ``(x, second) -> out`` where ``second`` is pooled-shaped (MaxPoolGrad) or image-shaped."""
    xdtype, gdtype = node.inputs[0].type.dtype, node.inputs[1].type.dtype
    xdt, gdt = np.dtype(xdtype), np.dtype(gdtype)

    def bind(fn, ffi):
        fb, pool, geometry = fast_from_buffer(ffi), OutputPool(gdt), _Geometry(op)

        def run(node, args, outs):
            x, second = _as(args[0], xdt), _as(args[1], gdt)
            g, pooled = geometry(x.shape)
            if second.shape != (pooled if pooled_second else x.shape):
                return op.perform(node, args, outs)  # broadcasting or the reference's error
            out = pool.empty(x.shape if pooled_second else pooled)
            fn(fb(g), fb(x), fb(second), fb(out))
            outs[0][0] = out

        return run

    cdef = "void %s(const char *, const char *, const char *, char *);" % NAME
    return Kernel(source(op, xdtype, gdtype), cdef, bind)


@c_kernel.register(MaxPoolGrad)
def max_pool_grad_kernel(op, node):
    """Output gradient of each window routed to its first maximal element."""
    return _grad_kernel(op, node, _max_grad_source, True) if _supported(op, node, (0, 1)) else None


@c_kernel.register(MaxPoolGradGrad)
def max_pool_grad_grad_kernel(op, node):
    """``ggx`` gathered at the first maximal element of each window."""
    return _grad_kernel(op, node, _max_grad_grad_source, False) if _supported(op, node, (0, 1)) else None


@c_kernel.register(AveragePoolGrad)
def average_pool_grad_kernel(op, node):
    """Output gradient of each window spread over its elements (divided by the count for averages)."""
    if not _supported(op, node, (1,)):
        return None
    gdtype = node.inputs[1].type.dtype
    gdt = np.dtype(gdtype)

    def bind(fn, ffi):
        fb, pool, geometry = fast_from_buffer(ffi), OutputPool(gdt), _Geometry(op)

        def run(node, args, outs):
            shape = np.shape(args[0])  # x only gives the shape
            gz = _as(args[1], gdt)
            g, pooled = geometry(shape)
            if gz.shape != pooled:
                return op.perform(node, args, outs)
            gx = pool.empty(shape)
            fn(fb(g), fb(gz), fb(gx))
            outs[0][0] = gx

        return run

    return Kernel(_avg_grad_source(op, gdtype), "void %s(const char *, const char *, char *);" % NAME, bind)


__all__ = ["pool_kernel", "max_pool_grad_kernel", "max_pool_grad_grad_kernel", "average_pool_grad_kernel"]
