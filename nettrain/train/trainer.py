"""The Trainer: compiled train/eval steps, a resumable epoch loop, hooks and whole-state checkpoints.

Everything a run depends on is in its checkpoint: parameters and optimizer slots
by dotted name, every random state (generators in the graph, e.g. dropout masks;
NumPy's and Python's global ones), the step/epoch/batch counters and running
epoch sums, the position in the data order (a mid-epoch checkpoint resumes
mid-epoch), the learning-rate schedule and scale, the hooks' state and the
config.  So 4 epochs straight and 2 + resume + 2 give bit-identical parameters.

What the Trainer puts in the checkpoint (layout in :mod:`nettrain.train.checkpoint`):
``/params`` (``model.named_params()``), ``/optimizer`` (``optimizer.named_state()`` plus
``grad_accum.<param>`` buffers with gradient accumulation), ``/rng`` (``rng.<layer>`` graph
generators, ``numpy.global``, ``python.random``), ``/counters`` (``epoch`` done, ``step``
(optimizer steps), ``micro`` (batches accumulated toward the next step), ``batch_in_epoch``,
``epoch_samples``, ``epoch_sums`` (running loss/metric sums), ``lr_scale``, ``base_lr``,
``status``), ``/data`` (``DataLoader.state_dict()``), ``/schedule``, ``/hooks`` (by hook name),
``/config`` and ``/extra`` (``{"history": [per-epoch logs]}``).

Examples
--------
>>> import numpy as np
>>> from nettrain import layers as L, losses
>>> from nettrain.optimizers import SGD
>>> from nettrain.train import Trainer
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(64, 3)); y = (x.sum(1) > 0).astype('int32')
>>> trainer = Trainer(L.Dense(2, seed=0), losses.categorical_crossentropy, SGD(0.5), (x, y), epochs=3,
...                   batch_size=16, progress=False, verbose=False)
>>> result = trainer.fit()
>>> trainer.epoch, trainer.step, result["status"]
(3, 12, 'completed')
"""

import json
import os
import random
import signal
import sys
import threading
import time

import numpy as np

from ..compile.function import function
from ..compile.sharedvalue import shared
from ..graph.basic import SharedVariable
from ..tensor.basic import cast, tensor
from ..tensor.gradient import grad
from . import hooks as H
from .. import sigint
from .checkpoint import Checkpoint, IncompatibleCheckpointError, check_compatible, load_checkpoint, save_checkpoint
from .checkpoint import remove_stale_temporaries
from .data import ArrayDataset, DataLoader
from .inspection import GraphToTensorBoard, ProfileReport, step_options
from .recipe import TRAINER_DEFAULTS, ConfigError, RecipeError

__all__ = ["Trainer"]

_SPEC_KEYS = ("model", "loss", "optimizer", "train", "val", "test", "metrics", "schedule", "hooks")


def _dataset(data, what):
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError("%s data must be (x, y), got %d arrays" % (what, len(data)))
        return ArrayDataset(*data)
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        return data
    raise TypeError("%s data must be (x, y) arrays or an ArrayDataset, got %s" % (what, type(data).__name__))


def _is_generator_state(var):
    return isinstance(var, SharedVariable) and isinstance(var.get_value(borrow=True), np.random.Generator)


