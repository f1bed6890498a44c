"""Device placement, transfers, shared variables on the device and diagnostics (on the emulated device)."""

import pickle

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import doctor
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.darray import DeviceArray
from nettrain.backends.cuda.linker import CudaLinker, transfers
from nettrain.backends.cuda.runtime import emulator, get_runtime
from nettrain.configdefaults import config

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")


def test_device_array_views_and_copies_round_trip():
    rt = emulator()
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    d = DeviceArray.from_host(rt, a)
    np.testing.assert_array_equal(d.get(), a)
    np.testing.assert_array_equal(d.transpose(2, 0, 1).get(), a.transpose(2, 0, 1))
    neg = d.view((3,), (-16,), offset=2 * 16 + 4 * 1)  # a[:, ::-1, 1] of the first image, by hand
    np.testing.assert_array_equal(neg.get(), a[0, ::-1, 1])
    np.testing.assert_array_equal(d.reshape(6, -1).get(), a.reshape(6, 4))
    with pytest.raises(ValueError, match="non-contiguous"):
        d.transpose(2, 0, 1).reshape(-1)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(d)), a)  # pickles hold host values
    np.testing.assert_array_equal(d.T.copy().get(), a.T)


def test_float32_shared_variables_live_on_the_device_and_updates_stay_there():
    with ct.emulated():
        w = theano.shared(np.ones((4, 3), dtype="float32"), name="w")
        n = theano.shared(np.int64(0), name="n")
        assert isinstance(w.container[0], DeviceArray) and isinstance(n.container[0], np.ndarray)
        x = T.fmatrix("x")
        f = theano.function([x], x * w, updates={w: w * 0.5, n: n + 1})
        rt = get_runtime()
        f(np.full((4, 3), 2, dtype="float32"))  # the first call uploads n (it stays on the device after)
        w.set_value(np.ones((4, 3), dtype="float32"))
        rt.reset_counters()
        out = f(np.full((4, 3), 2, dtype="float32"))
        assert isinstance(out, np.ndarray) and np.all(out == 2)
        assert isinstance(w.container[0], DeviceArray)
        # one upload (x), one download (the output); the update stayed on the device
        assert (rt.counters["htod"], rt.counters["dtoh"]) == (1, 1)
        np.testing.assert_array_equal(w.get_value(), np.full((4, 3), 0.5, dtype="float32"))
        assert n.get_value() == 2
        assert isinstance(w.get_value(return_internal_type=True), DeviceArray)
        w.set_value(np.zeros((4, 3), dtype="float32"))
        assert isinstance(w.container[0], DeviceArray) and not w.get_value().any()
        with pytest.raises(TypeError, match="does not fit"):
            w.set_value(DeviceArray.from_host(rt, np.zeros(4, dtype="float32")))


def test_borrowed_outputs_stay_on_the_device_and_device_inputs_are_accepted():
    with ct.emulated():
        rt = get_runtime()
        x = T.fvector("x")
        f = theano.function([x], theano.Out(T.exp(x), borrow=True))
        d = DeviceArray.from_host(rt, np.zeros(5, dtype="float32"))
        rt.reset_counters()
        r = f(d)
        assert isinstance(r, DeviceArray) and rt.counters["htod"] == 0 and rt.counters["dtoh"] == 0
        np.testing.assert_array_equal(r.get(), np.ones(5, dtype="float32"))
        with pytest.raises(TypeError, match="dtype"):
            f(DeviceArray.from_host(rt, np.zeros(5, dtype="float64")))


def test_constants_are_uploaded_once_and_transfers_are_planned_at_the_edges():
    with ct.emulated():
        x = T.fvector("x")
        c = theano.shared(np.arange(5, dtype="float32"))  # on the device
        f = theano.function([x], T.exp(x + np.arange(5, dtype="float32")) * c)
        rt = get_runtime()
        f(np.zeros(5, dtype="float32"))
        rt.reset_counters()
        f(np.zeros(5, dtype="float32"))
        assert (rt.counters["htod"], rt.counters["dtoh"]) == (1, 1)
        edges = transfers(f.maker.fgraph)
        assert [(v.name, kind) for v, kind, _ in edges] == [("x", "htod")]


def test_a_node_without_a_cuda_kernel_runs_on_the_host_with_one_warning():
    from nettrain.tensor.sort import argsort

    with ct.emulated():
        x = T.fvector("x")
        with pytest.warns(RuntimeWarning, match="no CUDA kernel"):
            f = theano.function([x], T.exp(argsort(T.exp(x)).astype("float32")))
        np.testing.assert_allclose(f(np.array([3, 1, 2], dtype="float32")), np.exp([1.0, 2.0, 0.0]), rtol=1e-6)


def test_device_cuda_without_a_gpu_warns_and_runs_on_the_cpu(monkeypatch):
    from nettrain.backends.cuda import linker as cl

    monkeypatch.setattr(cl, "get_runtime", lambda: None)
    monkeypatch.setattr(cl, "_warned", set())
    with config.change_flags(device="cuda"):
        x = T.dvector("x")
        with pytest.warns(RuntimeWarning, match="no CUDA device can be used"):
            f = theano.function([x], x * 2)
        assert isinstance(f._linker, CudaLinker)
        np.testing.assert_array_equal(f(np.arange(3.0)), [0.0, 2.0, 4.0])


