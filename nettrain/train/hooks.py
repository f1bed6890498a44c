"""Trainer hooks (callbacks): stop on NaN, early stopping, reduce-on-plateau, checkpoints, TensorBoard, progress.

A hook overrides any of the events below; the Trainer calls its hooks in
ascending ``order`` (ties keep the given order)::

    on_train_begin(trainer)          after compiling and resuming, before the first batch
    on_epoch_begin(trainer)          also when a resumed run continues mid-epoch
    on_batch_end(trainer, logs)      logs: loss, metrics, batch_size, stepped (an optimizer step was made)
    on_epoch_end(trainer, logs)      logs: loss, metrics, val_loss, val_<metric>, lr, samples_per_sec, time
    on_train_end(trainer)            after the last epoch, early stop or interrupt (before the test split)
    on_test_end(trainer, logs)       logs: test_loss, test_<metric>
    close(trainer)                   always, last

A hook with state (best value, patience counter, best weights) returns it from
``state_dict()``; it is saved in the checkpoint under the hook's ``name`` and
given back to ``load_state_dict`` on resume.  A hook asks the run to stop with
``trainer.stop(reason)``.

Examples
--------
>>> from nettrain.train.hooks import Hook
>>> class PrintLoss(Hook):
...     def on_epoch_end(self, trainer, logs):
...         print("epoch", trainer.epoch, "loss", round(logs["loss"], 3))
"""

import math
import os
import sys
import time

import numpy as np

__all__ = [
    "Hook", "NonFiniteLossError", "StopOnNaN", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint",
    "TensorBoard", "ProgressBar", "monitor_mode",
]  # fmt: skip


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class Hook:
    """Base class: every event does nothing; ``name`` keys the hook's state in checkpoints."""

    order = 50

    @property
    def name(self):
        return type(self).__name__

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer):
        pass

    def on_batch_end(self, trainer, logs):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def on_train_end(self, trainer):
        pass

    def on_test_end(self, trainer, logs):
        pass

    def close(self, trainer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def monitor_mode(monitor, mode="auto"):
    """'max' for accuracy-like names in ``auto`` mode, else 'min'."""
    if mode == "auto":
        return "max" if any(k in monitor for k in ("acc", "f1", "auc", "precision", "recall")) else "min"
    if mode not in ("min", "max"):
        raise ValueError("mode must be 'min', 'max' or 'auto', got %r" % (mode,))
    return mode


class _Monitor(Hook):
    """Shared 'did the monitored value improve?' logic."""

    def __init__(self, monitor, mode="auto", min_delta=0.0):
        self.monitor, self.mode, self.min_delta = monitor, monitor_mode(monitor, mode), abs(float(min_delta))
        self.best, self.best_epoch, self.wait = None, None, 0

    def _value(self, logs):
        if self.monitor not in logs:
            raise KeyError("%s monitors %r, which is not logged; available: %s"
                           % (self.name, self.monitor, ", ".join(sorted(logs))))
        return float(logs[self.monitor])

    def _improved(self, value):
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], int(state["wait"])


