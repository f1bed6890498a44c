"""Every elementwise function of nettrain.tensor.math against NumPy, with gradients."""

import numpy as np
import pytest
from scipy import special

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import verify_grad

RNG = np.random.default_rng(1234)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


def _unit(shape=(3, 4)):
    return RNG.uniform(0.1, 0.9, shape)


def _sym(shape=(3, 4)):
    return RNG.uniform(-2.0, 2.0, shape)


def _above_one(shape=(3, 4)):
    return RNG.uniform(1.2, 3.0, shape)


def _positive(shape=(3, 4)):
    return RNG.uniform(0.5, 3.0, shape)


def _away_from_int(shape=(3, 4)):
    # keep finite differences away from the jumps of floor/ceil/round
    return np.floor(_sym(shape) * 3) / 3 + 0.17


# name, nettrain function, NumPy reference, sample (its domain), differentiable
UNARY = [
    ("neg", T.neg, np.negative, _sym, True),
    ("abs", T.abs, np.abs, _sym, True),
    ("exp", T.exp, np.exp, _sym, True),
    ("exp2", T.exp2, np.exp2, _sym, True),
    ("expm1", T.expm1, np.expm1, _sym, True),
    ("log", T.log, np.log, _positive, True),
    ("log2", T.log2, np.log2, _positive, True),
    ("log10", T.log10, np.log10, _positive, True),
    ("log1p", T.log1p, np.log1p, _positive, True),
    ("sqrt", T.sqrt, np.sqrt, _positive, True),
    ("sqr", T.sqr, np.square, _sym, True),
    ("reciprocal", T.reciprocal, np.reciprocal, _positive, True),
    ("sin", T.sin, np.sin, _sym, True),
    ("cos", T.cos, np.cos, _sym, True),
    ("tan", T.tan, np.tan, _unit, True),
    ("arcsin", T.arcsin, np.arcsin, _unit, True),
    ("arccos", T.arccos, np.arccos, _unit, True),
    ("arctan", T.arctan, np.arctan, _sym, True),
    ("sinh", T.sinh, np.sinh, _sym, True),
    ("cosh", T.cosh, np.cosh, _sym, True),
    ("tanh", T.tanh, np.tanh, _sym, True),
    ("arcsinh", T.arcsinh, np.arcsinh, _sym, True),
    ("arccosh", T.arccosh, np.arccosh, _above_one, True),
    ("arctanh", T.arctanh, np.arctanh, _unit, True),
    ("sigmoid", T.sigmoid, special.expit, _sym, True),
    ("softplus", T.softplus, lambda x: np.logaddexp(0, x), _sym, True),
    ("erf", T.erf, special.erf, _sym, True),
    ("erfc", T.erfc, special.erfc, _sym, True),
    ("erfinv", T.erfinv, special.erfinv, _unit, True),
    ("floor", T.floor, np.floor, _away_from_int, True),
    ("ceil", T.ceil, np.ceil, _away_from_int, True),
    ("trunc", T.trunc, np.trunc, _away_from_int, True),
    ("round_half_to_even", lambda x: T.round(x, "half_to_even"), np.round, _away_from_int, True),
    ("round_half_away", lambda x: T.round(x, "half_away_from_zero"), np.round, _away_from_int, True),
    ("sgn", T.sgn, np.sign, _sym, True),
]
UNARY_IDS = [u[0] for u in UNARY]


