"""Elementwise math: one Elemwise per scalar op, with Theano's names.

Reductions live in :mod:`nettrain.tensor.reduction` and are re-exported here.
"""

from . import scalar_op as ps
from .elemwise import Elemwise
from .reduction import (  # noqa: F401  (re-exports)
    all,
    any,
    argmax,
    argmin,
    max,
    max_and_argmax,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)

_builtin_abs = abs


def _ew(scalar_cls, name, doc):
    op = Elemwise(scalar_cls())

    def f(*inputs):
        return op(*inputs)

    f.__name__ = name
    f.__qualname__ = name
    f.__doc__ = doc
    f.op = op
    return f


add = _ew(ps.Add, "add", "Elementwise sum of any number of tensors (broadcasting).")
sub = _ew(ps.Sub, "sub", "Elementwise ``a - b``.")
mul = _ew(ps.Mul, "mul", "Elementwise product of any number of tensors.")
true_div = _ew(ps.TrueDiv, "true_div", "Elementwise ``a / b`` (integers give floats).")
int_div = _ew(ps.IntDiv, "int_div", "Elementwise floor division ``a // b``.")
floor_div = int_div
mod = _ew(ps.Mod, "mod", "Elementwise ``a % b`` with the sign of ``b`` (as NumPy).")
pow = _ew(ps.Pow, "pow", "Elementwise ``a ** b``.")
neg = _ew(ps.Neg, "neg", "Elementwise ``-a``.")
abs = _ew(ps.Abs, "abs", "Elementwise absolute value.")
abs_ = abs
exp = _ew(ps.Exp, "exp", "Elementwise ``e ** x``.")
exp2 = _ew(ps.Exp2, "exp2", "Elementwise ``2 ** x``.")
expm1 = _ew(ps.Expm1, "expm1", "Elementwise ``exp(x) - 1``, accurate near 0.")
log = _ew(ps.Log, "log", "Elementwise natural logarithm.")
log2 = _ew(ps.Log2, "log2", "Elementwise base-2 logarithm.")
log10 = _ew(ps.Log10, "log10", "Elementwise base-10 logarithm.")
log1p = _ew(ps.Log1p, "log1p", "Elementwise ``log(1 + x)``, accurate near 0.")
sqrt = _ew(ps.Sqrt, "sqrt", "Elementwise square root.")
sqr = _ew(ps.Sqr, "sqr", "Elementwise ``x * x``.")
square = sqr
reciprocal = _ew(ps.Reciprocal, "reciprocal", "Elementwise ``1 / x``.")
inv = reciprocal
sin = _ew(ps.Sin, "sin", "Elementwise sine.")
cos = _ew(ps.Cos, "cos", "Elementwise cosine.")
tan = _ew(ps.Tan, "tan", "Elementwise tangent.")
arcsin = _ew(ps.ArcSin, "arcsin", "Elementwise inverse sine.")
arccos = _ew(ps.ArcCos, "arccos", "Elementwise inverse cosine.")
arctan = _ew(ps.ArcTan, "arctan", "Elementwise inverse tangent.")
arctan2 = _ew(ps.ArcTan2, "arctan2", "Elementwise ``arctan(a / b)`` with the quadrant of (b, a).")
sinh = _ew(ps.Sinh, "sinh", "Elementwise hyperbolic sine.")
cosh = _ew(ps.Cosh, "cosh", "Elementwise hyperbolic cosine.")
tanh = _ew(ps.Tanh, "tanh", "Elementwise hyperbolic tangent.")
arcsinh = _ew(ps.ArcSinh, "arcsinh", "Elementwise inverse hyperbolic sine.")
arccosh = _ew(ps.ArcCosh, "arccosh", "Elementwise inverse hyperbolic cosine.")
arctanh = _ew(ps.ArcTanh, "arctanh", "Elementwise inverse hyperbolic tangent.")
sigmoid = _ew(ps.Sigmoid, "sigmoid", "Elementwise logistic function ``1 / (1 + exp(-x))``, overflow-free.")
softplus = _ew(ps.Softplus, "softplus", "Elementwise ``log(1 + exp(x))``, overflow-free.")
erf = _ew(ps.Erf, "erf", "Elementwise error function.")
erfc = _ew(ps.Erfc, "erfc", "Elementwise complementary error function.")
erfinv = _ew(ps.Erfinv, "erfinv", "Elementwise inverse error function.")
floor = _ew(ps.Floor, "floor", "Elementwise floor (float result).")
ceil = _ew(ps.Ceil, "ceil", "Elementwise ceiling (float result).")
trunc = _ew(ps.Trunc, "trunc", "Elementwise truncation toward zero.")
round_half_to_even = _ew(ps.RoundHalfToEven, "round_half_to_even", "Round to nearest, ties to even (NumPy).")
round_half_away_from_zero = _ew(
    ps.RoundHalfAwayFromZero, "round_half_away_from_zero", "Round to nearest, ties away from zero."
)
sgn = _ew(ps.Sgn, "sgn", "Elementwise sign: -1, 0 or 1.")
sign = sgn
minimum = _ew(ps.Minimum, "minimum", "Elementwise minimum of two tensors.")
maximum = _ew(ps.Maximum, "maximum", "Elementwise maximum of two tensors.")
_clip = _ew(ps.Clip, "clip", "Clip ``x`` to ``[min, max]`` elementwise.")
switch = _ew(ps.Switch, "switch", "Elementwise ``cond ? a : b`` (both branches are computed).")
where = switch
lt = _ew(ps.LT, "lt", "Elementwise ``a < b`` (bool).")
gt = _ew(ps.GT, "gt", "Elementwise ``a > b`` (bool).")
le = _ew(ps.LE, "le", "Elementwise ``a <= b`` (bool).")
ge = _ew(ps.GE, "ge", "Elementwise ``a >= b`` (bool).")
eq = _ew(ps.EQ, "eq", "Elementwise ``a == b`` (bool).")
neq = _ew(ps.NEQ, "neq", "Elementwise ``a != b`` (bool).")
and_ = _ew(ps.AND, "and_", "Elementwise logical (bool) or bitwise (int) and.")
or_ = _ew(ps.OR, "or_", "Elementwise logical (bool) or bitwise (int) or.")
xor = _ew(ps.XOR, "xor", "Elementwise logical (bool) or bitwise (int) xor.")
invert = _ew(ps.Invert, "invert", "Elementwise logical (bool) or bitwise (int) not.")
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
isnan = _ew(ps.IsNan, "isnan", "Elementwise NaN test.")
isinf = _ew(ps.IsInf, "isinf", "Elementwise infinity test.")
second = _ew(ps.Second, "second", "Broadcast ``b`` to the shape of ``a`` (Theano's ``fill``).")
fill = second
tensor_copy = _ew(ps.Identity, "tensor_copy", "A copy of ``x``.")
identity = tensor_copy


