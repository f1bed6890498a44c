"""Scalar operations: the per-element math that ``Elemwise`` maps over arrays.

Each scalar op names its NumPy implementation (``impl``), how its output
dtype follows from its inputs' dtypes, and its gradient written with tensor
operations on the Elemwise's (already broadcast-aligned) inputs.  C and CUDA
backends key their expression tables on these classes.
"""

import math as _pymath

import numpy as np

from ..graph.op import Op

try:  # scipy gives fast, accurate erf; math.erf is the fallback
    from scipy import special as _special
except ImportError:  # pragma: no cover - scipy is a dependency, but keep working
    _special = None

_FLOAT16_UP = np.dtype("float16")


def _ufunc_dtype(ufunc, dtypes):
    """The output dtype NumPy's ``ufunc`` gives for inputs of ``dtypes``."""
    key = (ufunc, tuple(dtypes))
    res = _DTYPE_CACHE.get(key)
    if res is None:
        args = [np.zeros((0,), d) for d in dtypes]
        with np.errstate(all="ignore"):
            out = ufunc(*args)
        outs = out if isinstance(out, tuple) else (out,)
        res = tuple("float32" if o.dtype == _FLOAT16_UP and "float16" not in dtypes else o.dtype.name for o in outs)
        _DTYPE_CACHE[key] = res
    return res


_DTYPE_CACHE = {}


class ScalarOp(Op):
    """Base of scalar ops.  ``nin == -1`` means any number of inputs."""

    nin = 1
    nout = 1
    #: NumPy callable computing the op elementwise.
    ufunc = None
    #: dtype rule: 'ufunc' (ask NumPy), 'bool', 'float' (ints become floats),
    #: 'same' (first input's dtype)
    dtype_rule = "ufunc"
    #: arithmetic ops treat bool inputs as int8 (so True + True == 2)
    bool_as_int = False
    commutative = False
    associative = False

    @property
    def name(self):
        return type(self).__name__.lower()

    def __str__(self):
        return type(self).__name__

    def impl(self, *inputs):
        if self.nin == -1 and len(inputs) == 1:
            return np.array(inputs[0], copy=True)  # add(x) / mul(x) is x (never the input itself)
        if self.nin == -1 and len(inputs) > 2:
            # A third positional argument of a ufunc is its ``out``: fold instead.
            res = self.ufunc(inputs[0], inputs[1])
            for x in inputs[2:]:
                res = self.ufunc(res, x)
            return res
        return self.ufunc(*inputs)

    def output_dtypes(self, *dtypes):
        rule = self.dtype_rule
        if rule == "bool":
            return ("bool",) * self.nout
        if rule == "same":
            return (dtypes[0],) * self.nout
        if rule == "float":
            # int inputs become floats as NumPy's transcendental ufuncs do
            return _ufunc_dtype(np.exp, (np.result_type(*dtypes).name,)) * self.nout
        uf = self.ufunc
        if self.nin == -1:
            up = dtypes[0]
            for d in dtypes[1:]:
                up = _ufunc_dtype(uf, (up, d))[0]
            return (up,) if len(dtypes) > 1 else _ufunc_dtype(uf, (up, up))
        return _ufunc_dtype(uf, dtypes)

    def grad(self, inputs, outputs, output_grads):
        """Gradients w.r.t. ``inputs`` (tensor variables); None = no gradient."""
        from ..graph.grad import grad_not_implemented

        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]


def _zero_grads(inputs):
    return [x.zeros_like() if x.dtype.startswith("float") else None for x in inputs]


def _simple(name, ufunc, grad_fn=None, dtype_rule="ufunc", nin=1, bool_as_int=False, doc="", **attrs):
    """Declare a scalar op class with a NumPy implementation and a gradient."""
    ns = {"ufunc": staticmethod(ufunc) if not isinstance(ufunc, np.ufunc) else ufunc, "dtype_rule": dtype_rule,
          "nin": nin, "bool_as_int": bool_as_int, "__doc__": doc or name}
    ns.update(attrs)
    if grad_fn is not None:
        ns["grad"] = lambda self, inputs, outputs, gz: grad_fn(inputs, outputs, gz)
    cls = type(name, (ScalarOp,), ns)
    return cls


