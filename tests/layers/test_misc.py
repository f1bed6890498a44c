"""Activation layers, Dropout, Flatten, Reshape, Lambda."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("layer, ref", [
    (L.ReLU(), lambda z: np.maximum(z, 0)),
    (L.Tanh(), np.tanh),
    (L.Sigmoid(), lambda z: 1 / (1 + np.exp(-z))),
    (L.ELU(), lambda z: np.where(z > 0, z, np.expm1(z))),
    (L.Softplus(), lambda z: np.log1p(np.exp(z))),
    (L.LeakyReLU(), lambda z: np.where(z > 0, z, 0.01 * z)),
    (L.LogSoftmax(), lambda z: z - np.log(np.exp(z).sum(-1, keepdims=True))),
    (L.Activation("linear"), lambda z: z),
])  # fmt: skip
def test_activation_layers_match_numpy(layer, ref):
    x = T.dmatrix("x")
    xv = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(theano.function([x], layer(x))(xv), ref(xv), rtol=1e-10, atol=1e-12)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        L.Activation("swishy")


def test_dropout_is_identity_without_training():
    x = T.dmatrix("x")
    assert L.Dropout(0.5)(x) is x


def test_dropout_masks_and_rescales_with_fresh_masks_each_call():
    x = T.dmatrix("x")
    drop = L.Dropout(0.25, seed=3)
    f = theano.function([x], drop(x, training=True))
    ones = np.ones((200, 50))
    a, b = f(ones), f(ones)
    assert set(np.unique(a)) <= {0.0, 1 / 0.75}
    assert abs((a == 0).mean() - 0.25) < 0.02
    assert not np.array_equal(a, b)


def test_dropout_same_seed_same_masks_and_state_is_named():
    def masks(seed):
        model = L.Sequential([L.Dropout(0.5)], seed=seed)
        x = T.dmatrix("x")
        f = theano.function([x], model(x, training=True))
        return f(np.ones((4, 5))), f(np.ones((4, 5)))

    a, b = masks(11), masks(11)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    model = L.Sequential([L.Dropout(0.5, seed=0)])
    y = model(T.dmatrix(), training=True)
    names = {v.name for v in theano.graph.basic.graph_inputs([y]) if v.name and v.name.startswith("rng.")}
    assert names == {"rng.dropout0"}


def test_dropout_float32_stays_float32():
    x = T.fmatrix("x")
    y = L.Dropout(0.5, seed=0)(x, training=True)
    assert y.type.dtype == "float32"


def test_dropout_rejects_bad_rate():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        L.Dropout(1.0)


def test_flatten_and_reshape_match_numpy():
    x = T.tensor4("x")
    xv = RNG.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(L.Flatten()(x).eval({x: xv}), xv.reshape(2, -1))
    np.testing.assert_array_equal(L.Reshape((4, -1))(x).eval({x: xv}), xv.reshape(2, 4, -1))
    with pytest.raises(ValueError, match="at most one -1"):
        L.Reshape((-1, -1))


def test_lambda_composes_functions_in_sequential():
    model = L.Sequential([L.Lambda(lambda x: 2 * x), L.Activation("relu")])
    x = T.dvector("x")
    np.testing.assert_array_equal(model(x).eval({x: np.array([-1.0, 3.0])}), [0.0, 6.0])
