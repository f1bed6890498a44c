"""Elemwise broadcasting, dtype promotion, DimShuffle and the operators on variables."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.tensor.elemwise import DimShuffle, Elemwise
from nettrain.tensor.type import TensorType
from nettrain.testing import verify_grad

RNG = np.random.default_rng(7)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


# ------------------------------------------------------------ broadcasting
def test_row_and_col_broadcast_against_a_matrix():
    m, r, c = T.dmatrix("m"), T.drow("r"), T.dcol("c")
    mv, rv, cv = RNG.normal(size=(3, 4)), RNG.normal(size=(1, 4)), RNG.normal(size=(3, 1))
    out = m * r + c
    assert out.type.shape == (None, None)
    np.testing.assert_allclose(_run([m, r, c], out, mv, rv, cv), mv * rv + cv)
    outer = r + c  # (1, n) + (m, 1) -> (m, n)
    np.testing.assert_allclose(_run([r, c], outer, rv, cv), rv + cv)


def test_vector_plus_matrix_adds_a_leading_broadcast_dimension():
    m, v = T.dmatrix("m"), T.dvector("v")
    out = v + m
    assert out.owner.inputs[0].owner.op == DimShuffle((False,), ("x", 0))
    mv, vv = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    np.testing.assert_allclose(_run([m, v], out, mv, vv), vv + mv)


def test_dimshuffle_makes_a_column_broadcast():
    m, v = T.dmatrix("m"), T.dvector("v")
    mv, vv = RNG.normal(size=(2, 3)), RNG.normal(size=2)
    np.testing.assert_allclose(_run([m, v], m - v.dimshuffle(0, "x"), mv, vv), mv - vv[:, None])


def test_scalar_broadcasts_everywhere_and_static_shapes_propagate():
    s = T.dscalar("s")
    x = TensorType("float64", (2, None, 1))("x")
    out = x * s
    assert out.type.shape == (2, None, 1)
    y = TensorType("float64", (None, 5, 4))("y")
    assert (x + y).type.shape == (2, 5, 4)
    xv = RNG.normal(size=(2, 5, 1))
    np.testing.assert_allclose(_run([x, s], out, xv, 3.0), xv * 3.0)


def test_gradient_sums_over_broadcast_dimensions():
    m, r, c, v = T.dmatrix("m"), T.drow("r"), T.dcol("c"), T.dvector("v")
    gr, gc, gv = T.grad((m * r * c * v).sum(), [r, c, v])
    assert gr.type.shape == (1, None) and gc.type.shape == (None, 1) and gv.type.ndim == 1
    mv, rv, cv, vv = (RNG.normal(size=s) for s in [(3, 4), (1, 4), (3, 1), (4,)])
    res = _run([m, r, c, v], [gr, gc, gv], mv, rv, cv, vv)
    np.testing.assert_allclose(res[0], (mv * cv * vv).sum(0, keepdims=True))
    np.testing.assert_allclose(res[1], (mv * rv * vv).sum(1, keepdims=True))
    np.testing.assert_allclose(res[2], (mv * rv * cv).sum(0))


def test_verify_grad_with_vector_and_column_broadcasting():
    verify_grad(lambda m, v: T.tanh(m + v) * v, [RNG.normal(size=(3, 4)), RNG.normal(size=4)])
    verify_grad(lambda m, v: m / (1.5 + v.dimshuffle(0, "x") ** 2), [RNG.normal(size=(3, 2)), RNG.normal(size=3)])


def test_static_shape_mismatch_raises_at_build_time():
    a = TensorType("float64", (2, 3))("a")
    b = TensorType("float64", (4, 3))("b")
    with pytest.raises(ValueError, match=r"cannot be broadcast together \(dimension 0 has lengths \[2, 4\]\)"):
        a + b


def test_run_time_shape_mismatch_raises_value_error_naming_shapes():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\) do not match in dimension 1"):
        f(np.ones((2, 3)), np.ones((2, 4)))


def test_run_time_length_one_does_not_broadcast_unless_declared():
    # Theano semantics: only dimensions known to have length 1 broadcast.
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], x * y)
    with pytest.raises(ValueError, match=r"\(1, 3\) do not match in dimension 0"):
        f(np.ones((2, 3)), np.ones((1, 3)))


def test_broadcastable_input_rejects_a_longer_value():
    m, r = T.dmatrix("m"), T.drow("r")
    f = theano.function([m, r], m + r)
    with pytest.raises(TypeError, match="requires 1"):
        f(np.ones((2, 3)), np.ones((2, 3)))


def test_elemwise_needs_inputs_and_checks_their_number():
    with pytest.raises(TypeError, match="at least one input"):
        T.add()
    with pytest.raises(TypeError, match="takes 3 inputs"):
        T.switch(T.dvector(), T.dvector())


def test_elemwise_ops_compare_equal_by_scalar_op():
    from nettrain.tensor import scalar_op as ps

    assert Elemwise(ps.Add()) == Elemwise(ps.Add())
    assert Elemwise(ps.Add()) != Elemwise(ps.Mul())
    assert hash(Elemwise(ps.Cast("int32"))) == hash(Elemwise(ps.Cast("int32")))


# ------------------------------------------------------- dtype promotion
@pytest.mark.parametrize("make,expected", [
    (lambda: T.fvector() * 0.1, "float32"),  # Python floats are weak (NumPy 2)
    (lambda: 0.1 * T.fvector(), "float32"),
    (lambda: T.fvector() + 1, "float32"),
    (lambda: T.fvector() * np.float64(2.0), "float64"),  # a NumPy scalar is strong
    (lambda: T.fvector() + T.dvector(), "float64"),
    (lambda: T.ivector() + T.fvector(), "float64"),
    (lambda: T.ivector() * 1.5, "float64"),
    (lambda: T.ivector() * 2, "int32"),
    (lambda: T.bvector() + 1, "int8"),
    (lambda: T.bvector() + T.wvector(), "int16"),
    (lambda: T.vector(dtype="uint8") + T.bvector(), "int16"),
    (lambda: T.ivector() / T.ivector(), "float64"),
    (lambda: T.bvector() / T.bvector(), "float64"),  # as NumPy's true_divide
    (lambda: T.ivector() // T.ivector(), "int32"),
    (lambda: T.exp(T.bvector()), "float32"),
    (lambda: T.sqrt(T.wvector()), "float32"),
    (lambda: T.exp(T.ivector()), "float64"),
    (lambda: T.sigmoid(T.lvector()), "float64"),
    (lambda: T.sin(T.fvector()), "float32"),
    (lambda: T.fvector() < 1.5, "bool"),
    (lambda: T.eq(T.ivector(), T.dvector()), "bool"),
    (lambda: T.abs(T.ivector()), "int32"),
    (lambda: -T.lvector(), "int64"),
    (lambda: T.switch(T.ivector() > 0, T.fvector(), 0), "float32"),
])  # fmt: skip
def test_dtype_promotion_follows_numpy2(make, expected):
    assert make().dtype == expected


def test_bool_arithmetic_uses_int8_and_logic_stays_bool():
    a, b = T.tensor("bool", (False,), "a"), T.tensor("bool", (False,), "b")
    av, bv = np.array([True, True, False]), np.array([True, False, False])
    total = a + b
    assert total.dtype == "int8"
    np.testing.assert_array_equal(_run([a, b], total, av, bv), [2, 1, 0])
    np.testing.assert_array_equal(_run([a, b], b - a * b - a, av, bv), [-1, -1, 0])
    assert (a & b).dtype == "bool" and (a | b).dtype == "bool" and (~a).dtype == "bool"
    np.testing.assert_array_equal(_run([a, b], [a & b, a | b, a ^ b, ~a], av, bv),
                                  [av & bv, av | bv, av ^ bv, ~av])  # fmt: skip


def test_float32_graph_computes_in_float32():
    x = T.fvector("x")
    out = T.exp(x * 0.5) / 3 + T.sqrt(abs(x))
    res = _run([x], out, np.array([1.0, 4.0], "float32"))
    assert res.dtype == np.float32
    xv = np.array([1.0, 4.0], "float32")
    np.testing.assert_allclose(res, np.exp(xv * np.float32(0.5)) / 3 + np.sqrt(xv), rtol=1e-6)


def test_mixed_precision_gradients_have_each_input_dtype():
    x, y = T.fvector("x"), T.dvector("y")
    gx, gy = T.grad((x * y).sum(), [x, y])
    assert (gx.dtype, gy.dtype) == ("float32", "float64")
    res = _run([x, y], [gx, gy], np.array([1.0, 2.0], "float32"), np.array([3.0, 4.0]))
    assert res[0].dtype == np.float32
    np.testing.assert_allclose(res[0], [3.0, 4.0])


# --------------------------------------------------- operators on variables
X = np.array([[0.5, -1.5, 2.0], [3.0, -0.25, 1.25]])
Y = np.array([[1.5, 2.0, -0.5], [0.75, -2.0, 4.0]])
OPS = [
    ("add", lambda x, y: x + y), ("sub", lambda x, y: x - y), ("mul", lambda x, y: x * y),
    ("truediv", lambda x, y: x / y), ("floordiv", lambda x, y: x // y), ("mod", lambda x, y: x % y),
    ("lt", lambda x, y: x < y), ("le", lambda x, y: x <= y), ("gt", lambda x, y: x > y), ("ge", lambda x, y: x >= y),
]  # fmt: skip


@pytest.mark.parametrize("name,op", OPS, ids=[o[0] for o in OPS])
def test_binary_operators_on_variables_match_numpy(name, op):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    res = _run([x, y], op(x, y), X, Y)
    expected = op(X, Y)
    assert res.dtype == expected.dtype
    np.testing.assert_allclose(res, expected)


@pytest.mark.parametrize("name,op", OPS, ids=[o[0] for o in OPS])
def test_reflected_operators_with_python_scalars_on_the_left(name, op):
    x = T.dmatrix("x")
    for scalar in (2, 2.5, -3):
        res = _run([x], op(scalar, x), X)
        expected = op(scalar, X)
        assert res.dtype == expected.dtype
        np.testing.assert_allclose(res, expected)


def test_power_operator_and_reflected_power():
    x = T.dmatrix("x")
    pos = np.abs(X) + 0.1
    np.testing.assert_allclose(_run([x], x**2, X), X**2)
    np.testing.assert_allclose(_run([x], x**0.5, pos), pos**0.5)
    np.testing.assert_allclose(_run([x], 2**x, X), 2**X)
    np.testing.assert_allclose(_run([x], 2.5**x, X), 2.5**X)
    verify_grad(lambda v: 1.7**v + v**3, [X])


def test_unary_operators_neg_abs_invert_pos():
    x, i = T.dmatrix("x"), T.imatrix("i")
    iv = np.array([[1, -2], [0, 7]], "int32")
    np.testing.assert_allclose(_run([x], -x, X), -X)
    np.testing.assert_allclose(_run([x], abs(x), X), np.abs(X))
    assert +x is x
    np.testing.assert_array_equal(_run([i], ~i, iv), ~iv)
    np.testing.assert_array_equal(_run([i], abs(i), iv), np.abs(iv))
    verify_grad(lambda v: abs(-v) * v, [X])


def test_bitwise_operators_with_int_scalars_on_either_side():
    i = T.ivector("i")
    iv = np.array([1, 6, 12], "int32")
    res = _run([i], [i & 4, 4 & i, i | 1, 1 | i, i ^ 5, 5 ^ i], iv)
    for r, e in zip(res, [iv & 4, 4 & iv, iv | 1, 1 | iv, iv ^ 5, 5 ^ iv]):
        assert r.dtype == np.int32
        np.testing.assert_array_equal(r, e)


def test_matmul_operator_and_reflected_matmul():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    np.testing.assert_allclose(_run([x, y], x @ y.T, X, Y), X @ Y.T)
    left = np.arange(4.0).reshape(2, 2)
    np.testing.assert_allclose(_run([x], left @ x, X), left @ X)


def test_transpose_property_and_dimshuffle():
    x = T.dtensor3("x")
    xv = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(_run([x], x.T, xv), xv.T)
    np.testing.assert_array_equal(_run([x], x.transpose(1, 0, 2), xv), xv.transpose(1, 0, 2))
    np.testing.assert_array_equal(_run([x], x.dimshuffle(2, "x", 0, 1), xv), xv.transpose(2, 0, 1)[:, None])
    assert x.dimshuffle(2, "x", 0, 1).type.shape == (None, 1, None, None)
    verify_grad(lambda v: v.dimshuffle(2, "x", 0, 1) * 3, [xv])
    verify_grad(lambda v: v.T, [xv])


def test_dimshuffle_drops_broadcastable_dimensions():
    c = T.dcol("c")
    cv = np.array([[1.0], [2.0], [3.0]])
    out = c.dimshuffle(0)
    assert out.type.ndim == 1
    np.testing.assert_array_equal(_run([c], out, cv), [1.0, 2.0, 3.0])
    g = T.grad((out * out).sum(), c)
    assert g.type.shape == (None, 1)
    np.testing.assert_allclose(_run([c], g, cv), 2 * cv)
    r = T.TensorType("float64", (1, None, 1))("r")
    rv = np.arange(4.0).reshape(1, 4, 1)
    np.testing.assert_array_equal(_run([r], r.dimshuffle("x", 1), rv), rv.reshape(1, 4))


def test_dimshuffle_errors_are_clear():
    m = T.dmatrix("m")
    with pytest.raises(ValueError, match="not known to have length 1"):
        m.dimshuffle(0)
    with pytest.raises(ValueError, match="out of range"):
        m.dimshuffle(0, 2)
    with pytest.raises(ValueError, match="repeated axis"):
        m.dimshuffle(0, 0)
    with pytest.raises(ValueError, match="not a permutation"):
        T.transpose(m, (0, 0))


def test_comparison_chains_build_bool_graphs_and_comparisons_have_no_truth_value():
    x = T.dvector("x")
    within = (x > 0) & (x < 1)
    np.testing.assert_array_equal(_run([x], within, np.array([-1.0, 0.5, 2.0])), [False, True, False])
    with pytest.raises(TypeError, match="no truth value"):
        bool(x > 0)
    assert (x == x) is True  # == is identity, use T.eq for elementwise equality
