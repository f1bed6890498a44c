"""``Layer.save_weights`` / ``load_weights`` (plain HDF5, strict by default) and inference functions."""

import h5py
import numpy as np
import pytest

from nettrain import layers as L
from nettrain.inference import compile_predict, sample_text
from nettrain.train import IncompatibleCheckpointError, save_checkpoint


def model(seed=0, hidden=4):
    return L.Sequential([L.Dense(hidden, in_units=3, activation="relu"), L.BatchNorm(hidden),
                         L.Dense(2, in_units=hidden)], seed=seed)


def values(m):
    return {n: v.get_value() for n, v in m.named_params().items()}


def test_round_trip_through_a_plain_hdf5_file(tmp_path):
    a, b = model(0), model(1)
    a.named_params()["batchnorm0.running_var"].set_value(np.full(4, 3.0))
    path = a.save_weights(tmp_path / "w.h5")
    with h5py.File(path) as f:  # plain HDF5: one dataset per dotted name
        assert list(f["params"]) == list(a.named_params())
    report = b.load_weights(path)
    assert report == dict(loaded=list(a.named_params()), missing=[], unexpected=[], mismatched=[])
    for name, value in values(a).items():
        assert np.array_equal(values(b)[name], value), name


def test_loads_from_a_training_checkpoint_and_from_a_foreign_hdf5_file(tmp_path):
    a, b = model(0), model(1)
    save_checkpoint(tmp_path / "last.h5", params=values(a), optimizer={"adam.t": np.int64(3)})
    b.load_weights(tmp_path / "last.h5")
    assert np.array_equal(values(b)["dense0.W"], values(a)["dense0.W"])
    with h5py.File(tmp_path / "foreign.h5", "w") as f:  # written by someone else: no nettrain metadata
        for name, value in values(a).items():
            f.create_dataset("params/" + name, data=value * 2)
    b.load_weights(tmp_path / "foreign.h5")
    assert np.array_equal(values(b)["dense1.W"], 2 * values(a)["dense1.W"])


def test_strict_lists_every_mismatch_and_loads_nothing(tmp_path):
    path = model(0).save_weights(tmp_path / "w.h5")
    other = L.Sequential([L.Dense(5, in_units=3, activation="relu"), L.Dense(2, in_units=5), L.Dense(2, in_units=2)],
                         seed=3)
    before = values(other)
    with pytest.raises(IncompatibleCheckpointError) as exc:
        other.load_weights(path)
    msg = str(exc.value)
    assert "missing (in the model, not in the checkpoint): dense2.W, dense2.b" in msg
    assert "unexpected (in the checkpoint, not in the model): batchnorm0.gamma, batchnorm0.beta, " \
           "batchnorm0.running_mean, batchnorm0.running_var" in msg
    assert "mismatched: dense0.W: model (3, 5) float64, checkpoint (3, 4) float64" in msg
    assert "mismatched: dense1.W: model (5, 2) float64, checkpoint (4, 2) float64" in msg
    assert all(np.array_equal(values(other)[n], v) for n, v in before.items())  # nothing loaded
    report = other.load_weights(path, strict=False)
    assert report["loaded"] == ["dense1.b"] and report["missing"] == ["dense2.W", "dense2.b"]
    assert np.array_equal(values(other)["dense1.b"], values(model(0))["dense1.b"])


def test_unbuilt_lazy_model_says_to_build_it_first(tmp_path):
    path = model(0).save_weights(tmp_path / "w.h5")
    with pytest.raises(IncompatibleCheckpointError, match="has no parameters yet"):
        L.Sequential([L.Dense(4), L.Dense(2)]).load_weights(path)
    with pytest.raises(ValueError, match="no parameters yet"):
        L.Sequential([L.Dense(4)]).save_weights(tmp_path / "x.h5")
    with pytest.raises(Exception, match="weights file not found"):
        model(0).load_weights(tmp_path / "none.h5")


def test_predict_is_inference_mode_without_gradients():
    m = L.Sequential([L.Dense(6, in_units=3, activation="tanh"), L.Dropout(0.9), L.BatchNorm(6), L.Dense(2)],
                     seed=0)
    rng = np.random.default_rng(0)
    bn = m.layers[2]
    bn.running_mean.set_value(rng.normal(size=6))
    bn.running_var.set_value(rng.uniform(0.5, 2, size=6))
    x = rng.normal(size=(7, 3))
    predict = compile_predict(m, x, classifier=True, batch_size=3)
    p = {n: v.get_value() for n, v in m.named_params().items()}
    h = np.tanh(x @ p["dense0.W"] + p["dense0.b"])
    h = (h - p["batchnorm0.running_mean"]) / np.sqrt(p["batchnorm0.running_var"] + 1e-5)
    z = (h * p["batchnorm0.gamma"] + p["batchnorm0.beta"]) @ p["dense1.W"] + p["dense1.b"]
    want = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    out = predict(x)
    np.testing.assert_allclose(out["prob"], want, rtol=1e-12)
    assert np.array_equal(out["class"], want.argmax(1))
    assert np.array_equal(predict(x)["prob"], out["prob"])  # dropout off: deterministic
    assert np.array_equal(bn.running_mean.get_value(), p["batchnorm0.running_mean"])  # no state update
    ops = {type(node.op).__name__ for node in predict.fn.maker.fgraph.apply_nodes}
    assert not any("Grad" in op for op in ops), ops
    with pytest.raises(ValueError, match=r"inputs of shape \(n, 3\)"):
        predict(np.zeros((2, 4)))


def test_sample_text_continues_the_recurrent_state():
    vocab = list("ab")
    m = L.Sequential([L.Embedding(2, 3), L.SimpleRNN(4), L.Dense(2, in_units=4)], seed=0)
    m.layers[2].W.set_value(np.zeros((4, 2)))
    m.layers[2].b.set_value(np.array([0.0, 50.0]))  # always 'b'
    assert sample_text(m, vocab, 10, temperature=1.0, prime="a", seed=0) == "b" * 10
    with pytest.raises(ValueError, match="temperature"):
        sample_text(m, vocab, 3, temperature=-1)
    with pytest.raises(ValueError, match="starting with an Embedding"):
        sample_text(L.Sequential([L.Dense(2, in_units=2)]), vocab, 3)
