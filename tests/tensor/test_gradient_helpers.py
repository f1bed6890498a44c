"""jacobian / hessian and the identity-forward gradient helper ops."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.gradient import (
    consider_constant,
    disconnected_grad,
    grad_clip,
    grad_scale,
    undefined_grad,
    zero_grad,
)
from nettrain.graph.grad import DisconnectedInputError, NullTypeGradError
from nettrain.tensor.gradient import SeedMap

RNG = np.random.default_rng(0)


def _num_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of the NumPy function ``f`` at ``x``."""
    y = np.asarray(f(x))
    J = np.zeros(y.shape + x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        J[(Ellipsis,) + idx] = (np.asarray(f(xp)) - np.asarray(f(xm))) / (2 * eps)
    return J


# ------------------------------------------------------------------ jacobian
def test_jacobian_of_vector_wrt_vector_matches_numpy():
    x = T.dvector("x")
    J = T.jacobian(T.tanh(x) * x.sum(), x)
    xv = RNG.uniform(-1, 1, 4)
    res = theano.function([x], J)(xv)
    np.testing.assert_allclose(res, _num_jacobian(lambda v: np.tanh(v) * v.sum(), xv), rtol=1e-6, atol=1e-8)


def test_jacobian_wrt_matrix_has_expression_shape_plus_wrt_shape():
    W = T.dmatrix("W")
    x = T.dvector("x")
    y = T.exp(T.sum(W * x, axis=1))  # exp(W @ x)
    J = T.jacobian(y, W)
    Wv, xv = RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, 3)
    res = theano.function([W, x], J)(Wv, xv)
    assert res.shape == (2, 2, 3)
    np.testing.assert_allclose(res, _num_jacobian(lambda w: np.exp(w @ xv), Wv), rtol=1e-6)


def test_jacobian_of_matrix_expression_has_full_shape():
    x = T.dvector("x")
    y = x.dimshuffle(0, "x") * x.dimshuffle("x", 0)  # outer product, 2-d
    xv = np.array([1.0, 2.0, 3.0])
    res = T.jacobian(y, x).eval({x: xv})
    assert res.shape == (3, 3, 3)
    np.testing.assert_allclose(res, _num_jacobian(lambda v: np.outer(v, v), xv), atol=1e-7)


def test_jacobian_list_wrt_returns_list_and_tuple_returns_tuple():
    x, y = T.dvectors("x", "y")
    out = x * y
    res_list = T.jacobian(out, [x, y])
    res_tuple = T.jacobian(out, (x, y))
    assert isinstance(res_list, list) and len(res_list) == 2
    assert isinstance(res_tuple, tuple)
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    jx, jy = theano.function([x, y], res_list)(xv, yv)
    np.testing.assert_allclose(jx, np.diag(yv))
    np.testing.assert_allclose(jy, np.diag(xv))


def test_jacobian_of_scalar_is_the_gradient():
    x = T.dvector("x")
    J = T.jacobian((x**2).sum(), x)
    np.testing.assert_allclose(J.eval({x: np.array([1.0, -2.0])}), [2.0, -4.0])


def test_jacobian_of_empty_vector_has_zero_rows():
    x = T.dvector("x")
    W = T.dmatrix("W")
    J = T.jacobian(T.sum(W * x, axis=1), x)
    res = theano.function([W, x], J)(np.zeros((0, 3)), np.ones(3))
    assert res.shape == (0, 3)


def test_jacobian_result_is_usable_in_further_graphs_and_functions():
    x = T.dvector("x")
    J = T.jacobian(x**3, x)
    total = (J * 2).sum() + T.sum(J, axis=0)[0]
    xv = np.array([1.0, 2.0])
    np.testing.assert_allclose(theano.function([x], total)(xv), 2 * 3 * (1 + 4) + 3.0)
    # its shape is known symbolically too
    np.testing.assert_array_equal(theano.function([x], J.shape)(xv), [2, 2])


def test_jacobian_reads_shared_variables():
    W = theano.shared(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), name="W")
    x = T.dvector("x")
    J = T.jacobian(T.sum(W * x, axis=1), x)
    f = theano.function([x], J)
    np.testing.assert_allclose(f(np.zeros(2)), W.get_value())
    W.set_value(np.ones((3, 2)))
    np.testing.assert_allclose(f(np.zeros(2)), np.ones((3, 2)))


