"""Dense and Embedding against NumPy; lazy input size; float32 stays float32."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L
from nettrain.testing import verify_grad

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("activation, ref", [
    (None, lambda z: z),
    ("relu", lambda z: np.maximum(z, 0)),
    ("tanh", np.tanh),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
])  # fmt: skip
def test_dense_matches_numpy(activation, ref):
    layer = L.Dense(4, activation=activation, in_units=3, seed=1, b_init=RNG.normal(size=4))
    x = T.dmatrix("x")
    xv = RNG.normal(size=(5, 3))
    out = theano.function([x], layer(x))(xv)
    np.testing.assert_allclose(out, ref(xv @ layer.W.get_value() + layer.b.get_value()), rtol=1e-10)


def test_dense_infers_in_units_from_static_shape_and_keeps_float32():
    layer = L.Dense(2)
    x = T.tensor("float32", shape=(None, 5))
    y = layer(x)
    assert layer.W.get_value().shape == (5, 2)
    assert layer.W.type.dtype == "float32" and y.type.dtype == "float32"
    assert y.type.shape == (None, 2)


def test_dense_without_static_shape_asks_for_in_units():
    with pytest.raises(ValueError, match="pass it explicitly"):
        L.Dense(2)(T.fmatrix())


def test_dense_rejects_wrong_input_size():
    with pytest.raises(ValueError, match="expects 3 input features"):
        L.Dense(2, in_units=3)(T.tensor("float64", shape=(None, 4)))


def test_dense_on_3d_input_applies_to_last_axis():
    layer = L.Dense(2, in_units=3, seed=0)
    x = T.tensor3("x")
    xv = RNG.normal(size=(4, 5, 3))
    out = theano.function([x], layer(x))(xv)
    np.testing.assert_allclose(out, xv @ layer.W.get_value() + layer.b.get_value())


def test_dense_gradient_by_finite_differences():
    layer = L.Dense(3, activation="tanh", in_units=2, seed=0)
    verify_grad(lambda x: layer(x), [RNG.normal(size=(4, 2))])


def test_dense_without_bias():
    layer = L.Dense(2, in_units=2, b_init=None)
    assert list(layer.named_params()) == ["W"]


def test_embedding_matches_numpy_indexing_and_gradient():
    emb = L.Embedding(6, 3, seed=0)
    i = T.imatrix("i")
    iv = np.array([[0, 5], [2, 2]], dtype="int32")
    out = theano.function([i], emb(i))(iv)
    np.testing.assert_array_equal(out, emb.W.get_value()[iv])
    g = theano.function([i], T.grad(emb(i).sum(), emb.W))(iv)
    np.testing.assert_array_equal(g[:, 0], [1, 0, 2, 0, 0, 1])


def test_embedding_rejects_float_indices():
    with pytest.raises(TypeError, match="integer indices"):
        L.Embedding(3, 2)(T.dmatrix())
