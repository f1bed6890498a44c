"""CUDA elementwise kernels and device views, run on the emulated device against the Python linker.

The emulator compiles the generated CUDA source for the host (one thread per
block), so index arithmetic, broadcasting, strides and the scalar programs are
checked for real; ``test_generated_sources_compile_to_ptx`` compiles every
source these tests produced with ``nvcc --ptx`` for sm_90.
"""

import numpy as np
import pytest

import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.elemwise import merged_layout
from nettrain.tensor.elemwise import DimShuffle, Elemwise
from nettrain.tensor.shape import Reshape

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(3)


def rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_expression_matches_python_linker(dtype):
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
    out = T.exp(-x * x) * T.sin(y) + T.tanh(x * y)
    ct.compare([x, y], out, [rand(5, 7, dtype=dtype), rand(7, dtype=dtype)], kernel_ops=(Elemwise,))


@pytest.mark.parametrize("n", [1, 4, 13, 64, 1001])
def test_vector_kernel_and_its_tail_cover_every_length(n):
    x, y, s = T.fvector("x"), T.fvector("y"), T.fscalar("s")
    ct.compare([x, y, s], [T.exp(-x * x) * T.sin(y) + T.tanh(x * y) * s, x * 2], [rand(n), rand(n), np.float32(3)],
               kernel_ops=(Elemwise,))  # fmt: skip
    # a view starting 4 bytes in is not 16-byte aligned: the element kernel runs
    ct.compare([x], T.sqr(x), [rand(n + 1)[1:]], kernel_ops=(Elemwise,))


def test_broadcast_strided_and_scalar_operands():
    x = T.tensor4("x", dtype="float32")
    b = T.fvector("b")
    s = T.fscalar("s")
    out = T.maximum(x + b.dimshuffle("x", 0, "x", "x") * s, 0)
    xv = rand(3, 4, 5, 6).transpose(0, 1, 3, 2)  # non-contiguous input
    ct.compare([x, b, s], out, [xv, rand(4), np.float32(1.5)], kernel_ops=(Elemwise, DimShuffle))


def test_negative_strides_and_empty_dims():
    x = T.fmatrix("x")
    ct.compare([x], T.sqr(x) - 1, [rand(4, 6)[::-1, ::-2]], kernel_ops=(Elemwise,))
    ct.compare([x], T.sqr(x) - 1, [rand(0, 6)], kernel_ops=(Elemwise,))


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_integer_arithmetic_wraps_and_divides_like_numpy(dtype):
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    info = np.iinfo(dtype)
    xv = RNG.integers(info.min, info.max, 50, dtype=dtype, endpoint=True)
    yv = RNG.integers(info.min, info.max, 50, dtype=dtype, endpoint=True)
    yv[::7] = 0
    ct.compare([x, y], [x * y + x, x // y, x % y], [xv, yv], kernel_ops=(Elemwise,), optimizer=None)


def test_comparisons_switch_and_bool_outputs():
    x, y = T.fvector("x"), T.fvector("y")
    xv, yv = rand(40), rand(40)
    xv[3] = np.nan
    ct.compare([x, y], [T.switch(x > y, x, y), T.eq(x, y) | T.isnan(x), T.minimum(x, y)], [xv, yv],
               kernel_ops=(Elemwise,))  # fmt: skip


def test_host_scalars_of_every_kind_travel_by_value():
    # one-element host inputs are kernel parameters; each must pack as a GPU runtime packs it (a NumPy bool
    # has no __index__, so it travels as uint8)
    x, c, k, s = T.fvector("x"), T.scalar("c", dtype="bool"), T.iscalar("k"), T.dscalar("s")
    outs = [T.switch(c, x * 2, x - 1), x * k, T.cast(x * s, "float64")]
    for cv in (True, False):
        ct.compare([x, c, k, s], outs, [rand(9), np.bool_(cv), np.int32(3), np.float64(0.25)],
                   kernel_ops=(Elemwise,))  # fmt: skip


def test_shape_errors_are_the_references():
    # only dimensions of static length 1 broadcast (Theano's rule), with the reference's messages
    x, y = T.fmatrix("x"), T.fmatrix("y")
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\) do not match in dimension 1"):
        ct.compare([x, y], x + y, [rand(2, 3), rand(2, 4)], kernel_ops=(Elemwise,))
    with pytest.raises(ValueError, match=r"\(1, 3\).*\(2, 3\) do not match in dimension 0"):
        ct.compare([x, y], x * y, [rand(1, 3), rand(2, 3)], kernel_ops=(Elemwise,))
    r = T.frow("r")
    ct.compare([x, r], x * r, [rand(2, 3), rand(1, 3)], kernel_ops=(Elemwise,))  # declared: broadcasts


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inverse_error_function(dtype):
    # CUDA has erfinv, C's libm does not: the emulator supplies it (Newton steps from Giles' start)
    x = T.vector("x", dtype=dtype)
    v = np.concatenate([np.linspace(-0.999, 0.999, 101), [0.0, -0.5, 0.5, 1 - 1e-7, -1, 1, 1.5]]).astype(dtype)
    ct.compare([x], T.erfinv(x), [v], kernel_ops=(Elemwise,), rtol=1e-5 if dtype == "float32" else 1e-12)


def test_reshape_views_contiguous_data_and_copies_strided_data():
    x = T.ftensor3("x")
    out = [x.reshape((x.shape[0], -1)), x.dimshuffle(2, 0, 1).reshape((-1,)), x.dimshuffle("x", 0, 1, 2).shape]
    ct.compare([x], out, [rand(2, 3, 4)], kernel_ops=(Reshape, DimShuffle))
    with pytest.raises(ValueError, match="cannot reshape"):
        ct.compare([x], x.reshape((5, -1)), [rand(2, 3, 4)])


def test_merged_layout_collapses_contiguous_dimensions():
    shape = (2, 3, 4)
    c = [48, 16, 4]
    assert merged_layout(shape, [c, c]) == ([24], [[4], [4]])
    # a broadcast operand along the middle dimension keeps it separate
    assert merged_layout(shape, [c, [16, 0, 4]]) == ([2, 3, 4], [[48, 16, 4], [16, 0, 4]])
    assert merged_layout((1, 5), [[20, 4]]) == ([5], [[4]])


def test_generated_sources_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    x, b = T.ftensor4("x"), T.fvector("b")
    ct.SOURCES.clear()  # only this test's sources: others are checked by their own files
    ct.compare([x, b], T.tanh(x + b.dimshuffle("x", 0, "x", "x")), [rand(2, 3, 4, 5), rand(3)])
    ptx = ct.ptx_check()
    with open(ptx) as f:
        text = f.read()
    assert ".entry" in text and "f0_nt_k0_c" in text
