"""Fault injection: kill -9 during a compile and during a checkpoint write, a full disk, an early Ctrl-C.

Each fault must end in a clear error or a clean exit status: never a crash (a signal), a hang, a
wrong number, or debris that outlives the next run.  Real processes, real signals and real
file systems: a full disk is a small tmpfs where this user may mount one (root), a file-size
limit (``RLIMIT_FSIZE``, the kernel's ``EFBIG``), a compiler that reports a full disk, or an
``ENOSPC`` raised by the checkpoint writer after it wrote half of the file.
"""

import contextlib
import errno
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import nettrain as theano
from nettrain import config
from nettrain import tensor as T
from nettrain.backends.c import cache, linker
from nettrain.backends.c.compiler import available
from nettrain.cli import main
from nettrain.train import checkpoint as ckpt_mod
from nettrain.train import load_checkpoint

needs_c = pytest.mark.skipif(not available(), reason="no working C compiler")

TINY = '''
import numpy as np
from nettrain import layers as L, losses, metrics
from nettrain.optimizers import Adam

CONFIG = dict(epochs=4, batch_size=16, lr=0.01, seed=0, hidden=8, n=96)

def build(config):
    rng = np.random.default_rng(123)
    x = rng.normal(size=(config.n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    model = L.Sequential([L.Dense(config.hidden, activation="tanh"), L.Dense(2)], seed=config.seed)
    return dict(model=model, loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy},
                optimizer=Adam(config.lr), train=(x[:64], y[:64]), val=(x[64:80], y[64:80]))
'''


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return str(path)


def env(**flags):
    """Environment of a child process: this nettrain, the current flags plus ``flags``."""
    given = [f for f in os.environ.get("NETTRAIN_FLAGS", "").split(",") if f]
    given += ["%s=%s" % kv for kv in flags.items()]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path), NETTRAIN_FLAGS=",".join(given))


def temporaries(directory):
    return sorted(glob.glob(os.path.join(str(directory), "**", "*.tmp-*"), recursive=True))


@contextlib.contextmanager
def tmpfs(path, kb):
    """A ``kb`` KiB tmpfs mounted at ``path`` (skips the test where this user cannot mount)."""
    os.makedirs(path, exist_ok=True)
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % kb, "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.decode(errors="replace").strip())
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fake_compiler(tmp_path, body):
    """A shell script standing in for gcc: ``--version`` answers like gcc, any build runs ``body``."""
    path = tmp_path / "fakecc"
    path.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then exec gcc --version; fi\n%s\n' % body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty compile cache; the once-per-process warnings may fire again."""
    d = str(tmp_path / "cache")
    cache.reset_cache_stats()
    cache._valid.clear()
    monkeypatch.setattr(linker, "_cache_warned", [], raising=False)
    with config.change_flags(compiledir=d, linker="c"):
        yield d
    cache._fallback.pop(d, None)


# ------------------------------------------------------------------------------------ kill -9


@needs_c
def test_kill_9_during_a_compile_leaves_a_build_directory_the_next_build_removes(tmp_path, fresh_cache):
    marker = tmp_path / "compiling"
    cc = fake_compiler(tmp_path, 'touch "%s"\nexec sleep 60' % marker)
    code = "import nettrain as th, nettrain.tensor as T\nx = T.dvector()\nth.function([x], T.exp(x) * 2 + 1)\n"
    flags = dict(compiledir=fresh_cache, cxx=cc, openmp=False, linker="c")
    child = subprocess.Popen([sys.executable, "-c", code], env=env(**flags), start_new_session=True)
    try:
        deadline = time.time() + 60
        while not marker.exists() and child.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the child never started compiling (status %s)" % child.poll()
        os.killpg(child.pid, signal.SIGKILL)  # the child and its compiler, as an OOM killer or kill -9 would
        child.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    left = temporaries(fresh_cache)
    # the function's kernels and (first build in this cache) the C call path were compiling at once
    assert 1 <= len(left) <= 2 and all("%s-%d-" % (socket.gethostname(), child.pid) in p for p in left), left
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) - 7)  # the first build of a process in the cache sweeps them
    np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) - 7)
    assert temporaries(fresh_cache) == [] and cache.cache_stats()["stale_removed"] == len(left)


