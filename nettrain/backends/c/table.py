"""The C expression table: one entry per scalar-op class.

``scalar_expr(op, args, in_dtypes, out_dtype)`` returns a C expression for
one element, or None when the op (or this dtype combination) has no C code,
in which case the node runs its ``perform``.  ``args`` are C identifiers
(never expressions), so an entry may use an argument several times.

Each entry declares which dtype its arguments are converted to before the
expression is evaluated (its *compute* dtype), mirroring the NumPy loop the
Python reference selects: usually the output dtype; the inputs' common dtype
for comparisons; the raw input dtype for tests such as ``isnan`` and casts.
The result is then converted to the output dtype by the caller.
The CUDA table starts from ``C_TABLE.copy()`` and overrides a few entries.
"""

import numpy as np

from ...tensor import scalar_op as ps

#: C type of each supported dtype; others (float16, complex) fall back to perform.
C_TYPES = {
    "bool": "nt_bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
    "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
    "float32": "float", "float64": "double",
}  # fmt: skip

_INT_SUFFIX = {"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
               "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64"}  # fmt: skip

# Helpers shared by all kernels of a library.  Floor division and remainder
# follow NumPy (npy_divmod): Python sign rules, x // 0 == 0 and x % 0 == 0
# for integers; integer arithmetic wraps (done in uint64_t to avoid C's
# undefined signed overflow).
PRELUDE = r"""
#include <stdint.h>
#include <stddef.h>
#include <math.h>
#define NT_EXPORT __attribute__((visibility("default")))
/* OpenMP thresholds (elements).  BLAS runs one thread once these kernels
   are loaded (backends/threads.py), so no BLAS worker spins on the other
   cores and a loop of 128K cheap elements (16K calling libm) already gains
   from a second thread; smaller ones would not pay for the wake-up (LeNet's
   step on 2 cores: 13.0 ms with 1 << 18 / 1 << 16, 12.4 with these, 17.2
   with 1 << 22 / 1 << 18 and the convolutions' chunks on one thread). */
#define NT_PAR_MIN (1 << 17)
#define NT_PAR_MIN_HEAVY (1 << 14)
typedef uint8_t nt_bool;
/* glibc >= 2.35 ships SIMD variants (libmvec) of these; declaring them lets
   the vectorizer call them from "omp simd" loops without -ffast-math. */
#if defined(__x86_64__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define NT_VEC(fn) __attribute__((__simd__("notinbranch"))) double fn(double); \
                   __attribute__((__simd__("notinbranch"))) float fn##f(float);
#define NT_VEC2(fn) __attribute__((__simd__("notinbranch"))) double fn(double, double); \
                    __attribute__((__simd__("notinbranch"))) float fn##f(float, float);
NT_VEC(exp) NT_VEC(exp2) NT_VEC(expm1) NT_VEC(log) NT_VEC(log2) NT_VEC(log10) NT_VEC(log1p)
NT_VEC(sin) NT_VEC(cos) NT_VEC(tan) NT_VEC(asin) NT_VEC(acos) NT_VEC(atan) NT_VEC(sinh) NT_VEC(cosh)
NT_VEC(tanh) NT_VEC(asinh) NT_VEC(acosh) NT_VEC(atanh) NT_VEC(erf) NT_VEC(erfc) NT_VEC2(pow) NT_VEC2(atan2)
#endif
#define NT_IMAX(a, b) ((a) >= (b) ? (a) : (b))
#define NT_IMIN(a, b) ((a) <= (b) ? (a) : (b))
#define NT_WRAP(T, e) ((T)(e))
#define NT_FLOAT_FUNCS(T, S, F) \
static inline T nt_divmod_##S(T a, T b, T *m) { \
    T mod = fmod##F(a, b), div, fd; \
    if (!b) { *m = mod; return a / b; } \
    div = (a - mod) / b; \
    if (mod) { if ((b < 0) != (mod < 0)) { mod += b; div -= (T)1; } } \
    else { mod = copysign##F((T)0, b); } \
    if (div) { fd = floor##F(div); if (div - fd > (T)0.5) fd += (T)1; } \
    else { fd = copysign##F((T)0, a / b); } \
    *m = mod; return fd; } \
static inline T nt_floordiv_##S(T a, T b) { T m; return b ? nt_divmod_##S(a, b, &m) : a / b; } \
static inline T nt_mod_##S(T a, T b) { T m; if (!b) return fmod##F(a, b); nt_divmod_##S(a, b, &m); return m; } \
static inline T nt_max_##S(T a, T b) { return (a >= b || isnan(a)) ? a : b; } \
static inline T nt_min_##S(T a, T b) { return (a <= b || isnan(a)) ? a : b; }
NT_FLOAT_FUNCS(float, f32, f)
NT_FLOAT_FUNCS(double, f64, )
#define NT_SINT_FUNCS(T, S) \
static inline T nt_floordiv_##S(T a, T b) { \
    T q; if (b == 0) return 0; if (b == -1) return (T)((uint64_t)0 - (uint64_t)a); \
    q = (T)(a / b); if ((a % b) != 0 && ((a < 0) != (b < 0))) q--; return q; } \
static inline T nt_mod_##S(T a, T b) { \
    T r; if (b == 0 || b == -1) return 0; \
    r = (T)(a % b); if (r != 0 && ((r < 0) != (b < 0))) r = (T)(r + b); return r; }
#define NT_UINT_FUNCS(T, S) \
static inline T nt_floordiv_##S(T a, T b) { return b ? (T)(a / b) : 0; } \
static inline T nt_mod_##S(T a, T b) { return b ? (T)(a % b) : 0; }
NT_SINT_FUNCS(int8_t, i8) NT_SINT_FUNCS(int16_t, i16) NT_SINT_FUNCS(int32_t, i32) NT_SINT_FUNCS(int64_t, i64)
NT_UINT_FUNCS(uint8_t, u8) NT_UINT_FUNCS(uint16_t, u16) NT_UINT_FUNCS(uint32_t, u32) NT_UINT_FUNCS(uint64_t, u64)
"""


