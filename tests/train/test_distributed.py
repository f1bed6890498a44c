"""Data-parallel training: buckets and the one-process trainer here, then real 2-rank runs under mpiexec.

The MPI tests start ``mpiexec -n 2 python -m nettrain train`` on a tiny recipe (100 samples, a
16-unit MLP) and compare checkpoints; they need the ``mpi`` extra (mpi4py and an MPI library with its
mpiexec: ``pip install -e '.[mpi]'``); without it they are skipped, saying so.
"""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from nettrain import layers as L
from nettrain import losses
from nettrain.optimizers import Adam
from nettrain.train import Trainer, load_checkpoint
from nettrain.train.distributed import DistributedTrainer, LocalCommunicator, shard_bounds
from nettrain.train.distributed.buckets import plan_buckets
from nettrain.train.distributed.env import launched_by_mpi, mpiexec_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RECIPE = '''
import os
import signal

import numpy as np

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import Adam
from nettrain.train import Hook

CONFIG = dict(epochs=3, batch_size=16, lr=1e-2, seed=0, hidden=16, dropout=0.0, batchnorm=False, signal_at=0,
              fail_at=0, on_rank=1, fail_in_build=False, histogram_every=0)


class Trigger(Hook):
    """On rank ``on_rank``: SIGINT to itself after step ``signal_at``, or an exception after ``fail_at``."""

    def __init__(self, config):
        self.config = config

    def on_batch_end(self, trainer, logs):
        if getattr(trainer, "rank", 0) != self.config.on_rank or not logs["stepped"]:
            return
        if trainer.step == self.config.signal_at:
            os.kill(os.getpid(), signal.SIGINT)
        if trainer.step == self.config.fail_at:
            raise RuntimeError("boom on rank %d at step %d" % (trainer.rank, trainer.step))


def build(config):
    if config.fail_in_build:
        from nettrain.train.distributed import world

        if world().rank == config.on_rank:
            raise ValueError("a bad value seen by rank %d only" % world().rank)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 8)).astype("float32")  # 7 global batches of 16 per epoch, the last of 4
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).astype("int32")
    layers = [L.Dense(config.hidden, activation="relu")] + ([L.Dropout(config.dropout)] if config.dropout else [])
    layers += [L.BatchNorm()] if config.batchnorm else []
    model = L.Sequential(layers + [L.Dense(2)], seed=config.seed)
    return dict(model=model, loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy},
                optimizer=Adam(config.lr), train=(x, y), val=(x[:30], y[:30]), hooks=[Trigger(config)])
'''


# ---------------------------------------------------------------------------- one process


def test_buckets_keep_model_order_split_by_size_and_dtype():
    shapes = {"a": ((3, 4), "float32"), "b": ((4,), "float64"), "c": ((2,), "float32"), "d": ((50,), "float32")}
    buckets = plan_buckets(shapes, 64)
    assert [(b.dtype.name, [e[0] for e in b.entries], b.size) for b in buckets] == [
        ("float32", ["a", "c"], 14), ("float32", ["d"], 50), ("float64", ["b"], 4)]
    assert [e[1] for e in buckets[0].entries] == [0, 12]
    with pytest.raises(TypeError, match="int32 is not floating point"):
        plan_buckets({"n": ((2,), "int32")}, 64)


