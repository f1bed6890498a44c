"""The recipes in recipes/: digits_mlp reaches 97% (the README's job), mnist_mlp and char_rnn run."""

import glob
import os

import h5py
import numpy as np
import pytest

from nettrain.cli import main
from nettrain.train import load_checkpoint, read_scalars
from nettrain.train.recipe import load_recipe

RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes")


def recipe(name):
    return os.path.join(RECIPES, name + ".py")


@pytest.mark.parametrize("name", ["digits_mlp", "mnist_mlp", "char_rnn"])
def test_recipes_are_short_and_declare_the_required_settings(name):
    r = load_recipe(recipe(name))
    assert {"epochs", "batch_size", "lr", "seed"} <= set(r.config)
    with open(r.path) as fh:
        assert len(fh.read().splitlines()) <= 60


def test_digits_mlp_reaches_97_percent_with_event_file_and_hdf5_checkpoint(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    assert main(["train", recipe("digits_mlp"), "--out", str(out), "--no-progress"]) == 0
    assert glob.glob(str(out / "events.out.tfevents.*"))
    scalars = read_scalars(out)
    steps_per_epoch = -(-1293 // 32)  # 1437 training images less the 10% validation split
    assert [s for s, _ in scalars["train/loss"]] == [steps_per_epoch * e for e in range(1, 21)]
    assert [s for s, _ in scalars["val/acc"]] == [steps_per_epoch * e for e in range(1, 21)]
    (step, test_acc), = scalars["test/acc"]
    assert step == 20 * steps_per_epoch and test_acc >= 0.97
    with h5py.File(out / "last.h5", "r") as f:  # the documented layout, with plain h5py
        assert int(f["format_version"][()]) == 1
        assert f["params/dense0.W"].shape == (64, 256) and f["params/dense1.W"].shape == (256, 10)
        assert "adam.m.dense0.W" in f["optimizer"] and "rng.dropout0" in f["rng"]
        assert '"epoch": 20' in f["counters"].asstr()[()]
    assert load_checkpoint(out / "best.h5").config["hidden"] == 256
    assert (out / "config.json").exists()


def test_mnist_mlp_trains_on_an_npz_in_data_dir(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)  # noqa: E731
    np.savez(tmp_path / "mnist.npz", x_train=images(120), y_train=rng.integers(0, 10, 120, dtype=np.uint8),
             x_test=images(20), y_test=rng.integers(0, 10, 20, dtype=np.uint8))  # fmt: skip
    argv = ["train", recipe("mnist_mlp"), "--out", str(tmp_path / "run"), "--epochs", "1", "--set", "hidden=16",
            "--set", "data_dir=%s" % tmp_path, "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert load_checkpoint(tmp_path / "run" / "last.h5").params["dense0.W"].shape == (784, 16)
    assert "test  loss" in capsys.readouterr().out


def test_mnist_mlp_without_data_says_where_to_put_it(tmp_path, capsys):
    status = main(["train", recipe("mnist_mlp"), "--out", str(tmp_path / "run"), "--set",
                   "data_dir=%s" % (tmp_path / "none")])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "MNIST not found" in err and "never downloads" in err


def test_char_rnn_trains_an_lstm_on_a_text_file(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 8)
    argv = ["train", recipe("char_rnn"), "--out", str(tmp_path / "run"), "--epochs", "2", "--no-progress",
            "--set", "text=%s" % text, "--set", "seq_len=6", "--set", "hidden=8", "--set", "embed=4"]  # fmt: skip
    assert main(argv) == 0
    ck = load_checkpoint(tmp_path / "run" / "last.h5")
    assert ck.params["lstm0.W"].shape == (4, 32) and ck.params["dense0.W"].shape == (8, 28)
    losses = [v for _, v in read_scalars(tmp_path / "run")["train/loss"]]
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_set_values_are_parsed_as_the_type_of_the_default():
    from nettrain.train.recipe import apply_overrides

    config = dict(flag=False, n=3, lr=0.1, name="a", sizes=[4], shape=(1, 2), opt=dict(beta=0.9), extra=None)
    got = apply_overrides(config, ["flag=yes", "n=1_000", "lr=1e-3", "name=b=c", "sizes=[8, 8]", "shape=[3, 4]",
                                   "opt.beta=0.5", "extra=[1]"])  # fmt: skip
    assert got == dict(flag=True, n=1000, lr=0.001, name="b=c", sizes=[8, 8], shape=(3, 4), opt=dict(beta=0.5),
                       extra=[1])  # fmt: skip
    assert apply_overrides(config, ["extra=some text"])["extra"] == "some text"
    assert config["opt"]["beta"] == 0.9  # the input is not modified


@pytest.mark.parametrize("item, message", [
    ("opt.gamma=1", "unknown config key 'opt.gamma'"),
    ("n.x=1", "unknown config key 'n.x'"),
    ("sizes=3", "bad value for sizes: '3' is not a list"),
    ("n=1.5", "not an integer"),
])  # fmt: skip
def test_bad_overrides_name_the_key(item, message):
    from nettrain.train.recipe import ConfigError, apply_overrides

    with pytest.raises(ConfigError, match=message):
        apply_overrides(dict(n=3, sizes=[4], opt=dict(beta=0.9)), [item])


def test_resolved_config_takes_the_checkpoint_values_then_the_overrides():
    from nettrain.train.recipe import TRAINER_DEFAULTS, resolve_config

    defaults = dict(TRAINER_DEFAULTS, epochs=5, batch_size=8, lr=0.1, seed=0, hidden=16)
    got = resolve_config(defaults, [("epochs", 9), "hidden=4"], base=dict(epochs=2, hidden=32, lr=0.5, gone=1))
    assert (got["epochs"], got["hidden"], got["lr"], got["batch_size"]) == (9, 4, 0.5, 8) and "gone" not in got
