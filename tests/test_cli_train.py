"""``nettrain train|eval|inspect``: exact resume, SIGINT, and clear errors that lose nothing."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from nettrain.cli import main
from nettrain.train import load_checkpoint, read_scalars

TINY = '''
import numpy as np
from nettrain import layers as L, losses, metrics
from nettrain.optimizers import Adam

CONFIG = dict(epochs=4, batch_size=16, lr=0.01, seed=0, hidden=8, n=96, dropout=0.2)

def build(config):
    rng = np.random.default_rng(123)
    x = rng.normal(size=(config.n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    model = L.Sequential([L.Dense(config.hidden, activation="tanh"), L.Dropout(config.dropout), L.Dense(2)],
                         seed=config.seed)
    return dict(model=model, loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy},
                optimizer=Adam(config.lr), train=(x[:64], y[:64]), val=(x[64:80], y[64:80]), test=(x[80:], y[80:]))
'''


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return str(path)


def train(recipe, out, *args):
    return main(["train", recipe, "--out", str(out), "--no-progress", *args])


def params(path):
    with h5py.File(path, "r") as f:
        return {k: f["params"][k][...] for k in f["params"]}


def test_two_epochs_plus_resume_equals_four_epochs_bit_for_bit(recipe, tmp_path, capsys):
    assert train(recipe, tmp_path / "a", "--set", "log_every=1") == 0
    assert train(recipe, tmp_path / "b", "--epochs", "2", "--set", "log_every=1") == 0
    assert train(recipe, tmp_path / "b", "--resume", "--epochs", "4") == 0
    a, b = params(tmp_path / "a" / "last.h5"), params(tmp_path / "b" / "last.h5")
    assert sorted(a) == ["dense0.W", "dense0.b", "dense1.W", "dense1.b"]
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    sa, sb = read_scalars(tmp_path / "a"), read_scalars(tmp_path / "b")
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc", "train/batch_loss"):
        assert sa[tag] == sb[tag], tag
    assert sa["test/loss"] == sb["test/loss"][-1:]  # b also tested its 2-epoch model, at step 8
    assert [s for s, _ in sa["train/loss"]] == [4, 8, 12, 16]
    out = capsys.readouterr().out
    assert "resuming tiny" in out and "epoch 3/4" in out


def test_sigint_saves_a_checkpoint_exits_130_and_resumes(recipe, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "nettrain", "train", recipe, "--out", str(out), "--epochs",
                             "100000", "--set", "n=2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (out / "last.h5").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert (out / "last.h5").exists(), proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted after " in stdout and "resume with: nettrain train" in stdout
    ck = load_checkpoint(out / "last.h5")
    assert ck.counters["status"] == "interrupted" and ck.config["epochs"] == 100000
    done = ck.counters["epoch"] + 1
    assert train(recipe, out, "--resume", "--epochs", str(done)) == 0
    counters = load_checkpoint(out / "last.h5").counters
    assert (counters["epoch"], counters["status"]) == (done, "completed")


def test_eval_and_inspect_commands(recipe, tmp_path, capsys):
    assert train(recipe, tmp_path, "--epochs", "1") == 0
    capsys.readouterr()
    assert main(["eval", recipe, "--checkpoint", str(tmp_path / "best.h5")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("test  loss ") and "\nval   loss " in out and "acc " in out
    assert main(["inspect", str(tmp_path / "last.h5")]) == 0
    out = capsys.readouterr().out
    assert "checksum ok" in out and "dense0.W" in out and "adam.m.dense0.W" in out and "rng.dropout0" in out


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--out", "--resume", "--set", "--no-progress"):
        assert option in text
    assert "total number of epochs" in text and "exit" in text
    for command in ("eval", "inspect"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "checkpoint" in capsys.readouterr().out.lower()


def test_no_progress_bar_when_not_a_terminal(recipe, tmp_path, capsys):
    assert main(["train", recipe, "--out", str(tmp_path), "--epochs", "1"]) == 0
    captured = capsys.readouterr()
    assert "epoch 1/1  loss" in captured.out and "batch/s" not in captured.err and "|" not in captured.err


def test_default_run_directory_is_numbered_per_recipe(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", recipe, "--epochs", "1", "--no-progress"]) == 0
    assert main(["train", recipe, "--epochs", "1", "--no-progress"]) == 0
    assert sorted(os.listdir("runs/tiny")) == ["version_0", "version_1"]
    assert main(["train", recipe, "--resume", "--epochs", "2", "--no-progress"]) == 0  # the newest run
    assert load_checkpoint("runs/tiny/version_1/last.h5").counters["epoch"] == 2


# ------------------------------------------------------------------------------------ bad input


def error(capsys, *argv):
    status = main(list(argv))
    return status, capsys.readouterr().err


def snapshot(directory):
    return {p: (directory / p).read_bytes() for p in sorted(os.listdir(directory))}


@pytest.mark.parametrize("source, message", [
    (None, "recipe not found"),
    ("def build(config):\n    return 1 +\n", "does not parse: invalid syntax \\(line 2\\)"),
    ("import no_such_module_xyz\n", "failed to load: ModuleNotFoundError: .*no_such_module_xyz.*line 1"),
    ("def build(config):\n    pass\n", "has no CONFIG dict"),
    ("CONFIG = dict(epochs=1, batch_size=2, lr=0.1)\ndef build(c):\n    pass\n", "CONFIG lacks seed"),
    ("CONFIG = dict(epochs=1, batch_size=2, lr=0.1, seed=0)\n", "has no build\\(config\\) function"),
    ("CONFIG = dict(epochs=1, batch_size=2, lr=0.1, seed=0)\ndef build(c):\n    return 1 / 0\n",
     "build\\(config\\) failed: ZeroDivisionError: division by zero \\(bad.py, line 3\\)"),
    ("CONFIG = dict(epochs=1, batch_size=2, lr=0.1, seed=0)\ndef build(c):\n    return dict(model=1)\n",
     "returned no loss, optimizer, train"),
])  # fmt: skip
def test_missing_or_broken_recipe_is_a_clear_error(tmp_path, capsys, source, message):
    path = tmp_path / "bad.py"
    if source is not None:
        path.write_text(source)
    status, err = error(capsys, "train", str(path), "--out", str(tmp_path / "out"))
    assert status == 2
    assert err.startswith("nettrain train: error: recipe ")
    import re

    assert re.search(message, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize("item, message", [
    ("hiden=4", "unknown config key 'hiden' \\(did you mean hidden\\?\\); known keys: .*batch_size"),
    ("hidden=four", "bad value for hidden: 'four' is not an integer \\(the current value is 8\\)"),
    ("stop_on_nan=maybe", "bad value for stop_on_nan: 'maybe' is not a bool"),
    ("lr=fast", "bad value for lr: 'fast' is not a number"),
    ("epochs=0", "bad value for epochs: 0 \\(a positive integer\\)"),
    ("hidden", "--set expects key=value, got 'hidden'"),
    ("monitor=val_los", "bad value for monitor: 'val_los' is not logged; choose one of loss, acc, val_loss, val_acc"),
])  # fmt: skip
def test_bad_set_is_a_clear_error(recipe, tmp_path, capsys, item, message):
    import re

    status, err = error(capsys, "train", recipe, "--out", str(tmp_path / "out"), "--set", item)
    assert status == 2 and re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_checkpoint_of_another_architecture_lists_every_name_and_changes_nothing(recipe, tmp_path, capsys):
    assert train(recipe, tmp_path, "--epochs", "1") == 0
    before = snapshot(tmp_path)
    status, err = error(capsys, "train", recipe, "--out", str(tmp_path), "--resume", "--set", "hidden=5")
    assert status == 1
    for name in ("dense0.W", "dense0.b", "dense1.W", "adam.m.dense0.W", "adam.v.dense0.b"):
        assert name in err
    assert "hidden 8 -> 5" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated or corrupt"),
    (lambda p: p.write_text("not a checkpoint"), "not an HDF5 file"),
])  # fmt: skip
def test_truncated_or_non_hdf5_checkpoint_is_a_clear_error(recipe, tmp_path, capsys, damage, message):
    assert train(recipe, tmp_path / "run", "--epochs", "1") == 0
    bad = tmp_path / "bad.h5"
    bad.write_bytes((tmp_path / "run" / "last.h5").read_bytes())
    damage(bad)
    for argv in (["train", recipe, "--resume", str(bad), "--out", str(tmp_path / "new")],
                 ["eval", recipe, "--checkpoint", str(bad)], ["inspect", str(bad)]):
        status, err = error(capsys, *argv)
        assert status == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "new").exists()


def test_unwritable_output_directory_is_a_clear_error(recipe, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, err = error(capsys, "train", recipe, "--out", str(blocker / "run"))
    assert status == 2 and "cannot write to the output directory" in err


def test_existing_run_is_not_overwritten_without_resume(recipe, tmp_path, capsys):
    assert train(recipe, tmp_path, "--epochs", "1") == 0
    before = snapshot(tmp_path)
    status, err = error(capsys, "train", recipe, "--out", str(tmp_path))
    assert status == 2 and "already holds a run" in err and "--resume" in err
    assert snapshot(tmp_path) == before
    status, err = error(capsys, "train", recipe, "--out", str(tmp_path / "empty"), "--resume")
    assert status == 2 and "nothing to resume" in err


def test_threads_flag_sets_the_thread_count_for_that_run_only(recipe, tmp_path):
    import nettrain
    from nettrain.backends import threads

    assert train(recipe, tmp_path / "t", "--threads", "1", "--epochs", "1") == 0
    assert threads.current_count() == 1  # the run's functions were compiled with one thread
    assert nettrain.config.blas_threads == 0  # and the setting did not outlive the command