def c_type(dtype):
    """The C type of ``dtype``, or None when the C backend does not handle it."""
    return C_TYPES.get(str(dtype))


class Ctx:
    """What an entry knows about its compute dtype."""

    __slots__ = ("dtype", "ct", "kind", "f32", "in_dtypes", "out_dtype")

    def __init__(self, dtype, in_dtypes, out_dtype):
        self.dtype = dtype
        self.ct = C_TYPES[dtype]
        self.kind = np.dtype(dtype).kind  # 'b', 'i', 'u' or 'f'
        self.f32 = dtype == "float32"
        self.in_dtypes = in_dtypes
        self.out_dtype = out_dtype

    def fn(self, name):
        """A libm function in the compute precision (expf for float32)."""
        return name + "f" if self.f32 else name

    def lit(self, v):
        """A floating literal of the compute type."""
        return repr(float(v)) + ("f" if self.f32 else "")

    def suffix(self):
        return "f32" if self.f32 else "f64" if self.kind == "f" else _INT_SUFFIX.get(self.dtype)


def _wrap(op):
    """Integer arithmetic that wraps like NumPy (unsigned math, then truncate)."""

    def entry(a, c):
        if c.kind == "f":
            return "(" + (" %s " % op).join(a) + ")"
        return "NT_WRAP(%s, %s)" % (c.ct, (" %s " % op).join("(uint64_t)%s" % x for x in a))

    return entry


def _float(name):
    """A libm function of one or two float arguments (no integer loop exists)."""

    def entry(a, c):
        return "%s(%s)" % (c.fn(name), ", ".join(a)) if c.kind == "f" else None

    return entry


def _helper(name):
    """A prelude helper with one variant per compute dtype (nt_floordiv_f32...)."""

    def entry(a, c):
        sfx = c.suffix()
        return "nt_%s_%s(%s)" % (name, sfx, ", ".join(a)) if sfx else None

    return entry


def _bitwise(op):
    def entry(a, c):
        return "(%s %s %s)" % (a[0], op, a[1]) if c.kind in "biu" else None

    return entry


def _cmp(op):
    return lambda a, c: "(%s %s %s)" % (a[0], op, a[1])


def _neg(a, c):
    return "(-%s)" % a[0] if c.kind == "f" else "NT_WRAP(%s, (uint64_t)0 - (uint64_t)%s)" % (c.ct, a[0])


