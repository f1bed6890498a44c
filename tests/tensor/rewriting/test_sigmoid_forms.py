"""Hand-written logistic forms stay finite: values and gradients at |z| up to 1e3, float32 and float64.

Every form is compared with float64 NumPy (computed stably); where the exact value is finite the
compiled one must be finite too.  The Python and C backends are both covered by CI (the suite runs
once with the default C linker and once with ``NETTRAIN_FLAGS=linker=py``).
"""

import numpy as np
import pytest
from scipy.special import expit

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import op_names

Z = np.array([-1000.0, -745.0, -100.0, -30.0, -1.0, 0.0, 0.5, 30.0, 100.0, 745.0, 1000.0])
DTYPES = ["float32", "float64"]
sigmoid = T.nnet.sigmoid


def _softplus(z):
    return np.logaddexp(0.0, z)


# name: (expression of z, value of z, derivative of z), the last two in float64
FORMS = {
    "1/(1+exp(-z))": (lambda z: 1 / (1 + T.exp(-z)), expit, lambda z: expit(z) * expit(-z)),
    "exp(z)/(1+exp(z))": (lambda z: T.exp(z) / (1 + T.exp(z)), expit, lambda z: expit(z) * expit(-z)),
    "(1+exp(-z))**-1": (lambda z: (1 + T.exp(-z)) ** -1, expit, lambda z: expit(z) * expit(-z)),
    "1-sigmoid(z)": (lambda z: 1 - sigmoid(z), lambda z: expit(-z), lambda z: -expit(z) * expit(-z)),
    "sigmoid(-z)": (lambda z: sigmoid(-z), lambda z: expit(-z), lambda z: -expit(z) * expit(-z)),
    "1-1/(1+exp(-z))": (lambda z: 1 - 1 / (1 + T.exp(-z)), lambda z: expit(-z), lambda z: -expit(z) * expit(-z)),
    "log(sigmoid(z))": (lambda z: T.log(sigmoid(z)), lambda z: -_softplus(-z), lambda z: expit(-z)),
    "log(1-sigmoid(z))": (lambda z: T.log(1 - sigmoid(z)), lambda z: -_softplus(z), lambda z: -expit(z)),
    "log(sigmoid(-z))": (lambda z: T.log(sigmoid(-z)), lambda z: -_softplus(z), lambda z: -expit(z)),
    "log(1/(1+exp(-z)))": (lambda z: T.log(1 / (1 + T.exp(-z))), lambda z: -_softplus(-z), lambda z: expit(-z)),
    "log(1-1/(1+exp(-z)))": (lambda z: T.log(1 - 1 / (1 + T.exp(-z))), lambda z: -_softplus(z), lambda z: -expit(z)),
    "log(exp(z)/(1+exp(z)))": (
        lambda z: T.log(T.exp(z) / (1 + T.exp(z))),
        lambda z: -_softplus(-z),
        lambda z: expit(-z),
    ),
    "log((1+exp(-z))**-1)": (lambda z: T.log((1 + T.exp(-z)) ** -1), lambda z: -_softplus(-z), lambda z: expit(-z)),
    "log(1+exp(z))": (lambda z: T.log(1 + T.exp(z)), _softplus, expit),
    "log1p(exp(z))": (lambda z: T.log1p(T.exp(z)), _softplus, expit),
    "log(exp(z)+exp(-z))": (
        lambda z: T.log(T.exp(z) + T.exp(-z)),
        lambda z: np.logaddexp(z, -z),
        lambda z: expit(2 * z) - expit(-2 * z),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(FORMS))
def test_form_and_its_gradient_are_finite_and_exact_at_extreme_inputs(name, dtype):
    build, value, deriv = FORMS[name]
    z = T.vector("z", dtype=dtype)
    y = build(z)
    f = theano.function([z], [y, T.grad(y.sum(), z)])
    zv = Z.astype(dtype)
    got, g = f(zv)
    assert got.dtype == dtype and g.dtype == dtype
    want, gwant = value(Z), deriv(Z)
    tiny = np.finfo(dtype).tiny  # below it float32 has subnormals only
    rtol = 1e-5 if dtype == "float32" else 1e-10
    assert np.all(np.isfinite(got[np.isfinite(want)])), got
    assert np.all(np.isfinite(g)), g
    np.testing.assert_allclose(got, want.astype(dtype), rtol=rtol, atol=tiny)
    np.testing.assert_allclose(g, gwant, rtol=rtol, atol=tiny)
    # nothing that overflows is left: exp only appears inside the stable forms (shifted log-sum-exp)
    assert "Second" not in op_names(f)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sum_of_two_exps_is_logaddexp_with_sigmoid_gradients(dtype):
    a, b = T.vector("a", dtype=dtype), T.vector("b", dtype=dtype)
    y = T.log(T.exp(a) + T.exp(b))
    ga, gb = T.grad(y.sum(), [a, b])
    f = theano.function([a, b], [y, ga, gb])
    av = np.array([1000.0, -1000.0, 999.0, 0.0, -5.0, np.inf, -np.inf], dtype=dtype)
    bv = np.array([1000.0, -1000.0, 1000.0, 30.0, -4.0, 0.0, -np.inf], dtype=dtype)
    with np.errstate(invalid="ignore"):
        y_want = np.logaddexp(av.astype("float64"), bv.astype("float64"))
    got, gav, gbv = f(av, bv)
    np.testing.assert_allclose(got, y_want, rtol=1e-6 if dtype == "float32" else 1e-12)
    fin = np.isfinite(av) & np.isfinite(bv)
    d = av[fin].astype("float64") - bv[fin]
    np.testing.assert_allclose(gav[fin], expit(d), rtol=1e-6)
    np.testing.assert_allclose(gbv[fin], expit(-d), rtol=1e-6)


def test_log_sum_of_three_exps_is_a_shifted_logsumexp():
    a, b, c = T.dvectors("a", "b", "c")
    y = T.log(T.exp(a) + T.exp(b) + T.exp(c))
    f = theano.function([a, b, c], [y] + T.grad(y.sum(), [a, b, c]))
    av, bv, cv = np.array([1000.0, -1000.0, 1.0]), np.array([999.0, -1001.0, 2.0]), np.array([0.0, -1002.0, 3.0])
    got, ga, gb, gc = f(av, bv, cv)
    stack = np.stack([av, bv, cv])
    lse = np.logaddexp(np.logaddexp(av, bv), cv)
    np.testing.assert_allclose(got, lse, rtol=1e-12)
    for g, x in zip((ga, gb, gc), stack):
        np.testing.assert_allclose(g, np.exp(x - lse), rtol=1e-12)


def test_hand_written_sigmoid_becomes_one_sigmoid_node():
    z = T.dvector("z")
    for y in (1 / (1 + T.exp(-z)), T.exp(z) / (1 + T.exp(z)), (1 + T.exp(-z)) ** -1):
        f = theano.function([z], y, mode=theano.Mode(linker="py"))
        names = op_names(f)
        assert names.count("Sigmoid") == 1 and "Exp" not in names, names


def test_scaled_hand_written_sigmoid_keeps_its_scale():
    z = T.dvector("z")
    f = theano.function([z], 3 / (1 + T.exp(-z)))
    np.testing.assert_allclose(f(Z), 3 * expit(Z), rtol=1e-12, atol=1e-300)


def test_exp_over_one_plus_exp_of_a_different_argument_is_not_a_sigmoid():
    z, u = T.dvectors("z", "u")
    f = theano.function([z, u], T.exp(u) / (1 + T.exp(z)))
    zv, uv = np.array([-2.0, 0.0, 3.0]), np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(f(zv, uv), np.exp(uv) * expit(-zv), rtol=1e-12)


def test_gradient_of_cross_entropy_of_hand_written_sigmoid_is_p_minus_y():
    z, y = T.dvectors("z", "y")
    p = 1 / (1 + T.exp(-z))
    cost = (-y * T.log(p) - (1 - y) * T.log(1 - p)).sum()
    f = theano.function([z, y], [cost, T.grad(cost, z)])
    zv = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    yv = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    c, g = f(zv, yv)
    np.testing.assert_allclose(c, (_softplus(zv) - yv * zv).sum(), rtol=1e-12)
    # p - y, without cancellation: -sigmoid(-z) where y = 1 (-4.2e-18 at z = 40, not 0)
    np.testing.assert_allclose(g, np.where(yv == 1, -expit(-zv), expit(zv)), rtol=1e-12, atol=1e-300)
    assert "Second" not in op_names(f)
