"""Stabilizing rewrites for softmax / crossentropy / sigmoid: finite values and gradients at extreme logits."""

import numpy as np
import pytest
from scipy.special import expit

import nettrain as theano
import nettrain.tensor as T
from nettrain.tensor.nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx
from nettrain.tensor.nnet.softmax_ops import LogSoftmax, Softmax

NO_REWRITE = theano.Mode(optimizer=None)
MODES = ["FAST_RUN", "FAST_COMPILE"]


def _ops(f):
    return [type(n.op).__name__ for n in f.maker.fgraph.toposort()]


def _np_log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("mode", MODES)
def test_log_softmax_of_huge_logits_is_finite_with_finite_gradient(mode):
    x = T.dmatrix("x")
    w = T.dmatrix("w")
    cost = (T.log(T.nnet.softmax(x)) * w).sum()
    f = theano.function([x, w], [T.log(T.nnet.softmax(x)), T.grad(cost, x)], mode=mode)
    xv = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 3.0]])
    wv = np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 1.0]])
    val, g = f(xv, wv)
    np.testing.assert_allclose(val, _np_log_softmax(xv))
    sm = np.exp(_np_log_softmax(xv))
    np.testing.assert_allclose(g, wv - sm * wv.sum(axis=1, keepdims=True))
    assert "LogSoftmax" in _ops(f)


def test_log_softmax_rewrite_before_after():
    x = T.dmatrix("x")
    f = theano.function([x], T.log(T.nnet.softmax(x)))
    nodes = f.maker.fgraph.toposort()
    assert any(isinstance(n.op, LogSoftmax) for n in nodes)
    assert not any(isinstance(n.op, Softmax) for n in nodes)
    assert f.maker.fgraph.rewrite_log.counts().get("local_log_softmax_to_logsoftmax") == 1


def test_without_rewrites_log_softmax_underflows():
    x = T.dmatrix("x")
    f = theano.function([x], T.log(T.nnet.softmax(x)), mode=NO_REWRITE)
    assert np.isneginf(f(np.array([[1000.0, -1000.0]]))).any()


@pytest.mark.parametrize("mode", MODES)
def test_softmax_crossentropy_integer_targets_fuse_and_stay_finite(mode):
    x = T.dmatrix("x")
    y = T.ivector("y")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    f = theano.function([x, y], [cost, T.grad(cost, x)], mode=mode)
    xv = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 3.0], [0.1, 0.2, 0.3]])
    yv = np.array([1, 0, 2], dtype="int32")
    c, g = f(xv, yv)
    ls = _np_log_softmax(xv)
    np.testing.assert_allclose(c, -ls[np.arange(3), yv].mean())
    onehot = np.eye(3)[yv]
    np.testing.assert_allclose(g, (np.exp(ls) - onehot) / 3, atol=1e-15)
    ops = _ops(f)
    assert "CrossentropySoftmax1Hot" in ops and "CrossentropySoftmax1HotDx" in ops
    assert "CrossentropyCategorical1Hot" not in ops and "SoftmaxGrad" not in ops


def test_fused_crossentropy_ops_match_numpy_and_check_indices():
    x = T.dmatrix("x")
    y = T.ivector("y")
    g = T.dvector("g")
    f = theano.function([x, y, g], [CrossentropySoftmax1Hot()(x, y),
                                    CrossentropySoftmax1HotDx()(g, T.nnet.softmax(x), y)])  # fmt: skip
    xv = np.random.default_rng(0).normal(size=(4, 5))
    yv = np.array([0, 4, 2, 2], dtype="int32")
    gv = np.array([1.0, 2.0, 0.5, -1.0])
    nll, dx = f(xv, yv, gv)
    ls = _np_log_softmax(xv)
    np.testing.assert_allclose(nll, -ls[np.arange(4), yv])
    np.testing.assert_allclose(dx, gv[:, None] * (np.exp(ls) - np.eye(5)[yv]))
    with pytest.raises(IndexError, match="out of range"):
        f(xv, np.array([0, 5, 1, 1], dtype="int32"), gv)


