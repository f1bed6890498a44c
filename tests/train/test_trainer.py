"""The Trainer through its Python API: exact resume, gradient accumulation, schedules, evaluation, logging."""

import h5py
import numpy as np
import pytest

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import SGD, Adam
from nettrain.schedules import StepDecay
from nettrain.train import (
    ArrayDataset,
    Hook,
    IncompatibleCheckpointError,
    Trainer,
    load_checkpoint,
    read_scalars,
)


def data(n=80, seed=123):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def make(out_dir=None, hidden=8, dropout=0.25, opt=None, epochs=3, **kw):
    x, y = data()
    model = L.Sequential([L.Dense(hidden, activation="tanh"), L.Dropout(dropout), L.Dense(2)], seed=0)
    kw.setdefault("val", (x[64:], y[64:]))
    return Trainer(model, losses.categorical_crossentropy, opt or Adam(0.01), (x[:64], y[:64]),
                   metrics={"acc": metrics.accuracy}, epochs=epochs, batch_size=10, seed=1, out_dir=out_dir,
                   verbose=False, **kw)


class InterruptAt(Hook):
    """Simulates Ctrl-C after the given number of batches."""

    def __init__(self, batches):
        self.left = batches

    def on_batch_end(self, trainer, logs):
        self.left -= 1
        if self.left == 0:
            trainer._interrupted = True


def losses_of(history):
    return [(h["epoch"], h["step"], h["loss"], h["acc"], h["val_loss"]) for h in history]


@pytest.mark.parametrize("grad_accum", [1, 3])
def test_resume_mid_epoch_gives_bit_identical_parameters_and_losses(tmp_path, grad_accum):
    straight = make(tmp_path / "a", grad_accum=grad_accum, log_every=2)
    straight.fit()
    # 7 batches an epoch: interrupted in the middle of epoch 2
    first = make(tmp_path / "b", grad_accum=grad_accum, log_every=2, hooks=[InterruptAt(11)])
    assert first.fit()["status"] == "interrupted"
    ck = load_checkpoint(tmp_path / "b" / "last.h5")
    assert ck.counters["epoch"] == 1 and ck.counters["batch_in_epoch"] == 4 and ck.data_state["index"] == 40
    assert ck.counters["micro"] == (4 % 3 if grad_accum == 3 else 0)  # accumulation restarts each epoch
    resumed = make(tmp_path / "b", grad_accum=grad_accum, log_every=2)
    assert resumed.fit(resume=tmp_path / "b" / "last.h5")["status"] == "completed"
    for name, value in straight.get_params().items():
        assert np.array_equal(value, resumed.get_params()[name]), name
    assert losses_of(straight.history) == losses_of(resumed.history)
    a, b = read_scalars(tmp_path / "a"), read_scalars(tmp_path / "b")
    for tag in ("train/loss", "train/acc", "val/loss", "train/batch_loss"):
        assert a[tag] == b[tag], tag


def test_resumed_run_continues_the_optimizer_and_dropout_streams(tmp_path):
    t = make(tmp_path, epochs=1)
    t.fit()
    ck = load_checkpoint(tmp_path / "last.h5")
    assert int(ck.optimizer["adam.iterations"]) == 7
    assert "rng.dropout0" in ck.rng and isinstance(ck.rng["rng.dropout0"], np.random.Generator)
    assert set(ck.hooks) == {"ModelCheckpoint"}
    with h5py.File(tmp_path / "last.h5", "r") as f:  # plain h5py reads it
        assert sorted(f["params"]) == ["dense0.W", "dense0.b", "dense1.W", "dense1.b"]
        assert f["params/dense0.W"].dtype == np.float32


def test_gradient_accumulation_matches_one_big_batch():
    x, y = data(64)

    def run(batch_size, accum):
        model = L.Sequential([L.Dense(3, activation="tanh"), L.Dense(2)], seed=0)
        t = Trainer(model, losses.categorical_crossentropy, SGD(0.5), (x, y), epochs=2, batch_size=batch_size,
                    seed=3, verbose=False, grad_accum=accum)
        t.fit()
        return t

    big, accumulated = run(32, 1), run(16, 2)
    assert big.step == accumulated.step == 4
    for name, value in big.get_params().items():
        np.testing.assert_allclose(accumulated.get_params()[name], value, rtol=1e-5, atol=1e-6)