class Trainer:
    """Train a layer model with minibatches, validation, hooks, TensorBoard and checkpoints.

    Parameters
    ----------
    model : Layer
    loss : callable
        ``loss(output, target)`` -> symbolic scalar.
    optimizer : Optimizer
    train : (x, y) arrays, ArrayDataset or DataLoader
    val, test : (x, y) arrays or ArrayDataset, optional
    metrics : dict, optional
        ``{name: fn(output, target)}``, e.g. ``{"acc": metrics.accuracy}``.
    epochs, batch_size, seed : int
        ``epochs`` is the total to reach (a resumed run trains the rest).
    schedule : Schedule, optional
        Sets the learning rate before each optimizer step.
    hooks : list of Hook
        Extra hooks, run with the built-in ones.
    out_dir : str, optional
        Run directory for checkpoints, TensorBoard events and ``config.json`` (None: write nothing).
    config : dict, optional
        The resolved config, saved with the run (default: these settings).
    progress : bool or None
        tqdm bars (None: when stderr is a terminal).
    verbose : bool
        Print epoch summary lines and messages.
    **settings
        Any of :data:`nettrain.train.recipe.TRAINER_DEFAULTS` (``grad_accum``, ``early_stopping``, ...).
    """

    #: Does this process write the run's files (config.json)?  Under MPI only rank 0 does.
    writes_files = True

    def __init__(self, model, loss, optimizer, train, val=None, test=None, metrics=None, *, epochs=1, batch_size=32,
                 seed=0, schedule=None, hooks=(), out_dir=None, config=None, progress=None, verbose=True, **settings):
        unknown = sorted(set(settings) - set(TRAINER_DEFAULTS))
        if unknown:
            raise TypeError("Trainer: unknown settings %s; known: %s" % (unknown, ", ".join(TRAINER_DEFAULTS)))
        self.settings = s = dict(TRAINER_DEFAULTS, **settings)
        for key in ("grad_accum", "eval_batch_size"):
            if not isinstance(s[key], int) or s[key] < 1:
                raise ConfigError("bad value for %s: %r (a positive integer)" % (key, s[key]))
        self.model, self.loss_fn, self.optimizer = model, loss, optimizer
        self.metric_fns = dict(metrics or {})
        self.epochs, self.batch_size, self.seed = int(epochs), int(batch_size), int(seed)
        self._own_loader = not isinstance(train, DataLoader)
        if not self._own_loader:
            self.loader = train
        else:
            self.loader = DataLoader(_dataset(train, "train"), self.batch_size, shuffle=True, seed=self.seed)
        if len(self.loader.dataset) == 0:
            raise ValueError("the training data is empty")
        self.val = None if val is None else _dataset(val, "val")
        self.test_data = None if test is None else _dataset(test, "test")
        self.schedule = schedule
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.config = dict(config) if config is not None else dict(s, epochs=self.epochs, batch_size=self.batch_size,
                                                                      seed=self.seed)  # fmt: skip
        self.verbose = verbose
        self.hooks = self._default_hooks(progress) + list(hooks)
        # counters (all checkpointed)
        self.epoch = self.step = self.micro = 0
        self.lr_scale, self.base_lr = 1.0, None
        self._epoch_sums, self.epoch_samples, self.batch_in_epoch = {}, 0, 0
        self.history = []
        self.status, self.stop_reason, self.should_stop = "new", None, False
        self.resumed_from, self.last_checkpoint = None, None
        self._interrupted, self._saved_at = False, None
        self._train_fn = self._eval_fn = None

    @classmethod
    def from_recipe(cls, recipe, config, out_dir=None, progress=None, verbose=True):
        """Seed everything from ``config['seed']``, call the recipe's ``build(config)`` and wrap the result."""
        from ..layers import init

        seed = config["seed"]
        init.set_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        spec = recipe.build(config)
        extra = sorted(set(spec) - set(_SPEC_KEYS))
        if extra:
            raise RecipeError("recipe %s: build(config) returned unknown keys %s; known: %s"
                              % (recipe.path, extra, ", ".join(_SPEC_KEYS)))
        settings = {k: config[k] for k in TRAINER_DEFAULTS}
        return cls(spec["model"], spec["loss"], spec["optimizer"], spec["train"], val=spec.get("val"),
                   test=spec.get("test"), metrics=spec.get("metrics"), epochs=config["epochs"],
                   batch_size=config["batch_size"], seed=seed, schedule=spec.get("schedule"),
                   hooks=spec.get("hooks") or (), out_dir=out_dir, config=config, progress=progress, verbose=verbose,
                   **settings)  # fmt: skip

    def _default_hooks(self, progress):
        s, hooks = self.settings, []
        monitor = s["monitor"] or ("val_loss" if self.val is not None else "loss")
        logged = ["loss"] + list(self.metric_fns)
        logged += ["val_" + k for k in logged] if self.val is not None else []
        if monitor not in logged:
            raise ConfigError("bad value for monitor: %r is not logged; choose one of %s"
                              % (monitor, ", ".join(logged)))
        self.monitor = monitor
        if s["stop_on_nan"]:
            hooks.append(H.StopOnNaN())
        if s["early_stopping"]:
            hooks.append(H.EarlyStopping(monitor, patience=s["early_stopping"]))
        if s["plateau_patience"]:
            hooks.append(H.ReduceLROnPlateau(monitor, factor=s["plateau_factor"], patience=s["plateau_patience"],
                                             min_lr=s["min_lr"]))  # fmt: skip
        if self.out_dir is not None:
            hooks.append(H.TensorBoard(self.out_dir, s["log_every"], s["histogram_every"]))
            hooks.append(H.ModelCheckpoint(self.out_dir, s["checkpoint_every"], s["checkpoint_every_steps"], monitor))
            hooks.append(GraphToTensorBoard())
        if s["profile"]:
            hooks.append(ProfileReport(self.out_dir))
        if self.verbose:
            hooks.append(H.ProgressBar(progress))
        return hooks

    # ------------------------------------------------------------------ compiling

    def _inputs(self):
        """Symbolic ``x``, ``y`` of the data's dtypes with static trailing shapes (layers infer sizes)."""
        sample = self.loader.dataset[np.arange(min(1, len(self.loader.dataset)))]
        return [tensor(np.asarray(a).dtype.name, shape=(None,) + np.asarray(a).shape[1:], name=n)
                for a, n in zip(sample, ("x", "y"))]  # fmt: skip

    def _outputs(self, out, y):
        loss = self.loss_fn(out, y)
        if loss.type.ndim != 0:
            raise ValueError("the loss must be a scalar, got %s; use reduction='mean'" % loss.type)
        return [loss] + [fn(out, y) for fn in self.metric_fns.values()]

    def compile_eval(self):
        """Compile the evaluation step (inference mode) once."""
        if self._eval_fn is None:
            x, y = self._inputs()
            out, _ = self.model.forward(x, training=False)
            self._eval_fn = function([x, y], self._outputs(out, y), name="eval_step",
                                     **step_options(self.settings, train=False))
        return self._eval_fn

    def _train_graph(self):
        """The training step's pieces: inputs ``x, y``, outputs (loss first), state updates, trainable
        parameters, and the number of batches accumulated per optimizer step."""
        x, y = self._inputs()
        out, state_updates = self.model.forward(x, training=True)
        k = int(self.settings["grad_accum"])
        return x, y, self._outputs(out, y), state_updates, self.model.named_params(trainable=True), k

    def compile(self):
        """Compile the training step(s) and the evaluation step once."""
        self.compile_eval()
        if self._train_fn is not None:
            return
        x, y, outputs, state_updates, params, k = self._train_graph()
        if k == 1:
            updates = dict(self.optimizer.get_updates(outputs[0], params))
            updates.update(state_updates)
            self._train_fn = function([x, y], outputs, updates=updates, name="train_step",
                                      **step_options(self.settings))
            self._accum = {}
        else:  # sum gradients into buffers; a second function averages them into one optimizer step
            grads = grad(outputs[0], list(params.values()))
            self._accum = {n: shared(np.zeros_like(p.get_value()), name="grad_accum." + n, shape=p.type.shape)
                           for n, p in params.items()}  # fmt: skip
            updates = {b: b + cast(g, b.type.dtype) for b, g in zip(self._accum.values(), grads)}
            updates.update(state_updates)
            self._train_fn = function([x, y], outputs, updates=updates, name="accumulate_step",
                                      **step_options(self.settings))
            scale = tensor("float64", shape=(), name="scale")
            avg = {n: b * cast(scale, b.type.dtype) for n, b in self._accum.items()}
            updates = dict(self.optimizer.get_updates(grads=avg, params=params))
            updates.update({b: b * 0 for b in self._accum.values()})
            self._apply_fn = function([scale], [], updates=updates, name="apply_step", **step_options(self.settings))
        self.base_lr = float(self.optimizer.lr.get_value())  # after get_updates, which may recast lr
        self._lr_now = self.base_lr
        fns = [self._train_fn, self._eval_fn] + ([self._apply_fn] if k > 1 else [])
        self._generators = {}
        for v in {v: None for f in fns for v in f.get_shared() if _is_generator_state(v)}:
            if not v.name or self._generators.setdefault(v.name, v) is not v:
                raise ValueError("every random generator state needs its own name to be checkpointed; %r is %s"
                                 % (v.name, "used twice" if v.name else "unnamed"))

    # ------------------------------------------------------------------ state

    def get_params(self):
        """``{dotted name: array copy}`` of every model parameter (incl. non-trainable state)."""
        return {n: v.get_value() for n, v in self.model.named_params().items()}

    def set_params(self, values):
        for n, v in self.model.named_params().items():
            v.set_value(np.array(values[n], dtype=v.type.dtype))

    def _optimizer_state(self):
        state = dict(self.optimizer.named_state())
        state.update(self._accum)
        return state

    def current_lr(self):
        return float(self.optimizer.lr.get_value())

    def epoch_means(self):
        """Running means of the loss and metrics over the batches of this epoch so far."""
        n = max(self.epoch_samples, 1)
        return {k: v / n for k, v in self._epoch_sums.items()}

    def stop(self, reason):
        """Ask the run to stop after this epoch (hooks call this)."""
        self.should_stop, self.stop_reason = True, reason

    def message(self, text):
        if self.verbose:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stdout)

    def state(self):
        """The keyword arguments of :func:`save_checkpoint` for the current state."""
        rng = {n: v.get_value() for n, v in self._generators.items()}
        rng["numpy.global"] = np.random.mtrand._rand
        rng["python.random"] = {"bit_generator": "python", "state": random.getstate()}
        counters = dict(epoch=self.epoch, step=self.step, micro=self.micro, batch_in_epoch=self.batch_in_epoch,
                        epoch_samples=self.epoch_samples, epoch_sums=dict(self._epoch_sums), lr_scale=self.lr_scale,
                        base_lr=self.base_lr, status=self.status)  # fmt: skip
        return dict(
            params={n: v.get_value(borrow=True) for n, v in self.model.named_params().items()},
            optimizer={n: v.get_value(borrow=True) for n, v in self._optimizer_state().items()},
            rng=rng, counters=counters, data_state=self.loader.state_dict(),
            schedule=self.schedule.state_dict() if self.schedule is not None else {},
            hooks={key: h.state_dict() for key, h in self._named_hooks() if h.state_dict()},
            config=self.config, extra={"history": self.history},
        )

    def save_checkpoint(self, path, durable=None):
        """Write the whole training state to ``path`` (atomically; the previous file is kept as ``.prev``).

        ``durable`` fsyncs it (see :mod:`nettrain.train.checkpoint`); None: when ``DURABLE_INTERVAL``
        seconds have passed since the last durable checkpoint."""
        from . import checkpoint as _ck

        self.compile()
        now = time.monotonic()
        if durable is None:
            durable = now - getattr(self, "_durable_at", -1e300) >= _ck.DURABLE_INTERVAL
        save_checkpoint(path, durable=durable, **self.state())
        if durable:
            self._durable_at = now
        self._durable_position = self._position() if durable else None
        self.last_checkpoint, self._saved_at = os.fspath(path), self._position()
        return path

    def _make_durable(self):
        """fsync the run's checkpoints written without it (the newest state is on disk already)."""
        from .checkpoint import make_durable

        for name in ("last.h5", "best.h5"):
            path = os.path.join(self.out_dir, name)
            if os.path.exists(path):
                make_durable(path)
        self._durable_at, self._durable_position = time.monotonic(), self._saved_at

    def _last_durable(self):
        """Whether the newest checkpoint written was fsynced."""
        return getattr(self, "_durable_at", None) is not None and self._durable_position == self._saved_at

    def _position(self):
        return (self.epoch, self.step, self.micro, self.loader.epoch, self.loader.index, self.status)

    def _check(self, ck, weights_only):
        expected = {n: (v.type.shape, v.type.dtype) for n, v in self.model.named_params().items()}
        errors = []
        checks = [(expected, ck.params, "parameters")]
        if not weights_only:
            opt = {n: (v.type.shape, v.type.dtype) for n, v in self._optimizer_state().items()}
            checks.append((opt, ck.optimizer, "optimizer state"))
            gens = {n: ((), None) for n in self._generators}
            checks.append((gens, {n: ((), None) for n in ck.rng if n in gens or n.startswith("rng.")}, "random states"))
        for exp, got, what in checks:
            try:
                check_compatible(exp, got, what)
            except IncompatibleCheckpointError as exc:
                errors.append(exc)
        if not errors:
            return
        differ = [k for k in self.config if k in ck.config and ck.config[k] != self.config[k]]
        hint = ("\n  config differences (checkpoint -> now): " + ", ".join(
            "%s %r -> %r" % (k, ck.config[k], self.config[k]) for k in differ)) if differ else ""
        raise IncompatibleCheckpointError(
            "%s does not fit this model:\n%s%s" % (ck.path, "\n".join(str(e) for e in errors), hint),
            [m for e in errors for m in e.missing], [m for e in errors for m in e.unexpected],
            [m for e in errors for m in e.mismatched])

    def load_checkpoint(self, ck, weights_only=False):
        """Restore a checkpoint (path or :class:`Checkpoint`); every mismatched name is reported at once.

        ``weights_only`` loads the parameters alone (for evaluation)."""
        if not isinstance(ck, Checkpoint):
            ck = load_checkpoint(ck)
        if weights_only:
            self.compile_eval()
        else:
            self.compile()
        self._check(ck, weights_only)
        self.set_params(ck.params)
        if weights_only:
            return ck
        for n, v in self._optimizer_state().items():
            v.set_value(np.array(ck.optimizer[n], dtype=v.type.dtype))
        for n, v in self._generators.items():
            v.set_value(ck.rng[n])
        if "numpy.global" in ck.rng:
            np.random.set_state(ck.rng["numpy.global"].get_state())
        if "python.random" in ck.rng:
            random.setstate(ck.rng["python.random"]["state"])
        c = ck.counters
        self.epoch, self.step, self.micro = int(c["epoch"]), int(c["step"]), int(c["micro"])
        self.batch_in_epoch, self.epoch_samples = int(c["batch_in_epoch"]), int(c["epoch_samples"])
        self._epoch_sums, self.lr_scale, self.base_lr = dict(c["epoch_sums"]), float(c["lr_scale"]), c["base_lr"]
        self._lr_now = self.current_lr()
        self.loader.load_state_dict(ck.data_state)
        if self._own_loader:  # a new --batch-size applies from here on
            self.loader.batch_size = self.batch_size
        if self.schedule is not None and ck.schedule:
            self.schedule.load_state_dict(ck.schedule)
        for key, h in self._named_hooks():
            if key in ck.hooks:
                h.load_state_dict(ck.hooks[key])
        self.history = list((ck.extra or {}).get("history", []))
        self._resumed_status = c.get("status")  # 'completed': its test results are logged already
        self.resumed_from, self.last_checkpoint = ck.path, ck.path
        self._saved_at = self._position()
        return ck

    # ------------------------------------------------------------------ running

    def _named_hooks(self):
        """``(key, hook)`` with unique keys (a second hook of the same name gets ``_1``, ...)."""
        seen, out = {}, []
        for h in self.hooks:
            n = seen[h.name] = seen.get(h.name, -1) + 1
            out.append((h.name if n == 0 else "%s_%d" % (h.name, n), h))
        return out

    def _call(self, event, *args):
        for h in sorted(self.hooks, key=lambda h: h.order):
            getattr(h, event)(self, *args)

    def _set_lr(self):
        lr = self.schedule.value(self.step, self.epoch) if self.schedule is not None else self.base_lr
        lr *= self.lr_scale
        if lr != self._lr_now:
            self.optimizer.lr.set_value(np.asarray(lr, dtype=self.optimizer.lr.type.dtype))
            self._lr_now = lr

    def _optimizer_step(self, count):
        if self._accum:
            self._apply_fn(1.0 / count)
        self.micro, self.step = 0, self.step + 1

    def evaluate(self, data, batch_size=None):
        """``{"loss": .., metric: ..}`` over ``data`` ((x, y) or a dataset), in inference mode."""
        fn, ds = self.compile_eval(), _dataset(data, "evaluation")
        bs, n = int(batch_size or self.settings["eval_batch_size"]), len(ds)
        if n == 0:
            raise ValueError("cannot evaluate on an empty dataset")
        sums = np.zeros(1 + len(self.metric_fns))
        for i in range(0, n, bs):
            xb, yb = ds[np.arange(i, min(i + bs, n))]
            sums += np.array([float(v) for v in fn(xb, yb)]) * len(xb)
        return dict(zip(["loss"] + list(self.metric_fns), (sums / n).tolist()))

    def _run_epoch(self):
        """One epoch, or its rest after a resume; returns whether it finished."""
        if self.loader.index == 0:
            self._epoch_sums, self.epoch_samples, self.batch_in_epoch = {}, 0, 0
        self._call("on_epoch_begin")
        t0, n0 = time.perf_counter(), self.epoch_samples
        names = ["loss"] + list(self.metric_fns)
        accum = int(self.settings["grad_accum"])
        for xb, yb in self.loader:
            if self.micro == 0:
                self._set_lr()
            values = [float(v) for v in self._train_fn(xb, yb)]
            n = len(xb)
            for name, v in zip(names, values):
                self._epoch_sums[name] = self._epoch_sums.get(name, 0.0) + v * n
            self.epoch_samples += n
            self.batch_in_epoch += 1
            self.micro += 1
            stepped = not self._accum or self.micro == accum
            if stepped:
                self._optimizer_step(self.micro)
            logs = dict(zip(names, values), batch_size=n, stepped=stepped)
            self._call("on_batch_end", logs)
            if self._interrupted:
                break
        if self.loader.index != 0:  # interrupted inside the epoch
            return False
        if self.micro:  # the epoch's last gradients count too
            self._optimizer_step(self.micro)
        self.epoch += 1
        elapsed = time.perf_counter() - t0
        logs = self.epoch_means()
        if self.val is not None:
            logs.update({"val_" + k: v for k, v in self.evaluate(self.val).items()})
        logs.update(lr=self.current_lr(), samples_per_sec=(self.epoch_samples - n0) / max(elapsed, 1e-9),
                    time=elapsed)
        self.history.append(dict(logs, epoch=self.epoch, step=self.step))
        self._call("on_epoch_end", logs)
        return True

    def fit(self, resume=None):
        """Train until ``epochs`` epochs are done, a hook stops the run, or SIGINT.

        Parameters
        ----------
        resume : str or Checkpoint, optional
            Continue from this checkpoint.

        Returns
        -------
        dict
            ``status`` ('completed', 'stopped' or 'interrupted'), ``history`` (one dict per epoch),
            ``test`` (metrics on the test split, if any), ``checkpoint`` (the last one written).

        The first SIGINT (Ctrl-C) finishes the current batch, writes ``last.h5`` and returns with
        status 'interrupted'; a second one raises ``KeyboardInterrupt`` at once.
        """
        self.compile()
        if resume is not None:
            self.load_checkpoint(resume)
        if self.out_dir is not None and self.writes_files:
            os.makedirs(self.out_dir, exist_ok=True)
            remove_stale_temporaries(self.out_dir)  # of writers killed in an earlier run
            with open(os.path.join(self.out_dir, "config.json"), "w") as fh:
                json.dump(self.config, fh, indent=2, sort_keys=True, default=repr)
        self.status, self.should_stop, self._interrupted = "running", False, False
        result = {"test": None}
        previous = self._install_sigint()
        if sigint.pending():  # a Ctrl-C before this point (``nettrain train`` catches it from its start)
            self._early_interrupt()
        # a finished run resumed without more epochs (its checkpoint loaded here or by the caller): report its
        # test results again, but log them only once
        resumed = resume is not None or self.resumed_from is not None
        finished = resumed and self.epoch >= self.epochs and \
            getattr(self, "_resumed_status", None) in ("completed", "stopped")
        if resume is not None and self.epoch >= self.epochs:
            self.message("nothing to train: %d of %d epochs done (raise --epochs to train more)"
                         % (self.epoch, self.epochs))
        try:
            self._call("on_train_begin")
            while self.epoch < self.epochs and not self.should_stop and not self._interrupted:
                self._run_epoch()
            self.status = "interrupted" if self._interrupted else "stopped" if self.should_stop else "completed"
            if self.out_dir is not None and self._saved_at != self._position():
                self.save_checkpoint(os.path.join(self.out_dir, "last.h5"), durable=True)  # the end, or Ctrl-C
            elif self.out_dir is not None and not self._last_durable():
                self._make_durable()
            if self.status == "interrupted":
                batches = self.batch_in_epoch if self.loader.index else 0
                self.message("interrupted after %d epochs and %d batches (step %d): saved %s"
                             % (self.epoch, batches, self.step, self.last_checkpoint))
            elif self.stop_reason:
                self.message(self.stop_reason)
            self._call("on_train_end")
            if self.test_data is not None and self.status != "interrupted":
                result["test"] = {"test_" + k: v for k, v in self.evaluate(self.test_data).items()}
                if not finished:
                    self._call("on_test_end", result["test"])
        finally:
            self._restore_sigint(previous)
            self._call("close")
        result.update(status=self.status, history=self.history, checkpoint=self.last_checkpoint)
        return result

    def _early_interrupt(self):
        """A Ctrl-C arrived before ``fit`` installed its handler: stop before the first batch."""
        self._interrupted = True

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._interrupted:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._interrupted = True  # no printing here: the handler may run in the middle of a write to stdout

        return signal.signal(signal.SIGINT, handler)

    @staticmethod
    def _restore_sigint(previous):
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

