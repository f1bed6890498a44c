"""Losses, penalties and metrics against NumPy; stability on large logits; dtypes."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.testing import verify_grad

RNG = np.random.default_rng(0)


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_categorical_crossentropy_from_logits_with_indices_and_one_hot():
    z, y, t = T.dmatrix("z"), T.ivector("y"), T.dmatrix("t")
    zv = RNG.normal(size=(4, 3))
    yv = np.array([0, 2, 1, 2], dtype="int32")
    ref = -log_softmax(zv)[np.arange(4), yv]
    np.testing.assert_allclose(losses.categorical_crossentropy(z, y).eval({z: zv, y: yv}), ref.mean())
    np.testing.assert_allclose(losses.categorical_crossentropy(z, t, reduction="none").eval(
        {z: zv, t: np.eye(3)[yv]}), ref)  # fmt: skip
    np.testing.assert_allclose(losses.categorical_crossentropy(z, y, reduction="sum").eval({z: zv, y: yv}), ref.sum())


def test_categorical_crossentropy_from_probabilities():
    p, y = T.dmatrix("p"), T.ivector("y")
    pv = np.array([[0.2, 0.8], [0.6, 0.4]])
    out = losses.categorical_crossentropy(p, y, from_logits=False, reduction="none").eval({p: pv, y: [1, 1]})
    np.testing.assert_allclose(out, -np.log([0.8, 0.4]))


def test_crossentropies_are_finite_on_huge_logits_and_gradients_too():
    z, y = T.dmatrix("z"), T.ivector("y")
    loss = losses.categorical_crossentropy(z, y)
    f = theano.function([z, y], [loss, T.grad(loss, z)])
    val, g = f(np.array([[1000.0, -1000.0]]), np.array([1], dtype="int32"))
    assert np.isfinite(val) and np.isfinite(g).all()
    np.testing.assert_allclose(val, 2000.0)
    x, t = T.dvector("x"), T.dvector("t")
    b = losses.binary_crossentropy(x, t, reduction="none")
    np.testing.assert_allclose(b.eval({x: [800.0, -800.0], t: [0.0, 0.0]}), [800.0, 0.0])


def test_binary_crossentropy_matches_numpy_both_forms():
    x, t = T.dmatrix("x"), T.dmatrix("t")
    xv, tv = RNG.normal(size=(3, 4)), (RNG.random((3, 4)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-xv))
    ref = -(tv * np.log(p) + (1 - tv) * np.log(1 - p))
    np.testing.assert_allclose(losses.binary_crossentropy(x, t).eval({x: xv, t: tv}), ref.mean())
    np.testing.assert_allclose(losses.binary_crossentropy(x, t, from_logits=False, reduction="none").eval(
        {x: p, t: tv}), ref.mean(axis=1))  # fmt: skip


def test_mse_and_mae_match_numpy():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    av, bv = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    np.testing.assert_allclose(losses.mse(a, b).eval({a: av, b: bv}), ((av - bv) ** 2).mean())
    np.testing.assert_allclose(losses.mae(a, b, reduction="none").eval({a: av, b: bv}), np.abs(av - bv).mean(1))
    assert losses.l1 is losses.mae


def test_loss_gradients_by_finite_differences():
    yv = np.array([1, 0, 2])
    verify_grad(lambda z: losses.categorical_crossentropy(z, T.constant(yv)), [RNG.normal(size=(3, 3))])
    tv = np.array([1.0, 0.0, 1.0])
    verify_grad(lambda x: losses.binary_crossentropy(x, T.constant(tv)), [RNG.normal(size=3)])


def test_float32_losses_stay_float32():
    z, y, t = T.fmatrix("z"), T.ivector("y"), T.fmatrix("t")
    assert losses.categorical_crossentropy(z, y).type.dtype == "float32"
    assert losses.binary_crossentropy(z, t).type.dtype == "float32"
    assert losses.mse(z, t).type.dtype == "float32"
    assert metrics.accuracy(z, y).type.dtype == "float32"


def test_bad_inputs_are_clear_errors():
    with pytest.raises(TypeError, match="integer class indices"):
        losses.categorical_crossentropy(T.dmatrix(), T.dvector())
    with pytest.raises(ValueError, match="reduction must be"):
        losses.mse(T.dvector(), T.dvector(), reduction="avg")


def test_penalties_use_only_regularizable_params():
    model = L.Sequential([L.Dense(2, in_units=3, b_init=1.0), L.BatchNorm(2)])
    w = model[0].W.get_value()
    np.testing.assert_allclose(losses.l2_penalty(model).eval(), (w**2).sum())
    np.testing.assert_allclose(losses.l1_penalty(model.named_params()).eval(), np.abs(w).sum())
    np.testing.assert_allclose(losses.l2_penalty(model.params()).eval(), (w**2).sum())
    assert float(losses.l2_penalty([]).eval()) == 0.0


def test_accuracy_with_indices_and_one_hot():
    z, y, t = T.dmatrix("z"), T.ivector("y"), T.dmatrix("t")
    zv = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    yv = np.array([1, 1, 1], dtype="int32")
    np.testing.assert_allclose(metrics.accuracy(z, y).eval({z: zv, y: yv}), 2 / 3)
    np.testing.assert_allclose(metrics.accuracy(z, t).eval({z: zv, t: np.eye(2)[yv]}), 2 / 3)


def test_binary_accuracy_logits_and_probabilities():
    x, t = T.dvector("x"), T.dvector("t")
    np.testing.assert_allclose(metrics.binary_accuracy(x, t).eval({x: [-2.0, 0.5, 3.0], t: [0, 0, 1]}), 2 / 3)
    np.testing.assert_allclose(metrics.binary_accuracy(x, t, from_logits=False, threshold=0.7).eval(
        {x: [0.6, 0.8], t: [1, 1]}), 0.5)  # fmt: skip