def test_partial_accumulation_at_epoch_end_still_steps():
    t = make(grad_accum=4, epochs=1, val=None)  # 7 batches: steps after 4 and after the last 3
    t.fit()
    assert t.step == 2 and t.micro == 0


def test_schedule_sets_the_learning_rate_each_epoch():
    t = make(opt=SGD(0.1), schedule=StepDecay(0.1, factor=0.5, every=1), epochs=3)
    t.fit()
    assert [h["lr"] for h in t.history] == pytest.approx([0.1, 0.05, 0.025])


def test_evaluate_matches_numpy():
    x, y = data(30)
    t = make(val=None, epochs=1)
    t.fit()
    p = t.get_params()
    h = np.tanh(x @ p["dense0.W"] + p["dense0.b"])
    z = (h @ p["dense1.W"] + p["dense1.b"]).astype(np.float64)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    got = t.evaluate((x, y), batch_size=7)
    np.testing.assert_allclose(got["loss"], -logp[np.arange(30), y].mean(), rtol=1e-5)
    np.testing.assert_allclose(got["acc"], (z.argmax(1) == y).mean(), rtol=1e-6)
    assert t.evaluate(ArrayDataset(x, y)) == pytest.approx(got)


def test_tensorboard_scalars_have_the_step_of_each_epoch_end(tmp_path):
    t = make(tmp_path, epochs=2, log_every=2)
    t.fit()
    s = read_scalars(tmp_path)
    assert [step for step, _ in s["train/loss"]] == [7, 14]
    assert [step for step, _ in s["val/acc"]] == [7, 14]
    assert [step for step, _ in s["train/batch_loss"]] == [2, 4, 6, 8, 10, 12, 14]
    assert s["train/lr"][0][1] == pytest.approx(0.01)
    assert "train/samples_per_sec" in s
    assert (tmp_path / "config.json").exists()


def test_loading_a_checkpoint_of_another_architecture_lists_every_mismatch(tmp_path):
    make(tmp_path, epochs=1).fit()
    other = make(hidden=5)
    with pytest.raises(IncompatibleCheckpointError) as info:
        other.load_checkpoint(tmp_path / "last.h5")
    text = str(info.value)
    for name in ("dense0.W", "dense0.b", "dense1.W", "adam.m.dense0.W", "adam.v.dense1.W"):
        assert name in text
    assert {m[0] for m in info.value.mismatched} >= {"dense0.W", "dense0.b", "dense1.W"}


def test_unknown_setting_and_bad_loss_are_rejected():
    with pytest.raises(TypeError, match="unknown settings \\['grad_acum'\\]"):
        make(grad_acum=2)
    x, y = data()
    t = Trainer(L.Dense(2, seed=0), lambda out, y: losses.categorical_crossentropy(out, y, reduction="none"),
                SGD(0.1), (x, y), verbose=False)
    with pytest.raises(ValueError, match="the loss must be a scalar"):
        t.fit()


class CrashAt(Hook):
    order = 200

    def __init__(self, batches):
        self.left = batches

    def on_batch_end(self, trainer, logs):
        self.left -= 1
        if self.left == 0:
            raise RuntimeError("simulated crash")


def test_after_a_crash_the_step_checkpoint_resumes_exactly_and_purges_later_points(tmp_path):
    settings = dict(log_every=1, checkpoint_every=0, checkpoint_every_steps=5)
    straight = make(tmp_path / "a", **settings)
    straight.fit()
    with pytest.raises(RuntimeError, match="simulated crash"):
        make(tmp_path / "b", hooks=[CrashAt(13)], **settings).fit()
    assert load_checkpoint(tmp_path / "b" / "last.h5").counters["step"] == 10
    resumed = make(tmp_path / "b", **settings)
    resumed.fit(resume=tmp_path / "b" / "last.h5")
    for name, value in straight.get_params().items():
        assert np.array_equal(value, resumed.get_params()[name]), name
    a, b = read_scalars(tmp_path / "a"), read_scalars(tmp_path / "b")
    assert a["train/batch_loss"] == b["train/batch_loss"] and a["val/loss"] == b["val/loss"]