def _abs(a, c):
    (x,) = a
    if c.kind == "f":
        return "%s(%s)" % (c.fn("fabs"), x)
    if c.kind == "i":
        return "NT_WRAP(%s, %s < 0 ? (uint64_t)0 - (uint64_t)%s : (uint64_t)%s)" % (c.ct, x, x, x)
    return x


def _pow(a, c):
    # integer powers raise on negative exponents in NumPy: leave them to perform
    return "%s(%s, %s)" % (c.fn("pow"), a[0], a[1]) if c.kind == "f" else None


def _sqr(a, c):
    return _wrap("*")([a[0], a[0]], c)


def _reciprocal(a, c):
    # a true division: 1 / x for integer inputs too (the output is a float)
    if c.kind != "f":
        return None
    return "(%s / %s)" % (c.lit(1), a[0])


def _sigmoid(a, c):
    if c.kind != "f":
        return None
    x, e, one = a[0], c.fn("exp"), c.lit(1)
    # 1/(1+exp(-x)) overflows for very negative x; switch forms at 0
    return "(%s >= 0 ? %s / (%s + %s(-%s)) : %s(%s) / (%s + %s(%s)))" % (x, one, one, e, x, e, x, one, e, x)


def _softplus(a, c):
    if c.kind != "f":
        return None
    x = a[0]
    return "((%s > 0 ? %s : %s) + %s(%s(-%s(%s))))" % (x, x, c.lit(0), c.fn("log1p"), c.fn("exp"), c.fn("fabs"), x)


def _round_half_away(a, c):
    if c.kind != "f":
        return None
    x = a[0]
    # the reference's formula (not C's round) so ties near 0.5 - ulp agree
    return "(%s >= 0 ? %s(%s + %s) : %s(%s - %s))" % (x, c.fn("floor"), x, c.lit(0.5), c.fn("ceil"), x, c.lit(0.5))


def _sgn(a, c):
    x = a[0]
    if c.kind == "f":
        return "(%s > 0 ? %s : (%s < 0 ? %s : (%s == 0 ? %s : %s)))" % (x, c.lit(1), x, c.lit(-1), x, c.lit(0), x)
    if c.kind == "i":
        return "((%s > 0) - (%s < 0))" % (x, x)
    return "(%s > 0)" % x


def _minmax(which):
    def entry(a, c):
        if c.kind == "f":
            return "nt_%s_%s(%s, %s)" % (which, c.suffix(), a[0], a[1])
        return "NT_I%s(%s, %s)" % (which.upper(), a[0], a[1])

    return entry


def _clip(a, c):
    x, lo, hi = a
    if c.kind == "f":
        s = c.suffix()
        return "nt_min_%s(nt_max_%s(%s, %s), %s)" % (s, s, x, lo, hi)
    return "NT_IMIN(NT_IMAX(%s, %s), %s)" % (x, lo, hi)


def _invert(a, c):
    if c.kind == "b":
        return "(!%s)" % a[0]
    return "(%s)(~%s)" % (c.ct, a[0]) if c.kind in "iu" else None


def _isnan(a, c):
    return "isnan(%s)" % a[0] if c.kind == "f" else "0"


def _isinf(a, c):
    return "isinf(%s)" % a[0] if c.kind == "f" else "0"


# rule: which dtype the arguments are converted to before the expression runs
OUT, COMMON, RAW, SWITCH, SECOND = "out", "common", "raw", "switch", "second"

