"""The C backend runs scan steps (forward and BPTT) in one compiled loop: the path is taken, values match NumPy."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.scan_module import until

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")

RNG = np.random.default_rng(11)
C = theano.Mode(linker="c")


def _runners(f):
    from nettrain.backends.c.scan_loop import loop_runners

    return loop_runners(f)


def _all_compiled(f, calls):
    runners = _runners(f)
    assert runners, "no Scan node in the function"
    for r in runners:
        assert r.broken is None, r.broken
        assert r.compiled_calls == calls, (type(r).__name__, r.compiled_calls)


def _rnn_grads_numpy(X, h0, U, W, b, go_backwards=False):
    """Values and gradients of sum(h) for h_t = tanh(x_t U + h_{t-1} W + b)."""
    xs = X[::-1] if go_backwards else X
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(x @ U + hs[-1] @ W + b))
    gU, gW, gb, gX = np.zeros_like(U), np.zeros_like(W), np.zeros_like(b), np.zeros_like(xs)
    gh = np.zeros_like(h0)
    for t in range(len(xs) - 1, -1, -1):
        gz = (gh + 1) * (1 - hs[t + 1] ** 2)
        gU += xs[t].T @ gz
        gW += hs[t].T @ gz
        gb += gz.sum(0)
        gX[t] = gz @ U.T
        gh = gz @ W.T
    return np.stack(hs[1:]), (gX[::-1] if go_backwards else gX), gh, gU, gW, gb


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rnn_forward_and_gradients_run_compiled_and_match_numpy(dtype, go_backwards):
    X, h0 = T.tensor3("X", dtype=dtype), T.matrix("h0", dtype=dtype)
    U, W, b = T.matrix("U", dtype=dtype), T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    hs, _ = theano.scan(lambda x, h, U_, W_, b_: T.tanh(T.dot(x, U_) + T.dot(h, W_) + b_), sequences=X,
                        outputs_info=h0, non_sequences=[U, W, b], go_backwards=go_backwards)  # fmt: skip
    f = theano.function([X, h0, U, W, b], [hs] + T.grad(hs.sum(), [X, h0, U, W, b]), mode=C)
    args = [RNG.normal(size=s).astype(dtype) for s in [(7, 3, 5), (3, 6), (5, 6), (6, 6), (6,)]]
    args[3] *= 0.5
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    for _ in range(2):  # the first call records the loop, the second reuses the plan for every step
        got = f(*args)
        for g, e in zip(got, _rnn_grads_numpy(*args, go_backwards=go_backwards)):
            np.testing.assert_allclose(g, e, **tol)
    _all_compiled(f, 2)
    # the per-step products of the gradients of U, W (and of X's row t) accumulate straight into them
    assert [getattr(r, "folded", None) for r in _runners(f)] == [None, 3]


def _gemm_plan(extra_ptrs=(), z=0, kind=1, n=12):
    """A plan of one gemm call (arguments 0..15) writing intermediate region 2, and a move adding it to region 0."""
    from nettrain.backends.c.loop_plan import Plan

    plan = Plan(n_call=2)
    plan.args = [("p", 0)] * 16
    plan.args[1], plan.args[2] = ("i", 3), ("i", 4)  # a 3x4 product: 12 elements
    plan.args[5], plan.args[12] = ("d", 0.0), ("p", z)
    plan.accumulating = [(0, (5, 12, 15))]
    plan.ptrs = [(15, 2, 0, 0)] + list(extra_ptrs)
    plan.moves = [(kind, n, 0, 0, 0, 2, 0, 0)]
    return plan


def test_a_product_only_added_to_a_gradient_is_folded_into_its_gemm():
    plan = _gemm_plan()
    assert plan.fold_adds() == 1
    assert plan.moves == []
    assert sorted(plan.ptrs) == [(12, 0, 0, 0), (15, 0, 0, 0)]  # output and z: the accumulator
    assert plan.args[5] == ("d", 1.0)  # beta = 1: c += a b


@pytest.mark.parametrize("why", ["intermediate read by another call", "accumulator read by a call", "z given",
                                 "z in a region", "a copy, not an add", "part of the product added"])  # fmt: skip
def test_a_product_is_not_folded_when_the_step_needs_it_apart(why):
    plan = {"intermediate read by another call": lambda: _gemm_plan(extra_ptrs=[(20, 2, 0, 0)]),
            "accumulator read by a call": lambda: _gemm_plan(extra_ptrs=[(20, 0, 0, 0)]),
            "z given": lambda: _gemm_plan(z=1234),
            "z in a region": lambda: _gemm_plan(extra_ptrs=[(12, 3, 0, 0)]),
            "a copy, not an add": lambda: _gemm_plan(kind=0),
            "part of the product added": lambda: _gemm_plan(n=8)}[why]()  # fmt: skip
    moves, ptrs = list(plan.moves), list(plan.ptrs)
    assert plan.fold_adds() == 0
    assert plan.moves == moves and plan.ptrs == ptrs and plan.args[5] == ("d", 0.0)


def test_sequence_taps_and_output_taps_mit_sot():
    x, init = T.dvector("x"), T.dvector("init")
    out, _ = theano.scan(lambda a, b, c, p2, p1: a - 2 * b + c + 0.5 * p2 - 0.25 * p1,
                         sequences=dict(input=x, taps=[-1, 0, 1]),
                         outputs_info=dict(initial=init, taps=[-2, -1]))  # fmt: skip
    f = theano.function([x, init], [out, T.grad(out.sum(), [x, init])[0]], mode=C)
    xv, iv = RNG.normal(size=9), RNG.normal(size=3)
    ys = list(iv[-2:])
    for t in range(1, 8):
        ys.append(xv[t - 1] - 2 * xv[t] + xv[t + 1] + 0.5 * ys[-2] - 0.25 * ys[-1])
    for _ in range(2):
        got, gx = f(xv, iv)
        np.testing.assert_allclose(got, ys[2:], rtol=1e-12)
    # the gradient against the Python linker's loop
    g = theano.function([x, init], T.grad(out.sum(), [x, init])[0], mode=theano.Mode(linker="py"))
    np.testing.assert_allclose(gx, g(xv, iv), rtol=1e-12)
    _all_compiled(f, 2)


def test_until_stops_the_compiled_loop_at_the_same_step():
    k = T.dscalar("k")
    x = T.dvector("x")
    vals, _ = theano.scan(lambda v, p: (p * 2 + v, until(p * 2 + v > k)), sequences=x,
                          outputs_info=T.constant(1.0))  # fmt: skip
    f = theano.function([x, k], vals, mode=C)
    xv = np.zeros(20)
    np.testing.assert_array_equal(f(xv, 40.0), [2, 4, 8, 16, 32, 64])
    np.testing.assert_array_equal(f(xv, 1000.0), [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    np.testing.assert_array_equal(f(xv, 3.0), [2, 4])  # stops while the loop is being recorded
    np.testing.assert_array_equal(f(xv, 1e9), 2.0 ** np.arange(1, 21))  # never stops
    _all_compiled(f, 4)


def test_shared_variable_updated_inside_the_compiled_loop():
    acc = theano.shared(np.zeros(3), name="acc")
    x = T.dmatrix("x")

    def step(v, h):
        return h * 0.5 + v.sum(), {acc: acc + v * h}

    out, upd = theano.scan(step, sequences=x, outputs_info=T.constant(1.0))
    f = theano.function([x], out, updates=upd, mode=C)
    xv = RNG.normal(size=(6, 3))
    expect_acc = np.zeros(3)
    for _ in range(2):
        h, hs = np.ones(()), []
        for v in xv:
            expect_acc += v * h
            h = h * 0.5 + v.sum()
            hs.append(h)
        np.testing.assert_allclose(f(xv), hs, rtol=1e-12)
        np.testing.assert_allclose(acc.get_value(), expect_acc, rtol=1e-12)
    _all_compiled(f, 2)


def test_lstm_gradients_run_compiled_and_match_the_python_linker():
    nh = 4
    X, U, W, b = T.ftensor3("X"), T.fmatrix("U"), T.fmatrix("W"), T.fvector("b")
    h0 = T.zeros((X.shape[1], nh), dtype="float32")

    def step(x, h, c, U_, W_, b_):
        z = T.dot(x, U_) + T.dot(h, W_) + b_
        i, f, o = T.nnet.sigmoid(z[:, :nh]), T.nnet.sigmoid(z[:, nh : 2 * nh]), T.nnet.sigmoid(z[:, 2 * nh : 3 * nh])
        c2 = f * c + i * T.tanh(z[:, 3 * nh :])
        return o * T.tanh(c2), c2

    (hs, cs), _ = theano.scan(step, sequences=X, outputs_info=[h0, h0], non_sequences=[U, W, b])
    outs = T.grad((hs * hs).sum() + cs.sum(), [X, U, W, b])
    f = theano.function([X, U, W, b], outs, mode=C)
    ref = theano.function([X, U, W, b], outs, mode=theano.Mode(linker="py"))
    args = [RNG.normal(size=s).astype("float32") for s in [(6, 2, 3), (3, 16), (4, 16), (16,)]]
    for _ in range(2):
        for g, e in zip(f(*args), ref(*args)):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    _all_compiled(f, 2)


def test_truncated_gradient_in_the_compiled_loop():
    x, a = T.dvector("x"), T.dscalar("a")
    hs, _ = theano.scan(lambda v, h, w: h * w + v, sequences=x, outputs_info=T.constant(0.0), non_sequences=a,
                        truncate_gradient=3)  # fmt: skip
    f = theano.function([x, a], T.grad(hs[-1], [x, a]), mode=C)
    ref = theano.function([x, a], T.grad(hs[-1], [x, a]), mode=theano.Mode(linker="py"))
    xv = RNG.normal(size=8)
    for g, e in zip(f(xv, 0.7), ref(xv, 0.7)):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    _all_compiled(f, 1)


def test_a_step_without_c_kernels_keeps_the_python_loop():
    from nettrain.tensor.shared_randomstreams import RandomStreams

    srng = RandomStreams(seed=4)
    out, upd = theano.scan(lambda h: h + srng.uniform(()), outputs_info=T.constant(0.0), n_steps=4)
    f = theano.function([], out, updates=upd, mode=C)
    v = f()
    assert np.all(np.diff(v) > 0) and v.shape == (4,)
    runners = _runners(f)
    assert runners and runners[0].compiled_calls == 0 and "no C kernel" in runners[0].broken


def test_a_new_input_layout_records_a_new_plan():
    x = T.dmatrix("x")
    out, _ = theano.scan(lambda v, h: h * 0.5 + v, sequences=x, outputs_info=T.zeros_like(x[0]))
    f = theano.function([x], out, mode=C)
    for shape in [(5, 3), (5, 4), (6, 3)]:
        xv = RNG.normal(size=shape)
        h, hs = np.zeros(shape[1]), []
        for v in xv:
            h = h * 0.5 + v
            hs.append(h)
        np.testing.assert_allclose(f(xv), hs, rtol=1e-12)
        np.testing.assert_allclose(f(np.asfortranarray(xv)), hs, rtol=1e-12)  # other strides, other plan
    _all_compiled(f, 6)
    # C-ordered (5, 3) and (6, 3) share the layout of a step; Fortran-ordered ones do not (column strides)
    assert len(_runners(f)[0].plans) == 5


def test_a_per_step_scalar_read_by_value_keeps_the_python_loop_and_stays_correct():
    # Gemm reads alpha as a Python number: the first two steps agree (1.0), later ones do not
    s, W, h0 = T.dvector("s"), T.dmatrix("W"), T.dmatrix("h0")
    hs, _ = theano.scan(lambda a, h, W_: T.tanh(a * T.dot(h, W_) + h), sequences=s, outputs_info=h0, non_sequences=W)
    f = theano.function([s, h0, W], hs, mode=C)
    sv, hv, Wv = np.array([1.0, 1.0, 2.0, 3.0, 0.5]), RNG.normal(size=(2, 3)), RNG.normal(size=(3, 3)) * 0.3
    h, expect = hv, []
    for a in sv:
        h = np.tanh(a * (h @ Wv) + h)
        expect.append(h)
    np.testing.assert_allclose(f(sv, hv, Wv), expect, rtol=1e-12)
    (r,) = _runners(f)
    assert r.compiled_calls == 0 and "by value" in r.broken


def test_a_profiled_function_keeps_its_compiled_scan_loop():
    x = T.dvector("x")
    s, _ = theano.scan(lambda v, acc: acc * 0.5 + v, sequences=x, outputs_info=T.constant(0.0))
    with theano.config.change_flags(profile=True):  # the steps' own function is not profiled: it is replayed
        f = theano.function([x], s, mode=C, profile=True)
    for _ in range(2):
        np.testing.assert_allclose(f(np.ones(4)), [1.0, 1.5, 1.75, 1.875])
    _all_compiled(f, 2)
    assert f.profile.calls == 2
