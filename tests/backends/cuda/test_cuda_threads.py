"""Kernels with real block sizes: the threaded emulator (one OS thread per CUDA thread, warps of 32).

The default emulator runs one thread per block, which checks index arithmetic but
not the cooperation inside a block.  Here every launch gets the block shape its
launcher chose, with real ``__syncthreads`` barriers, warp shuffles and atomics,
so reductions, softmax rows, scatter-adds and the split reductions are checked
as a GPU runs them (minus the timing).  Shapes are small: each CUDA thread is
an OS thread.
"""

import numpy as np
import pytest

import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import testing as ct
from nettrain.tensor.nnet.softmax_ops import LogSoftmax, Softmax
from nettrain.tensor.reduction import CAReduce

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(11)


def rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("axis", [None, 0, 1, 2, (0, 2)])
def test_block_reductions_with_real_warps(axis):
    x = T.ftensor3("x")
    xv = rand(3, 70, 5)
    ct.compare([x], [x.sum(axis=axis), x.max(axis=axis), T.argmax(x, axis=axis if axis != (0, 2) else None)],
               [xv], kernel_ops=(CAReduce,), threads=True)  # fmt: skip


def test_column_sums_of_a_transposed_matrix_with_real_warps():
    x = T.fmatrix("x")
    ct.compare([x], [x.sum(axis=0), x.T.sum(axis=1), x.min(axis=1)], [rand(37, 45)], kernel_ops=(CAReduce,),
               threads=True)  # fmt: skip


def test_softmax_rows_and_fused_crossentropy_with_real_warps():
    x, y = T.fmatrix("x"), T.ivector("y")
    xv, yv = rand(6, 75), RNG.integers(0, 75, 6).astype("int32")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    ct.compare([x, y], [T.nnet.softmax(x), T.nnet.logsoftmax(x), loss, T.grad(loss, x)], [xv, yv],
               kernel_ops=(Softmax, LogSoftmax), threads=True)  # fmt: skip


def test_scatter_add_of_repeated_rows_with_real_threads():
    w, i = T.fmatrix("w"), T.ivector("i")
    iv = np.array([3, 1, 3, 3, 0, 1], dtype="int32")
    g = T.grad((w[i] * rand(6, 4)).sum(), w)
    ct.compare([w, i], [w[i], g], [rand(5, 4), iv], threads=True)


def test_elementwise_and_convolution_with_real_block_sizes():
    x, f = T.ftensor4("x"), T.ftensor4("f")
    y = T.nnet.conv2d(x, f, border_mode="half")
    cost = (T.tanh(y) ** 2).sum()
    ct.compare([x, f], [y, T.grad(cost, x), T.grad(cost, f)], [rand(2, 3, 6, 6), rand(4, 3, 3, 3)], rtol=1e-4,
               threads=True)  # fmt: skip
