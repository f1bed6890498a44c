"""The FAST_RUN training graph of a 784-512-512-10 MLP is small, fused and equal to the unrewritten one."""

import numpy as np

import nettrain as theano
import nettrain.tensor as T
from nettrain.tensor.composite import Composite
from nettrain.tensor.elemwise import Elemwise


def _mlp_train(mode, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 512, 512, 10]
    params = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = theano.shared((rng.normal(size=(a, b)) * np.sqrt(2.0 / a)).astype("float32"), name="W%d" % i)
        bias = theano.shared(np.zeros(b, dtype="float32"), name="b%d" % i)
        params += [W, bias]
    x = T.fmatrix("x")
    y = T.ivector("y")
    h = x
    for i in range(0, len(params) - 2, 2):
        h = T.nnet.relu(T.dot(h, params[i]) + params[i + 1])
    p = T.nnet.softmax(T.dot(h, params[-2]) + params[-1])
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    lr = np.float32(0.01)
    updates = [(v, v - lr * g) for v, g in zip(params, T.grad(cost, params))]
    f = theano.function([x, y], cost, updates=updates, mode=mode)
    return f, params


def test_fast_run_has_at_most_half_the_nodes_and_fused_elementwise_chains():
    f_fast, _ = _mlp_train("FAST_RUN")
    f_none, _ = _mlp_train(theano.Mode(optimizer=None))
    n_fast = len(f_fast.maker.fgraph.toposort())
    n_none = len(f_none.maker.fgraph.toposort())
    assert n_fast * 2 <= n_none, (n_fast, n_none)
    fused = [n for n in f_fast.maker.fgraph.toposort()
             if isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Composite)]  # fmt: skip
    assert len(fused) >= 3
    assert all(str(n.op).startswith("Elemwise{Composite{") for n in fused)
    # no unfused chain of two elementwise nodes where the first has a single reader
    fg = f_fast.maker.fgraph
    for n in fg.toposort():
        if isinstance(n.op, Elemwise) and len(n.outputs) == 1:
            clients = fg.clients[n.outputs[0]]
            if len(clients) == 1:
                (c, _), = clients
                assert c == "output" or not (isinstance(c.op, Elemwise) and len(c.outputs) == 1), (n, c)


def test_fast_run_training_step_equals_the_unrewritten_step():
    rng = np.random.default_rng(1)
    xv = rng.random((16, 784), dtype="float32")
    yv = rng.integers(0, 10, size=16).astype("int32")
    f_fast, p_fast = _mlp_train("FAST_RUN")
    f_none, p_none = _mlp_train(theano.Mode(optimizer=None))
    for _ in range(3):
        c1 = f_fast(xv, yv)
        c2 = f_none(xv, yv)
        np.testing.assert_allclose(c1, c2, rtol=1e-5)
    for a, b in zip(p_fast, p_none):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=1e-4, atol=1e-6)
