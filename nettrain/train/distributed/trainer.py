"""DistributedTrainer: the Trainer on N processes, synchronous data parallelism over a communicator.

Every rank holds the whole model and iterates the same global batches (the DataLoader's order
depends only on the seed and epoch); rank ``r`` computes the gradient on its contiguous slice of
each global batch, weighted by its share of the samples; the weighted gradients are summed across
ranks in a few flat buckets (:mod:`.buckets`) and every rank applies the same optimizer update.

The step is split in two compiled functions with the all-reduce between them:

``grad_step(x_slice, y_slice, weight)``
    forward, backward, ``bucket = weight * concatenate(flattened gradients)`` as shared-variable
    updates (``bucket += ...`` with gradient accumulation), batch-norm and random-state updates;
    returns the loss and metrics of the slice.
``allreduce``
    each bucket's buffer summed over ranks in place (mpi4py's buffer interface, no pickling).
``apply_step(scale)``
    the optimizer update (clipping included, so it sees the reduced gradient) on the bucket slices
    reshaped to the parameters, times ``scale`` (1 / accumulated batches).

An all-reduce op inside the graph would keep one compiled call per step, but it would block in the
middle of compiled code, out of reach of Python's error and signal handling, and tie the op to one
library; the split costs one more call per step (tens of microseconds) and lets a later version
overlap the reduction of one bucket with the update of another.
"""

import hashlib
import os
import random
import signal
import threading
import zlib

import numpy as np

from ...compile.function import function
from ...compile.sharedvalue import shared
from ...tensor.basic import cast, tensor, zeros_like
from ...tensor.gradient import grad
from .. import hooks as H
from ..inspection import ProfileReport, step_options
from ..recipe import ConfigError
from ..trainer import Trainer, _dataset, _is_generator_state
from .buckets import BucketSlice, pack, plan_buckets, unpack
from .comm import shard_bounds

__all__ = ["DistributedTrainer"]


class _RankSync(H.Hook):
    """Before the first batch: parameters and optimizer state from rank 0, checked by checksum."""

    order = -1000

    def on_train_begin(self, trainer):
        trainer.sync_ranks()


def _digest(value):
    a = np.ascontiguousarray(np.asarray(value))
    return hashlib.sha256(a.tobytes() + a.dtype.str.encode() + repr(a.shape).encode()).hexdigest()[:16]