# ------------------------------------------------------------ tensor helpers
def _T():
    from . import math as m

    return m


def _f(x, v):
    """A constant ``v`` in the dtype of ``x`` (keeps float32 graphs float32)."""
    from .basic import constant

    return constant(np.asarray(v, dtype=x.dtype if x.dtype.startswith("float") else "float64"))


# ---------------------------------------------------------------- arithmetic
def _g_add(inputs, outputs, gz):
    return [gz[0]] * len(inputs)


def _g_sub(inputs, outputs, gz):
    return [gz[0], -gz[0]]


def _g_mul(inputs, outputs, gz):
    m = _T()
    res = []
    for i in range(len(inputs)):
        others = [x for j, x in enumerate(inputs) if j != i]
        res.append(m.mul(gz[0], *others) if others else gz[0])
    return res


def _g_true_div(inputs, outputs, gz):
    x, y = inputs
    return [gz[0] / y, -gz[0] * x / (y * y)]


def _g_mod(inputs, outputs, gz):
    m = _T()
    x, y = inputs
    return [gz[0], -gz[0] * m.floor(x / y)]


def _g_pow(inputs, outputs, gz):
    m = _T()
    x, y = inputs
    (z,) = outputs
    gx = gz[0] * y * m.pow(x, y - 1)
    # d/dy x**y = log(x) x**y; define it as 0 where x == 0 (the limit for y > 0)
    gy = gz[0] * m.switch(m.eq(x, 0), 0, m.log(m.switch(m.eq(x, 0), 1, x)) * z)
    return [gx, gy]


def _g_neg(inputs, outputs, gz):
    return [-gz[0]]


def _g_abs(inputs, outputs, gz):
    return [gz[0] * _T().sgn(inputs[0])]


def _g_exp(inputs, outputs, gz):
    return [gz[0] * outputs[0]]


def _g_exp2(inputs, outputs, gz):
    return [gz[0] * outputs[0] * _f(outputs[0], np.log(2.0))]


def _g_expm1(inputs, outputs, gz):
    return [gz[0] * (outputs[0] + 1)]


def _g_log(inputs, outputs, gz):
    return [gz[0] / inputs[0]]


def _g_log2(inputs, outputs, gz):
    return [gz[0] / (inputs[0] * _f(outputs[0], np.log(2.0)))]


def _g_log10(inputs, outputs, gz):
    return [gz[0] / (inputs[0] * _f(outputs[0], np.log(10.0)))]


def _g_log1p(inputs, outputs, gz):
    return [gz[0] / (inputs[0] + 1)]


def _g_sqrt(inputs, outputs, gz):
    return [gz[0] * 0.5 / outputs[0]]


def _g_sqr(inputs, outputs, gz):
    return [gz[0] * 2 * inputs[0]]


def _g_reciprocal(inputs, outputs, gz):
    return [-gz[0] * outputs[0] * outputs[0]]


def _g_sin(inputs, outputs, gz):
    return [gz[0] * _T().cos(inputs[0])]


def _g_cos(inputs, outputs, gz):
    return [-gz[0] * _T().sin(inputs[0])]


def _g_tan(inputs, outputs, gz):
    return [gz[0] * (1 + outputs[0] * outputs[0])]


def _g_arcsin(inputs, outputs, gz):
    x = inputs[0]
    return [gz[0] / _T().sqrt(1 - x * x)]


def _g_arccos(inputs, outputs, gz):
    x = inputs[0]
    return [-gz[0] / _T().sqrt(1 - x * x)]


def _g_arctan(inputs, outputs, gz):
    x = inputs[0]
    return [gz[0] / (1 + x * x)]


def _g_arctan2(inputs, outputs, gz):
    y, x = inputs
    r = x * x + y * y
    return [gz[0] * x / r, -gz[0] * y / r]


