"""CUDA conv2d forward and gradients (im2col / col2im kernels + GEMM) on the emulator against the Python linker.

Every border mode, stride, dilation, group count and ``filter_flip`` runs
forward and through both gradient ops; the chunked paths (several images per
GEMM, the gathered output gradient) are forced with a small ``CHUNK_BYTES``.
"""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import blas as cb
from nettrain.backends.cuda import conv as cc
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.registry import NAME
from nettrain.backends.cuda.runtime import get_runtime
from nettrain.tensor.nnet.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(5)
ALL = (Conv2d, Conv2dGradInputs, Conv2dGradWeights)


def rand(dtype, *shape):
    return RNG.standard_normal(shape).astype(dtype)


def conv_and_grads(dtype, xshape, wshape, **params):
    """Compare conv2d, its input gradient and its filter gradient on the device and the Python linker."""
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w, **params)
    gx, gw = nettrain.grad((y * y).sum() / 2, [x, w])  # the output gradient is y itself
    tol = 1e-4 if dtype == "float32" else None  # float32 sums of many terms in another order than NumPy's
    return ct.compare([x, w], [y, gx, gw], [rand(dtype, *xshape), rand(dtype, *wshape)], kernel_ops=ALL, rtol=tol)


CONFIGS = [
    dict(border_mode="valid"),
    dict(border_mode="full", filter_flip=False),
    dict(border_mode="half", subsample=(2, 1)),
    dict(border_mode=1, subsample=(2, 3), filter_dilation=(2, 1)),
    dict(border_mode=(2, 0), filter_dilation=(1, 2), num_groups=2, filter_flip=False),
    dict(border_mode="valid", subsample=(3, 2), num_groups=4),  # depthwise
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: ",".join("%s=%s" % kv for kv in p.items()))
def test_conv2d_and_gradients_match_python_linker(dtype, params):
    g = params.get("num_groups", 1)
    conv_and_grads(dtype, (3, 4, 9, 8), (2 * g if g > 2 else 6, 4 // g, 3, 2), **params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_by_one_filters_use_the_image_as_column_matrix(dtype):
    with ct.emulated():  # the emulator's executor, or cuBLAS with NETTRAIN_TEST_GPU
        blas = cb.blas_for(get_runtime())
    calls = blas.calls
    conv_and_grads(dtype, (3, 4, 5, 6), (6, 2, 1, 1), num_groups=2)
    conv_and_grads(dtype, (2, 3, 5, 6), (4, 3, 1, 1), subsample=(2, 2))  # strided: im2col after all
    assert blas.calls > calls


def test_chunks_of_several_images_and_the_gathered_gradient(monkeypatch):
    # two images per chunk (5 = 2 + 2 + 1): batched GEMMs, gy gathered for the filter gradient, a 1-image tail
    monkeypatch.setattr(cc, "CHUNK_BYTES", 2 * 4 * 3 * 3 * 9 * 8 * 8)  # 2 x (C * kh * kw * oh * ow * itemsize)
    assert cc._Conv.chunk(5, 4, (3, 3), (9, 8), 8) == 2
    conv_and_grads("float64", (5, 4, 9, 8), (6, 2, 3, 3), border_mode="half", num_groups=2)
    monkeypatch.setattr(cc, "CHUNK_BYTES", 1)  # one image per chunk
    conv_and_grads("float64", (3, 4, 9, 8), (6, 4, 2, 3), subsample=(2, 2))


def test_gradient_ops_with_given_shapes_strided_inputs_and_odd_sizes():
    gy, w, x = T.dtensor4("gy"), T.dtensor4("w"), T.dtensor4("x")
    # stride 2 leaves the last row and column of a 10 x 9 input out of every window
    gx = T.nnet.conv2d_grad_wrt_inputs(gy, w, (2, 3, 10, 9), subsample=(2, 2), border_mode=1)
    gw = T.nnet.conv2d_grad_wrt_weights(x.dimshuffle(0, 1, 3, 2), gy, (4, 3, 3, 3), subsample=(2, 2), border_mode=1)
    ct.compare([gy, w, x], [gx, gw], [rand("float64", 2, 4, 5, 5), rand("float64", 4, 3, 3, 3),
                                      rand("float64", 2, 3, 9, 10)], kernel_ops=ALL)  # fmt: skip


def test_empty_batch_channels_and_outputs():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    r = ct.compare([x, w], T.nnet.conv2d(x, w), [rand("float64", 2, 0, 5, 5), rand("float64", 3, 0, 2, 2)],
                   kernel_ops=(Conv2d,))  # fmt: skip
    assert r.shape == (2, 3, 4, 4) and not r.any()
    # an empty batch or filter bank: perform's im2col cannot reshape those (-1 in an empty reshape),
    # so the device results are checked against what the convolution means
    y = T.nnet.conv2d(x, w, border_mode="full")
    gx, gw = nettrain.grad(y.sum(), [x, w])
    with ct.emulated():
        f = nettrain.function([x, w], [y, gx, gw], mode=nettrain.Mode(linker="cuda"))
        ry, rx, rw = f(rand("float64", 0, 2, 5, 5), rand("float64", 3, 2, 2, 2))
        assert ry.shape == (0, 3, 6, 6) and rx.shape == (0, 2, 5, 5) and rw.shape == (3, 2, 2, 2) and not rw.any()
        ry, rx, rw = f(rand("float64", 2, 2, 5, 5), rand("float64", 0, 2, 2, 2))
        assert ry.shape == (2, 0, 6, 6) and rx.shape == (2, 2, 5, 5) and not rx.any() and rw.shape == (0, 2, 2, 2)


def test_bad_shapes_raise_performs_errors():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    with ct.emulated():
        f = nettrain.function([x, w], T.nnet.conv2d(x, w, num_groups=2), mode=nettrain.Mode(linker="cuda"))
        with pytest.raises(ValueError, match="input has 4 channels but the filters expect 6"):
            f(rand("float64", 1, 4, 5, 5), rand("float64", 2, 3, 2, 2))
        with pytest.raises(ValueError, match="larger than the padded input"):
            f(rand("float64", 1, 4, 2, 2), rand("float64", 2, 2, 3, 3))


def test_conv_kernel_sources_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    path = ct.ptx_check([cc.source(dt).replace(NAME, "nt_k0") for dt in ("float32", "float64")])
    with open(path) as f:
        text = f.read()
    assert all(n in text for n in ("f0_nt_k0_im2col", "f1_nt_k0_col2im", "f1_nt_k0_copy8"))


def test_small_convnet_gradient_step_matches_python_linker():
    from nettrain.tensor.blas import Dot, Gemm
    from nettrain.tensor.signal.pool import MaxPoolGrad, Pool, pool_2d

    x, w, v, t = T.ftensor4("x"), T.ftensor4("w"), T.fmatrix("v"), T.fmatrix("t")
    h = pool_2d(T.maximum(T.nnet.conv2d(x, w, border_mode="half"), 0), ws=(2, 2))
    out = T.dot(h.flatten(2), v)
    cost = ((out - t) ** 2).mean()
    gw, gv = nettrain.grad(cost, [w, v])
    vals = [rand("float32", 4, 3, 8, 8), rand("float32", 5, 3, 3, 3), rand("float32", 80, 2), rand("float32", 4, 2)]
    ct.compare([x, w, v, t], [cost, w - 0.1 * gw, v - 0.1 * gv], vals, rtol=1e-4,
               kernel_ops=ALL[::2] + (Pool, MaxPoolGrad, Dot, Gemm))  # fmt: skip
