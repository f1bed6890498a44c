"""CUDA softmax-family and fused crossentropy kernels on the emulated device against the Python linker.

Functions are compiled once (one emulator build each) and called on several
layouts and values; ``test_nnet_kernels_compile_to_ptx`` compiles every kernel
variant with ``nvcc --ptx`` for sm_90.
"""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.linker import CudaLinker, function_source
from nettrain.backends.cuda.registry import cuda_kernel
from nettrain.tensor.nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx
from nettrain.tensor.nnet.softmax_ops import LogSoftmax, Softmax, SoftmaxGrad
from nettrain.tensor.type import TensorType

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(11)
NNET_OPS = (Softmax, LogSoftmax, SoftmaxGrad, CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx)


class Pair:
    """One function compiled for the (emulated) device and for the Python linker, called on many values."""

    def __init__(self, inputs, outputs, kernel_ops=NNET_OPS):
        with ct.emulated():
            self.fd = nettrain.function(inputs, outputs, mode=nettrain.Mode(linker="cuda"))
        self.nodes = [n for n in self.fd.maker.fgraph.toposort() if isinstance(n.op, kernel_ops)]
        assert self.nodes, "none of %s in the compiled graph" % (kernel_ops,)
        assert all(cuda_kernel(n.op, n) is not None for n in self.nodes), "a node has no CUDA kernel"
        linker = self.fd._linker
        assert isinstance(linker, CudaLinker) and linker.last_source
        ct.SOURCES.append(linker.last_source)
        self.fp = nettrain.function(inputs, outputs, mode=nettrain.Mode(linker="py"))

    def check(self, *values):
        with ct.emulated():
            rd = self.fd(*values)
        with np.errstate(all="ignore"):  # the reference warns on rows without a finite maximum
            rp = self.fp(*values)
        for a, b in zip(rd, rp):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
            tol = 1e-5 if a.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        return rd


def logits(m, k, dtype):
    v = (RNG.standard_normal((m, k)) * 3).astype(dtype)
    if m >= 5:
        v[1, :2] = (1000, -1000)  # needs the max subtraction
        v[2, :] = -np.inf  # no finite maximum: NaN like the reference
        v[3, 1] = np.nan
        v[4, 0] = np.inf
    return v


def layouts(a):
    """``a`` contiguous, through a transposed buffer, and with negative strides."""
    return [a, np.asfortranarray(a), np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]]


def test_softmax_and_log_softmax_of_rows_match_python_linker():
    x, d = T.fmatrix("x"), T.dmatrix("d")
    f = Pair([x, d], [T.nnet.softmax(x), T.nnet.log_softmax(x), T.nnet.softmax(d), T.nnet.log_softmax(d)])
    # rows shorter and longer than the one-thread-per-row threshold, a single row, no rows
    for m, k in ((7, 5), (6, 40), (1, 300), (0, 4)):
        for a, b in zip(layouts(logits(m, k, "float32")), layouts(logits(m, k, "float64"))):
            f.check(a, b)


def test_softmax_along_any_axis_of_3d_and_1d_tensors():
    x, v = T.ftensor3("x"), T.dvector("v")
    f = Pair(
        [x, v],
        [Softmax(1)(x), LogSoftmax(0)(x), Softmax(2)(x), T.nnet.softmax(v, axis=-1), T.nnet.log_softmax(v, axis=-1)],
    )
    a = (RNG.standard_normal((4, 19, 3)) * 4).astype("float32")
    a[1, :, 2] = np.nan
    vv = RNG.standard_normal(23)
    f.check(a, vv)
    f.check(np.ascontiguousarray(a.transpose(2, 0, 1)).transpose(1, 2, 0)[::-1], vv[::-2])
    f.check(np.zeros((2, 0, 3), "float32"), np.zeros(0))


def test_softmax_gradients_match_python_linker():
    x, w = T.fmatrix("x"), T.fmatrix("w")
    sm, lsm = T.nnet.softmax(x), T.nnet.log_softmax(x)
    outs = [nettrain.grad((sm * w).sum(), x), nettrain.grad((lsm * w).sum() + T.max(lsm), x)]
    dy, s = T.dtensor3("dy"), T.ftensor3("s")
    outs.append(SoftmaxGrad(1)(dy, s))  # mixed dtypes compute in float64 like NumPy
    f = Pair([x, w, dy, s], outs)
    assert any(isinstance(n.op, SoftmaxGrad) for n in f.nodes)
    xv, wv = logits(9, 21, "float32"), RNG.standard_normal((9, 21)).astype("float32")
    dv, sv = RNG.standard_normal((2, 18, 3)), RNG.random((2, 18, 3)).astype("float32")
    f.check(xv, wv, dv, sv)
    f.check(np.asfortranarray(xv), wv[::-1], dv.transpose(0, 2, 1).copy().transpose(0, 2, 1), sv[:, ::-1])
    with ct.emulated(), pytest.raises(ValueError, match="SoftmaxGrad: dy of shape"):
        f.fd(xv, wv, dv, sv[:, :5])