def test_a_checkpoint_written_on_the_device_loads_on_the_cpu(tmp_path):
    from nettrain import layers as L
    from nettrain.train.checkpoint import load_checkpoint, save_checkpoint

    x, y = T.tensor("float32", shape=(None, 4), name="x"), T.fmatrix("y")
    xv = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    with ct.emulated():
        model = L.Dense(3, seed=1)
        cost = T.sqr(model(x) - y).mean()
        params = model.named_params()
        assert all(isinstance(v.container[0], DeviceArray) for v in params.values())
        step = theano.function([x, y], cost, updates=[(p, p - 0.1 * T.grad(cost, p)) for p in params.values()])
        step(xv, np.ones((8, 3), dtype="float32"))
        path = str(tmp_path / "gpu.h5")
        save_checkpoint(path, params={k: v.get_value() for k, v in params.items()})
        on_device = {k: v.get_value() for k, v in params.items()}
    ck = load_checkpoint(path)  # on the CPU
    cpu_model = L.Dense(3, seed=2)
    cpu_model(x)
    for k, v in cpu_model.named_params().items():
        v.set_value(ck.params[k])
        assert type(v.container[0]) is np.ndarray
        np.testing.assert_array_equal(v.get_value(), on_device[k])


def test_doctor_reports_every_component_and_never_fails(capsys):
    rows = doctor.report()
    names = [r[0] for r in rows]
    assert names == ["NVIDIA driver", "GPU", "nvcc", "pycuda", "cuBLAS", "device=cuda", "emulator"]
    assert all(isinstance(d, str) and d for _, _, d in rows)
    rc = doctor.main()
    out = capsys.readouterr().out
    assert "nvcc" in out and rc in (0, 1)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_mlp_training_step_copies_only_the_minibatch_and_the_loss(optimizer):
    from nettrain import layers as L
    from nettrain import losses, optimizers

    x, y = T.tensor("float32", shape=(None, 20), name="x"), T.ivector("y")
    rng = np.random.default_rng(0)
    xv, yv = rng.random((16, 20), dtype=np.float32), rng.integers(0, 10, 16).astype(np.int32)
    results = {}
    for device in ("cpu", "cuda"):
        with config.change_flags(device=device, cuda_runtime="emulator"):
            model = L.Sequential([L.Dense(16, activation="relu"), L.Dense(16, activation="relu"), L.Dense(10)], seed=0)
            cost = losses.categorical_crossentropy(model(x), y)
            opt = optimizers.SGD(0.1) if optimizer == "sgd" else optimizers.Adam(1e-2)
            step = theano.function([x, y], cost, updates=opt.get_updates(cost, model.params()))
            losses_seen = [float(step(xv, yv)) for _ in range(3)]
            if device == "cuda":
                rt = get_runtime()
                rt.reset_counters()
                step(xv, yv)
                c = rt.counters
                assert (c["htod"], c["dtoh"]) == (2, 1), c  # x and y in, the loss out
                assert c["htod_bytes"] == xv.nbytes + yv.nbytes and c["dtoh_bytes"] == 4
                assert all(kind == "htod" for _, kind, _ in transfers(step.maker.fgraph))
            results[device] = losses_seen
    np.testing.assert_allclose(results["cuda"], results["cpu"], rtol=1e-5)


def test_the_seed_examples_run_on_the_device():
    import importlib.util
    import pathlib
    import warnings

    root = pathlib.Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("seed_examples_cuda", root / "examples" / "seed_examples.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    with ct.emulated(), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # every node of the seeds has a CUDA kernel
        assert float(ex.addition()) == 4.0
        np.testing.assert_array_equal(ex.matrix_multiplication(), [[19.0, 22.0], [43.0, 50.0]])
        z, dz = ex.gradient()
        assert float(z) == 6.0 and float(dz) == 3.0
        got, params, (X, y) = ex.neural_network(seed=0)
        np.testing.assert_array_equal(ex.broadcasting(), [[11, 22], [13, 24], [15, 26]])
    cpu, _, _ = ex.neural_network(seed=0)
    for g, w in zip(got, cpu):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_a_recipe_trains_on_the_device_like_on_the_cpu(tmp_path):
    pytest.importorskip("sklearn")
    import pathlib

    from nettrain.cli import main
    from nettrain.train import load_checkpoint, read_scalars

    recipe = str(pathlib.Path(__file__).resolve().parents[3] / "recipes" / "digits_mlp.py")
    accs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        with config.change_flags(device=device, cuda_runtime="emulator"):
            argv = ["train", recipe, "--out", str(out), "--epochs", "1", "--no-progress", "--set",
                    "histogram_every=0"]  # fmt: skip
            assert main(argv) == 0
        ((_, accs[device]),) = read_scalars(out)["test/acc"]
    assert accs["cuda"] >= 0.85 and abs(accs["cuda"] - accs["cpu"]) <= 0.01
    # the checkpoint written on the device is plain HDF5 that the CPU reads
    gpu, cpu = load_checkpoint(tmp_path / "cuda" / "last.h5"), load_checkpoint(tmp_path / "cpu" / "last.h5")
    for k, v in cpu.params.items():
        assert type(gpu.params[k]) is np.ndarray
        np.testing.assert_allclose(gpu.params[k], v, rtol=1e-3, atol=1e-4)


def test_pycuda_argument_formats_follow_the_parsed_kernel_signatures():
    from nettrain.backends.cuda.emulate import kernel_signatures
    from nettrain.backends.cuda.runtime import struct_format

    src = ('extern "C" __global__ void k(int64_t n, const float *__restrict__ x, float a, nt_bool b, '
           "char *p)\n{}\n")  # fmt: skip
    assert struct_format(kernel_signatures(src)["k"]) == "qPfBP"
    assert struct_format([("int64_t", False), ("float", False), ("float *", True)]) == "qfP"
    with pytest.raises(TypeError, match="no pycuda struct format"):
        struct_format([("half", False)])
