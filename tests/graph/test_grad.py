"""Reverse-mode grad, Lop and Rop (nettrain.graph.grad) and jacobian/hessian."""

import warnings

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.graph.basic import Apply
from nettrain.graph.grad import (
    DisconnectedInputError,
    DisconnectedType,
    NullType,
    NullTypeGradError,
    grad_undefined,
)
from nettrain.graph.op import Op

RNG = np.random.default_rng(11)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


class _NoGrad(Op):
    """A test op (identity) whose gradient is mathematically undefined."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0].copy()

    def grad(self, inputs, output_grads):
        return [grad_undefined(self, 0, inputs[0], "it is a test")]


# ------------------------------------------------------------------- basics
def test_grad_of_scalar_cost_single_and_list_wrt():
    x, y = T.dvectors("x", "y")
    cost = (x * y + T.exp(x)).sum()
    g = T.grad(cost, x)
    gx, gy = T.grad(cost, [x, y])
    xv, yv = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    np.testing.assert_allclose(_run([x, y], g, xv, yv), yv + np.exp(xv))
    np.testing.assert_allclose(_run([x, y], gy, xv, yv), xv)
    assert _run([x, y], gx, xv, yv).shape == (2,)


def test_grad_of_the_cost_with_respect_to_itself_is_one():
    x = T.dscalar("x")
    c = x * 3
    assert float(T.grad(c, c).eval({x: 1.0})) == 1.0


def test_gradient_has_the_dtype_and_static_shape_of_wrt():
    x = T.TensorType("float32", (None, 1))("x")
    g = T.grad((x * 2.0).sum(), x)
    assert g.type == x.type


def test_grad_of_non_scalar_cost_raises_type_error():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="cost must be a scalar"):
        T.grad(x * 2, x)


def test_grad_argument_errors_are_clear():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="not a symbolic Variable"):
        T.grad(x.sum(), np.ones(2))
    with pytest.raises(ValueError, match="disconnected_inputs must be"):
        T.grad(x.sum(), x, disconnected_inputs="maybe")
    with pytest.raises(ValueError, match="return_disconnected must be"):
        T.grad(x.sum(), x, return_disconnected="nan")
    with pytest.raises(ValueError, match="give a cost or known_grads"):
        T.grad(None, x)


def test_shared_variable_gradient():
    W = theano.shared(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
    x = T.dvector("x")
    g = T.grad(T.sum(W * x), W)
    np.testing.assert_allclose(_run([x], g, np.array([5.0, 6.0])), [[5.0, 6.0], [5.0, 6.0]])


# -------------------------------------------------------- consider_constant
def test_consider_constant_stops_gradient_flow():
    x = T.dvector("x")
    e = T.exp(x)
    cost = (x * e).sum()
    xv = np.array([0.0, 1.0])
    np.testing.assert_allclose(_run([x], T.grad(cost, x), xv), np.exp(xv) * (1 + xv))
    np.testing.assert_allclose(_run([x], T.grad(cost, x, consider_constant=[e]), xv), np.exp(xv))


def test_consider_constant_on_the_only_path_disconnects():
    x = T.dvector("x")
    e = T.exp(x)
    with pytest.raises(DisconnectedInputError):
        T.grad(e.sum(), x, consider_constant=[e])


# ------------------------------------------------------ disconnected inputs
def test_disconnected_input_raise_warn_ignore():
    x, z = T.dvectors("x", "z")
    cost = x.sum()
    with pytest.raises(DisconnectedInputError, match="does not depend on z"):
        T.grad(cost, [x, z])
    with pytest.warns(UserWarning, match="does not depend on z"):
        _, gz = T.grad(cost, [x, z], disconnected_inputs="warn")
    np.testing.assert_array_equal(_run([z], gz, np.ones(3)), np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, gz = T.grad(cost, [x, z], disconnected_inputs="ignore")
    np.testing.assert_array_equal(_run([z], gz, np.ones(2)), np.zeros(2))


def test_return_disconnected_zero_none_disconnected():
    x, z = T.dvectors("x", "z")
    cost = x.sum()
    kw = {"disconnected_inputs": "ignore"}
    g_zero = T.grad(cost, [x, z], return_disconnected="zero", **kw)[1]
    assert g_zero.type == z.type
    assert T.grad(cost, [x, z], return_disconnected="None", **kw)[1] is None
    g_disc = T.grad(cost, [x, z], return_disconnected="Disconnected", **kw)[1]
    assert isinstance(g_disc.type, DisconnectedType)


def test_input_unrelated_to_cost_but_in_the_graph_is_disconnected():
    x, z = T.dvectors("x", "z")
    other = T.exp(z)  # z is used elsewhere but not by cost
    assert other is not None
    with pytest.raises(DisconnectedInputError):
        T.grad((x * 2).sum(), z)


# --------------------------------------------------------------- known_grads
def test_known_grads_without_cost_is_a_vector_jacobian_product():
    x = T.dvector("x")
    h = T.tanh(x)
    gh = T.dvector("gh")
    g = T.grad(None, x, known_grads={h: gh})
    xv, ghv = np.array([0.1, -0.7]), np.array([2.0, 3.0])
    np.testing.assert_allclose(_run([x, gh], g, xv, ghv), ghv * (1 - np.tanh(xv) ** 2))


def test_known_grads_add_to_the_cost_gradient():
    x = T.dvector("x")
    h = x * 2
    g = T.grad(h.sum(), x, known_grads={h: T.ones_like(h) * 10.0})
    np.testing.assert_allclose(_run([x], g, np.zeros(2)), [22.0, 22.0])


def test_known_grads_accept_numpy_values():
    x = T.dvector("x")
    h = x * 3
    g = T.grad(None, x, known_grads={h: np.array([1.0, 2.0])})
    np.testing.assert_allclose(_run([x], g, np.zeros(2)), [3.0, 6.0])


# ------------------------------------------------------------ integer inputs
def test_grad_wrt_an_integer_input_is_zero():
    x = T.dvector("x")
    i = T.ivector("i")
    cost = (x * i).sum()
    gi = T.grad(cost, i)
    assert gi.dtype.startswith("float")
    np.testing.assert_array_equal(_run([i], gi, np.array([1, 2], "int32")), [0.0, 0.0])
    gx, gi = T.grad(cost, [x, i])
    np.testing.assert_array_equal(_run([x, i], gx, np.ones(2), np.array([3, 4], "int32")), [3.0, 4.0])


def test_integer_input_not_used_by_the_cost_is_disconnected():
    x = T.dvector("x")
    j = T.ivector("j")
    with pytest.raises(DisconnectedInputError):
        T.grad(x.sum(), j)


def test_integers_in_the_path_do_not_break_the_float_gradient():
    x = T.dvector("x")
    idx = T.cast(T.floor(x), "int64")  # an integer intermediate
    cost = (x * T.cast(idx, "float64") + x**2).sum()
    xv = np.array([1.5, 2.5])
    np.testing.assert_allclose(_run([x], T.grad(cost, x), xv), np.floor(xv) + 2 * xv)
    n = T.lscalar("n")
    cost2 = (x * T.cast(n * 2, "float64")).sum()
    gx, gn = T.grad(cost2, [x, n])
    res = _run([x, n], [gx, gn], xv, 3)
    np.testing.assert_allclose(res[0], [6.0, 6.0])
    assert float(res[1]) == 0.0


def test_gradient_through_only_integer_paths_is_zero_not_disconnected():
    # As Theano: rounding, comparisons and argmax are piecewise constant.
    x = T.dvector("x")
    xv = np.array([0.3, 1.7])
    for cost in (T.iround(x).sum(), T.gt(x, 0).sum(), T.argmax(x), T.cast(T.isnan(x), "float64").sum(),
                 T.switch(x, 1.0, 2.0).sum()):  # fmt: skip
        np.testing.assert_array_equal(_run([x], T.grad(cost, x), xv), [0.0, 0.0])


def test_shape_only_dependence_is_disconnected():
    from nettrain.tensor.shape import shape_i

    x = T.dvector("x")
    with pytest.raises(DisconnectedInputError):
        T.grad(T.cast(shape_i(x, 0), "float64") * 2.0, x)


# ------------------------------------------------------------ undefined grads
def test_undefined_gradient_raises_null_type_grad_error():
    x = T.dvector("x")
    y = _NoGrad()(x * 2)
    with pytest.raises(NullTypeGradError, match="undefined.*it is a test"):
        T.grad(y.sum(), x)


def test_undefined_gradient_can_be_returned():
    x = T.dvector("x")
    y = _NoGrad()(x)
    g = T.grad(y.sum(), x, null_gradients="return")
    assert isinstance(g.type, NullType)


def test_undefined_gradient_on_an_unrelated_branch_does_not_matter():
    x, z = T.dvectors("x", "z")
    cost = (_NoGrad()(z) + x).sum()
    np.testing.assert_array_equal(_run([x, z], T.grad(cost, x), np.ones(2), np.ones(2)), [1.0, 1.0])


def test_gradient_through_a_non_differentiable_op_is_not_implemented():
    x = T.dvector("x")
    J = T.jacobian(x * 2, x)
    with pytest.raises(NullTypeGradError, match="not implemented"):
        T.grad(J.sum(), x)


# ------------------------------------------------------------------ Lop, Rop
def _tanh_affine():
    W, x = T.dmatrix("W"), T.dvector("x")
    y = T.tanh(T.sum(W * x, axis=1))
    Wv, xv = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    J = (1 - np.tanh(Wv @ xv) ** 2)[:, None] * Wv  # dy/dx
    return W, x, y, Wv, xv, J


def test_lop_is_vector_times_jacobian():
    W, x, y, Wv, xv, J = _tanh_affine()
    u = T.dvector("u")
    uv = RNG.normal(size=2)
    np.testing.assert_allclose(_run([W, x, u], T.Lop(y, x, u), Wv, xv, uv), uv @ J)


def test_lop_with_several_outputs_and_wrt():
    x, y = T.dvectors("x", "y")
    f1, f2 = x * y, T.exp(x)
    u1, u2 = T.dvectors("u1", "u2")
    gx, gy = T.Lop([f1, f2], [x, y], [u1, u2])
    vals = [RNG.normal(size=2) for _ in range(4)]
    res = _run([x, y, u1, u2], [gx, gy], *vals)
    np.testing.assert_allclose(res[0], vals[2] * vals[1] + vals[3] * np.exp(vals[0]))
    np.testing.assert_allclose(res[1], vals[2] * vals[0])
    with pytest.raises(ValueError, match="2 outputs but 1 eval_points"):
        T.Lop([f1, f2], x, [u1])


def test_rop_is_jacobian_times_vector():
    W, x, y, Wv, xv, J = _tanh_affine()
    v = T.dvector("v")
    vv = RNG.normal(size=3)
    np.testing.assert_allclose(_run([W, x, v], T.Rop(y, x, v), Wv, xv, vv), J @ vv)


def test_rop_with_respect_to_a_matrix_and_list_outputs():
    W, x, y, Wv, xv, _ = _tanh_affine()
    V = T.dmatrix("V")
    Vv = RNG.normal(size=(2, 3))
    r, r2 = T.Rop([y, y * 2], W, V)
    expected = (1 - np.tanh(Wv @ xv) ** 2) * (Vv @ xv)
    res = _run([W, x, V], [r, r2], Wv, xv, Vv)
    np.testing.assert_allclose(res[0], expected)
    np.testing.assert_allclose(res[1], 2 * expected)


def test_rop_eval_point_must_match_wrt_dimensions():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="dimensions"):
        T.Rop(x * 2, x, T.dmatrix())


# ---------------------------------------------------------- jacobian/hessian
def test_jacobian_matches_numpy():
    x = T.dvector("x")
    xv = np.array([0.3, -1.2, 2.0])
    J = _run([x], T.jacobian(T.sin(x) * x.sum(), x), xv)
    expected = np.diag(np.cos(xv) * xv.sum()) + np.sin(xv)[:, None]
    np.testing.assert_allclose(J, expected)


def test_hessian_of_sum_of_cubes_is_diag_6x():
    x = T.dvector("x")
    xv = np.array([1.0, 2.0, -3.0])
    np.testing.assert_allclose(_run([x], T.hessian((x**3).sum(), x), xv), np.diag(6 * xv))


def test_hessian_of_softplus_logistic_loss_matches_closed_form():
    w = T.dvector("w")
    X = RNG.normal(size=(5, 3))
    z = T.sum(T.constant(X) * w, axis=1)
    cost = T.softplus(z).sum()
    wv = RNG.normal(size=3)
    s = 1 / (1 + np.exp(-(X @ wv)))
    expected = X.T @ np.diag(s * (1 - s)) @ X
    np.testing.assert_allclose(_run([w], T.hessian(cost, w), wv), expected, rtol=1e-10)


# -------------------------------------------------------------- deep graphs
def test_chain_of_5000_additions_grad_and_function_need_no_recursion():
    x = T.dvector("x")
    y = x
    for _ in range(5000):
        y = y + 1.0
    g = T.grad(y.sum(), x)
    # Without rewrites: this checks grad, function, cloning and the linker.
    f = theano.function([x], [y, g], mode=theano.Mode(optimizer=None))
    out, gv = f(np.array([0.0, 1.0]))
    np.testing.assert_allclose(out, [5000.0, 5001.0])
    np.testing.assert_array_equal(gv, [1.0, 1.0])


def test_chain_deeper_than_the_recursion_limit_compiles_in_the_default_mode():
    x = T.dvector("x")
    y = x
    for _ in range(1100):  # deeper than Python's default recursion limit (1000)
        y = y + 1.0
    f = theano.function([x], [y, T.grad(y.sum(), x)])
    out, gv = f(np.array([0.0, 1.0]))
    np.testing.assert_allclose(out, [1100.0, 1101.0])
    np.testing.assert_array_equal(gv, [1.0, 1.0])


def test_deep_chain_with_reuse_accumulates_many_terms():
    x = T.dscalar("x")
    y = x
    for _ in range(300):
        y = y * 0.5 + x * 0.5  # x feeds every step: 300 gradient terms
    g = T.grad(y, x)
    assert float(g.eval({x: 2.0})) == pytest.approx(1.0)