def test_a_reused_pid_does_not_keep_a_temporary_alive():
    from nettrain import debris

    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        now = time.time()
        host = socket.gethostname()
        # the PID belongs to a process that started after the file was last written: not its writer
        assert debris.owner_gone(host, sleeper.pid, now - 100)
        # written after that process started: its writer may still be at work
        assert not debris.owner_gone(host, sleeper.pid, now)
        assert not debris.owner_gone("another-host", 999999999, now)  # cannot be checked from here...
        assert debris.owner_gone("another-host", 999999999, now - debris.STALE_AGE - 1)  # ...until it is old
    finally:
        sleeper.kill()
        sleeper.wait()
    assert debris.owner_gone(host, sleeper.pid, now)  # the process is gone


SLOW_WRITER = """
import sys, time
from nettrain.train import checkpoint as C

def half_then_hang(path, buffer, *args):  # a writer killed halfway through the file
    data = buffer.getvalue()
    with open(path, "xb") as f:
        f.write(data[: len(data) // 2])
    open(sys.argv[2], "w").close()
    time.sleep(60)

C._write_file = half_then_hang
ck = C.load_checkpoint(sys.argv[1])
C.save_checkpoint(sys.argv[1], params=ck.params, optimizer=ck.optimizer, rng=ck.rng, counters=ck.counters,
                  data_state=ck.data_state, schedule=ck.schedule, hooks=ck.hooks, config=ck.config, extra=ck.extra)
"""


def test_kill_9_during_a_checkpoint_write_keeps_the_last_one_and_resume_removes_the_temporary(recipe, tmp_path):
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out), "--epochs", "1", "--no-progress"]) == 0
    before = load_checkpoint(out / "last.h5").counters
    marker = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(out / "last.h5"), str(marker)], env=env())
    try:
        deadline = time.time() + 60
        while not marker.exists() and child.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the child never wrote (status %s)" % child.poll()
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert [os.path.basename(p) for p in temporaries(out)] == ["last.h5.tmp-%s-%d" % (socket.gethostname(),
                                                                                       child.pid)]  # fmt: skip
    assert load_checkpoint(out / "last.h5").counters == before
    assert main(["train", recipe, "--out", str(out), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert temporaries(out) == []
    assert load_checkpoint(out / "last.h5").counters["epoch"] == 2


# ------------------------------------------------------------------------------------ disk full: checkpoints


def test_disk_full_during_training_is_a_clear_error_naming_the_last_good_checkpoint(recipe, tmp_path, capsys,
                                                                                      monkeypatch):  # fmt: skip
    real, writes = ckpt_mod._write_file, []

    def fills_on_second_last_h5(path, buffer):
        writes.append(path)
        if os.path.basename(path).startswith("last.h5") and sum("last.h5" in p for p in writes) > 1:
            data = buffer.getvalue()
            with open(path, "xb") as f:  # the disk fills halfway through the file
                f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, buffer)

    monkeypatch.setattr(ckpt_mod, "_write_file", fills_on_second_last_h5)
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out), "--epochs", "5", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert ("nettrain train: error: no space left on device: checkpoint %s not written, last good one is %s "
            "(epoch 1, step 4)" % (out / "last.h5", out / "last.h5")) in err  # fmt: skip
    monkeypatch.undo()
    assert load_checkpoint(out / "last.h5").counters["epoch"] == 1
    assert temporaries(out) == []


CRASHED_ON_MAIN = """
import sys, numpy as np
from nettrain.train.checkpoint import save_checkpoint
for step in range(20):  # 8 + 8 arrays of 1000 values: the second file no longer fits in 200 KiB
    save_checkpoint(sys.argv[1], params={"p%d" % i: np.full(1000, step, "float32") for i in range(8)},
                    optimizer={"m%d" % i: np.zeros(1000) for i in range(8)}, counters={"epoch": 0, "step": step})
"""


def test_checkpoint_on_a_full_tmpfs_is_an_error_not_a_segfault(tmp_path):
    with tmpfs(tmp_path / "small", 200) as d:
        path = os.path.join(d, "last.h5")
        r = subprocess.run([sys.executable, "-c", CRASHED_ON_MAIN, path], env=env(), capture_output=True, text=True,
                           timeout=120)  # fmt: skip
        assert r.returncode == 1, (r.returncode, r.stderr[-2000:])  # h5py used to die of SIGSEGV here
        assert ("CheckpointWriteError: no space left on device: checkpoint %s not written, last good one is %s "
                "(epoch 0, step 0)" % (path, path)) in r.stderr  # fmt: skip
        assert load_checkpoint(path).counters["step"] == 0 and temporaries(d) == []


