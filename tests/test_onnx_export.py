"""ONNX export: every bundled recipe's model, and every mapped layer family, run in onnxruntime and agree with
nettrain in float32 (1e-5 relative); layers without a mapping are refused by name."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[onnx]')")

import nettrain  # noqa: E402
from nettrain import layers as L  # noqa: E402
from nettrain.inference import compile_predict  # noqa: E402
from nettrain.onnx import UnsupportedOpError, export  # noqa: E402


def run_onnx(path, x):
    return ort.InferenceSession(str(path)).run(None, {"x": x})[0]


def agree(model, x, tmp_path, **kw):
    ours = compile_predict(model, x)(x)["output"]
    path = export(model, x, tmp_path / "m.onnx", **kw)
    theirs = run_onnx(path, x)
    assert theirs.shape == ours.shape and theirs.dtype == ours.dtype
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5 * float(np.abs(ours).max()))
    return ours, theirs


def recipe_model(name, tmp_path, overrides=()):
    from nettrain.train import Trainer
    from nettrain.train.recipe import load_recipe, resolve_config

    recipe = load_recipe(name)
    trainer = Trainer.from_recipe(recipe, resolve_config(recipe.config, list(overrides)), verbose=False)
    x = np.asarray(trainer.test_data[np.arange(8)][0] if trainer.test_data is not None else
                   trainer.loader.dataset[np.arange(8)][0])
    return trainer.model, x


def perturb(model, seed=0):
    """Move every parameter (biases and batch-norm statistics too) away from its initial value."""
    rng = np.random.default_rng(seed)
    for name, var in model.named_params().items():
        v = var.get_value()
        bump = rng.uniform(0.1, 0.5, v.shape) if "running_var" in name else rng.normal(scale=0.2, size=v.shape)
        var.set_value((v + bump).astype(v.dtype))


@pytest.mark.parametrize("name", ["digits_mlp", "lenet", "mnist_mlp", "char_rnn"])
def test_every_bundled_recipe_exports_and_agrees(name, tmp_path):
    pytest.importorskip("sklearn")
    overrides = []
    if name == "mnist_mlp":
        rng = np.random.default_rng(0)
        images = lambda n: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)  # noqa: E731
        np.savez(tmp_path / "mnist.npz", x_train=images(40), y_train=rng.integers(0, 10, 40, dtype=np.uint8),
                 x_test=images(10), y_test=rng.integers(0, 10, 10, dtype=np.uint8))  # fmt: skip
        overrides = ["data_dir=%s" % tmp_path, "hidden=32"]
    with nettrain.change_flags(floatX="float32"):  # char_rnn's embedding takes floatX; the rest follow the data
        model, x = recipe_model(name, tmp_path, overrides)
        compile_predict(model, x)  # builds lazily created layers
        perturb(model)
        agree(model, x, tmp_path)


FAMILIES = {
    "dense+activations": (lambda: L.Sequential([L.Dense(6, activation=a) for a in
                                                ("relu", "tanh", "sigmoid", "elu", "selu", "softplus", "softsign",
                                                 "hard_sigmoid", "leaky_relu", "linear")] +
                                               [L.Activation("log_softmax"), L.Dense(3), L.Softmax()], seed=0),
                          (5, 4), "float32"),
    "conv+pool+batchnorm": (lambda: L.Sequential([
        L.Conv2D(4, 3, padding="same", activation="relu"), L.BatchNorm(), L.MaxPool2D(2),
        L.Conv2D(3, 3, stride=2, padding=1, dilation=1), L.AvgPool2D(2, padding=1),
        L.AvgPool2D(2, stride=1, padding=1, include_padding=True), L.GlobalAvgPool(), L.Dense(2)], seed=0),
        (3, 2, 11, 11), "float32"),
    "grouped+dilated conv, flatten, reshape": (lambda: L.Sequential([
        L.Conv2D(4, 3, groups=2, dilation=2), L.Flatten(), L.Reshape((4, 25)), L.LayerNorm(), L.Flatten(),
        L.Dense(3)], seed=0), (2, 2, 9, 9), "float32"),
    "gru+layernorm": (lambda: L.Sequential([L.GRU(6, return_sequences=True), L.LayerNorm(), L.GRU(5)], seed=0),
                      (7, 3, 4), "float32"),
    "lstm batch_first": (lambda: L.Sequential([L.LSTM(6, batch_first=True, return_sequences=True),
                                               L.LSTM(3, batch_first=True)], seed=0), (3, 7, 4), "float32"),
    "simple rnn relu": (lambda: L.Sequential([L.SimpleRNN(5, activation="relu", return_sequences=True),
                                              L.SimpleRNN(4)], seed=0), (6, 2, 3), "float32"),
    "float64 mlp": (lambda: L.Sequential([L.Dense(5, activation="tanh"), L.Dropout(0.5), L.Dense(2)], seed=0),
                    (4, 3), "float64"),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_layer_families_agree(family, tmp_path):
    make, shape, dtype = FAMILIES[family]
    x = np.random.default_rng(1).normal(size=shape).astype(dtype)
    model = make()
    compile_predict(model, x)
    perturb(model, 2)
    agree(model, x, tmp_path)


def test_batch_axis_is_dynamic(tmp_path):
    model = L.Sequential([L.Dense(3, activation="relu"), L.Dense(2)], seed=0)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    path = export(model, x, tmp_path / "m.onnx")
    big = np.random.default_rng(1).normal(size=(11, 5)).astype("float32")
    np.testing.assert_allclose(run_onnx(path, big), compile_predict(model, big)(big)["output"], rtol=1e-5, atol=1e-6)


def test_float64_lstm_asks_for_float32_and_dtype_converts(tmp_path):
    model = L.Sequential([L.Embedding(5, 3), L.LSTM(4)], seed=0)
    x = np.array([[0, 1, 2], [3, 4, 0]], dtype="int32")
    with pytest.raises(UnsupportedOpError, match="LSTM 'lstm0' in float64.*dtype='float32'"):
        export(model, x, tmp_path / "m.onnx")
    export(model, x, tmp_path / "m.onnx", dtype="float32")
    ours = compile_predict(model, x)(x)["output"]
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x), ours, rtol=1e-5, atol=1e-6)


def test_unsupported_layers_and_activations_are_refused_by_name(tmp_path):
    x = np.zeros((2, 3), "float32")
    with pytest.raises(UnsupportedOpError, match="cannot export Lambda 'lambda0': no ONNX mapping for Lambda"):
        export(L.Sequential([L.Dense(2), L.Lambda(lambda v: v * 2)]), x, tmp_path / "a.onnx")
    with pytest.raises(UnsupportedOpError, match="activation 'cube' has no ONNX mapping"):
        def cube(v):
            return v ** 3
        export(L.Sequential([L.Dense(2, activation=cube)]), x, tmp_path / "b.onnx")
    assert not (tmp_path / "a.onnx").exists() and not (tmp_path / "b.onnx").exists()
    f = nettrain.function([], [])
    with pytest.raises(NotImplementedError, match="export the Layer model"):
        export(f, x, tmp_path / "c.onnx")
