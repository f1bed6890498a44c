"""CUDA BLAS ops: the column-major plans against NumPy, and the device path on the emulator against the Python linker.

``gemm_plan``/``gemv_plan``/``ger_plan`` turn row- or column-major strided
operands into cuBLAS arguments; the plan tests execute them with the
emulator's column-major BLAS (:class:`HostBlas`, NumPy at raw pointers) on
host arrays and compare with ``numpy.dot``.  The graph tests run ``Dot``,
``MatMul``, ``Gemm``, ``Gemv`` and ``Ger`` on the emulated device (placement,
plans, copies, the ``beta * z`` prefill kernel, the same executor) and
compare with the Python linker.
"""

import re

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.cuda import blas as cb
from nettrain.backends.cuda import testing as ct
from nettrain.backends.cuda.darray import DeviceArray
from nettrain.backends.cuda.registry import NAME
from nettrain.backends.cuda.runtime import emulator, get_runtime
from nettrain.tensor.blas import Dot, Gemm, Gemv, Ger, MatMul, gemm, gemv, ger
from nettrain.tensor.elemwise import DimShuffle

needs_emu = pytest.mark.skipif(not c_linker.usable(), reason="the CUDA emulator needs a C compiler")
RNG = np.random.default_rng(11)


def rand(dtype, *shape):
    return RNG.standard_normal(shape).astype(dtype)


def layouts(a):
    """``a`` (2-d) as C-, F-ordered, a block of a larger matrix (row- and column-major) and a 1-row/col view."""
    r, c = a.shape
    big = np.zeros((r + 3, c + 2), a.dtype)
    big[1 : r + 1, 2 : c + 2] = a
    bigt = np.zeros((c + 4, r + 1), a.dtype)
    bigt[:c, 1:] = a.T
    return [np.ascontiguousarray(a), np.asfortranarray(a), big[1 : r + 1, 2 : c + 2], bigt[:c, 1:].T]


def device_blas():
    """The BLAS executor of the runtime compare() runs on (the emulator's, or cuBLAS with NETTRAIN_TEST_GPU)."""
    with ct.emulated():
        return cb.blas_for(get_runtime())


def _ptr(a):
    return a.__array_interface__["data"][0]


# ------------------------------------------------------------------ plans vs NumPy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1), (6, 2, 3)])
def test_gemm_plan_executed_column_major_matches_numpy_for_every_layout(dtype, m, k, n):
    host = cb.HostBlas()
    a0, b0 = rand(dtype, m, k), rand(dtype, k, n)
    for a in layouts(a0):
        for b in layouts(b0):
            for out in layouts(np.full((m, n), np.nan, dtype)):
                ta, tb, m_, n_, k_, lda, ldb, ldc, swap = plan = cb.gemm_plan(a, b, out)
                p, q = (b, a) if swap else (a, b)
                # cuBLAS's rules: leading dimensions cover the stored matrices
                assert lda >= max(1, m_ if ta == cb.OP_N else k_) and ldb >= max(1, k_ if tb == cb.OP_N else n_)
                row_major = cb.matrix_layout(out.shape, out.strides, out.itemsize)[0] == "row"
                assert ldc >= max(1, m_) and swap == row_major, plan
                host.gemm(dtype, ta, tb, m_, n_, k_, 1.5, _ptr(p), lda, _ptr(q), ldb, 0.0, _ptr(out), ldc)
                # beta == 0 never reads out (it held NaN)
                np.testing.assert_allclose(out, 1.5 * (a0 @ b0), rtol=1e-5, err_msg=str(plan))


def test_gemm_plan_accumulates_with_beta_and_runs_batches():
    host = cb.HostBlas()
    a, b = rand("float64", 2, 3, 4), rand("float64", 2, 4, 5)
    c0 = rand("float64", 2, 3, 5)
    c = c0.copy()
    plan = cb.gemm_plan(a[0], b[0], c[0])
    ta, tb, m, n, k, lda, ldb, ldc, swap = plan
    assert swap
    host.gemm("float64", ta, tb, m, n, k, 2.0, _ptr(b), lda, _ptr(a), ldb, 0.5, _ptr(c), ldc, 2, 20, 12, 15)
    np.testing.assert_allclose(c, 2.0 * (a @ b) + 0.5 * c0, rtol=1e-12)
    assert host.calls == 2


