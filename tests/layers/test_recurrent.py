"""SimpleRNN, LSTM and GRU against NumPy step loops; batch_first; return_sequences; gradients."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L
from nettrain.testing import verify_grad

RNG = np.random.default_rng(0)


def sig(z):
    return 1 / (1 + np.exp(-z))


def rnn_ref(layer, x):
    W, U, b = (v.get_value() for v in (layer.W, layer.U, layer.b))
    h = np.zeros((x.shape[1], layer.units))
    out = []
    for xt in x:
        h = np.tanh(xt @ W + h @ U + b)
        out.append(h)
    return np.stack(out)


def lstm_ref(layer, x):
    W, U, b = (v.get_value() for v in (layer.W, layer.U, layer.b))
    n = layer.units
    h = c = np.zeros((x.shape[1], n))
    out = []
    for xt in x:
        z = xt @ W + h @ U + b
        i, f, g, o = sig(z[:, :n]), sig(z[:, n : 2 * n]), np.tanh(z[:, 2 * n : 3 * n]), sig(z[:, 3 * n :])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out)


def gru_ref(layer, x):
    W, U, b = (v.get_value() for v in (layer.W, layer.U, layer.b))
    n = layer.units
    h = np.zeros((x.shape[1], n))
    out = []
    for xt in x:
        xw = xt @ W + b
        z = sig(xw[:, :n] + h @ U[:, :n])
        r = sig(xw[:, n : 2 * n] + h @ U[:, n : 2 * n])
        cand = np.tanh(xw[:, 2 * n :] + (r * h) @ U[:, 2 * n :])
        h = z * h + (1 - z) * cand
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("cls, ref", [(L.SimpleRNN, rnn_ref), (L.LSTM, lstm_ref), (L.GRU, gru_ref)])
def test_recurrent_layer_matches_numpy_loop(cls, ref):
    layer = cls(3, in_units=2, return_sequences=True, seed=0, b_init=0.1)
    x = T.tensor3("x")
    xv = RNG.normal(size=(5, 4, 2))
    seq = theano.function([x], layer(x))(xv)
    np.testing.assert_allclose(seq, ref(layer, xv), rtol=1e-10, atol=1e-12)
    last = cls(3, in_units=2, seed=0, b_init=0.1)
    np.testing.assert_allclose(theano.function([x], last(x))(xv), seq[-1], rtol=1e-10, atol=1e-12)


def test_lstm_forget_bias_starts_at_one_and_survives_initialize():
    layer = L.LSTM(2, in_units=3)
    np.testing.assert_array_equal(layer.b.get_value(), [0, 0, 1, 1, 0, 0, 0, 0])
    layer.initialize(1)
    np.testing.assert_array_equal(layer.b.get_value(), [0, 0, 1, 1, 0, 0, 0, 0])
    assert list(layer.named_params()) == ["W", "U", "b"]


def test_batch_first_transposes_input_and_output():
    tm = L.GRU(3, in_units=2, return_sequences=True, seed=4)
    bf = L.GRU(3, in_units=2, return_sequences=True, batch_first=True, seed=4)
    x = T.tensor3("x")
    xv = RNG.normal(size=(5, 4, 2))
    a = theano.function([x], tm(x))(xv)
    b = theano.function([x], bf(x))(xv.transpose(1, 0, 2))
    np.testing.assert_allclose(b, a.transpose(1, 0, 2))


def test_lazy_in_units_and_float32():
    layer = L.LSTM(3)
    x = T.tensor("float32", shape=(None, None, 4))
    y = layer(x)
    assert layer.W.get_value().shape == (4, 12) and layer.U.get_value().shape == (3, 12)
    assert y.type.dtype == "float32"
    out = theano.function([x], y)(np.ones((2, 3, 4), dtype="float32"))
    assert out.dtype == np.float32 and out.shape == (3, 3)


@pytest.mark.parametrize("cls", [L.SimpleRNN, L.LSTM, L.GRU])
def test_recurrent_gradient_by_finite_differences(cls):
    layer = cls(2, in_units=2, seed=1)
    verify_grad(lambda v: layer(v), [RNG.normal(size=(3, 2, 2))])


def test_recurrent_rejects_non_3d_input():
    with pytest.raises(ValueError, match="3-d input"):
        L.SimpleRNN(2, in_units=2)(T.dmatrix())
