"""Philox random kernels on the emulated device against NumPy's ``Generator(Philox)``.

Uniform and Bernoulli draws must be bit-identical to NumPy's, and the
generator state after a call exactly NumPy's (counter, key, buffer, buffer
position, the spare 32-bit half); normal draws are the device's own
Box-Muller stream: checked for reproducibility, state and distribution.
"""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.darray import is_device
from nettrain.backends.cuda.random import philox_block, plan_stream
from nettrain.tensor.random import RandomStreams, RandomVariable, generator_state_to_arrays

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")


def same_state(a, b):
    sa, sb = generator_state_to_arrays(a), generator_state_to_arrays(b)
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def device_fn(outputs):
    """A function on the emulated device; asserts that its random nodes got a Philox kernel."""
    f = nettrain.function([], outputs, mode=nettrain.Mode(linker="cuda"))
    nodes = [n for n, k in f._linker.last_placement.items() if isinstance(n.op, RandomVariable)]
    assert nodes and all(f._linker.last_placement[n] is not None for n in nodes)
    assert "nt_philox_block" in f._linker.last_source
    ct.SOURCES.append(f._linker.last_source)
    return f


def test_host_philox_and_state_plan_match_numpy():
    for skip, n in [(0, 0), (0, 5), (1, 1), (1, 3), (1, 4), (3, 1), (3, 2), (2, 11), (0, 1000)]:
        g = np.random.Generator(np.random.Philox(11))
        g.bit_generator.random_raw(skip)
        stream, new = plan_stream(g.bit_generator.state, n)
        raw = g.bit_generator.random_raw(n)
        assert same_state(g, _with_state(new)), (skip, n)
        if n > 4:  # the last block drawn is the buffer NumPy keeps
            assert [int(v) for v in g.bit_generator.state["buffer"]] == philox_block(
                sum(int(v) << (64 * w) for w, v in enumerate(new["state"]["counter"])), new["state"]["key"])
        assert len(raw) == n and int(stream[1]) == min((4 - skip % 4) % 4, n)


def _with_state(state):
    bg = np.random.Philox(0)
    bg.state = state
    return np.random.Generator(bg)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_is_bit_identical_to_numpy_across_calls_and_buffer_positions(dtype):
    with ct.emulated():
        srng = RandomStreams(3)
        u = srng.uniform((7, 5), low=-1.0, high=2.5, dtype=dtype)
        w = srng.uniform((3,), dtype=dtype)  # a second stream: 3 draws leave the buffer mid-block
        f = device_fn([nettrain.Out(u, borrow=True), w])
        su, sw = srng.state_variables
        g = su.get_value()
        g.random(1)
        g.integers(0, 9, dtype=np.int32)  # has_uint32 set: kept through the device draws
        su.set_value(g)
        for _ in range(4):
            ru, rw = su.get_value(), sw.get_value()
            got_u, got_w = f()
            assert is_device(got_u)
            assert np.array_equal(got_u.get(), ru.uniform(-1.0, 2.5, (7, 5)).astype(dtype))
            assert np.array_equal(got_w, rw.uniform(0.0, 1.0, (3,)).astype(dtype))
            assert same_state(su.get_value(), ru) and same_state(sw.get_value(), rw)


def test_uniform_carries_across_counter_words_and_keeps_scalar_shapes():
    with ct.emulated():
        srng = RandomStreams(5)
        u = srng.uniform((45,), dtype="float64")
        s = srng.uniform(low=T.constant(np.float32(2.0)), high=3.0, dtype="float64")  # size=None: one draw
        f = device_fn([u, s])
        g = srng.state_variables[0].get_value()
        state = g.bit_generator.state
        state["state"]["counter"] = np.array([2**64 - 3, 2**64 - 1, 7, 0], dtype=np.uint64)
        g.bit_generator.state = state
        srng.state_variables[0].set_value(g)
        ref, ref_s = g, srng.state_variables[1].get_value()
        got, got_s = f()
        assert np.array_equal(got, ref.uniform(0.0, 1.0, (45,)))
        assert got_s.shape == () and got_s == ref_s.uniform(np.float32(2.0), 3.0)
        assert same_state(srng.state_variables[0].get_value(), ref)
        assert list(srng.state_variables[0].get_value().bit_generator.state["state"]["counter"]) == [9, 0, 8, 0]


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8, 1.0, 0.0])
def test_dropout_masks_are_bit_identical_to_numpy_binomial(p):
    with ct.emulated():
        srng = RandomStreams(9)
        x = T.fmatrix("x")
        mask = srng.binomial(size=x.shape, p=p, dtype="float32")
        f = nettrain.function([x], x * mask, mode=nettrain.Mode(linker="cuda"))
        assert "_binomial" in f._linker.last_source
        state = srng.state_variables[0]
        xv = np.ones((33, 17), dtype="float32")
        for _ in range(2):
            ref = state.get_value()
            expect = ref.binomial(1, p, (33, 17)).astype("float32")
            assert np.array_equal(f(xv), expect)
            assert same_state(state.get_value(), ref)  # p == 0: NumPy draws nothing, neither do we