def test_training_onto_a_filling_tmpfs_exits_1_with_a_message(recipe, tmp_path):
    with tmpfs(tmp_path / "small", 160) as d:
        out = os.path.join(d, "run")
        r = subprocess.run([sys.executable, "-m", "nettrain", "train", recipe, "--out", out, "--epochs", "60",
                            "--no-progress"], env=env(), capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
        assert "Traceback" not in r.stderr and "nettrain train: error: no space left on device" in r.stderr
        good = r.stderr.split("last good one is ")[1].split(" ")[0]
        assert load_checkpoint(good).counters["epoch"] >= 1 and temporaries(d) == []


# ------------------------------------------------------------------------------------ disk full: compile cache


def _two_functions():
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 2 + 1)
    g = theano.function([x], T.tanh(x) - 3)
    v = np.arange(3.0)
    np.testing.assert_allclose(f(v), np.exp(v) * 2 + 1)
    np.testing.assert_allclose(g(v), np.tanh(v) - 3)


def _cache_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, cache.CompileCacheWarning)]


@needs_c
def test_compiler_reporting_a_full_disk_gives_the_python_linker_with_one_warning(tmp_path, fresh_cache):
    cc = fake_compiler(tmp_path, 'echo "/usr/bin/ld: final link failed: No space left on device" >&2\nexit 1')
    with config.change_flags(cxx=cc, openmp=False), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _two_functions()
    assert [str(w.message)[:40] for w in caught if issubclass(w.category, RuntimeWarning)] == []
    messages = _cache_warnings(caught)
    assert len(messages) == 1 and "No space left on device" in messages[0] and "Python linker" in messages[0]
    # each function's kernels, and for each the C call-path extension (retried while the cache cannot be written)
    assert cache.cache_stats()["write_failures"] == 4 and temporaries(fresh_cache) == []


CACHE_ON_A_FULL_DISK = """
import resource, signal, warnings
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_BYTES, MAX_BYTES))
import numpy as np, nettrain as th, nettrain.tensor as T
from nettrain.backends.c.cache import CompileCacheWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    x = T.dvector()
    for expr, ref in ((T.exp(x) * 2 + 1, lambda v: np.exp(v) * 2 + 1), (T.tanh(x) - 3, lambda v: np.tanh(v) - 3)):
        v = np.arange(3.0)
        assert np.allclose(th.function([x], expr)(v), ref(v))
messages = [str(w.message) for w in caught if issubclass(w.category, CompileCacheWarning)]
print("cache warnings: %d: %s" % (len(messages), messages))
"""


@needs_c
def test_compile_cache_on_a_full_disk_falls_back_on_every_function(tmp_path, fresh_cache):
    limit = 1000  # bytes per file: the C source of either function is longer
    r = subprocess.run([sys.executable, "-c", CACHE_ON_A_FULL_DISK.replace("MAX_BYTES", str(limit))],
                       env=env(compiledir=fresh_cache, linker="c"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "cache warnings: 1: " in r.stdout and "File too large" in r.stdout
    assert temporaries(fresh_cache) == []


@needs_c
def test_compile_cache_on_a_full_tmpfs_falls_back_on_every_function(tmp_path):
    with tmpfs(tmp_path / "small", 64) as d:
        with open(os.path.join(d, "filler"), "wb") as f:
            f.write(b"\0" * 60 * 1024)
        r = subprocess.run([sys.executable, "-c", CACHE_ON_A_FULL_DISK.replace("MAX_BYTES", "-1")],
                           env=env(compiledir=os.path.join(d, "cache"), linker="c"), capture_output=True, text=True,
                           timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        assert "cache warnings: 1: " in r.stdout and "No space left on device" in r.stdout
        assert temporaries(d) == []


# ------------------------------------------------------------------------------------ early Ctrl-C

SWALLOWS_CTRL_C = TINY + '''
import os, signal

class _Finalizer:
    def __del__(self):  # Python ignores an exception raised in __del__: a KeyboardInterrupt is lost here
        os.kill(os.getpid(), signal.SIGINT)

_build = build

def build(config):
    _Finalizer()
    return _build(config)
'''


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed KeyboardInterrupt
def test_ctrl_c_whose_keyboard_interrupt_a_library_swallows_still_stops_the_run(tmp_path, capsys):
    path = tmp_path / "swallow.py"
    path.write_text(SWALLOWS_CTRL_C)
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out), "--epochs", "50", "--no-progress"]) == 130
    captured = capsys.readouterr()
    assert "resume with: nettrain train" in captured.out and "checkpoint:" not in captured.out
    assert load_checkpoint(out / "last.h5").counters["epoch"] == 0  # stopped before the first batch


