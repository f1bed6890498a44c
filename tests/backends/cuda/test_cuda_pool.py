"""CUDA 2-d pooling and its gradients on the emulator against the Python linker (and the tie rule against NumPy).

Every mode runs with padding, strides smaller and larger than the window and
``ignore_border=False``; inputs hold ties, NaN and -inf so the max kernels'
choice of the *first* maximal element is checked where it matters.
"""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import pool as cp
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.registry import NAME
from nettrain.tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool, pool_2d

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(9)

GEOMETRIES = [  # ws, stride, pad, ignore_border
    ((2, 2), None, (0, 0), True),
    ((3, 2), (1, 2), (1, 1), True),
    ((3, 3), (2, 2), (2, 1), True),
    ((3, 3), (2, 2), (0, 0), False),
    ((2, 3), (3, 1), (0, 0), False),
]


def image(dtype, *shape):
    """Random values with ties (a constant block, repeated maxima), a NaN and -inf."""
    x = RNG.standard_normal(shape).astype(dtype)
    x[..., :2, :3] = 0.5
    x[..., -2, 1::3] = 2.0
    if x.size > 8:
        x.flat[7] = -np.inf
        x.flat[-5] = np.nan
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_every_mode_and_its_gradient_match_python_linker(dtype, geometry):
    ws, stride, pad, ib = geometry
    x, gz = T.tensor4("x", dtype=dtype), T.tensor4("gz", dtype=dtype)
    outs = []
    for mode in cp.MODES:
        y = pool_2d(x, ws=ws, stride=stride, pad=pad, ignore_border=ib, mode=mode)
        outs += [y, nettrain.grad((y * gz).sum(), x)]  # gz: the output gradient
    xv = image(dtype, 2, 3, 8, 7)
    gzv = RNG.standard_normal((2, 3) + Pool(ws, stride, pad, ib).out_dims(xv.shape)).astype(dtype)
    ct.compare([x, gz], outs, [xv, gzv], kernel_ops=(Pool, MaxPoolGrad, AveragePoolGrad))


def test_max_gradient_goes_to_the_first_maximum_of_each_window():
    x, gz = T.dmatrix("x"), T.dmatrix("gz")
    gx = MaxPoolGrad((2, 2), (1, 1), (0, 0), True)(x, gz)
    gzv = np.array([[1.0, 10.0], [100.0, 1000.0]])
    cases = [  # x, the expected gradient: ties go to the first maximum (row-major), a NaN beats any number
        ([[1, 1, 0], [1, 0, 1], [2, 2, 1]], [[1, 10, 0], [0, 0, 0], [100, 1000, 0]]),
        ([[1, np.nan, 0], [np.nan, 5, 1], [2, 2, 1]], [[0, 11, 0], [100, 1000, 0], [0, 0, 0]]),
        (np.full((3, 3), -np.inf), [[1, 10, 0], [100, 1000, 0], [0, 0, 0]]),
    ]
    for xv, expected in cases:
        r = ct.compare([x, gz], gx, [np.asarray(xv, "float64"), gzv], kernel_ops=(MaxPoolGrad,))
        np.testing.assert_array_equal(r, expected)


def test_mixed_dtypes_other_ranks_and_strided_inputs():
    x3, g3 = T.dtensor3("x3"), T.ftensor3("g3")
    m = T.fmatrix("m")
    x5 = T.TensorType("float32", (None,) * 5)("x5")
    ws, st, pad = (3, 2), (2, 1), (1, 0)
    outs = [MaxPoolGrad(ws, st, pad)(x3, g3), AveragePoolGrad(ws, st, pad, mode="average_exc_pad")(x3, g3),
            pool_2d(m.T, ws=(2, 2), ignore_border=False, mode="average_inc_pad"),
            pool_2d(x5.dimshuffle(0, 1, 2, 4, 3), ws=(2, 3), stride=(1, 2), mode="max")]  # fmt: skip
    gshape = (2,) + Pool(ws, st, pad).out_dims((6, 5))
    ct.compare([x3, g3, m, x5], outs, [image("float64", 2, 6, 5), image("float32", *gshape), image("float32", 5, 7),
                                       image("float32", 2, 1, 3, 6, 7)],
               kernel_ops=(Pool, MaxPoolGrad, AveragePoolGrad))  # fmt: skip


@pytest.mark.parametrize("geometry", GEOMETRIES[1:4], ids=str)
def test_max_pool_grad_grad_gathers_at_the_argmax(geometry):
    ws, stride, pad, ib = geometry
    x, ggx = T.dtensor4("x"), T.dtensor4("ggx")
    out = MaxPoolGradGrad(ws, stride, pad, ib)(x, ggx)
    vals = [image("float64", 1, 2, 8, 7), image("float64", 1, 2, 8, 7)]
    ct.compare([x, ggx], out, vals, kernel_ops=(MaxPoolGradGrad,))


def test_empty_outputs_and_bad_gradient_shapes():
    x, gz = T.ftensor4("x"), T.ftensor4("gz")
    r = ct.compare([x], [pool_2d(x, ws=(3, 3), mode=m) for m in cp.MODES], [image("float32", 2, 1, 2, 5)],
                   kernel_ops=(Pool,))  # fmt: skip
    assert all(a.shape == (2, 1, 0, 1) for a in r)
    with ct.emulated():
        f = nettrain.function([x, gz], MaxPoolGrad((2, 2))(x, gz), mode=nettrain.Mode(linker="cuda"))
        with pytest.raises(ValueError, match="does not match the pooled shape"):
            f(image("float32", 1, 1, 4, 4), image("float32", 1, 1, 3, 2))


def test_pool_kernel_sources_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    srcs = [cp.source(a, b, 4).replace(NAME, "nt_k0") for a, b in (("float32", "float32"), ("float64", "float32"))]
    with open(ct.ptx_check(srcs)) as f:
        text = f.read()
    assert all(n in text for n in ("f0_nt_k0_pool", "f1_nt_k0_grad", "f1_nt_k0_gradgrad", "f1_nt_k0_copy8"))
