"""Command-line papercuts, each of which failed before: argparse errors, cache list, broken pipes,
val_fraction=0, resume hints, duplicate test points, checkpoint fsync cost, a fast --help, --version."""

import os
import re
import subprocess
import sys

import pytest

from nettrain.cli import main
from nettrain.train import read_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = '''
import numpy as np
from nettrain import layers as L, losses, metrics
from nettrain.optimizers import Adam
from nettrain.train import train_val_split

CONFIG = dict(epochs=2, batch_size=16, lr=0.01, seed=0, n=96, val_fraction=0.25)

def build(config):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(config.n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    train, val = train_val_split(x[:64], y[:64], config.val_fraction, seed=config.seed)
    return dict(model=L.Sequential([L.Dense(8, activation="tanh"), L.Dense(2)], seed=config.seed),
                loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy}, optimizer=Adam(config.lr),
                train=train, val=val, test=(x[64:], y[64:]))
'''


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY)
    return str(tmp_path / "tiny.py")


def run_cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + sys.path), COLUMNS="100")
    return subprocess.run([sys.executable, *kw.pop("python_args", []), "-m", "nettrain", *args], capture_output=True,
                          text=True, env=env, **kw)


@pytest.mark.parametrize("argv, usage", [
    (["train", "x.py", "--bogus"], "usage: nettrain train "),
    (["cache", "list", "--bogus"], "usage: nettrain cache list "),
    (["predict", "r.py", "c.h5", "--batch-size", "many"], "usage: nettrain predict "),
    (["--bogus"], "usage: nettrain "),
])
def test_argument_errors_are_the_commands_usage_and_one_line(argv, usage):
    r = run_cli(*argv)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith(usage), r.stderr
    assert all(ln.startswith((" ", "usage:")) for ln in lines[:-1]), r.stderr  # the usage, then
    assert re.match(r"nettrain( \w+)*: error: ", lines[-1]) and "Traceback" not in r.stderr  # one error line


def test_cache_list_names_the_functions_with_size_and_last_use(tmp_path, capsys):
    import nettrain as theano
    from nettrain.backends.c.compiler import available

    if not available():
        pytest.skip("no C compiler")
    x = theano.tensor.dvector("x")
    with theano.change_flags(compiledir=str(tmp_path / "cd"), linker="c"):
        theano.function([x], theano.tensor.exp(x) * 2 + 1, name="papercut_fn")
        theano.function([x], theano.tensor.exp(x) * 2 + 1, name="second_user")
    assert main(["cache", "list", "--compiledir", str(tmp_path / "cd")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["KEY", "SIZE", "LAST", "USE", "STATUS", "FUNCTIONS"]
    row = next(ln for ln in out if "papercut_fn" in ln)
    assert "papercut_fn, second_user" in row and re.search(r"\d+(\.\d)? (B|KB|MB)\s+\d+[smhd] ago\s+ok", row), row


def test_output_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "nettrain", "cache", "info", "--compiledir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert proc.returncode == 141


def test_val_fraction_zero_means_no_validation(recipe, tmp_path, capsys):
    assert main(["train", recipe, "--out", str(tmp_path / "r"), "--no-progress", "--set", "val_fraction=0"]) == 0
    out = capsys.readouterr().out
    assert "val_loss" not in out and "test  loss" in out
    assert "val/loss" not in read_scalars(tmp_path / "r") and (tmp_path / "r" / "best.h5").exists()


def test_resuming_a_finished_run_logs_no_second_test_point(recipe, tmp_path):
    out = str(tmp_path / "r")
    assert main(["train", recipe, "--out", out, "--no-progress"]) == 0
    assert main(["train", recipe, "--out", out, "--resume", "--no-progress"]) == 0
    scalars = read_scalars(out)
    assert len(scalars["test/loss"]) == 1 and len(scalars["hparam/test_loss"]) == 1
    assert main(["train", recipe, "--out", out, "--resume", "--epochs", "3", "--no-progress"]) == 0
    assert [s for s, _ in read_scalars(out)["test/loss"]] == [6, 9]  # a run that trained more: a new point


SECOND_CTRL_C = TINY.replace("train=train, val=val", "train=train, val=val, hooks=[SecondCtrlC()]") + '''
from nettrain.train.hooks import Hook

class SecondCtrlC(Hook):
    """What a second Ctrl-C does: KeyboardInterrupt out of the training loop (here in epoch 2)."""
    def on_batch_end(self, trainer, logs):
        if trainer.epoch == 1:
            raise KeyboardInterrupt
'''


def test_a_second_ctrl_c_still_says_how_to_resume(tmp_path, capsys):
    (tmp_path / "r.py").write_text(SECOND_CTRL_C)
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "r.py"), "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "nettrain train: error: interrupted" in err
    assert "resume with: nettrain train %s --out %s --resume" % (tmp_path / "r.py", out) in err
    assert main(["train", str(tmp_path / "r.py"), "--out", str(tmp_path / "fresh"), "--no-progress",
                 "--set", "checkpoint_every=0"]) == 130  # interrupted before any checkpoint
    err = capsys.readouterr().err
    assert "no checkpoint was written yet; start again with: nettrain train" in err


def test_checkpoints_are_fsynced_at_the_end_not_every_epoch(recipe, tmp_path, monkeypatch):
    from nettrain.train import Trainer, load_checkpoint
    from nettrain.train import checkpoint as ck
    from nettrain.train.recipe import load_recipe, resolve_config

    synced = []
    real = ck._fsync
    monkeypatch.setattr(ck, "_fsync", lambda path: (synced.append(os.path.basename(path)), real(path)))
    r = load_recipe(recipe)

    def fit(interval, out):
        monkeypatch.setattr(ck, "DURABLE_INTERVAL", interval)
        synced.clear()
        t = Trainer.from_recipe(r, resolve_config(r.config, ["epochs=6"]), out_dir=str(tmp_path / out),
                                progress=False, verbose=False)
        t.fit()
        return list(synced)

    every = fit(0.0, "a")  # the old policy: every checkpoint synced (last.h5 and best.h5 each epoch)
    assert len(every) >= 2 * 6
    default = fit(60.0, "b")
    assert len(default) <= 4, default  # the first periodic checkpoint and the final one (file + directory each)
    assert default[-2].startswith("last.h5.tmp-") and default[-1] == "b"  # the final last.h5, then its directory
    assert load_checkpoint(tmp_path / "b" / "last.h5").counters["status"] == "completed"


def test_help_answers_without_importing_the_compiler():
    r = run_cli("--help", python_args=["-X", "importtime"])
    assert r.returncode == 0 and "predict" in r.stdout
    imported = {ln.split("|")[-1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")}
    assert not {m for m in imported if m.split(".")[0] in ("numpy", "scipy", "h5py", "cffi")}, sorted(imported)
    assert "nettrain.tensor" not in imported


def test_version_is_the_packages():
    import nettrain

    with open(os.path.join(ROOT, "pyproject.toml")) as fh:
        want = re.search(r'^version = "([^"]+)"', fh.read(), re.M).group(1)
    assert nettrain.__version__ == want
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout == "nettrain %s\n" % want