def test_dropout_layer_on_the_device_matches_the_cpu():
    from nettrain.layers import Dropout

    x = T.fmatrix("x")
    xv = np.arange(60, dtype="float32").reshape(6, 10)
    outs = []
    for device in (True, False):
        y = Dropout(0.3, seed=4)(x, training=True)
        y = y[0] if isinstance(y, tuple) else y
        if device:
            with ct.emulated():
                f = nettrain.function([x], y, mode=nettrain.Mode(linker="cuda"))
                assert "_binomial" in f._linker.last_source
                outs.append([f(xv), f(xv)])
        else:
            f = nettrain.function([x], y, mode=nettrain.Mode(linker="py"))
            outs.append([f(xv), f(xv)])
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])
    assert not np.array_equal(outs[0][0], outs[0][1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_is_reproducible_and_distributed_correctly(dtype):
    n = 100_000
    with ct.emulated():
        draws = []
        for _ in range(2):
            srng = RandomStreams(21)
            f = device_fn(srng.normal((n,), avg=1.5, std=2.0, dtype=dtype))
            before = srng.state_variables[0].get_value()
            draws.append(f())
        z = draws[0]
        assert z.dtype == dtype and np.array_equal(z, draws[1])  # the same seed gives the same numbers
        assert abs(z.mean() - 1.5) < 0.03 and abs(z.std() - 2.0) < 0.03  # 5 standard errors
        # tails of a normal: P(|z - mu| > 2 sd) = 4.55%
        assert abs(np.mean(np.abs(z - 1.5) > 4.0) - 0.0455) < 0.004
        # the state moved by ceil(n / 4) blocks, with an empty buffer (Philox.advance's convention)
        after = srng.state_variables[0].get_value().bit_generator.state
        c0 = int(before.bit_generator.state["state"]["counter"][0])
        assert int(after["state"]["counter"][0]) == c0 + n // 4 and after["buffer_pos"] == 4
        # a second call continues the stream
        assert not np.array_equal(f()[:10], z[:10])


def test_unsupported_parameters_run_perform_and_raise_its_errors():
    with ct.emulated():
        srng = RandomStreams(2)
        lo = T.dvector("lo")
        u = srng.uniform(low=lo, high=2.0, dtype="float64")  # array parameters: perform draws
        f = nettrain.function([lo], u, mode=nettrain.Mode(linker="cuda"))
        ref = srng.state_variables[0].get_value()
        lov = np.array([0.0, 1.0, -1.0])
        assert np.array_equal(f(lov), ref.uniform(lov, 2.0))
        sd = T.dscalar("sd")
        g = nettrain.function([sd], srng.normal((3,), std=sd), mode=nettrain.Mode(linker="cuda"))
        with pytest.raises(ValueError, match="scale"):
            g(-1.0)
        p = T.dscalar("p")
        h = nettrain.function([p], srng.binomial((3,), p=p), mode=nettrain.Mode(linker="cuda"))
        with pytest.raises(ValueError):
            h(1.5)
        assert h(1.0).tolist() == [1, 1, 1]


def test_generated_sources_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    with ct.emulated():
        srng = RandomStreams(1)
        outs = [srng.uniform((3,), dtype="float32"), srng.uniform((3,), dtype="float64"), srng.normal((5,)),
                srng.normal((5,), dtype="float64"), srng.binomial((3,), p=0.3, dtype="int8"),
                srng.binomial((3,), p=0.3, dtype="float32")]  # fmt: skip
        src = device_fn(outs)._linker.last_source
    text = open(ct.ptx_check([src])).read()
    for kind in ("uniform", "normal", "binomial"):
        assert "_%s" % kind in text
