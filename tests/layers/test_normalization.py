"""BatchNorm (2-d and 4-d) and LayerNorm against NumPy; running statistics only through returned updates."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L
from nettrain.testing import verify_grad

RNG = np.random.default_rng(0)


def _bn_ref(x, axes, gamma, beta, eps):
    shape = [1] * x.ndim
    shape[1] = -1
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, mu, var


@pytest.mark.parametrize("shape, axes", [((6, 3), (0,)), ((4, 3, 2, 5), (0, 2, 3))])
def test_batchnorm_training_matches_numpy_and_updates_running_stats(shape, axes):
    bn = L.BatchNorm(3, momentum=0.8, epsilon=1e-3)
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    bn.gamma.set_value(gamma)
    bn.beta.set_value(beta)
    x = T.tensor("float64", shape=(None,) * len(shape))
    y, updates = bn.forward(x, training=True)
    assert set(updates) == {bn.running_mean, bn.running_var}
    f = theano.function([x], y, updates=updates)
    xv = RNG.normal(size=shape) * 2 + 1
    ref, mu, var = _bn_ref(xv, axes, gamma, beta, 1e-3)
    np.testing.assert_allclose(f(xv), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.get_value(), 0.2 * mu)
    np.testing.assert_allclose(bn.running_var.get_value(), 0.8 + 0.2 * var)


def test_batchnorm_inference_uses_running_stats_and_updates_nothing():
    bn = L.BatchNorm(2)
    bn.running_mean.set_value(np.array([1.0, -1.0]))
    bn.running_var.set_value(np.array([4.0, 0.25]))
    x = T.dmatrix("x")
    y, updates = bn.forward(x, training=False)
    assert updates == {}
    xv = RNG.normal(size=(3, 2))
    out = theano.function([x], y)(xv)
    np.testing.assert_allclose(out, (xv - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5))
    np.testing.assert_array_equal(bn.running_mean.get_value(), [1.0, -1.0])


def test_batchnorm_without_passing_updates_leaves_stats_alone():
    bn = L.BatchNorm(2)
    x = T.dmatrix("x")
    y, _ = bn.forward(x, training=True)
    theano.function([x], y)(RNG.normal(size=(4, 2)))
    np.testing.assert_array_equal(bn.running_mean.get_value(), [0.0, 0.0])


def test_batchnorm_float32_updates_stay_float32_and_lazy_features():
    bn = L.BatchNorm()
    x = T.tensor("float32", shape=(None, 3, None, None))
    y, updates = bn.forward(x, training=True)
    assert bn.running_mean.get_value().shape == (3,)
    assert y.type.dtype == "float32"
    assert all(v.type.dtype == "float32" for v in updates.values())


def test_batchnorm_gradient_by_finite_differences():
    bn = L.BatchNorm(3)
    bn.gamma.set_value(RNG.normal(size=3))
    verify_grad(lambda x: bn.forward(x, training=True)[0], [RNG.normal(size=(5, 3))])


def test_layernorm_matches_numpy_and_gradient():
    ln = L.LayerNorm(4)
    gamma, beta = RNG.normal(size=4), RNG.normal(size=4)
    ln.gamma.set_value(gamma)
    ln.beta.set_value(beta)
    x = T.tensor3("x")
    xv = RNG.normal(size=(2, 3, 4))
    mu, var = xv.mean(-1, keepdims=True), xv.var(-1, keepdims=True)
    ref = (xv - mu) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(ln(x).eval({x: xv}), ref, rtol=1e-10, atol=1e-12)
    verify_grad(lambda v: ln(v), [RNG.normal(size=(3, 4))])


def test_batchnorm_needs_feature_axis():
    with pytest.raises(ValueError, match="batch axis and a feature axis"):
        L.BatchNorm(2).forward(T.dvector())
