"""The backward loop reads the forward step's products from the forward loop instead of computing them again."""

import pickle

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.scan_module.op import Scan, ScanGrad

RNG = np.random.default_rng(5)
NH = 4
LINKERS = ["py"] + (["c"] if c_linker.usable() else [])


def _lstm(go_backwards=False, truncate_gradient=-1, dtype="float64"):
    X, h0 = T.tensor3("X", dtype=dtype), T.matrix("h0", dtype=dtype)
    U, W, b = T.matrix("U", dtype=dtype), T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)

    def step(x, h, c, U_, W_, b_):
        z = T.dot(x, U_) + T.dot(h, W_) + b_
        i, f = T.nnet.sigmoid(z[:, :NH]), T.nnet.sigmoid(z[:, NH : 2 * NH])
        o, g = T.nnet.sigmoid(z[:, 2 * NH : 3 * NH]), T.tanh(z[:, 3 * NH :])
        c2 = f * c + i * g
        return o * T.tanh(c2), c2

    (hs, cs), _ = theano.scan(step, sequences=X, outputs_info=[h0, h0], non_sequences=[U, W, b],
                              go_backwards=go_backwards, truncate_gradient=truncate_gradient)  # fmt: skip
    cost = (hs**2).sum() + cs.sum()
    return [X, h0, U, W, b], [hs] + T.grad(cost, [X, h0, U, W, b])


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _lstm_numpy(X, h0, U, W, b, go_backwards=False, truncate_gradient=-1):
    """Values and gradients of sum(h**2) + sum(c), by hand."""
    xs = X[::-1] if go_backwards else X
    hs, cs, gates = [h0], [h0], []
    for x in xs:
        z = x @ U + hs[-1] @ W + b
        i, f, o = (_sigmoid(z[:, k * NH : (k + 1) * NH]) for k in range(3))
        g = np.tanh(z[:, 3 * NH :])
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        gates.append((i, f, o, g))
    n = len(xs)
    gX, gU, gW, gb = np.zeros_like(xs), np.zeros_like(U), np.zeros_like(W), np.zeros_like(b)
    gh, gc = np.zeros_like(h0), np.zeros_like(h0)
    stop = 0 if truncate_gradient < 0 else max(0, n - truncate_gradient)
    for t in range(n - 1, stop - 1, -1):
        i, f, o, g = gates[t]
        dh = gh + 2 * hs[t + 1]
        tc = np.tanh(cs[t + 1])
        dc = gc + 1 + dh * o * (1 - tc**2)
        dz = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dh * tc * o * (1 - o),
                             dc * i * (1 - g**2)], axis=1)  # fmt: skip
        gU += xs[t].T @ dz
        gW += hs[t].T @ dz
        gb += dz.sum(0)
        gX[t] = dz @ U.T
        gh, gc = dz @ W.T, dc * f
    # the initial value feeds both h0 and c0 (outputs_info=[h0, h0]); a truncated gradient does not reach it
    g0 = gh + gc if stop == 0 else np.zeros_like(h0)
    return np.stack(hs[1:]), (gX[::-1] if go_backwards else gX), g0, gU, gW, gb


def _args(dtype="float64"):
    shapes = [(6, 3, 5), (3, NH), (5, 4 * NH), (NH, 4 * NH), (4 * NH,)]
    return [(RNG.normal(size=s) * 0.5).astype(dtype) for s in shapes]


def _nodes(f, cls):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, cls)]


@pytest.mark.parametrize("linker", LINKERS)
@pytest.mark.parametrize("go_backwards,truncate", [(False, -1), (True, -1), (False, 3)])
def test_lstm_gradients_read_the_kept_gate_products_and_match_numpy(linker, go_backwards, truncate):
    ins, outs = _lstm(go_backwards, truncate)
    f = theano.function(ins, outs, mode=theano.Mode(linker=linker))
    (grad_node,) = _nodes(f, ScanGrad)
    assert len(grad_node.op.saved) == 1  # the gates' pre-activation z, not the two products
    (fwd,) = _nodes(f, Scan)
    assert fwd.op.info.n_nit == 1  # the forward loop returns it (not visible to the user)
    # the backward step computes no product from the forward graph: its products are the three of the gradient
    ins_v, outs_v = grad_node.op.vjp_graph()
    from nettrain.graph.basic import io_toposort
    from nettrain.tensor.blas import Dot

    dots = [n for n in io_toposort(ins_v, outs_v) if isinstance(n.op, Dot)]
    assert len(dots) == 4  # dz W', dz U', x' dz, h' dz
    args = _args()
    want = _lstm_numpy(*args, go_backwards=go_backwards, truncate_gradient=truncate)
    for _ in range(2):  # a compiled loop records its first call and replays the plan after
        for got, ref in zip(f(*args), want):
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)
    if linker == "c":
        from nettrain.backends.c.scan_loop import loop_runners

        runners = loop_runners(f)
        assert [r.broken for r in runners] == [None, None]
        assert [r.compiled_calls for r in runners] == [2, 2]