SENDS_CTRL_C_WHILE_BUILDING = TINY + '''
import os, signal

_build = build

def build(config):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the model is being built
    return _build(config)
'''


def test_ctrl_c_before_training_stops_a_run_that_started_with_sigint_ignored(tmp_path, capsys):
    # A shell script's background job (cmd &) starts with SIGINT ignored: the early Ctrl-C used to be
    # lost there (the Trainer's handler came only later), and the run trained every epoch and exited 0.
    path = tmp_path / "early.py"
    path.write_text(SENDS_CTRL_C_WHILE_BUILDING)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        status = main(["train", str(path), "--out", str(tmp_path / "run"), "--epochs", "50", "--no-progress"])
    finally:
        signal.signal(signal.SIGINT, previous)
    captured = capsys.readouterr()
    assert status == 130 and "nettrain train: error: interrupted" in captured.err
    assert "checkpoint:" not in captured.out


READY_THEN_TRAIN = """
import sys
from nettrain.cli import main
print("ready", flush=True)  # imports done: the moments below count from the command's start
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_at_early_moments_never_lets_the_run_finish(recipe, tmp_path):
    delays = (0.0, 0.05, 0.2, 0.5, 1.0)
    children = []
    for i, delay in enumerate(delays):
        args = ["train", recipe, "--out", str(tmp_path / ("run%d" % i)), "--epochs", "3000", "--no-progress"]
        # as from a terminal: SIGINT at its default (pytest-xdist workers ignore it, and children inherit that; a
        # process started with SIGINT ignored cannot see one before nettrain's first line runs)
        child = subprocess.Popen([sys.executable, "-c", READY_THEN_TRAIN, *args], env=env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
        children.append((delay, child))

    def interrupt(child, delay):  # one thread per child, so that each moment counts from its own "ready"
        if child.stdout.readline() == "ready\n":
            time.sleep(delay)
            child.send_signal(signal.SIGINT)

    threads = [threading.Thread(target=interrupt, args=(child, delay)) for delay, child in children]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for delay, child in children:
            stdout, stderr = child.communicate(timeout=120)
            # 130: nettrain caught it (and saved, once training had begun); -SIGINT: Python's default handler,
            # in the instant between "ready" and the command's first line (the shell shows 130 too)
            assert child.returncode in (130, -signal.SIGINT), (delay, child.returncode, stderr[-3000:])
            assert "checkpoint:" not in stdout, (delay, stdout)
    finally:
        for _, child in children:
            if child.poll() is None:
                child.kill()


EVENTS_ON_A_FULL_DISK = """
import resource, signal, sys
import numpy as np
from nettrain.train.tblog import TensorBoardLogger
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
logger = TensorBoardLogger(sys.argv[1], flush_secs=0.05)
values = np.random.default_rng(0).normal(size=10000)
try:
    for step in range(2000):  # the writer thread dies early on; events must not pile up until add_* blocks
        logger.histogram("w", values, step)
        logger.scalar("loss", 1.0 / (step + 1), step)
except OSError as e:
    print("stopped at step %d: %s" % (step, e))
logger.close()
"""


def test_tensorboard_writer_on_a_full_disk_raises_instead_of_hanging(tmp_path):
    r = subprocess.run([sys.executable, "-c", EVENTS_ON_A_FULL_DISK, str(tmp_path / "logs")], env=env(),
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0 and "stopped at step " in r.stdout, (r.stdout, r.stderr[-3000:])