class StopOnNaN(Hook):
    """Stop with :class:`NonFiniteLossError` as soon as a batch loss is NaN or infinite."""

    order = 0

    def on_batch_end(self, trainer, logs):
        loss = logs["loss"]
        if math.isfinite(loss):
            return
        bad = [n for n, v in trainer.get_params().items() if not np.isfinite(v).all()]
        last = trainer.last_checkpoint
        raise NonFiniteLossError(
            "the training loss became %s at epoch %d, batch %d, step %d (learning rate %.4g).%s%s Try a lower "
            "learning rate (--lr), gradient clipping (clipnorm=), or --set stop_on_nan=false to keep going."
            % (loss, trainer.epoch + 1, trainer.batch_in_epoch, trainer.step, trainer.current_lr(),
               " Non-finite parameters: %s." % ", ".join(bad) if bad else "",
               " The last checkpoint, %s, is untouched." % last if last else "")
        )


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs, then restore the best weights.

    The best weights are kept in memory and in the checkpoint (so a resumed run can restore them too).
    """

    order = 20

    def __init__(self, monitor="val_loss", patience=5, mode="auto", min_delta=0.0, restore_best=True):
        super().__init__(monitor, mode, min_delta)
        if int(patience) < 1:
            raise ValueError("EarlyStopping: patience must be a positive number of epochs, got %r" % (patience,))
        self.patience, self.restore_best = int(patience), bool(restore_best)
        self.best_weights, self.stopped_epoch = None, None

    def on_epoch_end(self, trainer, logs):
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, trainer.epoch, 0
            if self.restore_best:
                self.best_weights = trainer.get_params()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.stop("early stopping: %s did not improve for %d epochs (best %.4g at epoch %d)"
                         % (self.monitor, self.wait, self.best if self.best is not None else float("nan"),
                            self.best_epoch or 0))

    def on_train_end(self, trainer):
        if self.stopped_epoch is not None and self.restore_best and self.best_weights is not None:
            trainer.set_params(self.best_weights)
            trainer.message("restored the weights of epoch %d (%s %.4g)" % (self.best_epoch, self.monitor, self.best))

    def state_dict(self):
        state = super().state_dict()
        state.update(stopped_epoch=self.stopped_epoch, best_weights=self.best_weights)
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.stopped_epoch, self.best_weights = state.get("stopped_epoch"), state.get("best_weights")


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    The factor applies on top of any schedule (``trainer.lr_scale``); the rate never goes below ``min_lr``.
    """

    order = 30

    def __init__(self, monitor="val_loss", factor=0.5, patience=3, mode="auto", min_delta=0.0, min_lr=0.0,
                 cooldown=0):  # fmt: skip
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < factor < 1.0:
            raise ValueError("ReduceLROnPlateau: factor must be in (0, 1), got %r" % (factor,))
        if int(patience) < 1:
            raise ValueError("ReduceLROnPlateau: patience must be a positive number of epochs, got %r" % (patience,))
        self.factor, self.patience, self.min_lr, self.cooldown = float(factor), int(patience), float(min_lr), cooldown
        self.cooldown_left = 0

    def on_epoch_end(self, trainer, logs):
        value = self._value(logs)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, trainer.epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            lr = trainer.current_lr()
            new_lr = max(lr * self.factor, self.min_lr)
            if new_lr < lr and lr > 0:
                trainer.lr_scale *= new_lr / lr
                trainer.message("%s did not improve for %d epochs: learning rate %.4g -> %.4g"
                                % (self.monitor, self.wait, lr, new_lr))
            self.wait, self.cooldown_left = 0, int(self.cooldown)

    def state_dict(self):
        return dict(super().state_dict(), cooldown_left=self.cooldown_left)

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.cooldown_left = int(state.get("cooldown_left", 0))


class ModelCheckpoint(_Monitor):
    """Write ``last.h5`` every ``every_epochs`` epochs and ``every_steps`` optimizer steps, and ``best.h5``
    whenever ``monitor`` improves; runs after the other hooks so their state is saved too."""

    order = 100

    def __init__(self, directory, every_epochs=1, every_steps=0, monitor="val_loss", mode="auto", save_best=True):
        super().__init__(monitor, mode)
        self.directory, self.every_epochs, self.every_steps = os.fspath(directory), int(every_epochs), int(every_steps)
        self.save_best, self._due = bool(save_best), False

    @property
    def last_path(self):
        return os.path.join(self.directory, "last.h5")

    @property
    def best_path(self):
        return os.path.join(self.directory, "best.h5")

    def on_batch_end(self, trainer, logs):
        if self.every_steps and logs["stepped"] and trainer.step % self.every_steps == 0:
            if trainer.loader.batches_remaining == 0:
                # The epoch's last batch: save after the epoch-end logs instead, so a resumed run
                # (TensorBoard purge_step = step + 1) does not log them a second time.
                self._due = True
            else:
                trainer.save_checkpoint(self.last_path)

    def on_epoch_end(self, trainer, logs):
        if self.save_best and self._improved(self._value(logs)):
            self.best, self.best_epoch = float(logs[self.monitor]), trainer.epoch
            trainer.save_checkpoint(self.best_path)
        if self._due or self.every_epochs and trainer.epoch % self.every_epochs == 0:
            self._due = False
            trainer.save_checkpoint(self.last_path)