def test_matrix_layout_needs_contiguous_rows_or_columns():
    a = np.zeros((6, 8), "float32")
    assert cb.matrix_layout(a.shape, a.strides, 4) == ("row", 8)
    assert cb.matrix_layout(a.T.shape, a.T.strides, 4) == ("col", 8)
    assert cb.matrix_layout(a[:, 1:5].shape, a[:, 1:5].strides, 4) == ("row", 8)
    assert cb.matrix_layout(a[::2, ::2].shape, a[::2, ::2].strides, 4) is None
    assert cb.matrix_layout(a[::-1].shape, a[::-1].strides, 4) is None
    assert cb.matrix_layout((1, 5), (0, 4), 4) == ("row", 5)  # a broadcast row
    with pytest.raises(ValueError, match="no contiguous rows or columns"):
        cb.gemm_plan(a[::2, ::2], a[:4], np.zeros((3, 8), "float32"))
    with pytest.raises(ValueError, match="do not match"):
        cb.gemm_plan(a, a, np.zeros((6, 8), "float32"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemv_and_ger_plans_executed_column_major_match_numpy(dtype):
    host = cb.HostBlas()
    A0 = rand(dtype, 5, 3)
    xs = rand(dtype, 9)[::3]  # increment 3
    ys = rand(dtype, 10)[::2]
    for A in layouts(A0):
        y = np.full(5, np.nan, dtype)
        trans, m, n, lda, incx, incy = cb.gemv_plan(A, xs, y)
        assert incx == 3 and lda >= max(1, m)
        host.gemv(dtype, trans, m, n, 2.0, _ptr(A), lda, _ptr(xs), incx, 0.0, _ptr(y), incy)
        np.testing.assert_allclose(y, 2.0 * (A0 @ xs), rtol=1e-5)
        # x @ A == A.T @ x: a transposed view is a transpose flag
        z = np.full(3, np.nan, dtype)
        trans, m, n, lda, incx, incy = cb.gemv_plan(A.T, ys, z)
        host.gemv(dtype, trans, m, n, 1.0, _ptr(A), lda, _ptr(ys), incx, 0.0, _ptr(z), incy)
        np.testing.assert_allclose(z, ys @ A0, rtol=1e-5)
    for out0 in layouts(rand(dtype, 5, 3))[:3]:
        out = out0.copy(order="K")
        expect = out + 0.5 * np.outer(ys, xs)
        m, n, incx, incy, lda, swap = cb.ger_plan(ys, xs, out)
        p, q = (xs, ys) if swap else (ys, xs)
        host.ger(dtype, m, n, 0.5, _ptr(p), incx, _ptr(q), incy, _ptr(out), lda)
        np.testing.assert_allclose(out, expect, rtol=1e-5)
    assert cb.vector_inc(xs[::-1]) is None
    with pytest.raises(ValueError, match="positive strides"):
        cb.gemv_plan(A0, xs[::-1], np.zeros(5, dtype))


# ------------------------------------------------------------------ the device path (emulator)
def _load(rt, src):
    mod = rt.load(src.replace(NAME, "tblas"))
    return lambda name: mod.get(name.replace(NAME, "tblas"))


@needs_emu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_device_gemm_copies_operands_blas_cannot_read(dtype):
    rt = emulator()
    get = _load(rt, cb._fill_source(dtype) + cb.copy_kernels(2, np.dtype(dtype).itemsize))
    blas = cb.blas_for(rt)
    av, bv, zv = rand(dtype, 8, 9), rand(dtype, 7, 10), rand(dtype, 1, 5)
    a = DeviceArray.from_host(rt, av)
    b = DeviceArray.from_host(rt, bv)
    a_view = a.view((4, 3), (2 * a.strides[0], 3 * a.itemsize))  # no unit stride
    b_view = b.view((3, 5), (-2 * b.strides[0], 2 * b.itemsize), 6 * b.strides[0])  # negative rows
    a_host, b_host = av[::2, ::3][:4, :3], bv[6::-2, ::2][:3, :5]
    np.testing.assert_array_equal(a_view.get(), a_host)
    np.testing.assert_array_equal(b_view.get(), b_host)
    out = DeviceArray.empty(rt, (4, 5), dtype)
    cb.prefill(get, rt, out, DeviceArray.from_host(rt, zv), 0.25)  # z broadcast along rows
    calls = blas.calls
    cb.gemm(blas, cb.blas_matrix(get, rt, a_view), cb.blas_matrix(get, rt, b_view), out, 2.0, 1.0)
    assert blas.calls == calls + 1
    np.testing.assert_allclose(out.get(), 2.0 * a_host @ b_host + 0.25 * zv, rtol=1e-5)
    # an empty sum into strided outputs (rows or columns of a larger matrix) zeroes exactly those
    big = DeviceArray.from_host(rt, np.ones((6, 5), dtype))
    item = big.itemsize
    empty_a, empty_b = DeviceArray.empty(rt, (3, 0), dtype), DeviceArray.empty(rt, (0, 4), dtype)
    cb.gemm(blas, empty_a, empty_b, big.view((3, 4), (5 * item, item), 6 * item))  # rows 1-3, columns 1-4
    cb.gemm(blas, empty_a, empty_b.view((0, 2), (8, 8)), big.T.view((3, 2), (item, 5 * item), 8 * item + 2 * item))
    expected = np.ones((6, 5), dtype)
    expected[1:4, 1:5] = 0
    expected.T[0:3, 2:4] = 0
    np.testing.assert_array_equal(big.get(), expected)


@needs_emu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_every_rank_combination_matches_python_linker(dtype):
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    v, w = T.vector("v", dtype=dtype), T.vector("w", dtype=dtype)
    outs = [T.dot(x, y), T.dot(y.T, x.T), T.dot(x, v), T.dot(w, x), T.dot(v, v), T.dot(x.T, w),
            T.dot(w.dimshuffle("x", 0), x)]  # fmt: skip
    blas = device_blas()
    calls = blas.calls
    ct.compare([x, y, v, w], outs, [rand(dtype, 5, 7), rand(dtype, 7, 4), rand(dtype, 7), rand(dtype, 5)],
               kernel_ops=(Dot, DimShuffle), optimizer=None)  # fmt: skip
    assert blas.calls >= calls + len(outs)


@needs_emu
def test_dot_empty_dimensions_give_zeros_and_empty_results():
    x, y = T.fmatrix("x"), T.fmatrix("y")
    v = T.fvector("v")
    r = ct.compare([x, y, v], [T.dot(x, y), T.dot(x, v), T.dot(v, v)],
                   [rand("float32", 3, 0), rand("float32", 0, 4), rand("float32", 0)], kernel_ops=(Dot,),
                   optimizer=None)  # fmt: skip
    assert r[0].shape == (3, 4) and not r[0].any() and r[2] == 0
    r = ct.compare([x, y], T.dot(x, y), [rand("float32", 0, 3), rand("float32", 3, 4)], kernel_ops=(Dot,))
    assert r.shape == (0, 4)


@needs_emu
@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # perform's 0 * inf
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_gemv_ger_with_broadcast_z_and_symbolic_scalars(dtype):
    z, x, y = T.matrix("z", dtype=dtype), T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    zr, s, w1 = T.row("zr", dtype=dtype), T.scalar("s", dtype=dtype), T.TensorType(dtype, (1,))("w1")
    v, w, u = T.vector("v", dtype=dtype), T.vector("w", dtype=dtype), T.vector("u", dtype=dtype)
    alpha = s * 3  # computed on the device, read by the kernel on the host
    outs = [gemm(z, alpha, x, y, 0.5), gemm(zr, -1.0, x.T.T, y, s), gemm(z.T, 1.0, y.T, x.T, 0.0),
            gemv(w, alpha, x, v, 2.0), gemv(w1, 0.5, x, v, 1.0), gemv(u, 1.0, y.T, v, -1.0), ger(z.T.T, alpha, w, u),
            ger(zr, 1.0, w, u)]  # fmt: skip
    vals = [rand(dtype, 5, 4), rand(dtype, 5, 7), rand(dtype, 7, 4), rand(dtype, 1, 4), rand(dtype, 7), rand(dtype, 5),
            rand(dtype, 4), np.asarray(0.7, dtype), rand(dtype, 1)]  # fmt: skip
    vals[0][0, 0] = np.inf  # beta == 0 still computes 0 * inf = nan, as perform does
    r = ct.compare([z, x, y, zr, v, w, u, s, w1], outs, vals, kernel_ops=(Gemm, Gemv, Ger), optimizer=None)
    assert np.isnan(r[2][0, 0])


@needs_emu
def test_shape_errors_are_performs():
    z, x, y = T.fmatrix("z"), T.fmatrix("x"), T.fmatrix("y")
    with ct.emulated():
        f = nettrain.function([z, x, y], gemm(z, 1.0, x, y, 1.0), mode=nettrain.Mode(linker="cuda", optimizer=None))
        with pytest.raises(ValueError, match="gemm: shapes .* not aligned"):
            f(rand("float32", 2, 2), rand("float32", 2, 3), rand("float32", 2, 2))
        with pytest.raises(ValueError, match="gemm: z of shape"):
            f(rand("float32", 3, 2), rand("float32", 2, 3), rand("float32", 3, 2))
        f = nettrain.function([x, y], [T.dot(x, y)], mode=nettrain.Mode(linker="cuda", optimizer=None))
        with pytest.raises(ValueError, match="dot: shapes .* not aligned"):
            f(rand("float32", 2, 3), rand("float32", 2, 3))
        a, b = T.ftensor3("a"), T.ftensor3("b")
        f = nettrain.function([a, b], T.matmul(a, b), mode=nettrain.Mode(linker="cuda", optimizer=None))
        with pytest.raises(ValueError, match="matmul: shapes .* do not match"):
            f(rand("float32", 2, 3, 4), rand("float32", 3, 4, 5))


@needs_emu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_batches_broadcasts_and_transposed_operands(dtype):
    a, b = T.tensor3("a", dtype=dtype), T.tensor3("b", dtype=dtype)
    a1 = T.TensorType(dtype, (1, None, None))("a1")
    c, d = T.tensor4("c", dtype=dtype), T.tensor4("d", dtype=dtype)
    outs = [T.matmul(a, b), T.matmul(a1, b), T.matmul(b.dimshuffle(0, 2, 1), a.dimshuffle(0, 2, 1)),
            T.matmul(c.dimshuffle(1, 0, 2, 3), d.dimshuffle(1, 0, 3, 2))]  # fmt: skip
    vals = [rand(dtype, 3, 5, 6), rand(dtype, 3, 6, 2), rand(dtype, 1, 5, 6), rand(dtype, 2, 3, 4, 5),
            rand(dtype, 2, 3, 6, 5)]  # fmt: skip
    ct.compare([a, b, a1, c, d], outs, vals, kernel_ops=(MatMul,), optimizer=None)
    r = ct.compare([a, b], T.matmul(a, b), [rand(dtype, 0, 5, 6), rand(dtype, 0, 6, 2)], kernel_ops=(MatMul,))
    assert r.shape == (0, 5, 2)


@needs_emu
def test_dense_layer_gradient_through_gemm_on_the_device():
    X, W, b, y = T.fmatrix("X"), T.fmatrix("W"), T.fvector("b"), T.fmatrix("y")
    cost = ((T.tanh(T.dot(X, W) + b) - y) ** 2).sum()
    gW, gb = nettrain.grad(cost, [W, b])
    vals = [rand("float32", 6, 5), rand("float32", 5, 3), rand("float32", 3), rand("float32", 6, 3)]
    ct.compare([X, W, b, y], [cost, gW, gb, W - 0.1 * gW], vals, kernel_ops=(Gemm, Dot), rtol=1e-4)


def test_cublas_status_reports_the_library_or_why_not():
    info = cb.cublas_info()
    found, detail = cb.cublas_status()  # python -m nettrain.cuda's probe format
    assert set(info) == {"found", "path", "version", "error"} and found == info["found"]
    if not found:
        assert "libcublas not found" in detail and info["path"] is None
        return
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["version"]) and info["version"] in detail, info
    ffi, lib, path = cb._load()
    for name in re.findall(r"(cublas\w+)\(", cb._CDEF):  # every declared routine resolves
        getattr(lib, name)


@needs_emu
def test_blas_kernel_sources_compile_to_ptx():
    if not ct.have_nvcc():
        pytest.skip("nvcc is not installed: CUDA code generation is checked where it is")
    sources = [(cb._fill_source(dt) + cb.copy_kernels(nd, np.dtype(dt).itemsize)).replace(NAME, "nt_k0")
               for dt in ("float32", "float64") for nd in (2, 4)]  # fmt: skip
    with open(ct.ptx_check(sources)) as f:
        text = f.read()
    assert "f0_nt_k0_fill" in text and "f3_nt_k0_copy8" in text
