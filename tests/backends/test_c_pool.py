"""C kernels for Pool, MaxPoolGrad, AveragePoolGrad and MaxPoolGradGrad match the Python linker exactly.

The kernels promise bit-identical results (same accumulation dtype and
order as ``perform``), so outputs are compared with ``assert_array_equal``.
The C functions are compiled *and run* while the pooling ops' ``perform``
raises, so a node that falls back to ``perform`` (at link time or at run
time) fails the test.  Many configurations share one compiled function to
keep the number of compiler calls small.
"""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.registry import c_kernel
from nettrain.tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool, pool_2d, pool_3d

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
pytestmark = [pytest.mark.c, needs_c, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
POOL_OPS = (Pool, MaxPoolGrad, AveragePoolGrad, MaxPoolGradGrad)
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]
RNG = np.random.default_rng(5)

# (ws, stride, pad, ignore_border, modes): full and partial windows, overlaps along either axis, padding
# up to ws - 1; every mode on several geometries (each geometry is one more kernel to compile)
CONFIGS = [
    ((2, 2), None, (0, 0), True, ["max", "average_inc_pad"]),
    ((2, 2), None, (0, 0), False, ["max", "sum"]),
    ((3, 3), (2, 2), (1, 1), True, ["max", "average_inc_pad", "average_exc_pad"]),
    ((3, 2), (1, 2), (2, 1), True, ["max", "sum", "average_exc_pad"]),
    ((2, 3), (3, 1), (0, 0), False, ["max", "average_exc_pad"]),
    ((1, 5), (1, 2), (0, 4), True, ["max", "average_inc_pad"]),
    ((5, 4), (1, 3), (0, 0), False, ["max", "average_inc_pad"]),
]


def _no_perform(self, node, inputs, outputs):
    raise AssertionError("%s ran perform instead of its C kernel" % self)


@pytest.fixture
def run_c(monkeypatch):
    """``run_c(inputs, outputs, values)``: results of the C function, compiled and run without ``perform``."""

    def run(inputs, outputs, values):
        with monkeypatch.context() as m:
            for cls in POOL_OPS:
                m.setattr(cls, "perform", _no_perform)
            f = theano.function(inputs, outputs, mode=C, on_unused_input="ignore")
            nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, POOL_OPS)]
            assert nodes and all(c_kernel(n.op, n) is not None for n in nodes)
            source = f._linker.last_source[0]
            assert source.count("_plane(const int64_t *g") >= 1
            return f(*values)

    return run


def py(inputs, outputs, values):
    return theano.function(inputs, outputs, mode=PY, on_unused_input="ignore")(*values)