@pytest.mark.parametrize("mode", MODES)
def test_onehot_matrix_crossentropy_of_softmax_is_stable(mode):
    x = T.dmatrix("x")
    t = T.dmatrix("t")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(x), t).sum()
    f = theano.function([x, t], [cost, T.grad(cost, x)], mode=mode)
    xv = np.array([[1000.0, -1000.0, 0.0]])
    c, g = f(xv, np.array([[0.0, 1.0, 0.0]]))
    assert c == pytest.approx(2000.0)
    np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_binary_crossentropy_of_sigmoid_with_logits_of_100(mode, dtype):
    x = T.vector("x", dtype=dtype)
    t = T.vector("t", dtype=dtype)
    cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t).sum()
    f = theano.function([x, t], [cost, T.grad(cost, x)], mode=mode)
    xv = np.array([-100.0, 100.0, 0.0, 100.0, -100.0], dtype=dtype)
    tv = np.array([1.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype)
    c, g = f(xv, tv)
    want = np.logaddexp(0, xv.astype("float64")) - xv * tv  # softplus(x) - x t
    np.testing.assert_allclose(c, want.sum(), rtol=1e-6)
    p = 1 / (1 + np.exp(-xv.astype("float64")))
    np.testing.assert_allclose(g, p - tv, atol=1e-6)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("mode", MODES)
def test_log_sigmoid_and_log_one_minus_sigmoid_at_extremes(mode):
    x = T.dvector("x")
    c1 = T.log(T.nnet.sigmoid(x)).sum()
    c2 = T.log(1 - T.nnet.sigmoid(x)).sum()
    f = theano.function([x], [c1, c2, T.grad(c1, x), T.grad(c2, x)], mode=mode)
    xv = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0])
    v1, v2, g1, g2 = f(xv)
    np.testing.assert_allclose(v1, -np.logaddexp(0, -xv).sum())
    np.testing.assert_allclose(v2, -np.logaddexp(0, xv).sum())
    p = expit(xv)
    np.testing.assert_allclose(g1, expit(-xv))  # 1 - p, exactly: 3.7e-44 at x = 100, not 0
    np.testing.assert_allclose(g2, -p)


@pytest.mark.parametrize("mode", MODES)
def test_log_of_one_plus_tiny_is_accurate_with_gradient(mode):
    x = T.dvector("x")
    f = theano.function([x], [T.log(1 + x), T.grad(T.log(1 + x).sum(), x)], mode=mode)
    v, g = f(np.array([1e-20, 1e-10]))
    np.testing.assert_allclose(v, np.log1p([1e-20, 1e-10]), rtol=1e-14)
    np.testing.assert_allclose(g, [1.0, 1.0], rtol=1e-9)


def test_exp_over_sum_of_exp_becomes_softmax():
    x = T.dmatrix("x")
    f = theano.function([x], T.exp(x) / T.exp(x).sum(axis=1, keepdims=True))
    assert _ops(f) == ["Softmax"]
    np.testing.assert_allclose(f(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])
    g = theano.function([x], T.exp(x) / T.exp(x).sum(axis=0, keepdims=True))
    assert "Softmax" in _ops(g)
    h = theano.function([x], T.exp(x) / T.exp(x).sum())  # a total sum is not a softmax
    assert "Softmax" not in _ops(h)


def test_softmax_grad_rewrite_does_not_fire_for_other_gradients():
    x = T.dmatrix("x")
    w = T.dmatrix("w")
    cost = (T.nnet.softmax(x) * w).sum()
    f = theano.function([x, w], T.grad(cost, x))
    assert "SoftmaxGrad" in _ops(f)
    xv, wv = np.random.default_rng(1).normal(size=(2, 2, 3))
    ref = theano.function([x, w], T.grad(cost, x), mode=NO_REWRITE)
    np.testing.assert_allclose(f(xv, wv), ref(xv, wv))