def clip(x, min, max):  # noqa: F811 - Theano's keyword names shadow the reductions here
    """Clip ``x`` to ``[min, max]``; ``min``/``max`` may be tensors."""
    return _clip(x, min, max)


def round(x, mode=None):
    """Round elementwise; ``mode`` 'half_to_even' (default, as NumPy) or 'half_away_from_zero'."""
    if mode in (None, "half_to_even"):
        return round_half_to_even(x)
    if mode == "half_away_from_zero":
        return round_half_away_from_zero(x)
    raise ValueError("round: mode must be 'half_to_even' or 'half_away_from_zero', got %r" % (mode,))


def iround(x, mode=None):
    """Round to the nearest integer and cast to int64."""
    from .basic import cast

    return cast(round(x, mode), "int64")


def not_(x):
    """Logical not of a boolean tensor (bitwise not for integers)."""
    return invert(x)


def largest(*args):
    """Elementwise maximum of any number of tensors."""
    r = args[0]
    for a in args[1:]:
        r = maximum(r, a)
    return r


def smallest(*args):
    """Elementwise minimum of any number of tensors."""
    r = args[0]
    for a in args[1:]:
        r = minimum(r, a)
    return r


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise approximate equality as ``numpy.isclose``."""
    close = le(abs(a - b), atol + rtol * abs(b))
    if equal_nan:
        close = or_(close, and_(isnan(a), isnan(b)))
    return close


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is close (see ``isclose``)."""
    return all(isclose(a, b, rtol, atol, equal_nan))


def cast(x, dtype):
    """Symbolic ``x.astype(dtype)``."""
    from .basic import cast as _cast

    return _cast(x, dtype)


__all__ = [
    n
    for n, v in list(globals().items())
    if not n.startswith("_") and (callable(v)) and n not in ("Elemwise", "ps")
]