C_TABLE = {
    ps.Add: (_wrap("+"), OUT),
    ps.Sub: (_wrap("-"), OUT),
    ps.Mul: (_wrap("*"), OUT),
    ps.TrueDiv: (lambda a, c: "(%s / %s)" % tuple(a) if c.kind == "f" else None, OUT),
    ps.IntDiv: (_helper("floordiv"), OUT),
    ps.Mod: (_helper("mod"), OUT),
    ps.Pow: (_pow, OUT),
    ps.Neg: (_neg, OUT),
    ps.Abs: (_abs, OUT),
    ps.Sqr: (_sqr, OUT),
    ps.Reciprocal: (_reciprocal, OUT),
    ps.Sigmoid: (_sigmoid, OUT),
    ps.Softplus: (_softplus, OUT),
    ps.RoundHalfToEven: (_float("rint"), OUT),
    ps.RoundHalfAwayFromZero: (_round_half_away, OUT),
    ps.Sgn: (_sgn, OUT),
    ps.Minimum: (_minmax("min"), OUT),
    ps.Maximum: (_minmax("max"), OUT),
    ps.Clip: (_clip, OUT),
    ps.Switch: (lambda a, c: "(%s ? %s : %s)" % tuple(a), SWITCH),
    ps.Second: (lambda a, c: a[1], SECOND),
    ps.Identity: (lambda a, c: a[0], OUT),
    ps.LT: (_cmp("<"), COMMON),
    ps.GT: (_cmp(">"), COMMON),
    ps.LE: (_cmp("<="), COMMON),
    ps.GE: (_cmp(">="), COMMON),
    ps.EQ: (_cmp("=="), COMMON),
    ps.NEQ: (_cmp("!="), COMMON),
    ps.AND: (_bitwise("&"), OUT),
    ps.OR: (_bitwise("|"), OUT),
    ps.XOR: (_bitwise("^"), OUT),
    ps.Invert: (_invert, OUT),
    ps.IsNan: (_isnan, RAW),
    ps.IsInf: (_isinf, RAW),
    ps.Cast: (lambda a, c: a[0], RAW),
}
for _cls, _name in [
    (ps.Exp, "exp"), (ps.Exp2, "exp2"), (ps.Expm1, "expm1"), (ps.Log, "log"), (ps.Log2, "log2"),
    (ps.Log10, "log10"), (ps.Log1p, "log1p"), (ps.Sqrt, "sqrt"), (ps.Sin, "sin"), (ps.Cos, "cos"),
    (ps.Tan, "tan"), (ps.ArcSin, "asin"), (ps.ArcCos, "acos"), (ps.ArcTan, "atan"), (ps.ArcTan2, "atan2"),
    (ps.Sinh, "sinh"), (ps.Cosh, "cosh"), (ps.Tanh, "tanh"), (ps.ArcSinh, "asinh"), (ps.ArcCosh, "acosh"),
    (ps.ArcTanh, "atanh"), (ps.Erf, "erf"), (ps.Erfc, "erfc"), (ps.Floor, "floor"), (ps.Ceil, "ceil"),
    (ps.Trunc, "trunc"),
]:  # fmt: skip
    C_TABLE[_cls] = (_float(_name), OUT)


def _lookup(table, op):
    for cls in type(op).__mro__:
        if cls in table:
            return table[cls]
    return None


def scalar_expr(op, args, in_dtypes, out_dtype, prefix="c", table=None):
    """C code computing ``op`` on ``args`` (identifiers of ``in_dtypes``).

    Returns ``(prep, expr)``: ``prep`` is a list of ``(name, ctype, source)``
    conversions to declare first (named after ``prefix``), ``expr`` an expression whose value is then
    converted to ``out_dtype``.  None when there is no C code for it.
    """
    entry = _lookup(C_TABLE if table is None else table, op)
    if entry is None or out_dtype not in C_TYPES or any(d not in C_TYPES for d in in_dtypes):
        return None
    fn, rule = entry
    if rule == OUT:
        targets = [out_dtype] * len(args)
        comp = out_dtype
    elif rule == COMMON:
        comp = np.result_type(*in_dtypes).name
        targets = [comp] * len(args)
    elif rule == SWITCH:
        comp = out_dtype
        targets = [in_dtypes[0], out_dtype, out_dtype]
    elif rule == SECOND:
        comp = out_dtype
        targets = [in_dtypes[0], out_dtype]
    else:  # RAW
        comp = in_dtypes[0]
        targets = list(in_dtypes)
    if comp not in C_TYPES:
        return None
    prep, names = [], []
    for k, (a, d, t) in enumerate(zip(args, in_dtypes, targets)):
        if d == t:
            names.append(a)
        else:
            name = "%s_%d" % (prefix, k)
            prep.append((name, C_TYPES[t], convert(a, t)))
            names.append(name)
    expr = fn(names, Ctx(comp, tuple(in_dtypes), out_dtype))
    if expr is None:
        return None
    return prep, expr


def convert(expr, dtype):
    """``expr`` converted to ``dtype`` (bool results normalized to 0/1)."""
    if dtype == "bool":
        return "(nt_bool)((%s) != 0)" % expr
    return "(%s)(%s)" % (C_TYPES[dtype], expr)


__all__ = ["C_TABLE", "C_TYPES", "PRELUDE", "c_type", "convert", "scalar_expr"]
