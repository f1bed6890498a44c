"""NanGuardMode: the first NaN / Inf / huge value stops the call, naming the node and the user's line."""

import inspect

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.compile.mode import get_mode
from nettrain.compile.nanguardmode import NanGuardError, NanGuardMode

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a C compiler")


def _deep_graph():
    """An MLP-like graph whose 3rd layer takes log(-1); returns (inputs, output, line of the log)."""
    x = T.dmatrix("x")
    w1 = theano.shared(np.full((4, 5), 0.1), name="w1")
    w2 = theano.shared(np.full((5, 3), 0.1), name="w2")
    h = T.tanh(T.dot(x, w1))
    h2 = T.dot(h, w2) + 1.0
    line = inspect.currentframe().f_lineno + 1
    bad = T.log(h2 - 10.0)  # every entry is log(negative) = NaN
    out = T.nnet.sigmoid(bad * 2.0).sum() + T.sqr(h).mean()
    return x, out, line


@pytest.mark.parametrize("linker", ["py", pytest.param("c", marks=needs_c)])
def test_nan_from_log_of_negative_names_the_node_and_the_users_line(linker):
    x, out, line = _deep_graph()
    f = theano.function([x], out, mode=NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=True,
                                                     linker=linker))  # fmt: skip
    assert np.isnan(theano.function([x], out, mode=theano.Mode(linker=linker))(np.ones((2, 4))))  # plain: passes
    with pytest.raises(NanGuardError) as info:
        f(np.ones((2, 4)))
    msg = str(info.value)
    assert msg.startswith("NanGuardError: NaN in output 0 of ")
    assert "%s:%d" % (__file__, line) in msg  # the line of T.log(...) (fused or not)
    assert "log" in msg.split("\n")[0].lower()  # the failing node's op
    assert "float64 (2, 3)" in msg  # its input shapes
    assert "No input was bad: this node made the first bad value." in msg
    assert isinstance(info.value, AssertionError)  # as Theano's NanGuardMode


def test_a_bad_input_is_reported_as_already_bad():
    x = T.dvector("x")
    y = T.exp(x) * 2.0
    f = theano.function([x], y, mode=NanGuardMode(linker="py", optimizer=None))
    np.testing.assert_allclose(f(np.array([0.0, 1.0])), 2 * np.exp([0.0, 1.0]))
    with pytest.raises(NanGuardError, match=r"input 0 \(x\): NaN, the function's input"):
        f(np.array([0.0, np.nan]))


def test_inf_and_big_are_errors_only_when_asked():
    x = T.dvector("x")
    y = T.exp(x)
    big = np.array([30.0])  # exp(30) ~ 1e13 > 1e10
    inf = np.array([1000.0])
    assert np.isinf(theano.function([x], y, mode=NanGuardMode(inf_is_error=False, big_is_error=False))(inf))[0]
    assert theano.function([x], y, mode=NanGuardMode(big_is_error=False))(big)[0] > 1e10
    with pytest.raises(NanGuardError, match="Inf in output 0"):
        theano.function([x], y, mode=NanGuardMode(big_is_error=False))(inf)
    with pytest.raises(NanGuardError, match="a value above 1e"):
        theano.function([x], y, mode=NanGuardMode())(big)
    with pytest.raises(ValueError, match="checks nothing"):
        NanGuardMode(nan_is_error=False, inf_is_error=False, big_is_error=False)


def test_mode_name_gives_a_checking_mode_that_keeps_its_settings_when_copied():
    m = get_mode("NanGuardMode")
    assert isinstance(m, NanGuardMode)
    m2 = NanGuardMode(big_is_error=False).excluding("fusion")
    assert isinstance(m2, NanGuardMode) and not m2.big_is_error and "fusion" in m2.exclude
    x = T.dvector("x")
    with pytest.raises(NanGuardError):
        theano.function([x], T.sqrt(x), mode="NanGuardMode")(np.array([-1.0]))


def test_updates_are_checked_and_integers_are_ignored():
    x = T.dvector("x")
    acc = theano.shared(np.zeros(2), name="acc")
    n = theano.shared(np.int64(0), name="n")
    f = theano.function([x], [], updates={acc: acc + T.log(x), n: n + 1}, mode=NanGuardMode())
    f(np.array([1.0, 2.0]))
    with pytest.raises(NanGuardError):
        f(np.array([1.0, -2.0]))


@needs_c
def test_device_arrays_are_checked_on_the_device():
    from nettrain.backends.cuda import testing as ct
    from nettrain.backends.cuda.runtime import get_runtime

    with ct.emulated():
        x = T.fmatrix("x")
        y = T.log(T.dot(x, x.T) - 5.0) * 2.0
        f = theano.function([x], y, mode=NanGuardMode())
        rt = get_runtime()
        ok = np.full((2, 2), 2.0, np.float32)
        np.testing.assert_allclose(f(ok), 2 * np.log(np.full((2, 2), 3.0)), rtol=1e-6)
        rt.reset_counters()
        with pytest.raises(NanGuardError, match="NaN in output 0"):
            f(np.full((64, 32), 0.01, np.float32))  # 64x64 results: 16 KB each
        # no tensor is copied back for the checks: only one-byte flags, 3 per checked value
        assert 0 < rt.counters["dtoh_bytes"] <= 3 * 8


def _clipped_scan(mode=None):
    x, W, h0 = T.dvector("x"), T.dmatrix("W"), T.dvector("h0")

    def step(v, h, W):
        return T.minimum(T.dot(W, h) * v, 1.0)  # the dot is above 1e10 at step 0; the clipped output is not

    s, _ = theano.scan(step, sequences=x, outputs_info=h0, non_sequences=W, mode=mode)
    args = (np.ones(5), np.full((3, 3), 1e3), np.array([1.0, 1.0, 1e7]))
    return [x, W, h0], s, args


@pytest.mark.parametrize("linker", ["py", "c"])
def test_the_nodes_inside_a_scan_step_are_guarded(linker):
    if linker == "c" and not c_linker.usable():
        pytest.skip("needs a C compiler")
    # the scan's own mode, and (with no mode of its own) the mode of the function that runs it
    for scan_mode, fn_mode in ((NanGuardMode(), theano.Mode(linker=linker)), (None, NanGuardMode(linker=linker))):
        ins, s, args = _clipped_scan(scan_mode)
        f = theano.function(ins, s, mode=fn_mode)
        with pytest.raises(NanGuardError, match="above 1e\\+10 in magnitude in output 0 of Dot"):
            f(*args)
    ins, s, args = _clipped_scan()  # unguarded: the clipped result
    np.testing.assert_array_equal(theano.function(ins, s, mode=theano.Mode(linker=linker))(*args)[-1], [1.0, 1.0, 1.0])
