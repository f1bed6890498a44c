"""Hooks: stop on NaN, early stopping, reduce-on-plateau, checkpoints, progress output."""

import io
import math

import numpy as np
import pytest

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import SGD
from nettrain.train import (
    ArrayDataset,
    DataLoader,
    EarlyStopping,
    ModelCheckpoint,
    NonFiniteLossError,
    ProgressBar,
    ReduceLROnPlateau,
    Trainer,
    load_checkpoint,
)


class StubTrainer:
    """The part of the Trainer that hooks use."""

    def __init__(self):
        self.epoch, self.step, self.lr_scale, self.lr = 0, 0, 1.0, 0.1
        self.params = {"w": np.zeros(2)}
        self.should_stop, self.stop_reason, self.messages, self.saved = False, None, [], []

    def get_params(self):
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, values):
        self.params = {k: np.array(v) for k, v in values.items()}

    def stop(self, reason):
        self.should_stop, self.stop_reason = True, reason

    def message(self, text):
        self.messages.append(text)

    def current_lr(self):
        return self.lr * self.lr_scale

    def save_checkpoint(self, path):
        self.saved.append((path, self.epoch))


def run_epochs(hook, trainer, values, monitor="val_loss"):
    for v in values:
        trainer.epoch += 1
        trainer.params["w"] += 1.0  # the weights change every epoch
        hook.on_epoch_end(trainer, {monitor: v})
        if trainer.should_stop:
            break


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    t, hook = StubTrainer(), EarlyStopping("val_loss", patience=2)
    run_epochs(hook, t, [1.0, 0.5, 0.6, 0.7, 0.1])
    assert t.should_stop and t.epoch == 4 and "did not improve for 2 epochs" in t.stop_reason
    hook.on_train_end(t)
    assert np.array_equal(t.params["w"], [2.0, 2.0])  # epoch 2's weights
    assert "restored the weights of epoch 2" in t.messages[0]


def test_early_stopping_state_survives_a_round_trip():
    t, hook = StubTrainer(), EarlyStopping("val_acc", patience=3)
    run_epochs(hook, t, [0.5, 0.7, 0.6], monitor="val_acc")
    again = EarlyStopping("val_acc", patience=3)
    again.load_state_dict(hook.state_dict())
    assert (again.best, again.best_epoch, again.wait) == (0.7, 2, 1)
    assert np.array_equal(again.best_weights["w"], [2.0, 2.0])


def test_early_stopping_reports_a_monitor_that_is_not_logged():
    with pytest.raises(KeyError, match="monitors 'val_los', which is not logged; available: loss"):
        EarlyStopping("val_los", patience=1).on_epoch_end(StubTrainer(), {"loss": 1.0})


def test_reduce_lr_on_plateau_scales_the_rate_and_respects_min_lr():
    t, hook = StubTrainer(), ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_lr=0.03)
    run_epochs(hook, t, [1.0, 1.0, 1.0])
    assert t.current_lr() == pytest.approx(0.05)
    run_epochs(hook, t, [1.0, 1.0])
    assert t.current_lr() == pytest.approx(0.03)  # 0.025 would be under min_lr
    run_epochs(hook, t, [1.0, 1.0])
    assert t.current_lr() == pytest.approx(0.03)
    assert "learning rate 0.1 -> 0.05" in t.messages[0]


def test_hooks_reject_bad_settings():
    with pytest.raises(ValueError, match="factor must be in"):
        ReduceLROnPlateau(factor=2.0)
    with pytest.raises(ValueError, match="patience must be a positive"):
        EarlyStopping(patience=0)


def test_model_checkpoint_writes_best_on_improvement_and_last_every_n():
    t, hook = StubTrainer(), ModelCheckpoint("d", every_epochs=2, every_steps=3, monitor="val_acc")
    t.loader = DataLoader(ArrayDataset(np.zeros(10)), batch_size=1)
    run_epochs(hook, t, [0.5, 0.4, 0.8], monitor="val_acc")
    assert t.saved == [("d/best.h5", 1), ("d/last.h5", 2), ("d/best.h5", 3)]
    for step, _ in zip(range(1, 11), t.loader):
        t.step = step
        hook.on_batch_end(t, {"stepped": True, "loss": 0.0})
    assert t.saved[3:] == [("d/last.h5", 3), ("d/last.h5", 3), ("d/last.h5", 3)]  # steps 3, 6, 9


def test_a_step_checkpoint_due_at_the_last_batch_waits_for_the_epoch_end():
    t, hook = StubTrainer(), ModelCheckpoint("d", every_epochs=0, every_steps=2, monitor="loss")
    t.loader = DataLoader(ArrayDataset(np.zeros(4)), batch_size=1)
    for step, _ in zip(range(1, 5), t.loader):
        t.step = step
        hook.on_batch_end(t, {"stepped": True, "loss": 0.0})
    assert t.saved == [("d/last.h5", 0)]  # step 2 only
    hook.on_epoch_end(t, {"loss": 1.0})
    assert t.saved[1:] == [("d/best.h5", 0), ("d/last.h5", 0)]


def test_progress_bar_off_prints_one_summary_line_per_epoch(capsys):
    stream = io.StringIO()
    hook = ProgressBar(enabled=False, stream=stream)
    t = trainer(epochs=2, hooks=[hook], verbose=False)
    t.fit()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/2  loss ") and "acc " in lines[0] and "samples/s" in lines[0]
    assert len(lines) == 2 and capsys.readouterr().err == ""


def test_progress_bar_on_draws_tqdm_on_stderr(capsys):
    hook = ProgressBar(enabled=True, stream=io.StringIO())
    trainer(epochs=1, hooks=[hook], verbose=False).fit()
    assert "epoch 1/1" in capsys.readouterr().err


def trainer(x=None, lr=0.1, **kw):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype("float32") if x is None else x
    y = (x[:, 0] > 0).astype("int32")
    return Trainer(L.Dense(2, seed=0), losses.categorical_crossentropy, SGD(lr), (x, y), batch_size=10,
                   metrics={"acc": metrics.accuracy}, **kw)


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    x = np.ones((40, 3), dtype="float32")
    x[25] = np.nan  # the third batch of the first epoch, whatever the order
    t = trainer(x, epochs=2, out_dir=tmp_path, verbose=False, checkpoint_every_steps=1)
    with pytest.raises(NonFiniteLossError, match="the training loss became nan at epoch 1") as info:
        t.fit()
    assert "Non-finite parameters: W, b." in str(info.value)
    assert "is untouched" in str(info.value)
    ck = load_checkpoint(tmp_path / "last.h5")  # the checkpoint before the NaN step is intact
    assert all(np.isfinite(v).all() for v in ck.params.values())


def test_nan_check_can_be_turned_off():
    x = np.full((40, 3), np.nan, dtype="float32")
    t = trainer(x, epochs=1, verbose=False, stop_on_nan=False)
    assert t.fit()["status"] == "completed" and math.isnan(t.history[0]["loss"])


def test_early_stopping_in_the_trainer_restores_best_and_keeps_last_checkpoint_resumable(tmp_path):
    t = trainer(lr=3.0, epochs=30, out_dir=tmp_path, verbose=False, early_stopping=2, monitor="loss")
    result = t.fit()
    assert result["status"] == "stopped" and t.epoch < 30
    best = load_checkpoint(tmp_path / "best.h5")
    for name, value in t.get_params().items():
        assert np.array_equal(value, best.params[name])
    assert load_checkpoint(tmp_path / "last.h5").counters["epoch"] == t.epoch
