"""Elementwise rewrites of ``rewriting/stabilize.py``: log-sigmoid, log1p, expm1 and logsumexp.

The rewritten graphs are accurate where the original overflows or rounds to 0; where the
original is accurate both agree.
"""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.compile.mode import Mode
from nettrain.testing import op_names

RNG = np.random.default_rng(11)
sigmoid = T.nnet.sigmoid


_ops = op_names


def _fired(f):
    return f.maker.fgraph.rewrite_log.counts()


def _both(inputs, output):
    return theano.function(inputs, output), theano.function(inputs, output, mode=Mode(optimizer=None))


def _softplus(x):
    return np.logaddexp(0.0, x)


# ------------------------------------------------------------ log of sigmoid
def test_log_sigmoid_becomes_minus_softplus_and_is_finite_for_large_negative_inputs():
    x = T.dvector("x")
    xv = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    f, ref = _both([x], T.log(sigmoid(x)))
    assert "Log" not in _ops(f) and "Softplus" in _ops(f)
    assert _fired(f)["local_log_sigmoid_to_softplus"] == 1
    np.testing.assert_allclose(f(xv), -_softplus(-xv), rtol=1e-12)
    np.testing.assert_allclose(f(xv[1:4]), ref(xv[1:4]), rtol=1e-12)
    assert np.isneginf(ref(xv)[0])  # the unrewritten graph underflows


@pytest.mark.parametrize("build", [lambda x: T.log(1 - sigmoid(x)), lambda x: T.log1p(-sigmoid(x))])
def test_log_one_minus_sigmoid_becomes_minus_softplus(build):
    x = T.dvector("x")
    xv = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    f, ref = _both([x], build(x))
    assert _ops(f).count("Softplus") == 1 and "Sigmoid" not in _ops(f)
    np.testing.assert_allclose(f(xv), -_softplus(xv), rtol=1e-12)
    np.testing.assert_allclose(f(xv[1:4]), ref(xv[1:4]), rtol=1e-9)


def test_log_sigmoid_in_float32_stays_float32():
    x = T.fvector("x")
    xv = np.array([-200.0, 0.5, 200.0], dtype="float32")
    f, _ = _both([x], T.log(sigmoid(x)))
    res = f(xv)
    assert res.dtype == np.float32
    np.testing.assert_allclose(res, -_softplus(-xv.astype("float64")), rtol=1e-6, atol=1e-30)


def test_log_of_a_scaled_sigmoid_is_not_rewritten():
    x = T.dvector("x")
    xv = RNG.normal(size=4)
    f, ref = _both([x], T.log(2 * sigmoid(x)))
    assert "Softplus" not in _ops(f)
    np.testing.assert_allclose(f(xv), ref(xv), rtol=1e-12)


def test_log_sigmoid_of_a_row_added_to_a_matrix_keeps_the_shape():
    r, m = T.drow("r"), T.dmatrix("m")
    rv, mv = RNG.normal(size=(1, 3)), RNG.normal(size=(2, 3))
    f, ref = _both([r, m], T.log(1 - sigmoid(r)) + m)
    np.testing.assert_allclose(f(rv, mv), ref(rv, mv), rtol=1e-12)
    assert f(rv, mv).shape == (2, 3)


# ------------------------------------------------------------ log1p and expm1
@pytest.mark.parametrize("build", [lambda x: T.log(1 + x), lambda x: T.log(x + 1), lambda x: T.log(1.0 + x)])
def test_log_of_one_plus_is_log1p_and_keeps_tiny_values(build):
    x = T.dvector("x")
    xv = np.array([1e-20, 0.0, 3.0, -0.5])
    f, ref = _both([x], build(x))
    assert _ops(f) == ["Log1p"]
    assert _fired(f)["local_log_one_plus_to_log1p"] == 1
    np.testing.assert_allclose(f(xv), np.log1p(xv), rtol=1e-15)
    assert ref(xv)[0] == 0.0  # 1 + 1e-20 rounds to 1