class DistributedTrainer(Trainer):
    """A :class:`~nettrain.train.Trainer` whose step runs on every rank of ``comm``.

    Takes the Trainer's arguments and ``comm`` (default: :func:`nettrain.train.distributed.world`).
    ``batch_size`` is the global batch.  Every rank must construct it the same way (same recipe,
    config and seed); rank 0 alone writes checkpoints, TensorBoard events and progress output.
    On one process it computes what :class:`Trainer` computes.

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain import layers as L, losses
    >>> from nettrain.optimizers import SGD
    >>> from nettrain.train.distributed import DistributedTrainer, LocalCommunicator
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 3)).astype('float32'); y = (x.sum(1) > 0).astype('int32')
    >>> t = DistributedTrainer(L.Dense(2, seed=0), losses.categorical_crossentropy, SGD(0.5), (x, y), epochs=2,
    ...                        batch_size=16, verbose=False, comm=LocalCommunicator())
    >>> t.fit()["status"], t.step, len(t.buckets)
    ('completed', 8, 1)
    """

    def __init__(self, *args, comm=None, **kwargs):
        if comm is None:
            from . import world

            comm = world()
        self.comm, self.rank, self.world_size = comm, comm.rank, comm.size
        self.writes_files = comm.rank == 0
        if comm.rank != 0:  # messages, epoch lines and progress bars come from rank 0 only
            kwargs["verbose"] = False
        super().__init__(*args, **kwargs)
        mb = self.settings["allreduce_bucket_mb"]
        if isinstance(mb, bool) or not isinstance(mb, (int, float)) or not mb > 0:
            raise ConfigError("bad value for allreduce_bucket_mb: %r (a positive number of MiB)" % (mb,))
        if not isinstance(self.settings["average_bn_stats"], bool):
            raise ConfigError("bad value for average_bn_stats: %r (true or false)"
                              % (self.settings["average_bn_stats"],))
        if comm.rank != 0:
            # only rank 0 writes: TensorBoard events, the graph and the profile report
            self.hooks = [h for h in self.hooks if not isinstance(h, (H.TensorBoard, ProfileReport))]
        self.hooks.insert(0, _RankSync())
        self.buckets, self._bucket_vars = [], []
        self._signal_pending = self._stop_agreed = False
        self._rank_resume, self.resumed_world_size = None, None

    # ------------------------------------------------------------------ compiling

    def compile(self):
        """Compile ``grad_step``, ``apply_step`` and the evaluation step once."""
        self.compile_eval()
        if self._train_fn is not None:
            return
        x, y, outputs, state_updates, params, k = self._train_graph()
        grads = dict(zip(params, grad(outputs[0], list(params.values()))))
        shapes = {n: (np.shape(p.get_value(borrow=True)), p.type.dtype) for n, p in params.items()}
        self.buckets = plan_buckets(shapes, int(float(self.settings["allreduce_bucket_mb"]) * 2**20))
        self._bucket_vars = [shared(np.zeros(b.size, b.dtype), name="allreduce_bucket%d" % i)
                             for i, b in enumerate(self.buckets)]  # fmt: skip
        weight = tensor("float64", shape=(), name="weight")
        updates = {}
        for b, var in zip(self.buckets, self._bucket_vars):
            flat = pack(b, grads) * cast(weight, b.dtype.name)
            updates[var] = flat if k == 1 else var + flat
        updates.update(state_updates)
        self._grad_fn = function([x, y, weight], outputs, updates=updates, name="grad_step",
                                 **step_options(self.settings))
        scale = tensor("float64", shape=(), name="scale")
        reduced = {}
        for b, var in zip(self.buckets, self._bucket_vars):
            reduced.update({n: g * cast(scale, b.dtype.name) for n, g in unpack(b, var).items()})
        updates = dict(self.optimizer.get_updates(grads=reduced, params=params))
        if k > 1:
            updates.update({var: zeros_like(var) for var in self._bucket_vars})
        self._apply_fn = function([scale], [], updates=updates, name="apply_step", **step_options(self.settings))
        # with accumulation, checkpoints hold the buffers per parameter, as a single-process run does
        self._accum = {} if k == 1 else {n: BucketSlice(var, off, shape)
                                         for b, var in zip(self.buckets, self._bucket_vars)
                                         for n, off, shape in b.entries}  # fmt: skip
        self._train_fn = self._train_step
        self.base_lr = float(self.optimizer.lr.get_value())
        self._lr_now = self.base_lr
        self._generators = {}
        for v in {v: None for f in (self._grad_fn, self._eval_fn, self._apply_fn) for v in f.get_shared()
                  if _is_generator_state(v)}:  # fmt: skip
            if not v.name or self._generators.setdefault(v.name, v) is not v:
                raise ValueError("every random generator state needs its own name to be checkpointed; %r is %s"
                                 % (v.name, "used twice" if v.name else "unnamed"))

    # ------------------------------------------------------------------ one step

    def _train_step(self, xb, yb):
        """The Trainer loop's train function: this rank's slice of the global batch, then the
        logs (sums weighted by slice sizes) and any pending stop request reduced in one call."""
        n, k = len(xb), int(self.settings["grad_accum"])
        lo, hi = shard_bounds(n, self.rank, self.world_size)
        sums = np.zeros(2 + len(self.metric_fns))
        if hi > lo:
            values = self._grad_fn(xb[lo:hi], yb[lo:hi], (hi - lo) / n)
            sums[:-1] = [float(v) * (hi - lo) for v in values]
        elif k == 1:  # nothing to contribute to this step: the buckets must not hold the last one's
            for b, var in zip(self.buckets, self._bucket_vars):
                var.set_value(np.zeros(b.size, b.dtype))
        sums[-1] = float(self._signal_pending)
        self.comm.allreduce_(sums)
        if sums[-1] > 0:
            self._stop_agreed = True
        if self._stop_agreed and (k == 1 or self.micro + 1 == k):  # stop at a step boundary, on every rank
            self._interrupted = True
        return (sums[:-1] / n).tolist()

    def _optimizer_step(self, count):
        for var in self._bucket_vars:
            self.comm.allreduce_(var.get_value(borrow=True))
        self._apply_fn(1.0 / count)
        if self.settings["average_bn_stats"]:
            self._average_state()
        self.micro, self.step = 0, self.step + 1

    def _run_epoch(self):
        finished = super()._run_epoch()
        if finished and self._stop_agreed:  # a signal during the epoch's last batches or its evaluation
            self._interrupted = True
        return finished

    def _average_state(self):
        """Non-trainable model state (batch-norm running statistics) averaged over ranks."""
        state = self.model.named_state()
        if not state or self.world_size == 1:
            return
        values = [np.asarray(v.get_value(), dtype=np.float64) for v in state.values()]
        flat = np.concatenate([a.ravel() for a in values])
        self.comm.allreduce_(flat)
        flat /= self.world_size
        offset = 0
        for var, a in zip(state.values(), values):
            var.set_value(flat[offset:offset + a.size].reshape(a.shape).astype(var.type.dtype))
            offset += a.size

    def evaluate(self, data, batch_size=None):
        """Like :meth:`Trainer.evaluate`, each rank on its contiguous part of ``data``, the sums reduced.

        Every rank must call it (it is a collective)."""
        fn, ds = self.compile_eval(), _dataset(data, "evaluation")
        bs, n = int(batch_size or self.settings["eval_batch_size"]), len(ds)
        if n == 0:
            raise ValueError("cannot evaluate on an empty dataset")
        lo, hi = shard_bounds(n, self.rank, self.world_size)
        sums = np.zeros(1 + len(self.metric_fns))
        for i in range(lo, hi, bs):
            xb, yb = ds[np.arange(i, min(i + bs, hi))]
            sums += np.array([float(v) for v in fn(xb, yb)]) * len(xb)
        self.comm.allreduce_(sums)
        return dict(zip(["loss"] + list(self.metric_fns), (sums / n).tolist()))

    # ------------------------------------------------------------------ state

    def _rank_state(self):
        """What differs between ranks: random states, and batch-norm statistics unless averaged."""
        rng = {n: v.get_value() for n, v in self._generators.items()}
        rng["numpy.global"] = np.random.mtrand._rand
        rng["python.random"] = {"bit_generator": "python", "state": random.getstate()}
        state = {} if self.settings["average_bn_stats"] else {
            n: np.asarray(v.get_value()) for n, v in self.model.named_state().items()}
        return {"rng": rng, "state": state}

    def state(self):
        """The checkpoint of the run (a collective: rank 0 gathers every rank's random states).

        Adds ``counters["world_size"]`` and ``extra["ranks"]`` (the per-rank states of ranks 1..N-1)."""
        if self._accum and self.micro:  # partial sums of a step: rank 0 keeps their total
            for var in self._bucket_vars:
                self.comm.allreduce_(var.get_value(borrow=True))
                if self.rank:
                    var.set_value(np.zeros(np.shape(var.get_value(borrow=True)), var.type.dtype))
        st = super().state()
        st["counters"]["world_size"] = self.world_size
        ranks = self.comm.gather(self._rank_state(), root=0)
        if self.rank == 0:
            st["extra"] = dict(st["extra"] or {}, ranks=ranks[1:])
        return st

    def _early_interrupt(self):
        # every rank must agree to stop (at the first reduction), or the ranks' collectives stop matching
        self._signal_pending = True

    def save_checkpoint(self, path, durable=None):
        """Rank 0 writes ``path``; every rank takes part (the random states are gathered)."""
        if self.rank == 0:
            return super().save_checkpoint(path, durable=durable)
        self.compile()
        self.state()
        self.last_checkpoint, self._saved_at = os.fspath(path), self._position()
        self._durable_at, self._durable_position = 0.0, self._saved_at  # rank 0 decides what reaches the disk
        return path

    def _make_durable(self):
        if self.rank == 0:
            super()._make_durable()

    def load_checkpoint(self, ck, weights_only=False):
        ck = super().load_checkpoint(ck, weights_only)
        if weights_only:
            return ck
        self.resumed_world_size = int((ck.counters or {}).get("world_size", 1))
        ranks = list((ck.extra or {}).get("ranks") or [])
        self._rank_resume = ranks[self.rank - 1] if 1 <= self.rank <= len(ranks) else None
        if self.resumed_world_size != self.world_size:
            self.message("resuming a checkpoint of %d process%s on %d: the same global batches of %d; the random "
                         "streams of ranks without a saved state are derived anew from the seed and step"
                         % (self.resumed_world_size, "es" if self.resumed_world_size > 1 else "", self.world_size,
                            self.loader.batch_size))
        return ck

    def sync_ranks(self):
        """Broadcast parameters and optimizer state from rank 0, set each rank's own random streams
        (and batch-norm statistics from a checkpoint), then compare checksums across ranks."""
        comm = self.comm
        params, opt = self.model.named_params(), dict(self.optimizer.named_state())
        shared_vars = list(params.items()) + list(opt.items())
        layout = [(n, tuple(np.shape(v.get_value(borrow=True))), str(v.type.dtype)) for n, v in shared_vars]
        layouts = comm.allgather(layout)
        for r, other in enumerate(layouts):
            if other != layouts[0]:
                diff = sorted(set(other) ^ set(layouts[0]))[:5]
                raise RuntimeError("rank %d built a different model or optimizer than rank 0 (every rank must build "
                                   "the same recipe and config); first differences: %s" % (r, diff))
        for _, var in shared_vars:
            value = np.array(var.get_value())
            comm.bcast_(value, root=0)
            var.set_value(value)
        if self._rank_resume is not None:
            self._set_rank_state(self._rank_resume)
        elif self.rank > 0:
            self._seed_rank_streams()
        if self.rank and self._accum:  # rank 0 holds any partial sum of a step from the checkpoint
            for b, var in zip(self.buckets, self._bucket_vars):
                var.set_value(np.zeros(b.size, b.dtype))
        checked = dict(self.model.named_params(trainable=True), **opt)
        if self.settings["average_bn_stats"]:
            checked.update(self.model.named_state())
        digests = comm.allgather([_digest(v.get_value(borrow=True)) for v in checked.values()])
        for r, d in enumerate(digests):
            if d != digests[0]:
                names = [n for n, a, b in zip(checked, d, digests[0]) if a != b]
                raise RuntimeError("after the broadcast from rank 0, rank %d holds different values of %s "
                                   "(checksum mismatch)" % (r, ", ".join(names[:5])))

    def _seed_rank_streams(self):
        """Rank r > 0: random streams of its own, a function of (seed, rank, name, step) alone."""
        for name, var in self._generators.items():
            old = var.get_value(borrow=True)
            seq = np.random.SeedSequence([self.seed, self.rank, zlib.crc32(name.encode()), self.step])
            var.set_value(np.random.Generator(type(old.bit_generator)(seq)))
        words = np.random.SeedSequence([self.seed, self.rank, self.step]).generate_state(2)
        np.random.seed(int(words[0]))
        random.seed(int(words[1]))

    def _set_rank_state(self, saved):
        rng = saved.get("rng") or {}
        for name, var in self._generators.items():
            if name in rng:
                var.set_value(rng[name])
        if "numpy.global" in rng:
            np.random.set_state(rng["numpy.global"].get_state())
        if "python.random" in rng:
            random.setstate(rng["python.random"]["state"])
        state = saved.get("state") or {}
        if not self.settings["average_bn_stats"]:
            for name, var in self.model.named_state().items():
                if name in state:
                    var.set_value(np.asarray(state[name], dtype=var.type.dtype))

    # ------------------------------------------------------------------ signals

    def _install_sigint(self):
        """SIGINT and SIGTERM (mpiexec forwards both to every rank) only mark a stop request here; the
        next batch's reduction tells every rank, and all stop after the same optimizer step and write
        one checkpoint.  A second signal raises KeyboardInterrupt (the command then aborts the job)."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._signal_pending:
                raise KeyboardInterrupt
            self._signal_pending = True

        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_sigint(previous):
        for signum, handler in (previous or {}).items():
            signal.signal(signum, handler)
