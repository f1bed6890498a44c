"""scan against NumPy loops, with gradients (verify_grad) through taps, non-sequences and shared variables."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.scan_module import until
from nettrain.testing import verify_grad

RNG = np.random.default_rng(3)


def test_cumulative_sum_and_its_gradient():
    x = T.dvector("x")
    s, upd = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    assert upd == {}
    f = theano.function([x], [s, T.grad(s.sum(), x)])
    xv = RNG.normal(size=7)
    out, g = f(xv)
    np.testing.assert_allclose(out, np.cumsum(xv))
    np.testing.assert_allclose(g, np.arange(7, 0, -1))
    verify_grad(lambda v: theano.scan(lambda a, acc: acc + a * a, sequences=v, outputs_info=T.constant(0.0))[0], [xv])


def _rnn_numpy(X, h0, W, U, b):
    h, hs = h0, []
    for t in range(X.shape[0]):
        h = np.tanh(X[t] @ U + h @ W + b)
        hs.append(h)
    return np.stack(hs)


def _rnn(X, h0, W, U, b):
    hs, _ = theano.scan(
        lambda xt, h, W_, U_, b_: T.tanh(T.dot(xt, U_) + T.dot(h, W_) + b_),
        sequences=X,
        outputs_info=h0,
        non_sequences=[W, U, b],
    )
    return hs


def test_tanh_rnn_forward_matches_numpy_with_batches():
    X = T.dtensor3("X")
    h0 = T.dmatrix("h0")
    W, U, b = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b")
    f = theano.function([X, h0, W, U, b], _rnn(X, h0, W, U, b))
    Xv, h0v = RNG.normal(size=(6, 2, 3)), RNG.normal(size=(2, 4))
    Wv, Uv, bv = RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(3, 4)), RNG.normal(size=4)
    np.testing.assert_allclose(f(Xv, h0v, Wv, Uv, bv), _rnn_numpy(Xv, h0v, Wv, Uv, bv))


def test_tanh_rnn_gradient_through_sequences_initial_state_and_non_sequences():
    args = [
        RNG.normal(size=(5, 3)),
        RNG.normal(size=4),
        RNG.normal(size=(4, 4)) * 0.5,
        RNG.normal(size=(3, 4)),
        RNG.normal(size=4),
    ]
    verify_grad(_rnn, args)


def test_gradient_through_a_shared_variable_read_inside_the_step():
    W = theano.shared(RNG.normal(size=(3, 3)) * 0.5, name="W")
    X = T.dmatrix("X")
    hs, _ = theano.scan(lambda xt, h: T.tanh(T.dot(h, W) + xt), sequences=X, outputs_info=T.zeros((3,)))
    gW = theano.function([X], T.grad(hs.sum(), W))
    Xv = RNG.normal(size=(4, 3))
    # compare with verify_grad on the same loop where W is an explicit input
    verify_grad(
        lambda W_, X_: theano.scan(lambda xt, h: T.tanh(T.dot(h, W_) + xt), sequences=X_, outputs_info=T.zeros((3,)))[
            0
        ],
        [W.get_value(), Xv],
    )
    eps = 1e-6
    num = np.zeros((3, 3))
    base = W.get_value()
    fwd = theano.function([X], hs.sum())
    for i in range(3):
        for j in range(3):
            W.set_value(base + eps * (np.arange(9).reshape(3, 3) == i * 3 + j))
            up = fwd(Xv)
            W.set_value(base - eps * (np.arange(9).reshape(3, 3) == i * 3 + j))
            num[i, j] = (up - fwd(Xv)) / (2 * eps)
    W.set_value(base)
    np.testing.assert_allclose(gW(Xv), num, rtol=1e-5, atol=1e-7)


def test_polynomial_evaluation_with_sequences_and_a_non_sequence():
    coef = T.dvector("coef")
    x = T.dscalar("x")
    comp, _ = theano.scan(lambda c, p, xv: c * xv**p, sequences=[coef, T.arange(10)], non_sequences=x)
    f = theano.function([coef, x], comp.sum())
    assert float(f(np.array([1.0, 0.0, 2.0]), 3.0)) == pytest.approx(19.0)
    verify_grad(
        lambda c, xv: theano.scan(lambda a, p, z: a * z**p, sequences=[c, T.arange(10)], non_sequences=xv)[0].sum(),
        [np.array([1.0, -0.5, 2.0]), np.array(1.3)],
    )


def test_until_stops_the_loop_early():
    k = T.dscalar("k")
    vals, _ = theano.scan(lambda p: (p * 2, until(p * 2 > k)), outputs_info=T.constant(1.0), n_steps=100)
    np.testing.assert_array_equal(theano.function([k], vals)(40.0), [2, 4, 8, 16, 32, 64])
    verify_grad(
        lambda a: theano.scan(lambda p: (p * 1.5, until(p > 100.0)), outputs_info=a, n_steps=50)[0], [np.array(2.0)]
    )


def test_two_taps_on_an_output():
    init = T.dvector("init")
    fib, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=6)
    np.testing.assert_array_equal(theano.function([init], fib)(np.array([1.0, 1.0])), [2, 3, 5, 8, 13, 21])
    verify_grad(
        lambda i: theano.scan(lambda a, b: a * b + 0.5 * a, outputs_info=dict(initial=i, taps=[-2, -1]), n_steps=4)[0],
        [np.array([0.9, 1.1])],
    )


def test_sequence_taps_look_ahead_and_behind():
    x = T.dvector("x")
    out, _ = theano.scan(lambda a, b, c: a - 2 * b + c, sequences=dict(input=x, taps=[-1, 0, 1]))
    xv = RNG.normal(size=8)
    np.testing.assert_allclose(theano.function([x], out)(xv), xv[:-2] - 2 * xv[1:-1] + xv[2:])
    verify_grad(lambda v: theano.scan(lambda a, b, c: a * b * c, sequences=dict(input=v, taps=[-1, 0, 1]))[0], [xv])


def test_truncate_gradient_backpropagates_only_the_last_steps():
    x = T.dvector("x")
    a = T.dscalar("a")
    hs, _ = theano.scan(
        lambda v, h, w: h * w + v, sequences=x, outputs_info=T.constant(0.0), non_sequences=a, truncate_gradient=2
    )
    g = theano.function([x, a], T.grad(hs[-1], x))
    # h_T = sum_t x_t a^(T-1-t); truncated to 2 steps: only x_{T-1} and x_{T-2} get gradient
    np.testing.assert_allclose(g(np.ones(5), 0.5), [0, 0, 0, 0.5, 1.0])
    full = theano.scan(
        lambda v, h, w: h * w + v, sequences=x, outputs_info=T.constant(0.0), non_sequences=a, truncate_gradient=10
    )[0]
    np.testing.assert_allclose(
        theano.function([x, a], T.grad(full[-1], x))(np.ones(5), 0.5), 0.5 ** np.arange(4, -1, -1)
    )
    verify_grad(
        lambda v, w: theano.scan(
            lambda s, h, ww: T.tanh(h * ww + s),
            sequences=v,
            outputs_info=T.constant(0.1),
            non_sequences=w,
            truncate_gradient=10,
        )[0],
        [RNG.normal(size=4), np.array(0.7)],
    )


def test_go_backwards_iterates_from_the_end():
    x = T.dvector("x")
    s, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0), go_backwards=True)
    xv = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(theano.function([x], s)(xv), [3.0, 5.0, 6.0])
    verify_grad(
        lambda v: theano.scan(
            lambda a, acc: acc * 0.5 + a * a, sequences=v, outputs_info=T.constant(0.0), go_backwards=True
        )[0],
        [xv],
    )


def test_multiple_outputs_some_not_fed_back():
    x = T.dvector("x")
    (acc, sq), _ = theano.scan(lambda v, a: (a + v, v * v), sequences=x, outputs_info=[T.constant(0.0), None])
    f = theano.function([x], [acc, sq])
    xv = np.array([1.0, 2.0, 3.0])
    a, q = f(xv)
    np.testing.assert_allclose(a, np.cumsum(xv))
    np.testing.assert_allclose(q, xv**2)


def test_n_steps_without_sequences_and_shared_updates_inside_the_loop():
    counter = theano.shared(0.0, name="counter")

    def step(h):
        return h * 2, {counter: counter + 1}

    out, upd = theano.scan(step, outputs_info=T.constant(1.0), n_steps=5)
    assert list(upd) == [counter]
    f = theano.function([], out, updates=upd)
    np.testing.assert_array_equal(f(), [2, 4, 8, 16, 32])
    assert float(counter.get_value()) == 5.0
    f()
    assert float(counter.get_value()) == 10.0


def test_map_reduce_foldl_foldr():
    x = T.dvector("x")
    xv = np.array([1.0, 2.0, 4.0])
    sq, _ = theano.map(lambda v: v * v, x)
    np.testing.assert_allclose(theano.function([x], sq)(xv), xv**2)
    tot, _ = theano.reduce(lambda v, acc: acc + v, x, T.constant(0.0))
    assert float(theano.function([x], tot)(xv)) == 7.0
    left, _ = theano.foldl(lambda v, acc: acc / 2 + v, x, T.constant(0.0))
    right, _ = theano.foldr(lambda v, acc: acc / 2 + v, x, T.constant(0.0))
    assert float(theano.function([x], left)(xv)) == pytest.approx(((1 / 2 + 2) / 2) + 4)
    assert float(theano.function([x], right)(xv)) == pytest.approx(((4 / 2 + 2) / 2) + 1)


def test_state_keeps_the_dtype_of_its_initial_value():
    x = T.fvector("x")
    s, _ = theano.scan(lambda v, acc: acc + v * 0.5, sequences=x, outputs_info=T.constant(np.float32(0)))
    assert s.dtype == "float32"
    assert theano.function([x], s)(np.ones(3, dtype="float32")).dtype == np.float32


def test_bad_scan_arguments_give_clear_errors():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="n_steps"):
        theano.scan(lambda h: h * 2, outputs_info=T.constant(1.0))
    with pytest.raises(TypeError, match="dimensions per step"):
        theano.scan(lambda v, h: T.stack([h, v]), sequences=x, outputs_info=T.constant(0.0))
    with pytest.raises(ValueError, match="taps must be negative"):
        theano.scan(lambda v, h: h + v, sequences=x, outputs_info=dict(initial=T.constant(0.0), taps=[0]))
    s, _ = theano.scan(lambda a, b: a * b, sequences=dict(input=x, taps=[0, 5]))
    with pytest.raises(ValueError, match="too few"):
        theano.function([x], s, givens=None)(np.ones(3))


def test_loop_invariant_computations_are_moved_out_of_the_loop():
    from nettrain.scan_module.op import Scan

    x = T.dvector("x")
    W = T.dmatrix("W")
    out, _ = theano.scan(lambda v, h, w: T.tanh(T.dot(h, T.dot(w, w.T)) + v), sequences=T.stack([x, x]),
                         outputs_info=T.zeros_like(x), non_sequences=W)  # fmt: skip
    f = theano.function([x, W], out)
    scans = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]
    assert len(scans) == 1
    inner = scans[0].op.fn().maker.fgraph.toposort()
    n_dots = sum("Dot" in type(n.op).__name__ or "Gemm" in type(n.op).__name__ or "Gemv" in type(n.op).__name__
                 for n in inner)  # fmt: skip
    assert n_dots == 1  # only dot(h, .) stays inside; dot(w, w.T) is computed once outside
    xv, Wv = RNG.normal(size=3), RNG.normal(size=(3, 3)) * 0.3
    ref = theano.function([x, W], out, mode=theano.Mode(optimizer=None))
    np.testing.assert_allclose(f(xv, Wv), ref(xv, Wv))


def test_random_samples_inside_scan_advance_per_step_and_per_call_and_replay_in_the_gradient():
    from nettrain.tensor.shared_randomstreams import RandomStreams

    srng = RandomStreams(7)
    x = T.dvector("x")
    out, upd = theano.scan(lambda v: v * v * srng.uniform(size=()), sequences=x)
    assert len(upd) == 1  # the generator state is carried through the loop
    f = theano.function([x], [out, T.grad(out.sum(), x)], updates=upd)
    xv = np.full(5, 3.0)
    o1, g1 = f(xv)
    o2, _ = f(xv)
    assert len(set(np.round(o1, 12))) == 5  # a new sample at every step
    assert not np.allclose(o1, o2)  # and new samples at the next call
    np.testing.assert_allclose(g1, 2 * o1 / 3)  # the gradient uses the same samples as the forward pass
    srng.seed(7)
    o3, _ = f(xv)
    np.testing.assert_allclose(o3, o1)


def test_float_step_on_int_state_raises_naming_both_dtypes():
    # Theano refuses a step whose output type differs from outputs_info; casting would truncate 0.5 -> 0
    message = r"dtype float64 but its initial value \(outputs_info\[0\]\) has dtype int32"
    for init in (T.ones((), "int32"), T.zeros((3,), "int32")):
        with pytest.raises(TypeError, match=message):
            theano.scan(lambda h: h * 0.5, outputs_info=init, n_steps=9)


def test_same_kind_step_output_is_cast_to_the_state_dtype():
    x = T.fvector("x")
    s, _ = theano.scan(lambda v, h: h + v * np.float64(0.5), sequences=x, outputs_info=T.zeros((), "float32"))
    assert s.dtype == "float32"
    np.testing.assert_allclose(theano.function([x], s)(np.ones(3, "float32")), [0.5, 1.0, 1.5])
    s, _ = theano.scan(lambda h: h * 2, outputs_info=T.ones((), "int32"), n_steps=3)
    assert s.dtype == "int32" and theano.function([], s)().tolist() == [2, 4, 8]


def test_one_output_comes_back_alone_whether_fn_returns_x_or_a_one_element_list():
    # Theano's rule (Lasagne's recurrent layers return [h] from their step)
    x = T.dvector("x")
    for step in (lambda v, acc: acc + v, lambda v, acc: [acc + v]):
        out, _ = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
        assert not isinstance(out, list)
        np.testing.assert_array_equal(theano.function([x], out)(np.array([1.0, 2.0])), [1.0, 3.0])
    outs, _ = theano.scan(lambda v, acc: [acc + v], sequences=x, outputs_info=T.constant(0.0), return_list=True)
    assert isinstance(outs, list) and len(outs) == 1