def test_log_of_one_plus_several_terms_is_log1p_of_their_sum():
    x, y = T.dvectors("x", "y")
    xv, yv = RNG.uniform(0, 1, 3), RNG.uniform(0, 1, 3)
    f, ref = _both([x, y], T.log(1 + x + y))
    assert "Log" not in _ops(f) and "Log1p" in _ops(f)
    np.testing.assert_allclose(f(xv, yv), ref(xv, yv), rtol=1e-12)


def test_log_of_two_plus_is_not_log1p():
    x = T.dvector("x")
    xv = RNG.uniform(0, 1, 3)
    f, ref = _both([x], T.log(2 + x))
    assert "Log1p" not in _ops(f)
    np.testing.assert_allclose(f(xv), np.log(2 + xv), rtol=1e-15)


def test_log1p_in_float32():
    x = T.fvector("x")
    xv = np.array([1e-20, 0.25], dtype="float32")
    f, _ = _both([x], T.log(1 + x))
    res = f(xv)
    assert res.dtype == np.float32
    np.testing.assert_allclose(res, np.log1p(xv), rtol=1e-6)


@pytest.mark.parametrize("build", [lambda x: T.exp(x) - 1, lambda x: T.exp(x) + -1, lambda x: -1 + T.exp(x)])
def test_exp_minus_one_is_expm1(build):
    x = T.dvector("x")
    xv = np.array([1e-20, 0.0, 3.0, -2.0])
    f, ref = _both([x], build(x))
    assert _ops(f) == ["Expm1"]
    assert _fired(f)["local_exp_minus_one_to_expm1"] == 1
    np.testing.assert_allclose(f(xv), np.expm1(xv), rtol=1e-15)
    assert ref(xv)[0] == 0.0


def test_exp_minus_two_is_not_expm1():
    x = T.dvector("x")
    xv = RNG.normal(size=3)
    f, _ = _both([x], T.exp(x) - 2)
    assert "Expm1" not in _ops(f)
    # exp may be the C backend's vector exp (a few ulp); exp(x) - 2 cancels near log(2)
    np.testing.assert_allclose(f(xv), np.exp(xv) - 2, rtol=1e-13, atol=1e-14)


def test_exp_minus_a_matrix_of_ones_still_broadcasts():
    r = T.drow("r")
    rv = RNG.normal(size=(1, 3))
    f, ref = _both([r], T.exp(r) - T.constant(np.ones((2, 3))))
    np.testing.assert_allclose(f(rv), np.broadcast_to(np.expm1(rv), (2, 3)), rtol=1e-15)
    assert ref(rv).shape == (2, 3)


# ------------------------------------------------------------ logsumexp
def _np_logsumexp(v, axis, keepdims=False):
    m = np.max(v, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    with np.errstate(divide="ignore"):
        r = np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


def test_logsumexp_does_not_overflow():
    m = T.dmatrix("m")
    mv = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [0.0, 1.0]])
    f, ref = _both([m], T.log(T.sum(T.exp(m), axis=1)))
    np.testing.assert_allclose(f(mv), [1000 + np.log(2), -np.inf, np.log(1 + np.e)], rtol=1e-12)
    assert np.isinf(ref(mv)[0])
    assert "local_logsumexp" in _fired(f)


@pytest.mark.parametrize("axis, keepdims", [(0, False), (1, True), (None, False), ((0, 1), True)])
def test_logsumexp_axes_and_keepdims(axis, keepdims):
    m = T.dmatrix("m")
    mv = RNG.normal(size=(2, 3)) * 50 + 1000  # exp overflows unless stabilized
    f, _ = _both([m], T.log(T.sum(T.exp(m), axis=axis, keepdims=keepdims)))
    ax = (0, 1) if axis is None else axis
    np.testing.assert_allclose(f(mv), _np_logsumexp(mv, ax, keepdims), rtol=1e-12)


def test_logsumexp_with_plus_infinity_stays_infinite():
    m = T.dmatrix("m")
    mv = np.array([[np.inf, 1.0], [0.0, 1.0]])
    f, ref = _both([m], T.log(T.sum(T.exp(m), axis=1)))
    np.testing.assert_allclose(f(mv), ref(mv), rtol=1e-12)