def test_same_gradients_as_recomputing_the_step_and_the_rewrite_can_be_turned_off():
    ins, outs = _lstm(dtype="float32")
    kept = theano.function(ins, outs)
    with theano.config.change_flags(optimizer_excluding="local_scan_save_for_grad"):
        recomputed = theano.function(ins, outs)
    assert not _nodes(recomputed, ScanGrad)[0].op.saved
    assert _nodes(kept, ScanGrad)[0].op.saved
    args = _args("float32")
    for a, b in zip(kept(*args), recomputed(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tanh_rnn_keeps_nothing_its_state_holds_what_the_gradient_reads():
    X, h0 = T.tensor3("X"), T.matrix("h0")
    U, W = T.matrix("U"), T.matrix("W")
    hs, _ = theano.scan(lambda x, h, U_, W_: T.tanh(T.dot(x, U_) + T.dot(h, W_)), sequences=X, outputs_info=h0,
                        non_sequences=[U, W])  # fmt: skip
    f = theano.function([X, h0, U, W], T.grad(hs.sum(), [U, W]))
    assert not _nodes(f, ScanGrad)[0].op.saved
    assert _nodes(f, Scan)[0].op.info.n_nit == 0


def test_a_product_read_by_the_gradient_and_by_the_state_is_kept_as_the_product():
    # s_t = s_{t-1} * (x_t A): the gradient reads the product p = x_t A itself (d s_{t-1} = g * p)
    x, s0, A = T.matrix("x"), T.vector("s0"), T.matrix("A")
    ss, _ = theano.scan(lambda xt, s, A_: s * T.dot(xt, A_), sequences=x, outputs_info=s0, non_sequences=A)
    f = theano.function([x, s0, A], [ss] + T.grad(ss[-1].sum(), [s0, A]))
    (g,) = _nodes(f, ScanGrad)
    assert len(g.op.saved) == 1 and g.op.saved[0].owner.op.__class__.__name__ == "Dot"
    xv, s0v, Av = RNG.normal(size=(5, 3)), RNG.normal(size=2), RNG.normal(size=(3, 2))
    ps = xv @ Av
    want_ss = s0v * np.cumprod(ps, axis=0)
    got = f(xv, s0v, Av)
    np.testing.assert_allclose(got[0], want_ss, rtol=1e-12)
    np.testing.assert_allclose(got[1], np.prod(ps, axis=0), rtol=1e-12)
    # d/dA of sum(s_n) = sum_t x_t' (s_n / p_t)
    gA = sum(np.outer(xv[t], want_ss[-1] / ps[t]) for t in range(5))
    np.testing.assert_allclose(got[2], gA, rtol=1e-10)


def test_function_with_kept_values_pickles_and_gives_the_same_results():
    ins, outs = _lstm()
    f = theano.function(ins, outs)
    g = pickle.loads(pickle.dumps(f))
    args = _args()
    for a, b in zip(f(*args), g(*args)):
        np.testing.assert_array_equal(a, b)


def test_a_product_whose_shape_changes_with_the_step_is_not_kept():
    # p = M[:t] v has t rows at step t: the steps' values could not be stacked, so it is computed again
    M, v, s0 = T.dmatrix("M"), T.dvector("v"), T.dscalar("s0")

    def step(t, s, M_, v_):
        p = T.dot(M_[:t], v_)
        return t + 1, s + (p**2).sum()

    (ts, ss), _ = theano.scan(step, outputs_info=[T.constant(np.int64(1)), s0], non_sequences=[M, v], n_steps=4)
    f = theano.function([M, v, s0], [ss[-1]] + T.grad(ss[-1], [M, v]))
    assert not _nodes(f, ScanGrad)[0].op.saved
    Mv, vv = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    got = f(Mv, vv, 0.0)
    want = sum(((Mv[:t] @ vv) ** 2).sum() for t in range(1, 5))
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    gv = sum(2 * Mv[:t].T @ (Mv[:t] @ vv) for t in range(1, 5))
    np.testing.assert_allclose(got[2], gv, rtol=1e-10)


def test_a_product_of_loop_invariant_values_is_not_kept_per_step():
    X, h0, A, B = T.tensor3("X"), T.matrix("h0"), T.matrix("A"), T.matrix("B")
    hs, _ = theano.scan(lambda x, h, A_, B_: T.tanh(x + T.dot(h, T.dot(A_, B_))), sequences=X, outputs_info=h0,
                        non_sequences=[A, B])  # fmt: skip
    f = theano.function([X, h0, A, B], T.grad(hs.sum(), [A, B]))
    assert not _nodes(f, ScanGrad)[0].op.saved