class TensorBoard(Hook):
    """Scalars (train/val loss and metrics each epoch, the batch loss every ``log_every`` steps, learning
    rate, throughput), parameter histograms every ``histogram_every`` epochs, the config as text, test
    results and hyperparameters; flushed each epoch.  A resumed run continues the same curves
    (``purge_step`` = the checkpoint's step + 1: everything logged up to that step is in the checkpoint)."""

    order = 50

    def __init__(self, logdir, log_every=10, histogram_every=5):
        self.logdir, self.log_every, self.histogram_every = os.fspath(logdir), int(log_every), int(histogram_every)
        self.logger = None

    def on_train_begin(self, trainer):
        from .tblog import TensorBoardLogger

        purge = trainer.step + 1 if trainer.resumed_from else None
        self.logger = TensorBoardLogger(self.logdir, purge_step=purge, histogram_every=max(self.histogram_every, 1))
        if not trainer.resumed_from:
            self.logger.config(trainer.config)

    def on_batch_end(self, trainer, logs):
        if self.log_every and logs["stepped"] and trainer.step % self.log_every == 0:
            self.logger.scalar("train/batch_loss", logs["loss"], trainer.step)

    def on_epoch_end(self, trainer, logs):
        tb, step = self.logger, trainer.step
        for key, value in logs.items():
            if key != "time":  # val_loss -> val/loss; loss, acc, lr, samples_per_sec -> train/...
                tb.scalar("val/" + key[4:] if key.startswith("val_") else "train/" + key, value, step)
        tb.scalar("epoch", trainer.epoch, step)
        if self.histogram_every:
            tb.histograms(trainer.get_params(), step, trainer.epoch - 1, prefix="params/")
        tb.flush()

    def on_test_end(self, trainer, logs):
        for key, value in logs.items():
            self.logger.scalar("test/" + key[5:], value, trainer.step)
        config = {k: v for k, v in trainer.config.items() if isinstance(v, (str, bool, int, float))}
        self.logger.hparams(config, {"hparam/" + k: v for k, v in logs.items()}, step=trainer.step)
        self.logger.flush()

    def close(self, trainer):
        if self.logger is not None:
            self.logger.close()


def _fmt(logs):
    parts = []
    for key, value in logs.items():
        if key == "lr":
            parts.append("lr %.3g" % value)
        elif key == "samples_per_sec":
            parts.append("%.0f samples/s" % value)
        elif key == "time":
            parts.append("%.2fs" % value)
        elif isinstance(value, float):
            parts.append("%s %.4f" % (key, value))
    return "  ".join(parts)


class ProgressBar(Hook):
    """A tqdm bar per epoch on stderr showing loss, metrics and samples/s.  Without a terminal on stderr
    (or with ``enabled=False``) there is no bar; either way each epoch ends with a summary line on
    ``stream`` (default stdout), so logs stay readable."""

    order = 60

    def __init__(self, enabled=None, stream=None):
        self.stream = stream
        self.enabled = enabled
        self.bar = None
        self._last_postfix = 0.0

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def on_train_begin(self, trainer):
        if self.enabled is None:
            self.enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())

    def on_epoch_begin(self, trainer):
        self._t0, self._n0 = time.perf_counter(), trainer.epoch_samples
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        total = len(trainer.loader)
        self.bar = tqdm(total=total, initial=total - trainer.loader.batches_remaining, file=sys.stderr,
                        desc="epoch %d/%d" % (trainer.epoch + 1, trainer.epochs), unit="batch", dynamic_ncols=True,
                        leave=False)  # the summary line below replaces it  # fmt: skip

    def on_batch_end(self, trainer, logs):
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self._last_postfix > 0.2:  # formatting every batch would cost more than a small step
            self._last_postfix = now
            rate = (trainer.epoch_samples - self._n0) / max(now - self._t0, 1e-9)
            post = {k: "%.4f" % v for k, v in trainer.epoch_means().items()}
            post["samples/s"] = "%.0f" % rate
            self.bar.set_postfix(post, refresh=False)

    def on_epoch_end(self, trainer, logs):
        line = "epoch %d/%d  %s" % (trainer.epoch, trainer.epochs, _fmt(logs))
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        print(line, file=self._out(), flush=True)

    def on_test_end(self, trainer, logs):
        print("test  %s" % _fmt({k[5:]: v for k, v in logs.items()}), file=self._out(), flush=True)

    def close(self, trainer):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
