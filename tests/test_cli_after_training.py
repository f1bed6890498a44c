"""``nettrain predict | sample | export | recipes``, the checkpoint argument of every command, recipes by name."""

import io
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from nettrain.cli import main

TINY = '''
import numpy as np
from nettrain import layers as L, losses, metrics
from nettrain.optimizers import Adam

CONFIG = dict(epochs=2, batch_size=16, lr=0.05, seed=0, hidden=8)

def data(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 4)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 1).astype("int32")

def build(config):
    x, y = data(1)
    model = L.Sequential([L.Dense(config.hidden, activation="tanh"), L.Dropout(0.5), L.BatchNorm(),
                          L.Dense(3)], seed=config.seed)
    return dict(model=model, loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy},
                optimizer=Adam(config.lr), train=(x[:64], y[:64]), test=(x[64:], y[64:]))
'''

CHARS = '''
from nettrain import layers as L, losses
from nettrain.optimizers import Adam
from nettrain.train import char_sequences, load_text

CONFIG = dict(epochs=1, batch_size=8, lr=0.01, seed=0, text="", hidden=8)

def vocabulary(config):
    return load_text(config.text).vocab

def build(config):
    text, vocab, encoded = load_text(config.text)
    x, y = char_sequences(encoded, 8)
    model = L.Sequential([L.Embedding(len(vocab), 4), L.GRU(config.hidden, return_sequences=True, batch_first=True),
                          L.Dense(len(vocab), in_units=config.hidden)], seed=config.seed)
    loss = lambda out, y: losses.categorical_crossentropy(out.reshape((-1, len(vocab))), y.flatten())
    return dict(model=model, loss=loss, optimizer=Adam(config.lr), train=(x, y))
'''


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    (d / "tiny.py").write_text(TINY)
    assert main(["train", str(d / "tiny.py"), "--out", str(d / "run"), "--no-progress"]) == 0
    return d


def reference(d):
    """The model's probabilities computed in NumPy from the checkpoint (inference mode, by hand)."""
    with h5py.File(d / "run" / "last.h5") as f:
        p = {k: f["params"][k][...] for k in f["params"]}
    x = np.asarray(np.random.default_rng(1).normal(size=(96, 4)), dtype="float32")[64:]
    h = np.tanh(x @ p["dense0.W"] + p["dense0.b"])  # dropout off
    h = (h - p["batchnorm0.running_mean"]) / np.sqrt(p["batchnorm0.running_var"] + 1e-5)
    h = h * p["batchnorm0.gamma"] + p["batchnorm0.beta"]  # batch norm on its running statistics
    z = h @ p["dense1.W"] + p["dense1.b"]
    e = np.exp(z - z.max(1, keepdims=True))
    return x, e / e.sum(1, keepdims=True)