def _g_sinh(inputs, outputs, gz):
    return [gz[0] * _T().cosh(inputs[0])]


def _g_cosh(inputs, outputs, gz):
    return [gz[0] * _T().sinh(inputs[0])]


def _g_tanh(inputs, outputs, gz):
    z = outputs[0]
    return [gz[0] * (1 - z * z)]


def _g_arcsinh(inputs, outputs, gz):
    x = inputs[0]
    return [gz[0] / _T().sqrt(x * x + 1)]


def _g_arccosh(inputs, outputs, gz):
    x = inputs[0]
    return [gz[0] / _T().sqrt(x * x - 1)]


def _g_arctanh(inputs, outputs, gz):
    x = inputs[0]
    return [gz[0] / (1 - x * x)]


def _g_sigmoid(inputs, outputs, gz):
    z = outputs[0]
    return [gz[0] * z * (1 - z)]


def _g_softplus(inputs, outputs, gz):
    return [gz[0] * _T().sigmoid(inputs[0])]


def _g_erf(inputs, outputs, gz):
    x = inputs[0]
    return [gz[0] * _f(outputs[0], 2.0 / np.sqrt(np.pi)) * _T().exp(-x * x)]


def _g_erfc(inputs, outputs, gz):
    x = inputs[0]
    return [-gz[0] * _f(outputs[0], 2.0 / np.sqrt(np.pi)) * _T().exp(-x * x)]


def _g_erfinv(inputs, outputs, gz):
    z = outputs[0]
    return [gz[0] * _f(z, np.sqrt(np.pi) / 2.0) * _T().exp(z * z)]


def _g_zero(inputs, outputs, gz):
    return _zero_grads(inputs)


def _g_none(inputs, outputs, gz):
    # None: the output is discrete; grad() treats the inputs as connected with
    # a zero gradient (as Theano) without building any graph for it.
    return [None] * len(inputs)


def _g_minimum(inputs, outputs, gz):
    m = _T()
    x, y = inputs
    take_x = m.le(x, y)  # ties go to the first input, deterministically
    return [m.switch(take_x, gz[0], 0), m.switch(take_x, 0, gz[0])]


def _g_maximum(inputs, outputs, gz):
    m = _T()
    x, y = inputs
    take_x = m.ge(x, y)
    return [m.switch(take_x, gz[0], 0), m.switch(take_x, 0, gz[0])]


def _g_clip(inputs, outputs, gz):
    m = _T()
    x, lo, hi = inputs
    g = gz[0]
    inside = m.and_(m.ge(x, lo), m.le(x, hi))
    return [m.switch(inside, g, 0), m.switch(m.lt(x, lo), g, 0), m.switch(m.gt(x, hi), g, 0)]


def _g_switch(inputs, outputs, gz):
    m = _T()
    c, a, b = inputs
    # None for the condition: grad() treats it as connected, with zero gradient.
    return [None, m.switch(c, gz[0], 0), m.switch(c, 0, gz[0])]


def _g_second(inputs, outputs, gz):
    return [None, gz[0]]


def _g_identity(inputs, outputs, gz):
    return [gz[0]]


def _np_sigmoid(x):
    # 1/(1+exp(-x)) overflows for very negative x; this form never does.
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x))).astype(
            x.dtype if x.dtype.kind == "f" else np.float64, copy=False
        )


def _np_softplus(x):
    # log(1 + exp(x)) computed without overflow: max(x, 0) + log1p(exp(-|x|))
    return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(
        x.dtype if x.dtype.kind == "f" else np.float64, copy=False
    )


def _np_erf(x):
    if _special is not None:
        return _special.erf(x)
    return np.vectorize(_pymath.erf, otypes=[np.float64])(x)


def _np_erfc(x):
    if _special is not None:
        return _special.erfc(x)
    return np.vectorize(_pymath.erfc, otypes=[np.float64])(x)


def _np_erfinv(x):
    if _special is None:  # pragma: no cover
        raise NotImplementedError("erfinv needs scipy")
    return _special.erfinv(x)


