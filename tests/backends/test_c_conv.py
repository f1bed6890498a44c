"""C kernels for Conv2d and its two gradient ops match the Python linker (and a direct NumPy loop).

Every test compiles the same graph with Mode(linker='c') and Mode(linker='py')
and compares all outputs.  The C functions are compiled while the ops'
``perform`` raises, so a node that silently fell back to ``perform`` fails.
"""

import itertools

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import blas as c_blas
from nettrain.backends.c import conv as c_conv
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.registry import c_kernel
from nettrain.tensor.nnet.conv import Conv2d, conv2d
from nettrain.tensor.nnet.conv_grad import Conv2dGradInputs, Conv2dGradWeights

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
needs_blas = pytest.mark.skipif(c_blas.find_blas() is None, reason="no CBLAS found in NumPy's BLAS library")
pytestmark = [pytest.mark.c, needs_c, needs_blas, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
CONV_OPS = (Conv2d, Conv2dGradInputs, Conv2dGradWeights)
RNG = np.random.default_rng(11)


def _no_perform(self, node, inputs, outputs):
    raise AssertionError("%s ran perform instead of its C kernel" % self)


@pytest.fixture
def c_only(monkeypatch):
    """Compile C functions whose conv nodes cannot run ``perform`` (a fallback fails the test)."""

    def compile_c(inputs, outputs, mode=C):
        with monkeypatch.context() as m:
            for cls in CONV_OPS:
                m.setattr(cls, "perform", _no_perform)
            f = theano.function(inputs, outputs, mode=mode, on_unused_input="ignore")
        nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, CONV_OPS)]
        assert nodes and all(c_kernel(n.op, n) is not None for n in nodes)
        return f, nodes

    return compile_c


def rand(dtype, *shape):
    return RNG.standard_normal(shape).astype(dtype)


def assert_close(got, want, msg=""):
    assert got.dtype == want.dtype and got.shape == want.shape, msg
    tol = 2e-5 if got.dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=msg)


def compare(c_only, inputs, outputs, values, mode_c=C, mode_py=PY):
    fc, nodes = c_only(inputs, outputs, mode_c)
    fp = theano.function(inputs, outputs, mode=mode_py, on_unused_input="ignore")
    rc, rp = fc(*values), fp(*values)
    for out, a, b in zip(outputs, rc, rp):
        assert_close(a, b, str(out))
    return rc, nodes


def conv_with_grads(x, w, **params):
    """The convolution and the gradients of ``sum(y ** 2)`` w.r.t. ``x`` and ``w`` (all three conv ops)."""
    y = conv2d(x, w, **params)
    gx, gw = theano.grad((y**2).sum(), [x, w])
    return [y, gx, gw]