@pytest.mark.parametrize("name,fn,ref,sample,diff", UNARY, ids=UNARY_IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_matches_numpy_value_and_dtype(name, fn, ref, sample, diff, dtype):
    xv = sample().astype(dtype)
    x = T.matrix("x", dtype=dtype)
    res = _run([x], fn(x), xv)
    expected = ref(xv)
    assert res.dtype == expected.dtype
    assert fn(x).dtype == dtype
    np.testing.assert_allclose(res, expected, rtol=1e-6 if dtype == "float64" else 2e-6, atol=1e-12)


@pytest.mark.parametrize("name,fn,ref,sample,diff", [u for u in UNARY if u[4]], ids=[u[0] for u in UNARY if u[4]])
def test_unary_gradient_matches_finite_differences(name, fn, ref, sample, diff):
    verify_grad(fn, [sample((2, 3))])


def test_piecewise_constant_functions_have_zero_gradient():
    x = T.dvector("x")
    for fn in (T.floor, T.ceil, T.trunc, T.round, T.sgn):
        g = T.grad(fn(x).sum(), x)
        np.testing.assert_array_equal(_run([x], g, np.array([0.3, -1.7])), [0.0, 0.0])


def test_round_half_to_even_and_half_away_from_zero_differ_on_ties():
    x = T.dvector("x")
    xv = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6])
    np.testing.assert_array_equal(_run([x], T.round(x), xv), np.round(xv))
    np.testing.assert_array_equal(_run([x], T.round(x, "half_to_even"), xv), [-2, -2, -0, 0, 2, 2, 0, -1])
    np.testing.assert_array_equal(_run([x], T.round(x, "half_away_from_zero"), xv), [-3, -2, -1, 1, 2, 3, 0, -1])
    with pytest.raises(ValueError, match="mode must be"):
        T.round(x, "up")


@pytest.mark.parametrize("dtype", ["int8", "uint8", "bool"])
@pytest.mark.parametrize(
    "fn,ref", [(T.exp, np.exp), (T.sqrt, np.sqrt), (T.sigmoid, special.expit), (T.log1p, np.log1p)]
)
def test_one_byte_integers_give_float32_computed_in_float32(fn, ref, dtype):
    # NumPy would return float16 here; nettrain returns float32 with float32 accuracy.
    xv = np.array([0, 1, 5, 7]).astype(dtype)
    x = T.vector("x", dtype=dtype)
    res = _run([x], fn(x), xv)
    assert res.dtype == np.float32
    np.testing.assert_allclose(res, ref(xv.astype(np.float32)), rtol=1e-6)


def test_iround_rounds_and_returns_int64():
    x = T.dvector("x")
    out = T.iround(x)
    assert out.dtype == "int64"
    res = _run([x], out, np.array([0.5, 1.5, 2.6, -1.4]))
    assert res.dtype == np.int64
    np.testing.assert_array_equal(res, [0, 2, 3, -1])
    np.testing.assert_array_equal(_run([x], T.iround(x, "half_away_from_zero"), np.array([0.5, -2.5])), [1, -3])


# --------------------------------------------------------------- binary ops
BINARY = [
    ("add", T.add, np.add, _sym, _sym, True),
    ("sub", T.sub, np.subtract, _sym, _sym, True),
    ("mul", T.mul, np.multiply, _sym, _sym, True),
    ("true_div", T.true_div, np.true_divide, _sym, _positive, True),
    ("int_div", T.int_div, np.floor_divide, _sym, _positive, False),
    ("mod", T.mod, np.mod, _away_from_int, lambda s=(3, 4): np.full(s, 1.0), True),
    ("pow", T.pow, np.power, _positive, _sym, True),
    ("arctan2", T.arctan2, np.arctan2, _sym, _sym, True),
    ("minimum", T.minimum, np.minimum, _sym, _sym, True),
    ("maximum", T.maximum, np.maximum, _sym, _sym, True),
    ("lt", T.lt, np.less, _sym, _sym, False),
    ("gt", T.gt, np.greater, _sym, _sym, False),
    ("le", T.le, np.less_equal, _sym, _sym, False),
    ("ge", T.ge, np.greater_equal, _sym, _sym, False),
    ("eq", T.eq, np.equal, _sym, _sym, False),
    ("neq", T.neq, np.not_equal, _sym, _sym, False),
]
BINARY_IDS = [b[0] for b in BINARY]