def test_jacobian_disconnected_input_raises_or_gives_zeros():
    x, z = T.dvectors("x", "z")
    with pytest.raises(DisconnectedInputError, match="does not depend on z"):
        T.jacobian(x * 2, z)
    J = T.jacobian(x * 2, z, disconnected_inputs="ignore")
    res = theano.function([x, z], J)(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(res, np.zeros((3, 2)))


def test_jacobian_consider_constant_blocks_the_path():
    x = T.dvector("x")
    e = T.exp(x)
    J = T.jacobian(x * e, x, consider_constant=[e])
    xv = np.array([0.5, 1.0])
    np.testing.assert_allclose(J.eval({x: xv}), np.diag(np.exp(xv)))


def test_jacobian_gradient_through_it_is_not_implemented():
    x = T.dvector("x")
    J = T.jacobian(x**2, x)
    with pytest.raises(NullTypeGradError, match="not implemented"):
        T.grad(J.sum(), x)


def test_jacobian_float32_keeps_float32():
    x = T.fvector("x")
    J = T.jacobian(T.sin(x), x)
    assert J.dtype == "float32"
    res = J.eval({x: np.array([0.1, 0.2], dtype="float32")})
    assert res.dtype == np.float32
    np.testing.assert_allclose(res, np.diag(np.cos([0.1, 0.2])), rtol=1e-6)


def test_jacobian_loop_invariant_work_is_hoisted_out_of_the_map():
    x = T.dvector("x")
    J = T.jacobian(T.sin(x), x)
    op = J.owner.op
    assert isinstance(op, SeedMap)
    # cos(x) does not depend on the seed, so it is computed outside the loop
    assert all(not isinstance(n.op.scalar_op, type(T.cos.op.scalar_op)) for n in op.nodes if hasattr(n.op, "scalar_op"))


def test_jacobian_of_a_2000_step_chain_has_no_recursion_error():
    x = T.dvector("x")
    y = x
    for _ in range(2000):
        y = y * 1.0001
    f = theano.function([x], T.jacobian(y, x), mode=theano.Mode(optimizer=None))
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), np.eye(2) * 1.0001**2000)


# ------------------------------------------------------------------- hessian
def test_hessian_of_sum_of_cubes_is_diag_6x():
    x = T.dvector("x")
    H = T.hessian((x**3).sum(), x)
    xv = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(theano.function([x], H)(xv), np.diag(6 * xv))


def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    x = T.dvector("x")
    A = T.dmatrix("A")
    cost = (x * T.sum(A * x, axis=1)).sum()  # x^T A x
    Av = RNG.uniform(-1, 1, (3, 3))
    res = theano.function([x, A], T.hessian(cost, x))(RNG.uniform(-1, 1, 3), Av)
    np.testing.assert_allclose(res, Av + Av.T, atol=1e-12)


def test_hessian_list_wrt_and_matrix_wrt():
    x = T.dvector("x")
    W = T.dmatrix("W")
    cost = (T.exp(W) * x.dimshuffle("x", 0)).sum() + (x**2).sum()
    hx, hw = T.hessian(cost, [x, W])
    xv, Wv = np.array([1.0, 2.0]), RNG.uniform(-1, 1, (3, 2))
    rx, rw = theano.function([x, W], [hx, hw])(xv, Wv)
    np.testing.assert_allclose(rx, 2 * np.eye(2))
    assert rw.shape == (3, 2, 3, 2)
    expected = np.diag((np.exp(Wv) * xv).ravel()).reshape(3, 2, 3, 2)
    np.testing.assert_allclose(rw, expected, rtol=1e-12)


def test_hessian_of_linear_cost_is_zero():
    x = T.dvector("x")
    H = T.hessian((x * 3.0).sum(), x)
    np.testing.assert_array_equal(H.eval({x: np.ones(2)}), np.zeros((2, 2)))


def test_hessian_rejects_non_scalar_cost():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="cost must be a scalar"):
        T.hessian(x**2, x)


# -------------------------------------------------- identity-forward helpers
def _value_and_grad(expr, x, xv):
    return theano.function([x], [expr, T.grad(expr, x)])(xv)