def _np_reciprocal(x):
    # np.reciprocal of an integer array divides in integers (1 // x); the op's result is a float
    return np.true_divide(1, x)


def _np_sqr(x):
    return np.multiply(x, x)


def _np_second(a, b):
    return np.broadcast_to(b, np.broadcast_shapes(np.shape(a), np.shape(b))).copy()


def _np_identity(x):
    return np.array(x, copy=True)


def _np_round_half_away(x):
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(x.dtype, copy=False)


def _np_int_div(x, y):
    return np.floor_divide(x, y)


def _np_true_div(x, y):
    return np.true_divide(x, y)


Add = _simple("Add", np.add, _g_add, nin=-1, bool_as_int=True, commutative=True, associative=True)
Sub = _simple("Sub", np.subtract, _g_sub, nin=2, bool_as_int=True)
Mul = _simple("Mul", np.multiply, _g_mul, nin=-1, bool_as_int=True, commutative=True, associative=True)
TrueDiv = _simple("TrueDiv", np.true_divide, _g_true_div, nin=2)
IntDiv = _simple("IntDiv", np.floor_divide, _g_zero, nin=2, bool_as_int=True)
Mod = _simple("Mod", np.mod, _g_mod, nin=2, bool_as_int=True)
Pow = _simple("Pow", np.power, _g_pow, nin=2, bool_as_int=True)
Neg = _simple("Neg", np.negative, _g_neg, bool_as_int=True)
Abs = _simple("Abs", np.abs, _g_abs, bool_as_int=True)
Exp = _simple("Exp", np.exp, _g_exp)
Exp2 = _simple("Exp2", np.exp2, _g_exp2)
Expm1 = _simple("Expm1", np.expm1, _g_expm1)
Log = _simple("Log", np.log, _g_log)
Log2 = _simple("Log2", np.log2, _g_log2)
Log10 = _simple("Log10", np.log10, _g_log10)
Log1p = _simple("Log1p", np.log1p, _g_log1p)
Sqrt = _simple("Sqrt", np.sqrt, _g_sqrt)
Sqr = _simple("Sqr", _np_sqr, _g_sqr, dtype_rule="ufunc", bool_as_int=True)
Reciprocal = _simple("Reciprocal", _np_reciprocal, _g_reciprocal, dtype_rule="float")
Sin = _simple("Sin", np.sin, _g_sin)
Cos = _simple("Cos", np.cos, _g_cos)
Tan = _simple("Tan", np.tan, _g_tan)
ArcSin = _simple("ArcSin", np.arcsin, _g_arcsin)
ArcCos = _simple("ArcCos", np.arccos, _g_arccos)
ArcTan = _simple("ArcTan", np.arctan, _g_arctan)
ArcTan2 = _simple("ArcTan2", np.arctan2, _g_arctan2, nin=2)
Sinh = _simple("Sinh", np.sinh, _g_sinh)
Cosh = _simple("Cosh", np.cosh, _g_cosh)
Tanh = _simple("Tanh", np.tanh, _g_tanh)
ArcSinh = _simple("ArcSinh", np.arcsinh, _g_arcsinh)
ArcCosh = _simple("ArcCosh", np.arccosh, _g_arccosh)
ArcTanh = _simple("ArcTanh", np.arctanh, _g_arctanh)
Sigmoid = _simple("Sigmoid", _np_sigmoid, _g_sigmoid, dtype_rule="float")
Softplus = _simple("Softplus", _np_softplus, _g_softplus, dtype_rule="float")
Erf = _simple("Erf", _np_erf, _g_erf, dtype_rule="float")
Erfc = _simple("Erfc", _np_erfc, _g_erfc, dtype_rule="float")
Erfinv = _simple("Erfinv", _np_erfinv, _g_erfinv, dtype_rule="float")
Floor = _simple("Floor", np.floor, _g_zero, dtype_rule="float")
Ceil = _simple("Ceil", np.ceil, _g_zero, dtype_rule="float")
Trunc = _simple("Trunc", np.trunc, _g_zero, dtype_rule="float")
RoundHalfToEven = _simple("RoundHalfToEven", np.round, _g_zero, dtype_rule="float")
RoundHalfAwayFromZero = _simple("RoundHalfAwayFromZero", _np_round_half_away, _g_zero, dtype_rule="float")
Sgn = _simple("Sgn", np.sign, _g_zero, bool_as_int=True)
Minimum = _simple("Minimum", np.minimum, _g_minimum, nin=2, commutative=True)
Maximum = _simple("Maximum", np.maximum, _g_maximum, nin=2, commutative=True)
Clip = _simple("Clip", np.clip, _g_clip, nin=3)
Switch = _simple("Switch", np.where, _g_switch, nin=3)
Second = _simple("Second", _np_second, _g_second, nin=2)
Identity = _simple("Identity", _np_identity, _g_identity)
LT = _simple("LT", np.less, _g_none, dtype_rule="bool", nin=2)
GT = _simple("GT", np.greater, _g_none, dtype_rule="bool", nin=2)
LE = _simple("LE", np.less_equal, _g_none, dtype_rule="bool", nin=2)
GE = _simple("GE", np.greater_equal, _g_none, dtype_rule="bool", nin=2)
EQ = _simple("EQ", np.equal, _g_none, dtype_rule="bool", nin=2, commutative=True)
NEQ = _simple("NEQ", np.not_equal, _g_none, dtype_rule="bool", nin=2, commutative=True)
AND = _simple("AND", np.bitwise_and, _g_none, nin=2, commutative=True)
OR = _simple("OR", np.bitwise_or, _g_none, nin=2, commutative=True)
XOR = _simple("XOR", np.bitwise_xor, _g_none, nin=2, commutative=True)
Invert = _simple("Invert", np.invert, _g_none)
IsNan = _simple("IsNan", np.isnan, _g_none, dtype_rule="bool")
IsInf = _simple("IsInf", np.isinf, _g_none, dtype_rule="bool")