@pytest.mark.parametrize("name,fn,ref,sa,sb,diff", BINARY, ids=BINARY_IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_binary_matches_numpy_with_row_broadcast(name, fn, ref, sa, sb, diff, dtype):
    av, bv = sa((3, 4)).astype(dtype), sb((1, 4)).astype(dtype)
    if name in ("eq", "neq", "le", "ge"):
        av[0] = bv[0]  # make ties happen
    a, b = T.matrix("a", dtype=dtype), T.row("b", dtype=dtype)
    res = _run([a, b], fn(a, b), av, bv)
    expected = ref(av, bv)
    assert res.dtype == expected.dtype
    np.testing.assert_allclose(res, expected, rtol=1e-6 if dtype == "float64" else 2e-6)


@pytest.mark.parametrize("name,fn,ref,sa,sb,diff", [b for b in BINARY if b[5]], ids=[b[0] for b in BINARY if b[5]])
def test_binary_gradient_matches_finite_differences(name, fn, ref, sa, sb, diff):
    verify_grad(fn, [sa((2, 3)), sb((2, 3))])


@pytest.mark.parametrize("name,fn,ref,sa,sb,diff", [b for b in BINARY if b[5]], ids=[b[0] for b in BINARY if b[5]])
def test_binary_gradient_sums_over_broadcast_vector(name, fn, ref, sa, sb, diff):
    verify_grad(fn, [sa((2, 3)), sb((3,))])


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8"])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "int_div", "mod", "true_div", "lt", "eq", "maximum"])
def test_integer_binary_ops_match_numpy(name, dtype):
    fn, ref = {b[0]: (b[1], b[2]) for b in BINARY}[name]
    av = RNG.integers(0 if dtype == "uint8" else -9, 10, (2, 5)).astype(dtype)
    bv = RNG.integers(1, 5, (2, 5)).astype(dtype)
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    res = _run([a, b], fn(a, b), av, bv)
    expected = ref(av, bv)
    assert res.dtype == expected.dtype
    np.testing.assert_array_equal(res, expected)


def test_int_div_and_mod_follow_python_floor_semantics():
    a, b = T.ivectors("a", "b")
    av, bv = np.array([7, -7, 7, -7], "int32"), np.array([2, 2, -2, -2], "int32")
    np.testing.assert_array_equal(_run([a, b], a // b, av, bv), [3, -4, -4, 3])
    np.testing.assert_array_equal(_run([a, b], a % b, av, bv), [1, 1, -1, -1])


def test_integer_pow_and_float_pow_with_integer_exponent():
    i = T.ivector("i")
    x = T.dvector("x")
    np.testing.assert_array_equal(_run([i], i**2, np.array([-3, 4], "int32")), [9, 16])
    verify_grad(lambda v: v**3, [np.array([-1.5, 0.5, 2.0])])
    # d/dy x**y at x == 0 is defined as 0, not nan
    g = T.grad((x ** T.constant(2.0)).sum(), x)
    np.testing.assert_allclose(_run([x], g, np.array([0.0, 3.0])), [0.0, 6.0])
    y = T.dvector("y")
    gy = T.grad((x**y).sum(), y)
    np.testing.assert_allclose(_run([x, y], gy, np.array([0.0, 2.0]), np.array([2.0, 1.0])), [0.0, 2 * np.log(2)])


# ------------------------------------------------------------ min/max/clip
def test_minimum_maximum_gradient_goes_to_first_input_on_ties():
    a, b = T.dvectors("a", "b")
    ga, gb = T.grad(T.maximum(a, b).sum(), [a, b])
    res = _run([a, b], [ga, gb], np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(res[0], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(res[1], [0.0, 1.0, 0.0])
    ga, gb = T.grad(T.minimum(a, b).sum(), [a, b])
    res = _run([a, b], [ga, gb], np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(res[0], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(res[1], [0.0, 0.0, 1.0])


def test_clip_matches_numpy_with_scalar_and_tensor_bounds():
    x = T.dmatrix("x")
    xv = _sym()
    np.testing.assert_allclose(_run([x], T.clip(x, -0.5, 0.7), xv), np.clip(xv, -0.5, 0.7))
    lo, hi = T.dvector("lo"), T.dvector("hi")
    lov, hiv = -np.ones(4) * 0.3, np.linspace(0.1, 1.5, 4)
    np.testing.assert_allclose(_run([x, lo, hi], T.clip(x, lo, hi), xv, lov, hiv), np.clip(xv, lov, hiv))
    f = T.fmatrix("f")
    assert T.clip(f, 0, 1).dtype == "float32"
    assert x.clip(0.0, 1.0).dtype == "float64"


def test_clip_gradient_flows_to_x_inside_and_to_bounds_outside():
    verify_grad(lambda v, lo, hi: T.clip(v, lo, hi), [_sym((2, 3)), np.array(-0.4), np.array(0.6)])
    x = T.dvector("x")
    g = T.grad(T.clip(x, -1.0, 1.0).sum(), x)
    np.testing.assert_array_equal(_run([x], g, np.array([-2.0, 0.0, 2.0])), [0.0, 1.0, 0.0])


# ----------------------------------------------------------------- switch
def test_switch_matches_numpy_where_with_broadcasting():
    c = T.tensor("bool", (False, False), "c")
    a, b = T.dmatrix("a"), T.drow("b")
    cv = RNG.uniform(size=(3, 4)) > 0.5
    av, bv = _sym(), _sym((1, 4))
    np.testing.assert_allclose(_run([c, a, b], T.switch(c, a, b), cv, av, bv), np.where(cv, av, bv))
    # a numeric condition is true where non-zero; switch(cond, 1, 0) keeps Python ints weak
    x = T.dvector("x")
    out = T.switch(T.gt(x, 0), 1.0, x)
    np.testing.assert_allclose(_run([x], out, np.array([-1.0, 2.0])), [-1.0, 1.0])
    assert T.where is T.switch


def test_switch_gradient_routes_to_the_chosen_branch():
    a, b = T.dvectors("a", "b")
    cond = T.gt(a, b)
    verify_grad(lambda u, v: T.switch(T.gt(u, v), u * 2, v**2), [np.array([1.0, -1.0, 3.0]), np.array([0.0, 0.5, 4.0])])
    ga, gb = T.grad(T.switch(cond, a, b).sum(), [a, b])
    res = _run([a, b], [ga, gb], np.array([1.0, -1.0]), np.array([0.0, 0.5]))
    np.testing.assert_array_equal(res, [[1.0, 0.0], [0.0, 1.0]])


# -------------------------------------------------------- logic and bits
@pytest.mark.parametrize("dtype", ["bool", "int32", "uint8", "int64"])
@pytest.mark.parametrize("name,fn,ref", [("and_", T.and_, np.bitwise_and), ("or_", T.or_, np.bitwise_or),
                                         ("xor", T.xor, np.bitwise_xor)])  # fmt: skip
def test_bitwise_binary_ops_match_numpy(name, fn, ref, dtype):
    av = RNG.integers(0, 16, (3, 4)).astype(dtype)
    bv = RNG.integers(0, 16, (1, 4)).astype(dtype)
    a, b = T.matrix("a", dtype=dtype), T.row("b", dtype=dtype)
    res = _run([a, b], fn(a, b), av, bv)
    assert res.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(res, ref(av, bv))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16"])
def test_invert_matches_numpy(dtype):
    av = RNG.integers(0, 5, 6).astype(dtype)
    a = T.vector("a", dtype=dtype)
    res = _run([a], T.invert(a), av)
    assert res.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(res, np.invert(av))


def test_isnan_isinf_return_bool():
    x = T.fvector("x")
    xv = np.array([0.0, np.nan, np.inf, -np.inf, 1.0], "float32")
    res = _run([x], [T.isnan(x), T.isinf(x)], xv)
    assert res[0].dtype == bool and res[1].dtype == bool
    np.testing.assert_array_equal(res[0], np.isnan(xv))
    np.testing.assert_array_equal(res[1], np.isinf(xv))


def test_comparisons_and_logic_have_no_gradient():
    x = T.dvector("x")
    cost = (T.cast(T.gt(x, 0), "float64") * x).sum()
    np.testing.assert_array_equal(_run([x], T.grad(cost, x), np.array([-1.0, 2.0])), [0.0, 1.0])


# ------------------------------------------------------------------- cast
@pytest.mark.parametrize("src,dst", [("float64", "int32"), ("float32", "float64"), ("int64", "float32"),
                                     ("float64", "bool"), ("bool", "int64"), ("int32", "uint8")])  # fmt: skip
def test_cast_matches_numpy_astype(src, dst):
    xv = np.array([-1.7, 0.0, 2.2, 300.0]).astype(src)
    x = T.vector("x", dtype=src)
    out = T.cast(x, dst)
    assert out.dtype == dst
    res = _run([x], out, xv)
    assert res.dtype == np.dtype(dst)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(res, xv.astype(dst))


def test_cast_to_same_dtype_is_the_variable_and_unknown_dtype_raises():
    x = T.dvector("x")
    assert T.cast(x, "float64") is x
    with pytest.raises(TypeError, match="dtype"):
        T.cast(x, "float128x")


def test_cast_gradient_converts_back_to_the_input_dtype():
    x = T.fvector("x")
    g = T.grad((T.cast(x, "float64") ** 2).sum(), x)
    assert g.dtype == "float32"
    np.testing.assert_allclose(_run([x], g, np.array([1.0, 2.0], "float32")), [2.0, 4.0])
    verify_grad(lambda v: T.cast(v, "float32") * 2, [np.array([0.5, 1.0])], eps=1e-3, abs_tol=1e-3, rel_tol=1e-3)


# ------------------------------------------------------------------ misc
def test_variadic_add_and_mul_take_many_inputs():
    a, b, c = T.dvectors("a", "b", "c")
    vals = [_sym((3,)) for _ in range(3)]
    np.testing.assert_allclose(_run([a, b, c], T.add(a, b, c), *vals), vals[0] + vals[1] + vals[2])
    np.testing.assert_allclose(_run([a, b, c], T.mul(a, b, c), *vals), vals[0] * vals[1] * vals[2])
    verify_grad(lambda u, v, w: T.mul(u, v, w), vals)


def test_add_and_mul_of_one_input_copy_it():
    a = T.bvector("a")
    av = np.array([1, 2], "int8")
    for fn in (T.add, T.mul):
        res = _run([a], fn(a), av)
        assert res.dtype == np.int8 and not np.shares_memory(res, av)
        np.testing.assert_array_equal(res, av)


def test_second_fill_and_tensor_copy():
    a, b = T.dmatrix("a"), T.dscalar("b")
    av = _sym((2, 3))
    np.testing.assert_array_equal(_run([a, b], T.fill(a, b), av, 4.0), np.full((2, 3), 4.0))
    res = _run([a], T.tensor_copy(a), av)
    np.testing.assert_array_equal(res, av)
    verify_grad(lambda u, v: T.fill(u, v), [av, np.array(1.5)])


def test_largest_smallest_isclose_allclose():
    a, b, c = T.dvectors("a", "b", "c")
    vals = [np.array([1.0, 5.0]), np.array([3.0, 2.0]), np.array([2.0, 4.0])]
    np.testing.assert_array_equal(_run([a, b, c], T.largest(a, b, c), *vals), [3.0, 5.0])
    np.testing.assert_array_equal(_run([a, b, c], T.smallest(a, b, c), *vals), [1.0, 2.0])
    near = np.array([1.0 + 1e-9, 5.0])
    np.testing.assert_array_equal(_run([a, b], T.isclose(a, b), vals[0], near), [True, True])
    assert bool(_run([a, b], T.allclose(a, b), vals[0], vals[1])) is False
    nan = np.array([np.nan, 1.0])
    np.testing.assert_array_equal(_run([a, b], T.isclose(a, b, equal_nan=True), nan, nan), [True, True])


def test_elementwise_functions_accept_numpy_and_python_values():
    x = T.dvector("x")
    np.testing.assert_allclose(_run([x], T.add(x, [1.0, 2.0]), np.zeros(2)), [1.0, 2.0])
    assert float(T.exp(0.0).eval()) == 1.0
    np.testing.assert_allclose(T.maximum(np.array([1.0, 3.0]), 2.0).eval(), [2.0, 3.0])


def test_wrong_number_of_inputs_raises_type_error():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        T.sub(x, x, x)
    with pytest.raises(TypeError, match="takes 1 inputs, got 2"):
        T.exp(x, x)
