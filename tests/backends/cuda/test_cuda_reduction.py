"""CUDA reduction kernels (CAReduce, Argmax) on the emulated device against the Python linker.

Each test compiles one function holding many reductions (one emulator build)
and runs it on several layouts of the same values: contiguous, transposed,
negative strides.  ``test_reduction_kernels_compile_to_ptx`` compiles the
kernels of every reducer and dtype with ``nvcc --ptx`` for sm_90.
"""

import itertools

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.linker import CudaLinker, function_source
from nettrain.backends.cuda.reduction import SPLIT_MIN_K
from nettrain.backends.cuda.registry import cuda_kernel
from nettrain.tensor.reduction import Argmax, CAReduce
from nettrain.tensor.type import TensorType

pytestmark = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(7)
KERNEL_OPS = (CAReduce, Argmax)


class Pair:
    """One function compiled for the (emulated) device and for the Python linker, called on many values."""

    def __init__(self, inputs, outputs, kernel_ops=KERNEL_OPS):
        with ct.emulated():
            self.fd = nettrain.function(inputs, outputs, mode=nettrain.Mode(linker="cuda"))
        nodes = [n for n in self.fd.maker.fgraph.toposort() if isinstance(n.op, kernel_ops)]
        assert nodes, "none of %s in the compiled graph" % (kernel_ops,)
        assert all(cuda_kernel(n.op, n) is not None for n in nodes), "a node has no CUDA kernel"
        linker = self.fd._linker
        assert isinstance(linker, CudaLinker) and linker.last_source
        ct.SOURCES.append(linker.last_source)
        self.fp = nettrain.function(inputs, outputs, mode=nettrain.Mode(linker="py"))

    def check(self, *values, rtol=None):
        with ct.emulated():
            rd = self.fd(*values)
        rp = self.fp(*values)
        for a, b in zip(rd, rp):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
            if a.dtype.kind == "f":
                tol = rtol if rtol is not None else (1e-5 if a.dtype == np.float32 else 1e-12)
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
            else:
                np.testing.assert_array_equal(a, b)
        return rd


def values(dtype, shape):
    if dtype == "bool":
        return RNG.random(shape) < 0.6
    if dtype.startswith(("int", "uint")):
        return RNG.integers(-3 if dtype.startswith("int") else 0, 4, shape).astype(dtype)
    return (RNG.random(shape) + 0.5).astype(dtype)  # products of many stay finite


def layouts(a):
    """``a`` contiguous, through a transposed buffer, and with negative strides."""
    t = np.ascontiguousarray(np.moveaxis(a, 0, -1))
    yield a
    yield np.moveaxis(t, -1, 0)
    yield np.flip(np.ascontiguousarray(np.flip(a, (0, 2))), (0, 2))
    if a.ndim == 3:
        yield np.ascontiguousarray(a.transpose(1, 2, 0)).transpose(2, 0, 1)[:, ::-1, :]


_AXES3 = [c for k in range(4) for c in itertools.combinations(range(3), k)] + [None]


def test_every_reducer_over_every_axis_subset_of_a_3d_tensor():
    x = T.ftensor3("x")
    outs = []
    for ax in _AXES3:
        outs += [T.sum(x, axis=ax), T.prod(x, axis=ax), T.max(x, axis=ax), T.min(x, axis=ax), T.all(x, axis=ax),
                 T.any(x, axis=ax)]  # fmt: skip
    outs += [T.argmax(x, axis=a) for a in (0, 1, 2, None)] + [T.argmin(x, axis=1)]
    outs += [T.sum(x, axis=(0, 2), keepdims=True), T.max(x, axis=1, keepdims=True), T.sum(x, dtype="float64")]
    f = Pair([x], outs)
    # rows of 17: longer than the short-row threshold; 2 x 3 columns; length-1 dims
    for shape in ((2, 3, 17), (17, 3, 2), (1, 5, 1)):
        for v in layouts(values("float32", shape)):
            f.check(v)


def test_every_reducer_on_float64_integer_and_bool_inputs():
    xs = [TensorType(dt, (None, None, None))("x_" + dt) for dt in ("float64", "int32", "uint8", "bool")]
    outs = []
    for x in xs:
        outs += [r(x, axis=(0, 2)) for r in (T.sum, T.prod, T.max, T.min, T.all, T.any)]
        outs += [T.argmax(x, axis=1), T.max(x, axis=2), T.sum(x)]
    f = Pair(xs, outs)
    vals = [values(x.type.dtype, (3, 4, 18)) for x in xs]
    for lays in zip(*[layouts(v) for v in vals]):
        f.check(*lays)


def test_sum_and_max_over_every_axis_subset_of_a_4d_tensor():
    x = T.ftensor4("x")
    axes = [c for k in range(5) for c in itertools.combinations(range(4), k)]
    f = Pair([x], [r(x, axis=ax) for ax in axes for r in (T.sum, T.max)] + [T.argmax(x, axis=2)])
    a = RNG.standard_normal((3, 4, 2, 5)).astype("float32")
    for v in layouts(a):
        f.check(v)
    f.check(np.ascontiguousarray(a.transpose(3, 2, 0, 1)).transpose(2, 3, 1, 0)[::-1, :, ::-1, 1:4])