def test_predict_writes_classes_and_probabilities_in_inference_mode(trained, capsys):
    x, prob = reference(trained)
    np.save(trained / "x.npy", x)
    assert main(["predict", str(trained / "tiny.py"), str(trained / "run" / "last.h5"), "--input",
                 str(trained / "x.npy")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "class,prob_0,prob_1,prob_2" and len(lines) == 33
    table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",")
    np.testing.assert_allclose(table[:, 1:], prob, rtol=1e-5, atol=1e-7)
    assert np.array_equal(table[:, 0], prob.argmax(1))


def test_predict_reads_csv_npz_and_stdin_and_writes_npz(trained, capsys):
    x, prob = reference(trained)
    ck = str(trained / "run" / "last.h5")
    np.savetxt(trained / "x.csv", x, delimiter=",", header="a,b,c,d", comments="")
    np.savez(trained / "x.npz", x=x)
    assert main(["predict", str(trained / "tiny.py"), ck, "--input", str(trained / "x.csv"), "--output",
                 str(trained / "p.npz")]) == 0
    with np.load(trained / "p.npz") as z:
        assert z["class"].dtype == np.int64 and np.array_equal(z["class"], prob.argmax(1))
        np.testing.assert_allclose(z["prob"], prob, rtol=1e-5, atol=1e-7)
    assert main(["predict", str(trained / "tiny.py"), ck, "--input", str(trained / "x.npz"), "--output",
                 str(trained / "c.npy"), "--batch-size", "5"]) == 0
    assert np.array_equal(np.load(trained / "c.npy"), prob.argmax(1))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    r = subprocess.run([sys.executable, "-m", "nettrain", "predict", str(trained / "tiny.py"), ck, "--input", "-"],
                       input=(trained / "x.csv").read_text(), capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert [int(row.split(",")[0]) for row in r.stdout.splitlines()[1:]] == prob.argmax(1).tolist()


def test_predict_without_input_uses_the_test_split_and_rejects_bad_input(trained, capsys):
    ck = str(trained / "run" / "last.h5")
    assert main(["predict", str(trained / "tiny.py"), ck]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 33
    np.save(trained / "bad.npy", np.zeros((3, 5), "float32"))
    assert main(["predict", str(trained / "tiny.py"), ck, "--input", str(trained / "bad.npy")]) == 2
    assert "examples of shape (5,); the model takes (4,)" in capsys.readouterr().err
    assert main(["predict", str(trained / "tiny.py"), ck, "--input", str(trained / "x.parquet")]) == 2
    assert "input file not found" in capsys.readouterr().err


def test_the_checkpoint_is_positional_everywhere_and_checkpoint_is_an_alias(trained, capsys):
    ck = str(trained / "run" / "last.h5")
    assert main(["eval", str(trained / "tiny.py"), ck, "--json"]) == 0
    positional = capsys.readouterr().out
    assert main(["eval", str(trained / "tiny.py"), "--checkpoint", ck, "--json"]) == 0
    assert capsys.readouterr().out == positional and '"acc"' in positional
    assert main(["inspect", "--checkpoint", ck]) == 0 and "checksum ok" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(trained / "tiny.py")])
    assert exc.value.code == 2 and "required: CKPT" in capsys.readouterr().err


def test_save_weights_file_works_with_predict(trained, capsys):
    from nettrain import layers as L

    with h5py.File(trained / "run" / "last.h5") as f:
        p = {k: f["params"][k][...] for k in f["params"]}
    model = L.Sequential([L.Dense(8, in_units=4, activation="tanh", dtype="float32"), L.Dropout(0.5),
                          L.BatchNorm(8, dtype="float32"), L.Dense(3, in_units=8, dtype="float32")])
    for name, var in model.named_params().items():
        var.set_value(p[name])
    model.save_weights(trained / "w.h5")
    assert main(["predict", str(trained / "tiny.py"), str(trained / "w.h5")]) == 0
    x, prob = reference(trained)
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == prob.argmax(1).tolist()


def test_sample_prints_seeded_text_of_the_requested_length(tmp_path, capsys):
    recipe = tmp_path / "chars.py"
    recipe.write_text(CHARS.replace('text=""', 'text="%s"' % (tmp_path / "t.txt")))
    (tmp_path / "t.txt").write_text("to be or not to be, that is the question. " * 6)
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    capsys.readouterr()
    argv = ["sample", str(recipe), str(tmp_path / "run" / "last.h5"), "--length", "120", "--temperature", "0.8",
            "--prime", "to be "]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.endswith("\n") and len(text) == 121 and set(text[:-1]) <= set("to be or n,thaisquetn.")
    assert main(argv) == 0 and capsys.readouterr().out == text  # seeded
    assert main(argv + ["--seed", "1"]) == 0 and capsys.readouterr().out != text
    assert main(argv[:-1] + ["xyz"]) == 2
    assert "never seen: 'x', 'y', 'z'" in capsys.readouterr().err
    assert main(["sample", str(recipe), str(tmp_path / "run" / "last.h5"), "--temperature", "0", "--length", "5"]) == 0


def test_sample_needs_a_vocabulary(trained, capsys):
    assert main(["sample", str(trained / "tiny.py"), str(trained / "run" / "last.h5")]) == 2
    assert "defines no vocabulary(config)" in capsys.readouterr().err


def test_export_writes_onnx_that_onnxruntime_runs(trained, capsys):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[onnx]')")
    pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[onnx]')")
    x, prob = reference(trained)
    assert main(["export", str(trained / "tiny.py"), str(trained / "run" / "last.h5"), str(trained / "m.onnx")]) == 0
    logits = ort.InferenceSession(str(trained / "m.onnx")).run(None, {"x": x})[0]
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(1, keepdims=True), prob, rtol=1e-5, atol=1e-7)


def test_bundled_recipes_are_listed_and_run_by_name(capsys, tmp_path):
    assert main(["recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["char_rnn", "digits_mlp", "lenet", "mnist_mlp"]
    assert all(len(ln.split(None, 1)) == 2 for ln in lines)  # a description on each line
    assert main(["recipes", "--path", "digits_mlp"]) == 0
    path = capsys.readouterr().out.strip()
    assert os.path.samefile(path, os.path.join(os.path.dirname(__file__), "..", "recipes", "digits_mlp.py"))
    assert main(["train", "digits_mlp_nope", "--out", str(tmp_path / "r")]) == 2
    assert "no bundled recipe named 'digits_mlp_nope' (bundled: char_rnn, digits_mlp" in capsys.readouterr().err


def test_train_by_name(tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["train", "digits_mlp", "--epochs", "1", "--set", "hidden=16", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    assert "training digits_mlp" in capsys.readouterr().out