def test_shards_cover_a_batch_exactly_once():
    for n in (0, 1, 5, 16):
        for size in (1, 2, 3, 8):
            parts = [shard_bounds(n, r, size) for r in range(size)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert max(hi - lo for lo, hi in parts) - min(hi - lo for lo, hi in parts) <= 1


def test_launch_detection_reads_the_launchers_variables():
    assert not launched_by_mpi({})
    assert launched_by_mpi({"PMI_SIZE": "2", "PMI_RANK": "0"})
    assert launched_by_mpi({"SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "3"})
    assert not launched_by_mpi({"SLURM_STEP_NUM_TASKS": "4"})  # a batch script, not an srun step
    with pytest.raises(ValueError, match="NETTRAIN_MPI must be 1 or 0"):
        launched_by_mpi({"NETTRAIN_MPI": "maybe"})


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 5)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def _model():
    return L.Sequential([L.Dense(8, activation="tanh"), L.Dense(2)], seed=1)


@pytest.mark.parametrize("accum", [1, 3])
def test_one_process_distributed_trainer_computes_what_the_trainer_computes(accum, tmp_path):
    kw = dict(epochs=2, batch_size=8, verbose=False, grad_accum=accum, allreduce_bucket_mb=1e-4)  # 2+ buckets
    plain = Trainer(_model(), losses.categorical_crossentropy, Adam(0.05, clipnorm=1.0), _data(), **kw)
    plain.fit()
    dist = DistributedTrainer(_model(), losses.categorical_crossentropy, Adam(0.05, clipnorm=1.0), _data(),
                              comm=LocalCommunicator(), **kw)  # fmt: skip
    dist.fit()
    assert len(dist.buckets) >= 2 and dist.step == plain.step
    for name, value in plain.get_params().items():
        np.testing.assert_allclose(dist.get_params()[name], value, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dist.history[-1]["loss"], plain.history[-1]["loss"], rtol=1e-6)
    assert dist.evaluate(_data()) == pytest.approx(plain.evaluate(_data()), rel=1e-6)


def test_accumulation_buffers_checkpoint_per_parameter_like_the_trainer(tmp_path):
    t = DistributedTrainer(_model(), losses.categorical_crossentropy, Adam(0.05), _data(), epochs=1, batch_size=8,
                           verbose=False, grad_accum=4, comm=LocalCommunicator())  # fmt: skip
    t.compile()
    x, y = _data()
    t._train_fn(x[:8], y[:8])  # one batch of a 4-batch step: the buffers hold its gradient
    t.micro = 1
    path = t.save_checkpoint(tmp_path / "mid.h5")
    ck = load_checkpoint(path)
    grads = {n: ck.optimizer[n] for n in t.model.named_params(trainable=True)}
    assert all(np.abs(g).sum() > 0 for g in grads.values())
    assert ck.counters["world_size"] == 1 and ck.extra["ranks"] == []
    t2 = DistributedTrainer(_model(), losses.categorical_crossentropy, Adam(0.05), _data(), epochs=1, batch_size=8,
                            verbose=False, grad_accum=4, comm=LocalCommunicator())  # fmt: skip
    t2.load_checkpoint(path)
    for n, g in grads.items():
        np.testing.assert_array_equal(t2._accum[n].get_value(), g)


def test_nan_guard_and_profile_apply_to_the_distributed_steps(tmp_path):
    from nettrain.compile.nanguardmode import NanGuardError

    x, y = _data()
    x[7, 0] = np.nan  # a NaN input: the guarded gradient step names the first node it reaches
    t = DistributedTrainer(_model(), losses.categorical_crossentropy, Adam(0.05), (x, y), epochs=1, batch_size=8,
                           verbose=False, nan_guard=True, profile=True, comm=LocalCommunicator())  # fmt: skip
    with pytest.raises(NanGuardError, match="NaN"):
        t.fit()
    assert t._grad_fn.profile is not None and t._apply_fn.profile is not None


def test_bad_distributed_settings_are_named():
    with pytest.raises(ValueError, match="allreduce_bucket_mb"):
        DistributedTrainer(_model(), losses.categorical_crossentropy, Adam(0.05), _data(), allreduce_bucket_mb=0,
                           verbose=False, comm=LocalCommunicator())  # fmt: skip


# ---------------------------------------------------------------------------- under mpiexec -n 2


def _mpi_skip_reason():
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:  # not imported here: pytest's process stays out of MPI
        return "mpi4py is not installed (pip install -e '.[mpi]')"
    if mpiexec_command(2) is None:
        return "no mpiexec found (pip install -e '.[mpi]' puts one beside python)"
    return None


_SKIP = _mpi_skip_reason()
mpi = pytest.mark.skipif(_SKIP is not None, reason="MPI tests: %s" % _SKIP)


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "NETTRAIN_MPI"):
        env.pop(key, None)  # never inherit a launcher (pytest itself may run under one)
    return env


# a single-process run must behave as before: it never imports mpi4py
_PLAIN = ("import sys; from nettrain.cli import main; rc = main(sys.argv[1:]); "
          "assert 'mpi4py' not in sys.modules, 'a single-process run imported mpi4py'; sys.exit(rc)")


def _train(ranks, recipe, out, *extra, timeout=120):
    args = ["train", recipe, "--out", str(out), "--no-progress", *extra]
    cmd = mpiexec_command(ranks) + [sys.executable, "-m", "nettrain"] + args if ranks else [
        sys.executable, "-c", _PLAIN] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(RECIPE)
    return str(path)


@mpi
def test_two_ranks_follow_the_one_process_trajectory(recipe, tmp_path):
    _ok(_train(0, recipe, tmp_path / "one"))
    two = _ok(_train(2, recipe, tmp_path / "two"))
    one, dist = load_checkpoint(tmp_path / "one" / "last.h5"), load_checkpoint(tmp_path / "two" / "last.h5")
    assert dist.counters["world_size"] == 2 and dist.counters["step"] == one.counters["step"] == 21
    for name, value in one.params.items():  # same global batches: equal up to float32 summation order
        np.testing.assert_allclose(dist.params[name], value, rtol=1e-5, atol=1e-6)
    for key in ("loss", "acc", "val_loss", "val_acc"):  # logged losses and metrics are the global ones
        assert dist.extra["history"][-1][key] == pytest.approx(one.extra["history"][-1][key], rel=1e-5)
    # rank 0 alone writes: one event file, the config, and the epoch lines once
    assert len([f for f in os.listdir(tmp_path / "two") if f.startswith("events.out")]) == 1
    assert os.path.exists(tmp_path / "two" / "config.json")
    assert two.stdout.count("epoch 3/3") == 1 and "on 2 processes" in two.stdout
    # the default thread count shares the machine's cores between the ranks on it
    from nettrain.backends.threads import available_cores

    n = max(1, available_cores() // 2)
    assert "%d thread%s each" % (n, "s" if n > 1 else "") in two.stdout, two.stdout


@mpi
def test_interrupted_two_rank_run_resumes_bit_exactly_on_two_ranks_and_on_one(recipe, tmp_path):
    d = tmp_path
    # per-rank random streams and batch-norm statistics are saved too; with 2 batches per step, the
    # stop waits for the step being accumulated
    args = ("--set", "dropout=0.3", "--set", "batchnorm=true", "--set", "grad_accum=2")
    _ok(_train(2, recipe, d / "whole", *args))
    stopped = _train(2, recipe, d / "cut", *args, "--set", "signal_at=9")  # SIGINT on rank 1 only
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "interrupted after 2 epochs and 4 batches (step 10)" in stopped.stdout
    assert load_checkpoint(d / "cut" / "last.h5").counters["micro"] == 0
    shutil.copytree(d / "cut", d / "cut1")
    _ok(_train(2, recipe, d / "cut", "--resume", "--set", "signal_at=0"))
    whole, resumed = load_checkpoint(d / "whole" / "last.h5"), load_checkpoint(d / "cut" / "last.h5")
    for part in ("params", "optimizer"):
        for name, value in getattr(whole, part).items():
            np.testing.assert_array_equal(getattr(resumed, part)[name], value, err_msg=name)
    rank1 = whole.extra["ranks"][0]["state"]  # rank 1's own running statistics, restored exactly
    assert sorted(rank1) == ["batchnorm0.running_mean", "batchnorm0.running_var"]
    assert not np.array_equal(rank1["batchnorm0.running_mean"], whole.params["batchnorm0.running_mean"])
    for name, value in rank1.items():
        np.testing.assert_array_equal(resumed.extra["ranks"][0]["state"][name], value)
    # the same checkpoint on one process: the rest of the same global batches
    _ok(_train(0, recipe, d / "cut1", "--resume", "--set", "signal_at=0"))
    ck = load_checkpoint(d / "cut1" / "last.h5")
    assert (ck.counters["epoch"], ck.counters["step"], ck.counters["status"]) == (3, 12, "completed")
    assert whole.counters["step"] == 12  # 7 batches an epoch: 3 steps of 2 and 1 of the last batch
    assert "world_size" not in ck.counters  # written by a plain single-process Trainer


@mpi
def test_an_exception_on_one_rank_ends_every_rank_quickly(recipe, tmp_path):
    d = tmp_path
    t0 = time.monotonic()
    proc = _train(2, recipe, d / "boom", "--set", "fail_at=4", timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "error (rank 1 of 2): RuntimeError: boom on rank 1 at step 4" in proc.stderr
    assert elapsed < 30, elapsed


# ---------------------------------------------------------------------------- device buffers (emulated GPU)


def _emulator_or_skip():
    from nettrain.backends.c import linker as c_linker

    if not c_linker.usable():
        pytest.skip("the CUDA emulator needs a C compiler")
    from nettrain.backends.cuda.runtime import emulator

    return emulator()


class _Doubling(LocalCommunicator):
    """A world of one whose 'reduction' doubles the buffer, to see which memory it touched."""

    def allreduce_(self, buf):
        return self.on_host(buf, self._double)

    def _double(self, b):
        self.seen = type(b).__name__
        if isinstance(b, np.ndarray):
            b *= 2


def test_device_buckets_are_staged_through_the_host_unless_the_library_reads_device_memory():
    from nettrain.backends.cuda.darray import DeviceArray

    rt = _emulator_or_skip()
    d = DeviceArray.from_host(rt, np.arange(6, dtype=np.float32))
    comm = _Doubling()
    comm.allreduce_(d)
    assert comm.seen == "ndarray"
    np.testing.assert_array_equal(d.get(), 2 * np.arange(6, dtype=np.float32))  # copied back to the device
    comm.device_aware = True
    comm.allreduce_(d)  # a CUDA-aware library gets the device pointer, no copy
    assert comm.seen == "CudaBuffer"
    cai = comm.on_host(d, lambda b: setattr(comm, "cai", b.__cuda_array_interface__)) and comm.cai
    assert cai["data"][0] == d.ptr and cai["shape"] == (6,) and cai["typestr"] == "<f4"
    with pytest.raises(TypeError, match="C-contiguous"):
        comm.allreduce_(np.zeros((4, 4))[:, 1])


class _Staging(LocalCommunicator):
    """A world of one that still moves every reduced buffer through ``on_host`` (device -> host -> device)."""

    def allreduce_(self, buf):
        return self.on_host(buf, lambda b: None)


def test_training_on_the_emulated_device_keeps_buckets_on_the_device():
    from nettrain.backends.cuda import testing as ct
    from nettrain.backends.cuda.darray import DeviceArray

    _emulator_or_skip()
    kw = dict(epochs=2, batch_size=8, verbose=False, grad_accum=2)
    with ct.emulated():
        dist = DistributedTrainer(_model(), losses.categorical_crossentropy, Adam(0.05), _data(), comm=_Staging(), **kw)
        dist.fit()
        assert isinstance(dist._bucket_vars[0].container[0], DeviceArray)
        plain = Trainer(_model(), losses.categorical_crossentropy, Adam(0.05), _data(), **kw)
        plain.fit()
    for name, value in plain.get_params().items():
        np.testing.assert_allclose(dist.get_params()[name], value, rtol=1e-6, atol=1e-7)


@mpi
def test_a_build_error_on_one_rank_stops_every_rank_cleanly(recipe, tmp_path):
    d = tmp_path
    proc = _train(2, recipe, d / "bad", "--set", "fail_in_build=true", timeout=60)
    assert proc.returncode == 2  # a recipe error, as on one process, from every rank: no abort needed
    expected = "rank 1: recipe %s: build(config) failed: ValueError: a bad value seen by rank 1 only" % recipe
    assert expected in proc.stderr
    assert not os.path.exists(d / "bad")  # nothing was created


AVERAGE_BN = """
import numpy as np
from nettrain import layers as L, losses
from nettrain.optimizers import SGD
from nettrain.train.distributed import DistributedTrainer, world

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int32")
for average in (False, True):
    model = L.Sequential([L.Dense(6), L.BatchNorm(), L.Dense(2)], seed=0)
    t = DistributedTrainer(model, losses.categorical_crossentropy, SGD(0.1), (x, y), epochs=1, batch_size=16,
                           verbose=False, average_bn_stats=average)
    t.fit()
    stats = np.concatenate([np.ravel(v.get_value()) for v in model.named_state().values()])
    everyone = world().allgather(stats)
    if world().rank == 0:
        print("average=%s equal=%s" % (average, np.array_equal(everyone[0], everyone[1])))
"""


@mpi
def test_batch_norm_statistics_stay_per_rank_unless_averaged(tmp_path):
    script = tmp_path / "bn.py"
    script.write_text(AVERAGE_BN)
    proc = _ok(subprocess.run(mpiexec_command(2) + [sys.executable, str(script)], capture_output=True, text=True,
                              timeout=120, env=_env()))  # fmt: skip
    assert "average=False equal=False" in proc.stdout and "average=True equal=True" in proc.stdout


_EARLY_CTRL_C = """
import sys
import numpy as np
from nettrain import layers as L, losses, sigint
from nettrain.optimizers import SGD
from nettrain.train.distributed import DistributedTrainer, world
comm = world()
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 3)).astype("float32"); y = (x.sum(1) > 0).astype("int32")
t = DistributedTrainer(L.Dense(2, seed=0), losses.categorical_crossentropy, SGD(0.5), (x, y), epochs=3,
                       batch_size=16, verbose=False, comm=comm, out_dir=sys.argv[1])
previous = sigint.catch()
if comm.rank == 0:
    sigint._state["pending"] = True  # a Ctrl-C that reached rank 0 only, before fit installed its handler
r = t.fit()
print("rank", comm.rank, r["status"], "step", t.step, flush=True)
"""


@mpi
def test_a_ctrl_c_on_one_rank_before_fit_stops_every_rank_together(tmp_path):
    # the ranks must agree on the stop: a rank leaving the batch loop alone would hang the others' collectives
    proc = subprocess.run(mpiexec_command(2) + [sys.executable, "-c", _EARLY_CTRL_C, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=90, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = sorted(line for line in proc.stdout.splitlines() if line.startswith("rank"))
    assert [line.split()[:3] for line in lines] == [["rank", "0", "interrupted"], ["rank", "1", "interrupted"]]
    assert len({line.split()[-1] for line in lines}) == 1  # stopped at the same step
