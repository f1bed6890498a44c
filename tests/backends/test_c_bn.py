"""C kernels for the batch-normalization ops match the Python linker (and NumPy).

Statistics are accumulated in double by the kernels and pairwise in the input
dtype by ``perform``, so outputs agree within rounding (relative to the
largest value of each output).  The C functions are compiled *and run* while
the ops' ``perform`` raises, so a node that falls back to ``perform`` fails.
"""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.registry import c_kernel
from nettrain.tensor.nnet import bn
from nettrain.tensor.nnet.bn import AbstractBatchNormInference, AbstractBatchNormTrain, AbstractBatchNormTrainGrad

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
pytestmark = [pytest.mark.c, needs_c, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
BN_OPS = (AbstractBatchNormTrain, AbstractBatchNormTrainGrad, AbstractBatchNormInference)
RNG = np.random.default_rng(17)

# (shape, axes): spatial, per-activation on 2-d and 4-d (S == 1, several blocks of 64 channels),
# channels last, every axis, a 3-d layout and a single-element group (m == 1: infinite unbiasing factor)
LAYOUTS = [((6, 4, 5, 3), (0, 2, 3)), ((9, 70), (0,)), ((3, 5, 4, 7), (0,)), ((2, 3, 4, 5), (0, 1, 2)),
           ((5, 6), (0, 1)), ((4, 3, 6), (0, 2)), ((1, 4), (0,))]  # fmt: skip


def _no_perform(self, node, inputs, outputs):
    raise AssertionError("%s ran perform instead of its C kernel" % self)


@pytest.fixture
def run_c(monkeypatch):
    """``run_c(inputs, outputs, values)``: results of the C function, compiled and run without ``perform``."""

    def run(inputs, outputs, values, updates=None):
        with monkeypatch.context() as m:
            for cls in BN_OPS:
                m.setattr(cls, "perform", _no_perform)
            f = theano.function(inputs, outputs, mode=C, updates=updates, on_unused_input="ignore")
            nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, BN_OPS)]
            assert nodes and all(c_kernel(n.op, n) is not None for n in nodes)
            return f(*values)

    return run


def py(inputs, outputs, values):
    return theano.function(inputs, outputs, mode=PY, on_unused_input="ignore")(*values)


def assert_close(got, want, msg=""):
    assert got.dtype == want.dtype and got.shape == want.shape, msg
    tol = 1e-5 if got.dtype == np.float32 else 1e-12
    finite = want[np.isfinite(want)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True, err_msg=msg)


def layout_graph(dtype, shape, axes):
    """Inputs, every bn op on them (training with and without running averages, gradient, inference)."""
    nd = len(shape)
    x, dy = T.TensorType(dtype, (None,) * nd)("x"), T.TensorType(dtype, (None,) * nd)("dy")
    param = T.TensorType(dtype, tuple(1 if d in axes else None for d in range(nd)))
    scale, bias, rm, rv = param("scale"), param("bias"), param("rm"), param("rv")
    train = AbstractBatchNormTrain(axes)
    outs = list(train(x, scale, bias, 1e-3, 0.3, rm, rv)) + list(train(x, scale, bias, 0.01, 0.5))
    outs += list(AbstractBatchNormTrainGrad(axes)(x, dy, scale, rm, rv))
    outs.append(AbstractBatchNormInference(axes)(x, scale, bias, rm, rv, 1e-3))
    stat = tuple(1 if d in axes else n for d, n in enumerate(shape))
    values = [(RNG.standard_normal(shape) * 2 + 3).astype(dtype)] + [RNG.standard_normal(stat).astype(dtype)
                                                                     for _ in range(3)]  # fmt: skip
    values += [RNG.uniform(0.5, 2, stat).astype(dtype), RNG.standard_normal(shape).astype(dtype)]
    return [x, scale, bias, rm, rv, dy], outs, values


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layout_matches_the_python_linker(run_c, dtype):
    ins, outs, values = [], [], []
    for shape, axes in LAYOUTS:
        i, o, v = layout_graph(dtype, shape, axes)
        ins, outs, values = ins + i, outs + o, values + v
    with np.errstate(invalid="ignore"):  # m == 1: perform's var * inf is 0 * inf
        want = py(ins, outs, values)
    got = run_c(ins, outs, values)
    for out, a, b in zip(outs, got, want):
        assert_close(a, b, str(out))
    assert np.isnan(got[-8]).all()  # running variance of the m == 1 layout (its outputs come last)


