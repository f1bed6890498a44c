"""CUDA indexing and memory kernels on the emulated device, against the Python linker.

Covers basic views (Subtensor), inc/set_subtensor, row gathers and scatters
with indices from the host and from the device (bounds errors included),
general integer-array indexing and its inc/set, Alloc fills, Join and Split;
``test_generated_sources_compile_to_ptx`` compiles every source these tests
built with ``nvcc --ptx``.
"""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.darray import is_device
from nettrain.backends.cuda.runtime import get_runtime
from nettrain.backends.cuda.subtensor import on_device
from nettrain.tensor.alloc import Alloc
from nettrain.tensor.join import Join, Split
from nettrain.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedIncSubtensor1,
    AdvancedSubtensor,
    AdvancedSubtensor1,
    IncSubtensor,
    Subtensor,
)

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(8)


def rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def cuda_fn(inputs, outputs):
    """A function on the emulated device whose outputs stay device arrays (no download)."""
    outs = [nettrain.Out(o, borrow=True) for o in outputs]
    return nettrain.function(inputs, outs, mode=nettrain.Mode(linker="cuda"), on_unused_input="ignore")


def test_basic_indexing_of_device_arrays_is_a_view():
    x, i = T.ftensor3("x"), T.lscalar("i")
    d = x * 2  # computed on the device, so the indexing below sees a device array
    outs = [d[1:, i, ::-2], d[-1], d[i : i + 2, 1:4], d[3:1], d[:, :, 5], d[::-1, ::2][1]]
    res = ct.compare([x, i], outs, [rand(4, 5, 6), np.int64(-2)], kernel_ops=(Subtensor,))
    assert res[3].shape == (0, 5, 6)
    with ct.emulated():
        f = cuda_fn([x, i], [d, d[1:, i, ::-2]])
        base, view = f(rand(4, 5, 6), np.int64(1))
        assert is_device(view) and view.owner is base.owner  # same allocation: no copy was made
    with pytest.raises(IndexError, match="out of bounds"):
        ct.compare([x, i], d[i], [rand(4, 5, 6), np.int64(4)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inc_and_set_subtensor_on_strided_and_broadcast_operands(dtype):
    x, y, i = T.tensor3("x", dtype=dtype), T.matrix("y", dtype=dtype), T.lscalar("i")
    xt = (x * 1).dimshuffle(2, 1, 0)  # a non-contiguous device array: copied by the strided-copy kernel
    outs = [T.inc_subtensor(x[1:3, i], y[:2]), T.set_subtensor(xt[::-2, 1:], y.T[:3, :4].dimshuffle(0, "x", 1)),
            T.inc_subtensor(x[:, :, 0], y[0, :5]), T.set_subtensor(x[0, 0, 0], 7.0), T.set_subtensor(x[3:3], 1.0)]
    ct.compare([x, y, i], outs, [rand(4, 5, 6, dtype=dtype), rand(4, 6, dtype=dtype), np.int64(-1)],
               kernel_ops=(IncSubtensor,))  # fmt: skip
    with pytest.raises(ValueError, match="does not match the indexed shape"):
        ct.compare([x, y, i], outs[0], [rand(4, 5, 6, dtype=dtype), rand(3, 5, dtype=dtype), np.int64(0)])


def test_integer_increments_wrap_like_numpy():
    x, y = T.bmatrix("x"), T.bmatrix("y")
    xv = np.array([[120, -120, 5], [1, 2, 3]], dtype="int8")
    ct.compare([x, y], [T.inc_subtensor(x[:, 1:], y), T.set_subtensor(x[1:, :2], y[:1])],
               [xv, np.array([[100, -100], [7, 8]], dtype="int8")], kernel_ops=(IncSubtensor,))  # fmt: skip


@pytest.mark.parametrize("device_indices", [False, True])
def test_row_gather_and_its_gradient(device_indices):
    W, iv, y = T.fmatrix("W"), T.lvector("iv"), T.fmatrix("y")
    idx = T.minimum(iv, 100) if device_indices else iv  # minimum() runs on the device
    src = (W * 1).T  # strided rows
    emb = W[idx]
    outs = [emb, src[idx], T.grad((emb * y).sum(), W), T.inc_subtensor(W[idx], y), T.set_subtensor(W[idx], y)]
    vals = [rand(7, 7), np.array([0, 6, -1, 3, 3, 6, 6]), rand(7, 7)]
    ct.compare([W, iv, y], outs, vals, kernel_ops=(AdvancedSubtensor1, AdvancedIncSubtensor1), rtol=1e-6)
    with ct.emulated():
        f = cuda_fn([W, iv, y], outs)
        nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, (AdvancedSubtensor1, AdvancedIncSubtensor1))]
        assert nodes and all(on_device(n.inputs[-1]) == device_indices for n in nodes)
        rt = get_runtime()
        f(*vals)
        rt.reset_counters()
        res = f(*vals)
        assert all(is_device(r) for r in res)
        # host indices are checked on the host; device ones cost one 8-byte flag per kernel
        assert rt.counters["dtoh_bytes"] == (8 * len(nodes) if device_indices else 0)
        for bad, n in (([0, 9, 2], 9), ([-8, 1, 1], -8)):
            with pytest.raises(IndexError, match="index %d is out of bounds for axis 0 with size 7" % n):
                f(vals[0], np.array(bad), vals[2][:3])