def test_integer_sums_and_products_wrap_like_numpy():
    x8, x32 = T.bvector("x8"), T.ivector("x32")
    u8 = TensorType("uint8", (None,))("u8")
    f = Pair([x8, x32, u8], [T.sum(x8), T.prod(x8), T.sum(x32, dtype="int32"), T.prod(x32), T.prod(u8),
                             T.sum(u8, dtype="uint8"), T.max(x8), T.min(u8)])  # fmt: skip
    f.check(RNG.integers(-128, 128, 300).astype("int8"), RNG.integers(2**30, 2**31 - 1, 40).astype("int32"),
            RNG.integers(0, 256, 77).astype("uint8"))  # fmt: skip


def test_nan_propagates_through_max_min_sum_and_argmax_picks_the_first_nan():
    x = T.fmatrix("x")
    f = Pair([x], [T.max(x, axis=1), T.min(x, axis=0), T.max(x), T.sum(x, axis=1), T.argmax(x, axis=1),
                   T.argmin(x, axis=0), T.argmax(x), T.any(x, axis=1)])  # fmt: skip
    v = RNG.standard_normal((4, 20)).astype("float32")
    v[1, 3] = v[1, 9] = np.nan
    v[2, 0] = np.nan
    v[3, :] = -np.inf
    for lay in (v, v.T.copy().T, v[::-1, ::-1]):
        f.check(lay)


def test_argmax_ties_give_the_first_index_in_c_order():
    x = T.imatrix("x")
    b = T.bmatrix("b")
    f = Pair([x, b], [T.argmax(x, axis=0), T.argmax(x, axis=1), T.argmin(x), T.argmax(x), T.argmax(b, axis=1)])
    v = RNG.integers(0, 2, (6, 25)).astype("int32")
    bv = RNG.integers(0, 2, (6, 25)).astype("int8")
    for lay in (v, np.asfortranarray(v), v[:, ::-1]):
        f.check(lay, bv)


def test_empty_reductions_give_identities_or_the_reference_errors():
    x = T.dtensor3("x")
    f = Pair([x], [T.sum(x, axis=0), T.prod(x, axis=(0, 2)), T.all(x, axis=1), T.any(x), T.sum(x, axis=())])
    for shape in ((0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0, 0)):
        f.check(np.zeros(shape))
    g = Pair([x], [T.max(x, axis=2), T.argmax(x, axis=1)])
    g.check(np.zeros((0, 2, 3)))  # no output elements: no error, like NumPy
    with ct.emulated(), pytest.raises(ValueError, match="empty dimension has no identity"):
        g.fd(np.zeros((2, 3, 0)))
    with ct.emulated(), pytest.raises(ValueError, match="argmax of an empty sequence"):
        g.fd(np.zeros((2, 0, 3)))


def test_large_reductions_split_over_blocks_and_combine_partials():
    x, m = T.fvector("x"), T.fmatrix("m")
    f = Pair([x, m], [T.sum(x), T.max(x), T.argmax(x), T.argmin(x), T.sum(m, axis=0), T.min(m, axis=1), T.all(m > -9)])
    n = SPLIT_MIN_K * 2 + 11
    assert "_fin" in f.fd._linker.last_source
    xv = RNG.standard_normal(n).astype("float32")
    xv[n - 5] = 9.0  # the maximum sits in the last chunk
    mv = RNG.standard_normal((n, 3)).astype("float32")
    f.check(xv, mv)
    f.check(xv[::-1], mv.T.copy().T[::-1])


def test_reduction_kernels_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    x = {dt: TensorType(dt, (None, None, None))("x") for dt in ("float32", "float64", "int8", "int64", "uint8", "bool")}
    nodes = [CAReduce(red, (0, 2), out_dt)(x[dt]).owner for dt, red, out_dt in (
        ("float32", "add", "float32"), ("float32", "maximum", "float32"), ("float64", "mul", "float64"),
        ("float64", "minimum", "float64"), ("int8", "add", "int64"), ("int8", "maximum", "int8"),
        ("int64", "minimum", "int64"), ("uint8", "mul", "uint64"), ("bool", "and", "bool"), ("bool", "or", "bool"),
        ("bool", "maximum", "bool"))]  # fmt: skip
    nodes += [Argmax(1)(x["float32"]).owner, Argmax(None, "min")(x["int64"]).owner, Argmax(0)(x["bool"]).owner]
    nodes.append(CAReduce("add", (1,), "float64")(T.fmatrix()).owner)
    kernels = [cuda_kernel(n.op, n) for n in nodes]
    assert all(k is not None for k in kernels)
    src, _ = function_source(kernels)
    with open(ct.ptx_check([src])) as f:
        ptx = f.read()
    assert ".entry" in ptx and "nt_k0_r2" in ptx and "nt_k0_fin" in ptx
