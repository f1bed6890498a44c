"""recipes/lenet.py: digits zoomed to 28x28 train a LeNet; MNIST from data_dir; the checkpoint's parameter names."""

import os

import numpy as np
import pytest

from nettrain.cli import main
from nettrain.train import load_checkpoint, read_scalars
from nettrain.train.recipe import load_recipe

LENET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "lenet.py")


def test_lenet_recipe_is_short_and_declares_the_required_settings():
    r = load_recipe(LENET)
    assert {"epochs", "batch_size", "lr", "seed", "data_dir"} <= set(r.config)
    with open(r.path) as fh:
        assert len(fh.read().splitlines()) <= 60


def test_lenet_digits_are_zoomed_to_28x28_single_channel_images():
    pytest.importorskip("sklearn")
    (x, y), (xt, yt) = load_recipe(LENET).module.load("")
    assert x.shape == (1437, 1, 28, 28) and xt.shape == (360, 1, 28, 28)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0 and y.dtype == np.int32


def test_lenet_learns_the_digits_in_one_short_epoch(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    # Reduced setting to stay fast; the default (10 epochs) reaches 98.6%.
    argv = ["train", LENET, "--out", str(out), "--epochs", "1", "--batch-size", "32", "--lr", "3e-3",
            "--no-progress", "--set", "histogram_every=0"]  # fmt: skip
    assert main(argv) == 0
    (_, test_acc), = read_scalars(out)["test/acc"]
    assert test_acc >= 0.9
    params = load_checkpoint(out / "last.h5").params
    assert params["conv2d0.W"].shape == (20, 1, 5, 5) and params["conv2d1.W"].shape == (50, 20, 5, 5)
    assert params["dense0.W"].shape == (50 * 4 * 4, 500) and params["dense1.W"].shape == (500, 10)


def test_lenet_trains_on_mnist_in_data_dir(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)  # noqa: E731
    np.savez(tmp_path / "mnist.npz", x_train=images(48), y_train=rng.integers(0, 10, 48, dtype=np.uint8),
             x_test=images(8), y_test=rng.integers(0, 10, 8, dtype=np.uint8))  # fmt: skip
    argv = ["train", LENET, "--out", str(tmp_path / "run"), "--epochs", "1", "--no-progress",
            "--set", "data_dir=%s" % tmp_path, "--set", "histogram_every=0"]  # fmt: skip
    assert main(argv) == 0
    assert "test  loss" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "last.h5").params["conv2d0.b"].shape == (20,)