def _switch_dtypes(self, *dtypes):
    return (np.result_type(*dtypes[1:]).name,)


def _second_dtypes(self, *dtypes):
    return (dtypes[1],)


def _clip_dtypes(self, *dtypes):
    return (np.result_type(*dtypes).name,)


Switch.output_dtypes = _switch_dtypes
Second.output_dtypes = _second_dtypes
Identity.output_dtypes = lambda self, *d: (d[0],)
Clip.output_dtypes = _clip_dtypes
Sqr.output_dtypes = lambda self, *d: _ufunc_dtype(np.multiply, (d[0], d[0]))
Reciprocal.output_dtypes = lambda self, *d: _ufunc_dtype(np.true_divide, (d[0], d[0]))


class Cast(ScalarOp):
    """Convert to ``dtype`` (NumPy ``astype`` semantics)."""

    __props__ = ("dtype",)
    nin = 1

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).name

    def __str__(self):
        return "Cast{%s}" % self.dtype

    def impl(self, x):
        return np.asarray(x).astype(self.dtype)

    def output_dtypes(self, *dtypes):
        return (self.dtype,)

    def grad(self, inputs, outputs, gz):
        (x,) = inputs
        if x.dtype.startswith(("float", "complex")) and self.dtype.startswith(("float", "complex")):
            from .basic import cast

            return [cast(gz[0], x.dtype)]
        return [None]  # to an integer: grad() makes this a zero gradient


def upcast(dtype, *dtypes):
    """The dtype of a result computed from values of ``dtype`` and ``dtypes`` (NumPy's promotion).

    Examples
    --------
    >>> upcast("int8", "float32")
    'float32'
    >>> upcast("int32", "float32")
    'float64'
    """
    for d in (dtype,) + dtypes:
        try:
            np.dtype(d)
        except TypeError:
            raise TypeError("upcast: %r is not a dtype" % (d,)) from None
    return np.result_type(*[np.dtype(d) for d in (dtype,) + dtypes]).name


__all__ = [n for n, v in list(globals().items()) if isinstance(v, type) and issubclass(v, ScalarOp)] + ["upcast"]