@pytest.mark.parametrize("ydtype", ["int32", "int64"])
def test_fused_crossentropy_loss_and_gradient_match_python_linker(ydtype):
    x, y = T.fmatrix("x"), TensorType(ydtype, (None,))("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    f = Pair([x, y], [loss, nettrain.grad(loss, x)])
    ops = {type(n.op) for n in f.nodes}
    assert {CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx} <= ops, ops
    for m, k in ((8, 10), (3, 50), (1, 7)):
        yv = RNG.integers(0, k, m).astype(ydtype)
        for xv in layouts(logits(m, k, "float32")):
            f.check(xv, yv)


def test_fused_crossentropy_ops_with_per_row_weights_mixed_dtypes_and_small_labels():
    x, g1, g, sm = T.dmatrix("x"), TensorType("float32", (1,))("g1"), T.dvector("g"), T.fmatrix("sm")
    y = TensorType("uint8", (None,))("y")
    outs = [CrossentropySoftmax1Hot()(x, y), CrossentropySoftmax1HotDx()(g1, sm, y),
            CrossentropySoftmax1HotDx()(g, sm, y)]  # fmt: skip
    f = Pair([x, g1, g, sm, y], outs)
    xv, smv = logits(6, 20, "float64"), RNG.random((6, 20)).astype("float32")
    yv = RNG.integers(0, 20, 6).astype("uint8")
    f.check(xv, np.float32([0.25]), RNG.standard_normal(6), smv, yv)
    f.check(xv[::-1, ::-1], np.float32([-2]), RNG.standard_normal(12)[::2], np.asfortranarray(smv), yv[::-1])
    f.check(np.zeros((0, 20)), np.float32([1]), np.zeros(0), np.zeros((0, 20), "float32"), yv[:0])


def _error(fn, *args):
    with ct.emulated(), pytest.raises(Exception) as info:
        fn(*args)
    return info.type, str(info.value).splitlines()[0]


def test_bad_class_indices_and_row_counts_raise_the_reference_errors():
    x, sm, g, y = T.fmatrix("x"), T.fmatrix("sm"), T.fvector("g"), T.ivector("y")
    f = Pair([x, sm, g, y], [CrossentropySoftmax1Hot()(x, y), CrossentropySoftmax1HotDx()(g, sm, y)])
    xv, gv = logits(4, 6, "float32"), np.ones(4, "float32")
    for yv in (np.int32([0, 6, 1, 2]), np.int32([0, 1, -1, 9]), np.int32([0, 1, 2])):
        kind, msg = _error(f.fp, xv, xv, gv, yv)
        assert (kind, msg) == _error(f.fd, xv, xv, gv, yv)
        assert kind is (ValueError if len(yv) == 3 else IndexError)
    kind, msg = _error(f.fp, xv, xv, gv[:3], np.int32([0, 1, 2, 3]))
    assert kind is ValueError and (kind, msg) == _error(f.fd, xv, xv, gv[:3], np.int32([0, 1, 2, 3]))


def test_nnet_kernels_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    f, d, f3, d1 = T.fmatrix(), T.dmatrix(), T.ftensor3(), T.dvector()
    nodes = [
        Softmax(1)(f),
        Softmax(1)(d),
        LogSoftmax(1)(f),
        LogSoftmax(0)(d1),
        Softmax(0)(f3),
        SoftmaxGrad(1)(f, f),
        SoftmaxGrad(2)(d.dimshuffle(0, 1, "x"), f3),
        CrossentropySoftmax1Hot()(f, T.ivector()),
        CrossentropySoftmax1Hot()(d, TensorType("uint8", (None,))()),
        CrossentropySoftmax1HotDx()(T.fvector(), f, T.lvector()),
        CrossentropySoftmax1HotDx()(d1, f, T.ivector()),
    ]
    kernels = [cuda_kernel(n.owner.op, n.owner) for n in nodes]
    assert all(k is not None for k in kernels)
    src, names = function_source(kernels)
    with open(ct.ptx_check([src])) as fh:
        ptx = fh.read()
    assert ".entry" in ptx and all(n in ptx for n in names)