def test_constant_indices_are_checked_every_call_and_uploaded_once():
    W = T.fmatrix("W")
    out = W[np.array([2, 0, -1, 2])]
    ct.compare([W], out, [rand(3, 4)], kernel_ops=(AdvancedSubtensor1,))
    with ct.emulated():
        f = cuda_fn([W], [out])
        rt = get_runtime()
        f(rand(3, 4))
        rt.reset_counters()
        f(rand(3, 4))
        assert rt.counters["htod"] == 1  # W only
        with pytest.raises(IndexError, match="index 2 is out of bounds for axis 0 with size 2"):
            f(rand(2, 4))


def test_scatter_add_with_host_indices_is_bit_identical_to_numpy_add_at():
    x, iv, y = T.fmatrix("x"), T.ivector("iv"), T.fmatrix("y")
    idx = RNG.integers(-5, 5, 300).astype("int32")  # many repeats per row: the order of the sums matters
    xv, yv = rand(5, 33), (rand(300, 33) * 1e3).astype("float32")
    out = ct.compare([x, iv, y], T.inc_subtensor(x[iv], y), [xv, idx, yv], kernel_ops=(AdvancedIncSubtensor1,),
                     rtol=0)  # fmt: skip
    ref = xv.copy()
    np.add.at(ref, idx, yv)
    assert np.array_equal(out, ref)
    # a broadcast row, an empty index, a vector
    v, b = T.fvector("v"), T.fscalar("b")
    outs = [T.inc_subtensor(x[iv], y[0]), T.inc_subtensor(v[iv], b), T.set_subtensor(v[iv], v[:2])]
    ct.compare([x, iv, y, v, b], outs, [xv, np.array([4, -1], dtype="int32"), yv, rand(6), np.float32(2.0)],
               kernel_ops=(AdvancedIncSubtensor1,), rtol=0)  # fmt: skip
    ct.compare([x, iv, y], T.inc_subtensor(x[iv], y), [xv, np.zeros(0, "int32"), yv[:0]], rtol=0)


def test_general_integer_array_indexing_and_its_numpy_placement_of_dimensions():
    x, iv, jv, im = T.ftensor3("x"), T.lvector("iv"), T.lvector("jv"), T.lmatrix("im")
    d = x * 1
    outs = [d[iv, :, jv], d[:, iv, jv], d[1, :, iv], d[:, None, iv], d[im], d[iv[:, None], jv[:2]], d[::-1, iv, 1:4]]
    vals = [rand(4, 5, 6), np.array([0, 3, -1, 3]), np.array([4, 0, 2, 2]), np.array([[0, 1], [3, 3], [-4, 2]])]
    ct.compare([x, iv, jv, im], outs, vals, kernel_ops=(AdvancedSubtensor,))
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 0 with size 4"):
        ct.compare([x, iv, jv], d[iv, :, jv], [vals[0], np.array([0, 9, 1, 1]), vals[2]])
    with pytest.raises(IndexError, match="could not be broadcast together"):
        ct.compare([x, iv, jv], d[iv, :, jv], [vals[0], np.array([0, 1, 1]), vals[2]])


def test_general_inc_and_set_are_bit_identical_to_numpy_with_repeated_positions():
    x, iv, jv, y = T.ftensor3("x"), T.lvector("iv"), T.lvector("jv"), T.fmatrix("y")
    outs = [T.inc_subtensor(x[iv, :, jv], y), T.set_subtensor(x[iv, :, jv], y),
            T.inc_subtensor(x[iv, 1:, jv], y[:, 1:]), T.inc_subtensor(x[:, iv, jv], y[:, 0]),
            T.inc_subtensor(x[iv, :, jv], y[0]), T.grad(((x * 1)[iv[:, None], jv[:2]] ** 2).sum(), x)]  # fmt: skip
    ivv, jvv = np.array([0, 3, -1, 3, 3]), np.array([4, 0, 2, 2, 2])  # (3, 2) three times
    ct.compare([x, iv, jv, y], outs, [rand(4, 5, 6), ivv, jvv, rand(5, 5) * 100], kernel_ops=(AdvancedIncSubtensor,),
               rtol=0)  # fmt: skip


