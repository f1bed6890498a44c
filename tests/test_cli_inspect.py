"""Seeing inside a training run: --profile, nan_guard, the model summary, the graph in TensorBoard."""

import numpy as np
import pytest

from nettrain import layers as L
from nettrain import losses
from nettrain.cli import main
from nettrain.compile.nanguardmode import NanGuardError
from nettrain.optimizers import SGD
from nettrain.train import Trainer, read_scalars
from nettrain.train.tbgraph import read_graph

TINY = '''
import numpy as np
from nettrain import layers as L, losses, metrics
from nettrain.optimizers import Adam

CONFIG = dict(epochs=2, batch_size=16, lr=0.01, seed=0, hidden=8, n=96, bad=False)

def build(config):
    rng = np.random.default_rng(123)
    x = rng.normal(size=(config.n, 4)).astype("float32")
    if config.bad:
        x[5, 2] = np.nan  # one bad sample
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


def test_profile_writes_the_report_and_tensorboard_totals(recipe, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out), "--no-progress", "--profile"]) == 0
    text = (out / "profile.txt").read_text()
    assert "Function profiling: train_step" in text and "Function profiling: eval_step" in text
    assert "Calls: 8" in text  # 2 epochs of 64 samples in batches of 16
    assert "Global profile" in text
    scalars = read_scalars(out)
    assert scalars["profile/train_step/calls"][-1][1] == 8
    assert scalars["profile/train_step/time_per_call_ms"][-1][1] > 0
    assert "profile written to" in capsys.readouterr().out


def test_every_run_puts_its_train_step_in_the_graphs_tab(recipe, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out), "--no-progress", "--epochs", "1"]) == 0
    g = read_graph(out)
    names = {n.name: n for n in g.node}
    for name in ("x", "y", "dense0/W", "dense1/b", "updates/dense0/W"):
        assert name in names, sorted(names)
    assert names["updates/dense0/W"].op == "Assign"
    assert [d.size for d in names["dense0/W"].attr["shape"].shape.dim] == [4, 8]
    assert any(n.op in ("Gemm", "Dot") and "dense0/W" in n.input for n in g.node)
    assert all(i in names for n in g.node for i in n.input)  # a well-formed graph
    # the model summary opens the run
    printed = capsys.readouterr().out
    assert "dense0 (Dense)" in printed and "(?, 8)" in printed and "Total params: 58 (trainable 58" in printed
    assert main(["inspect", str(out / "last.h5"), "--set", "hidden=3"]) == 2  # --set is for recipes
    assert "--set changes a recipe's config" in capsys.readouterr().err


def test_nan_guard_names_the_first_bad_node(recipe, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out), "--no-progress", "--set", "bad=true",
                 "--set", "nan_guard=true"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "NaN in output 0 of Gemm" in err and "(x): NaN, the function's input" in err


def test_inspect_a_recipe_prints_its_model(recipe, capsys):
    assert main(["inspect", recipe, "--set", "hidden=5"]) == 0
    out = capsys.readouterr().out
    assert "dense0 (Dense)      (?, 5)" in out and "Total params: 37 (trainable 37, non-trainable 0)" in out


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's own note on inf * 0 (py linker)
def test_trainer_nan_guard_option_without_the_cli():
    x = np.ones((8, 3), "float32")
    x[0, 0] = np.inf
    y = np.zeros(8, "int32")
    model = L.Sequential([L.Dense(2)], seed=0)
    t = Trainer(model, losses.categorical_crossentropy, SGD(0.1), (x, y), batch_size=8, nan_guard=True,
                verbose=False)  # fmt: skip
    with pytest.raises(NanGuardError, match="\\(x\\): Inf, the function.s input"):
        t.fit()