def assert_same(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape, (i, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg="output %d" % i)


def pool_family(x, y, ws, stride, pad, ignore_border, modes=MODES):
    """Every pooling op for one geometry; the output gradients are pooled from a second image ``y``."""
    outs = []
    for mode in modes:
        outs.append(Pool(ws, stride, pad, ignore_border, mode)(x))
        gz = Pool(ws, stride, pad, ignore_border, "sum")(y)
        if mode == "max":
            outs.append(MaxPoolGrad(ws, stride, pad, ignore_border)(x, gz))
            outs.append(MaxPoolGradGrad(ws, stride, pad, ignore_border)(x, y))
        else:
            outs.append(AveragePoolGrad(ws, stride, pad, ignore_border, mode)(x, gz))
    return outs


def rand(dtype, *shape):
    return RNG.standard_normal(shape).astype(dtype)


def test_every_mode_and_geometry_matches_the_python_linker_bit_for_bit(run_c):
    x, y = T.dtensor4("x"), T.dtensor4("y")
    outs = [o for *cfg, modes in CONFIGS for o in pool_family(x, y, *cfg, modes=modes)]
    for shape in [(2, 3, 7, 9), (1, 2, 4, 5)]:
        values = [rand("float64", *shape), rand("float64", *shape)]
        assert_same(run_c([x, y], outs, values), py([x, y], outs, values))


def test_float32_kernels_accumulate_in_float32_like_perform(run_c):
    x, y = T.ftensor4("x"), T.ftensor4("y")
    outs = pool_family(x, y, *CONFIGS[3][:4])  # every mode
    values = [rand("float32", 2, 3, 9, 8) * 100, rand("float32", 2, 3, 9, 8)]
    assert_same(run_c([x, y], outs, values), py([x, y], outs, values))


def test_max_pooling_ties_nans_infinities_and_signed_zeros(run_c):
    """Ties go to the first maximum (row-major), a NaN wins, padding never wins; a sum of -0.0 stays -0.0.

    (The sign of a zero *maximum* is not compared: NumPy's vectorized maximum returns either of two equal zeros.)
    """
    x, y = T.dtensor4("x"), T.dtensor4("y")
    outs = [o for cfg in [((2, 2), None, (0, 0), True), ((3, 3), (1, 1), (1, 1), True), ((2, 3), (1, 2), (0, 0), False)]
            for o in pool_family(x, y, *cfg, modes=["max", "sum"])]  # fmt: skip
    xv = RNG.integers(-2, 2, size=(2, 2, 6, 7)).astype("float64")  # many ties
    xv[0, 0, :2, :4] = [[-0.0, 0.0, 0.0, -0.0], [0.0, -0.0, -0.0, 0.0]]
    xv[0, 0, 2:4, :2] = -0.0  # its sum is -0.0 (perform starts from the first element)
    xv[0, 1, 2:4, 2:4] = np.nan
    xv[1, 0, 1, 1] = np.nan
    xv[1, 1] = -np.inf  # an all -inf image: the first real element still gets the gradient
    values = [xv, rand("float64", 2, 2, 6, 7)]
    got, want = run_c([x, y], outs, values), py([x, y], outs, values)
    assert_same(got, want)
    assert got[3][0, 0, 1, 0] == 0 and np.signbit(got[3][0, 0, 1, 0])  # the first geometry's sum
    for i in (3, 8, 13):  # sums: deterministic in perform, so the signs of zeros agree too
        np.testing.assert_array_equal(np.signbit(got[i]), np.signbit(want[i]))

    # the documented rule on one window: equal maxima, only the first one gets the gradient
    gz = T.dtensor4("gz")
    g = MaxPoolGrad((2, 2))(x, gz)
    (res,) = run_c([x, gz], [g], [np.array([[[[1.0, 3.0], [3.0, 2.0]]]]), np.array([[[[5.0]]]])])
    np.testing.assert_array_equal(res, [[[[0.0, 5.0], [0.0, 0.0]]]])


def test_non_contiguous_and_dimshuffled_inputs(run_c):
    x, y = T.ftensor4("x"), T.ftensor4("y")
    xt = x.dimshuffle(0, 1, 3, 2)  # a strided view inside the graph
    outs = pool_family(xt, y.dimshuffle(0, 1, 3, 2), (3, 2), (2, 1), (1, 0), True, modes=["max", "average_inc_pad"])
    outs += pool_family(x, y, (2, 2), None, (0, 0), False, modes=["max", "average_exc_pad"])
    base = rand("float32", 3, 4, 10, 12)
    values = [base[::-1, 1:, ::2, 1::2], np.asfortranarray(rand("float32", 3, 3, 5, 6))]
    assert not values[0].flags.c_contiguous and not values[1].flags.c_contiguous
    assert_same(run_c([x, y], outs, values), py([x, y], outs, values))


def test_one_and_three_pooled_dimensions_and_leading_dimensions(run_c):
    m, v = T.dmatrix("m"), T.dmatrix("v")
    t5, u5 = T.TensorType("float32", (None,) * 5)("t5"), T.TensorType("float32", (None,) * 5)("u5")
    x5 = T.TensorType("float64", (None,) * 5)("x5")  # 2-d pooling of a 5-d tensor: three leading dims
    outs = pool_family(m, v, (3,), (2,), (1,), True, modes=["max", "sum"])
    outs += pool_family(t5, u5, (3, 2, 2), (2, 1, 2), (1, 0, 1), True, modes=["max", "average_exc_pad"])
    outs += pool_family(t5, u5, (2, 3, 2), (1, 2, 3), (0, 0, 0), False, modes=["max"])
    outs += pool_family(x5, x5, (2, 3), (1, 2), (1, 1), True, modes=["max", "average_inc_pad"])
    values = [rand("float64", 5, 11), rand("float64", 5, 11)] + [rand("float32", 2, 2, 5, 6, 7) for _ in range(2)]
    values.append(rand("float64", 2, 1, 3, 5, 6))
    ins = [m, v, t5, u5, x5]
    assert_same(run_c(ins, outs, values), py(ins, outs, values))


def test_empty_batches_images_and_windows(run_c):
    x, y = T.dtensor4("x"), T.dtensor4("y")
    outs = pool_family(x, y, (2, 2), None, (1, 1), True, modes=["max", "average_exc_pad", "average_inc_pad"])
    outs += pool_family(x, y, (3, 3), None, (0, 0), True, modes=["max", "sum"])
    outs += pool_family(x, y, (2, 2), (1, 1), (0, 0), False, modes=["max", "average_exc_pad"])
    # no batch; an empty image row with padding (windows of padding only: max -inf, exc-pad average 0/0);
    # an image smaller than the window (no window with ignore_border=True)
    for shape in [(0, 3, 4, 4), (2, 1, 0, 3), (1, 2, 2, 2)]:
        values = [rand("float64", *shape), rand("float64", *shape)]
        with np.errstate(invalid="ignore", divide="ignore"):
            want = py([x, y], outs, values)
        assert_same(run_c([x, y], outs, values), want)


def test_output_gradient_of_another_shape_raises_the_reference_error():
    x, gz = T.dtensor4("x"), T.dtensor4("gz")
    f = theano.function([x, gz], MaxPoolGrad((2, 2))(x, gz), mode=C)
    with pytest.raises(ValueError, match="does not match the pooled shape"):
        f(rand("float64", 1, 1, 4, 4), rand("float64", 1, 1, 3, 2))
    # an output gradient broadcast along the leading dims runs perform, which broadcasts it
    fp = theano.function([x, gz], MaxPoolGrad((2, 2))(x, gz), mode=PY)
    values = [rand("float64", 2, 3, 4, 4), rand("float64", 1, 3, 2, 2)]
    np.testing.assert_array_equal(f(*values), fp(*values))


def test_unsupported_cases_have_no_kernel_and_run_perform():
    x4, xi = T.TensorType("float64", (None,) * 4)("x4"), T.imatrix("xi")
    p4 = Pool((2, 2, 2, 2))(x4)  # 4 pooled dims
    pi = Pool((2, 2))(xi)  # integers
    for out in (p4, pi):
        assert c_kernel(out.owner.op, out.owner) is None
    f = theano.function([x4, xi], [p4, pi], mode=C)
    xv, iv = rand("float64", 2, 3, 4, 5), RNG.integers(-9, 9, size=(5, 4)).astype("int32")
    for a, b in zip(f(xv, iv), theano.function([x4, xi], [p4, pi], mode=PY)(xv, iv)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_of_a_pooling_graph_match_the_python_linker(run_c, dtype):
    """First and second order gradients through max and average pooling (MaxPoolGradGrad via the Hessian)."""
    x = T.tensor4("x", dtype=dtype)
    w = T.tensor4("w", dtype=dtype)
    h = pool_2d(x * w, ws=(2, 2), ignore_border=False, mode="max")
    a = pool_2d(T.tanh(x), ws=(3, 3), stride=(2, 1), pad=(1, 1), mode="average_exc_pad")
    s = pool_3d(x, ws=(1, 2, 2), mode="sum")
    cost = (h**2).sum() + (a * 3).sum() + (s * s).sum() + (pool_2d(x, ws=(3, 2), stride=(1, 1)) ** 3).sum()
    gx, gw = theano.grad(cost, [x, w])
    hv = theano.grad((gw * w).sum(), x)  # differentiates MaxPoolGrad: MaxPoolGradGrad in the graph
    outs = [cost, gx, gw, hv]
    values = [rand(dtype, 2, 3, 7, 6), rand(dtype, 2, 3, 7, 6)]
    fp = theano.function([x, w], outs, mode=PY)
    assert set(POOL_OPS) <= {type(n.op) for n in fp.maker.fgraph.toposort()}
    got, want = run_c([x, w], outs, values), fp(*values)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