def test_classic_log_likelihood_indexing_trains_on_the_device():
    """``-mean(log(p)[arange(n), y])`` (the Theano tutorial's loss): every node gets a CUDA kernel."""
    x, y = T.fmatrix("x"), T.ivector("y")
    xv, yv = rand(6, 5), np.array([0, 2, 1, 1, 0, 2], dtype="int32")
    results = []
    for device in (True, False):
        W = nettrain.shared(np.linspace(-1, 1, 15, dtype="float32").reshape(5, 3))
        p = T.nnet.softmax(T.dot(x, W))
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
        upd = [(W, W - np.float32(0.5) * T.grad(cost, W))]
        if device:
            with ct.emulated():
                f = nettrain.function([x, y], cost, updates=upd, mode=nettrain.Mode(linker="cuda"))
                assert all(k is not None for k in f._linker.last_placement.values())
                results.append(([float(f(xv, yv)) for _ in range(3)], W.get_value()))
        else:
            f = nettrain.function([x, y], cost, updates=upd, mode=nettrain.Mode(linker="py"))
            results.append(([float(f(xv, yv)) for _ in range(3)], W.get_value()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)


def test_alloc_fills_zeros_and_broadcasts():
    x, n = T.ftensor3("x"), T.lscalar("n")
    outs = [T.zeros((n, 3)), T.alloc(x[0, 0] * 2, n, 5, 6), T.ones_like(x) + x, T.alloc(T.constant(np.float64(2.5)), n),
            T.alloc(x[0, 0, 0] * 3), T.zeros((n, 0, 2), dtype="int16")]
    res = ct.compare([x, n], outs, [rand(4, 5, 6), np.int64(3)], kernel_ops=(Alloc,))
    assert res[0].shape == (3, 3) and not res[0].any()
    with pytest.raises(ValueError, match="negative dimension"):
        ct.compare([x, n], outs[0], [rand(4, 5, 6), np.int64(-1)])


def test_join_and_split_copy_slices():
    x, y, a = T.ftensor3("x"), T.fmatrix("y"), T.fscalar("a")
    d = x * 1
    parts = T.split(d, [1, 3], 2, axis=0)
    outs = [T.concatenate([d, d[:, ::-1]], axis=1), T.concatenate([y, y * 2, y[:0]], axis=0),
            T.stack([a, a * 2, a + 1]), parts[0], parts[1] * 1, T.split(y, [0, 4, 2], 3, axis=1)[1],
            T.concatenate([y, T.cast(y * 3, "int16")], axis=1), T.concatenate([T.cast(y, "float64"), y, y > 0])]
    ct.compare([x, y, a], outs, [rand(4, 5, 6), rand(2, 6), np.float32(1.5)], kernel_ops=(Join, Split))
    with pytest.raises(ValueError, match="cannot join arrays of shapes"):
        ct.compare([x, y], T.concatenate([y, x[0]], axis=0), [rand(4, 5, 6), rand(2, 7)])
    with pytest.raises(ValueError, match="do not add up"):
        ct.compare([x, a], T.split(d, T.stack([T.cast(a, "int64"), 2]), 2, axis=0), [rand(4, 5, 6), np.float32(1)])


def test_zero_d_values_stay_zero_d_on_the_device():
    # a 0-d constant (the 1.0 below) must upload as shape (), not (1,): the kernel's rank depends on it
    from nettrain.backends.cuda.darray import DeviceArray

    with ct.emulated():
        d = DeviceArray.from_host(get_runtime(), np.float64(2.5))
        assert d.shape == () and d.get() == 2.5
        s = nettrain.shared(np.zeros(3))
        i = T.lscalar("i")
        f = nettrain.function([i], [], updates={s: T.inc_subtensor(s[i], 1.0)})
        assert any(isinstance(n.op, IncSubtensor) for n in f.maker.fgraph.toposort())
        for k in (1, 1, 2):
            f(k)
        np.testing.assert_array_equal(s.get_value(), [0.0, 2.0, 1.0])


def test_generated_sources_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    W, iv, y = T.dmatrix("W"), T.lvector("iv"), T.dmatrix("y")
    # every kernel family of this file, host and device indices, in one function
    jv = T.minimum(iv, 100)
    outs = [W[iv], (W * 1)[jv], T.inc_subtensor(W[iv], y), T.inc_subtensor(W[jv], y), T.set_subtensor(W[jv], y),
            T.set_subtensor(W[iv], y), T.inc_subtensor(W[1:, 0], y[0, 1:]), T.set_subtensor(W[0], 1.0),
            T.concatenate([W, y]), T.split(W, [1, 1], 2)[0], T.zeros_like(W) + 1, W[iv, iv],
            T.inc_subtensor(W[iv, iv], y[0]), T.concatenate([W, T.cast(y, "float32")])]
    ct.SOURCES.clear()  # only this test's sources: others are checked by their own files
    ct.compare([W, iv, y], outs, [rand(2, 2, dtype="float64"), np.array([1, 0]), rand(2, 2, dtype="float64")])
    text = open(ct.ptx_check()).read()
    for kind in ("take", "seg", "scatter", "win", "wset", "inc", "scopy", "gather", "gseg", "cvt_float32"):
        assert "nt_k" in text and ("_%s" % kind) in text, kind
