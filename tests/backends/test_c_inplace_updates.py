"""Shared-variable updates by a Gemm are computed in the variable's own buffer, where nothing can see the old value."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker

pytestmark = [pytest.mark.c, pytest.mark.skipif(not c_linker.usable(), reason="needs a C compiler and cffi")]

C = theano.Mode(linker="c")
RNG = np.random.default_rng(7)


def _sgd(mode, extra_outputs=lambda W, x: [], dtype="float32"):
    """One SGD step of a linear softmax model; returns (f, W, data)."""
    W = theano.shared(RNG.normal(size=(6, 4)).astype(dtype), name="W")
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, W)), y).mean()
    lr = np.asarray(0.5, dtype=dtype)
    f = theano.function([x, y], [cost] + extra_outputs(W, x), updates=[(W, W - lr * T.grad(cost, W))], mode=mode)
    data = (RNG.normal(size=(5, 6)).astype(dtype), RNG.integers(0, 4, size=5).astype("int32"))
    return f, W, data


def _inplace_nodes(f):
    from nettrain.backends.c.inplace import inplace_plan

    fg = f.maker.fgraph
    return inplace_plan(fg, fg.update_targets)[1]


def _reference(extra_outputs=lambda W, x: [], calls=3):
    """The same steps on the Python linker, from the same starting values."""
    state = RNG.bit_generator.state
    f, W, data = _sgd(theano.Mode(linker="py"), extra_outputs)
    RNG.bit_generator.state = state
    return [[np.array(o) for o in f(*data)] for _ in range(calls)], W.get_value()


def test_weight_update_runs_in_the_weights_buffer_with_the_python_linkers_values():
    state = RNG.bit_generator.state
    want, w_end = _reference()
    RNG.bit_generator.state = state
    f, W, data = _sgd(C)
    assert len(_inplace_nodes(f)) == 1
    buf = W.get_value(borrow=True)
    for ref in want:
        got = f(*data)
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-6)
    assert W.get_value(borrow=True) is buf  # the same array, updated where it is
    np.testing.assert_allclose(W.get_value(), w_end, rtol=1e-5, atol=1e-6)


def test_in_place_gives_the_bits_of_the_out_of_place_kernel(monkeypatch):
    state = RNG.bit_generator.state
    f, W, data = _sgd(C)
    for _ in range(3):
        f(*data)
    in_place = W.get_value()
    RNG.bit_generator.state = state
    monkeypatch.setattr(c_linker, "inplace_plan", lambda fg, targets: (fg.toposort(), set()))
    g, V, data2 = _sgd(C)
    buf = V.get_value(borrow=True)
    for _ in range(3):
        g(*data2)
    assert V.get_value(borrow=True) is not buf  # out of place: each value a new array
    np.testing.assert_array_equal(in_place, V.get_value())


def test_a_reader_of_the_old_weight_sees_it_even_if_it_could_run_after_the_update():
    # dot(2 x, W) does not feed the update: a topological order may put it after; in place, it runs before
    f, W, data = _sgd(C, lambda W_, x: [T.dot(x * 2, W_)])
    assert len(_inplace_nodes(f)) == 1
    order = [s.node for s in f._run.steps]
    assert order[-1] in _inplace_nodes(f)  # the update runs last
    for _ in range(3):
        old = W.get_value()
        cost, xw = f(*data)
        np.testing.assert_allclose(xw, (data[0] * 2) @ old, rtol=1e-5)


@pytest.mark.parametrize("why", ["weight returned", "update returned", "a view of the weight returned"])
def test_no_in_place_when_the_caller_could_see_the_old_or_the_new_buffer(why):
    extra = {"weight returned": lambda W, x: [W],
             "update returned": None,
             "a view of the weight returned": lambda W, x: [W.T]}[why]  # fmt: skip
    if extra is None:
        W = theano.shared(RNG.normal(size=(6, 4)).astype("float32"))
        x = T.fmatrix("x")
        new = W - np.float32(0.1) * T.dot(x.T, T.dot(x, W))
        f = theano.function([x], new, updates=[(W, new)], mode=C)
        assert not _inplace_nodes(f)
        xv = RNG.normal(size=(3, 6)).astype("float32")
        first = f(xv)
        second = f(xv)
        assert not np.shares_memory(first, W.get_value(borrow=True))
        np.testing.assert_allclose(second, first - 0.1 * xv.T @ (xv @ first), rtol=1e-5, atol=1e-6)
        return
    f, W, data = _sgd(C, extra)
    assert not _inplace_nodes(f)
    for _ in range(2):
        old = W.get_value()
        out = f(*data)[1]
        np.testing.assert_array_equal(out, old if why == "weight returned" else old.T)


def test_update_reading_the_weight_as_a_factor_stays_out_of_place():
    W = theano.shared(RNG.normal(size=(4, 4)).astype("float32"))
    y = T.fmatrix("y")
    f = theano.function([y], [], updates=[(W, W - np.float32(0.1) * T.dot(W, y))], mode=C)
    assert not _inplace_nodes(f)
    yv = RNG.normal(size=(4, 4)).astype("float32")
    w0 = W.get_value()
    f(yv)
    np.testing.assert_allclose(W.get_value(), w0 - 0.1 * w0 @ yv, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["read-only", "not contiguous"])
def test_a_weight_array_that_cannot_take_the_result_gets_a_new_one(kind):
    f, W, data = _sgd(C)
    base = RNG.normal(size=(4, 6)).astype("float32")
    arr = base.T if kind == "not contiguous" else base.T.copy()
    if kind == "read-only":
        arr.flags.writeable = False
    W.set_value(arr, borrow=True)
    before = arr.copy()
    f(*data)
    np.testing.assert_array_equal(arr, before)  # the user's array is left alone
    assert not np.array_equal(W.get_value(), before)  # and the weight did move


def test_debugmode_sees_no_undeclared_change_and_gets_the_same_values():
    state = RNG.bit_generator.state
    want, w_end = _reference(calls=2)
    RNG.bit_generator.state = state
    f, W, data = _sgd("DebugMode")
    for ref in want:  # DebugMode raises if a node changed an input it does not declare destroyed
        np.testing.assert_allclose(f(*data)[0], ref[0], rtol=1e-6)
    np.testing.assert_allclose(W.get_value(), w_end, rtol=1e-5, atol=1e-6)


def test_profiled_function_runs_out_of_place_with_the_same_values():
    w0 = RNG.normal(size=(6, 4)).astype("float32")
    data = (RNG.normal(size=(5, 6)).astype("float32"), RNG.integers(0, 4, size=5).astype("int32"))
    results = []
    for profile in (False, True):
        W = theano.shared(w0.copy())
        x, y = T.fmatrix("x"), T.ivector("y")
        cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, W)), y).mean()
        f = theano.function([x, y], cost, updates=[(W, W - np.float32(0.5) * T.grad(cost, W))], mode=C,
                            profile=profile)  # fmt: skip
        buf = W.get_value(borrow=True)
        results.append(([f(*data) for _ in range(3)], W.get_value()))
        assert (W.get_value(borrow=True) is buf) == (not profile)  # profiling times the plain step
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_an_update_reading_another_updated_weight_sees_its_old_value():
    # L <- L + G G' and W <- W - lr L G: both are moved to the end; W's update must read the old L
    L = theano.shared(RNG.normal(size=(4, 4)).astype("float32"), name="L")
    W = theano.shared(RNG.normal(size=(4, 3)).astype("float32"), name="W")
    G = T.fmatrix("G")
    upd = [(L, L + T.dot(G, G.T)), (W, W - np.float32(0.1) * T.dot(L, G))]
    f = theano.function([G], [], updates=upd, mode=C)
    chosen = _inplace_nodes(f)
    assert len(chosen) == 1 and next(iter(chosen)).inputs[0] is W  # L's update stays out of place
    g = RNG.normal(size=(4, 3)).astype("float32")
    for _ in range(3):
        l0, w0 = L.get_value(), W.get_value()
        f(g)
        np.testing.assert_allclose(L.get_value(), l0 + g @ g.T, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(W.get_value(), w0 - 0.1 * l0 @ g, rtol=1e-5, atol=1e-5)


def test_a_copy_of_a_weight_made_by_an_update_does_not_follow_its_in_place_training():
    # a target network: W_target <- W in one function, W trained in place by another
    f, W, data = _sgd(C)
    W_target = theano.shared(np.zeros((6, 4), dtype="float32"))
    sync = theano.function([], [], updates=[(W_target, W)], mode=C)
    sync()
    synced = W.get_value()
    assert not np.shares_memory(W_target.get_value(borrow=True), W.get_value(borrow=True))
    for _ in range(3):
        f(*data)
    np.testing.assert_array_equal(W_target.get_value(), synced)
    assert not np.array_equal(W.get_value(), synced)


def test_in_place_with_beta_gives_the_out_of_place_bits(monkeypatch):
    # W <- 0.9 W - lr dot(x', d): a Gemm with beta = 0.9 (weight decay)
    results = []
    for plan in ("in place", "out of place"):
        if plan == "out of place":
            monkeypatch.setattr(c_linker, "inplace_plan", lambda fg, targets: (fg.toposort(), set()))
        W = theano.shared(np.linspace(-1, 1, 24, dtype="float32").reshape(6, 4))
        x, d = T.fmatrix("x"), T.fmatrix("d")
        f = theano.function([x, d], [], updates=[(W, np.float32(0.9) * W - np.float32(0.01) * T.dot(x.T, d))],
                            mode=C)  # fmt: skip
        assert bool(_inplace_nodes(f)) or plan == "out of place"
        xv = np.linspace(0, 1, 30, dtype="float32").reshape(5, 6)
        dv = np.linspace(-2, 1, 20, dtype="float32").reshape(5, 4)
        for _ in range(3):
            f(xv, dv)
        results.append(W.get_value())
    np.testing.assert_array_equal(*results)