def naive_conv(x, w, pad, stride, dil, flip, groups):
    """Direct loops over output pixels: the definition the ops implement."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    if flip:
        w = w[:, :, ::-1, ::-1]
    xp = np.pad(x, [(0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])])
    oh = (h + 2 * pad[0] - (kh - 1) * dil[0] - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - (kw - 1) * dil[1] - 1) // stride[1] + 1
    out = np.zeros((n, f, oh, ow), x.dtype)
    fg = f // groups
    for k, i, j in itertools.product(range(f), range(oh), range(ow)):
        g = k // fg
        win = xp[:, g * cg : (g + 1) * cg, i * stride[0] : i * stride[0] + (kh - 1) * dil[0] + 1 : dil[0],
                 j * stride[1] : j * stride[1] + (kw - 1) * dil[1] + 1 : dil[1]]  # fmt: skip
        out[:, k, i, j] = (win * w[k]).sum(axis=(1, 2, 3))
    return out


# ---------------------------------------------------------------- forward + both gradients
BORDERS = ["valid", "full", "half", 1, (2, 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_and_gradients_match_python_linker_for_every_border_mode_stride_dilation_flip_and_groups(
    c_only, dtype
):
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    outputs = []
    configs = list(itertools.product(BORDERS, [(1, 1), (2, 3)], [True, False], [(1, 1), (2, 1)], [1, 2]))
    for bm, sub, flip, dil, groups in configs:
        w_g = w if groups == 1 else w[:, : 4 // groups]
        outputs += conv_with_grads(x, w_g, border_mode=bm, subsample=sub, filter_flip=flip, filter_dilation=dil,
                                   num_groups=groups)  # fmt: skip
    _, nodes = compare(c_only, [x, w], outputs, [rand(dtype, 3, 4, 9, 8), rand(dtype, 6, 4, 3, 2)])
    kinds = {type(n.op) for n in nodes}
    assert kinds == set(CONV_OPS) and len(nodes) == 3 * len(configs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_kernel_matches_direct_loops(c_only, dtype):
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    xv, wv = rand(dtype, 2, 4, 7, 9), rand(dtype, 6, 2, 3, 2)
    cases = [((1, 2), (2, 1), (1, 2), True, 2), ((0, 0), (1, 1), (1, 1), False, 1), ((3, 1), (3, 2), (2, 3), True, 1)]
    for pad, stride, dil, flip, groups in cases:
        wg = wv if groups == 2 else rand(dtype, 6, 4, 3, 2)
        f, _ = c_only([x, w], conv2d(x, w, border_mode=pad, subsample=stride, filter_flip=flip,
                                     filter_dilation=dil, num_groups=groups))  # fmt: skip
        want = naive_conv(xv, wg, pad, stride, dil, flip, groups)
        assert_close(f(xv, wg), want, str((pad, stride, dil, flip, groups)))


def test_non_contiguous_inputs_and_gradients_are_copied_not_misread(c_only):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    base_x, base_w = rand("float64", 3, 5, 16, 9), rand("float64", 3, 4, 6, 2)
    xv = base_x[:, 1:, ::2].transpose(0, 1, 3, 2)  # (3, 4, 9, 8), neither C- nor F-contiguous
    wv = base_w.transpose(0, 1, 3, 2)[:, :, :, ::2]  # (3, 4, 2, 3)
    assert not xv.flags.c_contiguous and not wv.flags.c_contiguous
    y = conv2d(x.dimshuffle(0, 1, 3, 2), w, border_mode="half", subsample=(2, 1))  # strided views inside the graph
    gx, gw = theano.grad((y * y.dimshuffle(0, 1, 2, 3)[:, :, ::-1]).sum(), [x, w])
    compare(c_only, [x, w], [y, gx, gw], [xv, wv])


@pytest.mark.parametrize("chunk_bytes, gemm_columns", [(1, 512), (1 << 20, 40), (1 << 20, 1 << 20)])
def test_batch_chunking_gives_the_same_results(c_only, monkeypatch, chunk_bytes, gemm_columns):
    """One image per gemm (gy read in place), chunks of 2 or 3 images with a short last chunk, the whole batch."""
    monkeypatch.setattr(c_conv, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(c_conv, "GEMM_COLUMNS", gemm_columns)
    x, w = T.ftensor4("x"), T.ftensor4("w")
    # 6x6 outputs (36 positions) and 4x4 outputs (16): 40 columns make chunks of 2 and of 3 of the 5 images
    outputs = conv_with_grads(x, w, border_mode=1, num_groups=2) + conv_with_grads(x, w[:, :2], num_groups=2)
    compare(c_only, [x, w], outputs, [rand("float32", 5, 4, 6, 6), rand("float32", 4, 2, 3, 3)])


@pytest.mark.parametrize("chunk_bytes, gemm_columns", [(1, 512), (1 << 20, 40)])
def test_chunks_shared_between_threads_give_the_same_bits_on_one_and_two_threads(c_only, monkeypatch, chunk_bytes,
                                                                                  gemm_columns):
    """19 chunks of one image (more than the weight gradient's SLICES, a short last slice) or 9 chunks of 2 and
    3 images: the threads take whole chunks, and the weight gradient adds its slices in a fixed order, so 1 and 2
    threads give the same bits, and both match the Python linker."""
    monkeypatch.setattr(c_conv, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(c_conv, "GEMM_COLUMNS", gemm_columns)
    x, w = T.ftensor4("x"), T.ftensor4("w")
    outputs = conv_with_grads(x, w, border_mode=1, num_groups=2)
    args = [rand("float32", 19, 4, 6, 6), rand("float32", 4, 2, 3, 3)]
    got = {}
    for n in (1, 2):
        with theano.config.change_flags(blas_threads=n):
            got[n] = c_only([x, w], outputs)[0](*args)
    for a, b in zip(got[1], got[2]):
        assert np.array_equal(a, b)
    compare(c_only, [x, w], outputs, args)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_empty_batch_channels_and_filters_give_empty_or_zero_results(c_only, dtype):
    x, w, gy = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype), T.tensor4("gy", dtype=dtype)
    params = dict(border_mode="full", subsample=(2, 1))
    outs = [conv2d(x, w, **params), Conv2dGradInputs(**params)(w, gy, 5, 5), Conv2dGradWeights(**params)(x, gy, 2, 2)]
    f, _ = c_only([x, w, gy], outs)
    # (x, w, gy) shapes; the output is 3x6 for a 5x5 input and 2x2 filters
    cases = [((0, 2, 5, 5), (3, 2, 2, 2), (0, 3, 3, 6)), ((2, 0, 5, 5), (3, 0, 2, 2), (2, 3, 3, 6)),
             ((2, 2, 5, 5), (0, 2, 2, 2), (2, 0, 3, 6))]  # fmt: skip
    for shapes in cases:
        xv, wv, gyv = (rand(dtype, *s) for s in shapes)
        y, gx, gw = f(xv, wv, gyv)
        assert (y.shape, gx.shape, gw.shape) == (gyv.shape, xv.shape, wv.shape)
        for r in (y, gx, gw):
            assert r.dtype == dtype and not r.any()
    # the Python linker agrees where its perform handles the case (no input channels)
    fp = theano.function([x, w, gy], outs, mode=PY)
    values = [rand(dtype, *s) for s in cases[1]]
    for a, b in zip(f(*values), fp(*values)):
        assert_close(a, b)


def test_gradient_ops_called_directly_with_symbolic_shapes(c_only):
    w, gy, x = T.dtensor4("w"), T.dtensor4("gy"), T.dtensor4("x")
    h, k = T.lscalar("h"), T.lscalar("k")
    gi = Conv2dGradInputs(border_mode=(1, 2), subsample=(2, 2), filter_flip=False)(w, gy, h, 7)
    gw = Conv2dGradWeights(border_mode=(1, 2), subsample=(2, 2), filter_flip=False)(x, gy, k, 3)
    # input 7x7 or 8x7 (stride 2 makes both give a 4x5 output), filters 3x3
    for hv in (7, 8):
        values = [rand("float64", 5, 2, 3, 3), rand("float64", 2, 5, 4, 5), rand("float64", 2, 2, hv, 7), hv, 3]
        compare(c_only, [w, gy, x, h, k], [gi, gw], values)


def test_gradient_of_a_small_conv_net_matches_python_linker_with_full_rewrites(c_only):
    x, w1, w2 = T.ftensor4("x"), T.ftensor4("w1"), T.ftensor4("w2")
    h = T.maximum(conv2d(x, w1, border_mode="half", filter_flip=False), 0)
    y = conv2d(h, w2, subsample=(2, 2), num_groups=2)
    cost = (y**2).mean()
    grads = theano.grad(cost, [x, w1, w2])
    values = [rand("float32", 4, 3, 11, 10), rand("float32", 6, 3, 3, 3), rand("float32", 4, 3, 3, 2)]
    (_, gx, gw1, gw2), nodes = compare(c_only, [x, w1, w2], [cost] + grads, values, theano.Mode(linker="c"),
                                       theano.Mode(linker="py"))  # fmt: skip
    assert {type(n.op) for n in nodes} == set(CONV_OPS)
    assert gx.shape == values[0].shape and gw2.shape == values[2].shape


# ---------------------------------------------------------------------- errors
def test_bad_shapes_raise_the_reference_errors(c_only):
    x, w, gy = T.dtensor4("x"), T.dtensor4("w"), T.dtensor4("gy")
    f, _ = c_only([x, w], conv2d(x, w, num_groups=2))
    fp = theano.function([x, w], conv2d(x, w, num_groups=2), mode=PY)
    gi, _ = c_only([w, gy], Conv2dGradInputs()(w, gy, 6, 6))
    gip = theano.function([w, gy], Conv2dGradInputs()(w, gy, 6, 6), mode=PY)
    cases = [
        (f, fp, (np.ones((1, 4, 5, 5)), np.ones((4, 3, 2, 2))), "the input has 4 channels but the filters expect 6"),
        (f, fp, (np.ones((1, 4, 2, 2)), np.ones((4, 2, 3, 3))), "the filters .* are larger than the padded input"),
        (gi, gip, (np.ones((2, 1, 3, 3)), np.ones((1, 3, 4, 4))), "the output gradient has 3 channels but there are 2"),
        (gi, gip, (np.ones((2, 1, 3, 3)), np.ones((1, 2, 3, 4))), "the output gradient has spatial shape"),
    ]  # fmt: skip
    for fc, fpy, args, msg in cases:
        for fn in (fc, fpy):
            with pytest.raises(ValueError, match=msg):
                fn(*args)


def test_gradient_weights_with_mismatched_batches_fails_like_perform():
    x, gy = T.dtensor4("x"), T.dtensor4("gy")
    gw = Conv2dGradWeights()(x, gy, 2, 2)
    fc, fp = theano.function([x, gy], gw, mode=C), theano.function([x, gy], gw, mode=PY)
    args = (np.ones((2, 1, 4, 4)), np.ones((3, 1, 3, 3)))
    with pytest.raises(ValueError) as ec:
        fc(*args)
    with pytest.raises(ValueError) as ep:
        fp(*args)
    assert type(ec.value) is type(ep.value)


def test_without_blas_the_conv_ops_run_perform(monkeypatch):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    node = conv2d(x, w).owner
    assert c_kernel(node.op, node) is not None
    monkeypatch.setattr(c_conv, "find_blas", lambda: None)
    assert c_kernel(node.op, node) is None
    f = theano.function([x, w], conv2d(x, w), mode=C)
    np.testing.assert_allclose(f(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))), np.full((1, 1, 2, 2), 4.0))