def test_zero_grad_is_identity_forward_and_zero_backward():
    x = T.dscalar("x")
    val, g = _value_and_grad(x * zero_grad(x**2), x, 3.0)
    assert float(val) == 27.0
    assert float(g) == 9.0  # only the outer x is differentiated
    g_only = T.grad(zero_grad(x).sum(), x)  # connected: no DisconnectedInputError
    assert float(g_only.eval({x: 1.0})) == 0.0


def test_consider_constant_gives_zero_gradient():
    x = T.dvector("x")
    val, g = _value_and_grad((consider_constant(T.exp(x)) * x).sum(), x, np.array([0.0, 1.0]))
    np.testing.assert_allclose(g, np.exp([0.0, 1.0]))
    np.testing.assert_allclose(val, np.exp(1.0))


def test_disconnected_grad_disconnects_its_input():
    x = T.dvector("x")
    y = disconnected_grad(x * 2)
    assert y.eval({x: np.array([1.0, 2.0])}).tolist() == [2.0, 4.0]
    with pytest.raises(DisconnectedInputError):
        T.grad(y.sum(), x)
    g = T.grad((y * x).sum(), x)
    np.testing.assert_allclose(g.eval({x: np.array([1.0, 2.0])}), [2.0, 4.0])


def test_undefined_grad_raises_null_type_grad_error():
    x = T.dvector("x")
    y = undefined_grad(x) * 3
    np.testing.assert_allclose(y.eval({x: np.array([1.0])}), [3.0])
    with pytest.raises(NullTypeGradError, match="undefined"):
        T.grad(y.sum(), x)


def test_grad_clip_clips_the_gradient_only():
    x = T.dvector("x")
    xv = np.array([1.0, 2.0, 3.0])
    val, g = _value_and_grad((grad_clip(x, -1.0, 2.5) * np.array([5.0, 0.5, -4.0])).sum(), x, xv)
    np.testing.assert_allclose(val, 5.0 + 1.0 - 12.0)
    np.testing.assert_allclose(g, [2.5, 0.5, -1.0])


def test_grad_clip_float32_stays_float32():
    x = T.fvector("x")
    g = T.grad(grad_clip(x * 10, -1.0, 1.0).sum(), x)
    assert g.dtype == "float32"


def test_grad_clip_rejects_lower_above_upper():
    with pytest.raises(ValueError, match="lower_bound 2.0 is greater than upper_bound 1.0"):
        grad_clip(T.dvector(), 2.0, 1.0)


def test_grad_scale_multiplies_the_gradient():
    x = T.dvector("x")
    val, g = _value_and_grad((grad_scale(x, -0.5) ** 2).sum(), x, np.array([1.0, 3.0]))
    np.testing.assert_allclose(val, 10.0)
    np.testing.assert_allclose(g, -0.5 * 2 * np.array([1.0, 3.0]))


def test_grad_scale_with_symbolic_multiplier_is_not_differentiated():
    x = T.dvector("x")
    m = T.dscalar("m")
    cost = grad_scale(x, m).sum()
    g = T.grad(cost, x)
    np.testing.assert_allclose(theano.function([x, m], g)(np.ones(2), 3.0), [3.0, 3.0])
    with pytest.raises(DisconnectedInputError):
        T.grad(cost, m)


def test_grad_scale_rejects_non_scalar_multiplier():
    with pytest.raises(TypeError, match="multiplier must be a scalar"):
        grad_scale(T.dvector(), np.ones(2))


def test_helpers_output_is_a_view_with_the_same_type():
    x = T.TensorType("float32", (None, 1))("x")
    for f in (zero_grad, consider_constant, disconnected_grad, undefined_grad):
        y = f(x)
        assert y.type == x.type
        assert y.owner.op.view_map == {0: [0]}
    xv = np.ones((2, 1), dtype="float32")
    res = theano.function([x], zero_grad(x))(xv)
    res[0, 0] = 5.0  # the function copies outputs that alias inputs
    assert xv[0, 0] == 1.0


def test_helpers_are_exported_by_nettrain_gradient_and_tensor():
    import nettrain.gradient as G

    for name in ("jacobian", "hessian", "zero_grad", "disconnected_grad", "grad_clip", "grad_scale",
                 "consider_constant", "undefined_grad", "grad", "Lop", "Rop"):  # fmt: skip
        assert callable(getattr(G, name))
    assert T.jacobian is G.jacobian and T.hessian is G.hessian