def test_training_statistics_agree_with_numpy():
    x, g, b = T.dtensor4("x"), T.dvector("g"), T.dvector("b")
    rm, rv = T.dvector("rm"), T.dvector("rv")
    outs = list(bn.batch_normalization_train(x, g, b, "spatial", 1e-3, 0.25, rm, rv))
    xv = RNG.standard_normal((4, 3, 5, 6)) * 3 - 1
    gv, bv, rmv, rvv = RNG.standard_normal(3), RNG.standard_normal(3), RNG.standard_normal(3), RNG.uniform(1, 2, 3)
    out, mean, invstd, nrm, nrv = theano.function([x, g, b, rm, rv], outs, mode=C)(xv, gv, bv, rmv, rvv)
    mu, var, m = xv.mean((0, 2, 3)), xv.var((0, 2, 3)), 4 * 5 * 6
    c = (slice(None), None, None)
    np.testing.assert_allclose(mean, mu, rtol=1e-12)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(var + 1e-3), rtol=1e-12)
    np.testing.assert_allclose(out, (xv - mu[c]) * (gv / np.sqrt(var + 1e-3))[c] + bv[c], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(nrm, 0.75 * rmv + 0.25 * mu, rtol=1e-12)
    np.testing.assert_allclose(nrv, 0.75 * rvv + 0.25 * var * m / (m - 1), rtol=1e-12)


def test_non_contiguous_inputs_and_broadcast_parameters(run_c):
    x, dy = T.ftensor4("x"), T.ftensor4("dy")
    p = T.TensorType("float32", (1, None, 1, 1))
    scale, bias, mean, var = p("scale"), p("bias"), p("mean"), p("var")
    xt = x.dimshuffle(0, 3, 1, 2)  # a strided view inside the graph
    outs = list(AbstractBatchNormTrain((0, 2, 3))(xt, scale, bias, 1e-4, 0.1, mean, var))
    outs += list(AbstractBatchNormTrainGrad((0, 2, 3))(xt, dy, scale, mean, var))
    outs.append(AbstractBatchNormInference((0, 2, 3))(xt, scale, bias, mean, var, 1e-4))
    xv = RNG.standard_normal((5, 6, 7, 8)).astype("float32")[::-1, 1:, ::2]  # (5, 5, 4, 8): xt is (5, 8, 5, 4)
    dyv = np.asfortranarray(RNG.standard_normal((5, 8, 5, 4)).astype("float32"))
    # a scale of length 1 broadcast over the 8 channels; the others per channel
    values = [xv, dyv, np.float32([[[[1.5]]]]), RNG.standard_normal((1, 8, 1, 1)).astype("float32"),
              RNG.standard_normal((1, 8, 1, 1)).astype("float32"), RNG.uniform(1, 2, (1, 8, 1, 1)).astype("float32")]
    ins = [x, dy, scale, bias, mean, var]
    for out, a, b in zip(outs, run_c(ins, outs, values), py(ins, outs, values)):
        assert_close(a, b, str(out))


def test_layouts_without_a_contiguous_channel_block_run_perform():
    x = T.dtensor3("x")
    p = T.TensorType("float64", (None, 1, None))
    node = AbstractBatchNormTrain((1,))(x, p("s"), p("b"))[0].owner  # kept axes 0 and 2
    assert c_kernel(node.op, node) is None
    h, q = T.TensorType("float16", (None,) * 3)("h"), T.TensorType("float16", (1, None, 1))
    node = AbstractBatchNormInference((0, 2))(h, q(), q(), q(), q()).owner
    assert c_kernel(node.op, node) is None  # float16


def test_bad_shapes_and_empty_inputs_run_perform_and_its_errors():
    x, dy = T.dmatrix("x"), T.dmatrix("dy")
    p = T.TensorType("float64", (1, None))
    s, b, m, v = p("s"), p("b"), p("m"), p("v")
    f = theano.function([x, dy, s, m, v], AbstractBatchNormTrainGrad((0,))(x, dy, s, m, v), mode=C)
    fp = theano.function([x, dy, s, m, v], AbstractBatchNormTrainGrad((0,))(x, dy, s, m, v), mode=PY)
    ones = np.ones((1, 3))
    with pytest.raises(ValueError):  # channels of x and scale differ: perform's broadcasting error
        f(np.ones((4, 3)), np.ones((4, 3)), np.ones((1, 2)), ones, ones)
    values = [RNG.standard_normal((4, 3)), RNG.standard_normal((1, 3)), ones, ones, ones]  # dy broadcast by perform
    for a, w in zip(f(*values), fp(*values)):
        np.testing.assert_array_equal(a, w)
    g = theano.function([x, s, b], list(AbstractBatchNormTrain((0,))(x, s, b)), mode=C)
    with pytest.warns(RuntimeWarning):  # an empty batch: perform's "mean of empty slice"
        out, mean, invstd = g(np.zeros((0, 3)), ones, ones)
    assert out.shape == (0, 3) and np.isnan(mean).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_and_running_updates_match_the_python_linker(run_c, dtype):
    x = T.tensor4("x", dtype=dtype)
    gamma, beta = T.vector("gamma", dtype=dtype), T.vector("beta", dtype=dtype)
    rm = theano.shared(np.zeros(3, dtype), name="rm")
    rv = theano.shared(np.ones(3, dtype), name="rv")
    out, mean, invstd, nrm, nrv = bn.batch_normalization_train(x, gamma, beta, "spatial", 1e-4, 0.1, rm, rv)
    test_out = bn.batch_normalization_test(x, gamma, beta, mean, 1 / invstd**2, "spatial")
    cost = (T.tanh(out) * T.arange(5, dtype=dtype)).sum() + (test_out**2).mean() + (mean * invstd).sum()
    grads = theano.grad(cost, [x, gamma, beta])
    values = [(RNG.standard_normal((4, 3, 2, 5)) * 2 + 1).astype(dtype), RNG.standard_normal(3).astype(dtype),
              RNG.standard_normal(3).astype(dtype)]  # fmt: skip
    want = py([x, gamma, beta], [cost, nrm, nrv] + grads, values)
    got = run_c([x, gamma, beta], [cost] + grads, values, updates=[(rm, nrm), (rv, nrv)])
    for a, b in zip(got, want[:1] + want[3:]):
        assert_close(a, b)
    assert_close(rm.get_value(), want[1])
    assert_close(rv.get_value(), want[2])
