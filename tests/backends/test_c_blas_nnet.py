"""C kernels for BLAS ops, the softmax family and the fused crossentropy match the Python linker.

Each function is compiled with Mode(linker='c') and Mode(linker='py') and
every output is compared; BLAS results are also checked against numpy.dot.
"""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import blas as c_blas
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.buffers import MIN_BYTES, OutputPool
from nettrain.backends.c.registry import c_kernel
from nettrain.tensor.blas import Dot, Gemm, Gemv, Ger, gemm, gemv, ger
from nettrain.tensor.nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx
from nettrain.tensor.nnet.softmax_ops import LogSoftmax, Softmax, SoftmaxGrad

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
needs_blas = pytest.mark.skipif(c_blas.find_blas() is None, reason="no CBLAS found in NumPy's BLAS library")
pytestmark = [pytest.mark.c, needs_c, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
RNG = np.random.default_rng(7)


def compare(inputs, outputs, values, kernel_ops=(), rtol=None):
    """Compile with both linkers, check that nodes of ``kernel_ops`` got C kernels, compare every output."""
    fc = theano.function(inputs, outputs, mode=C, on_unused_input="ignore")
    fp = theano.function(inputs, outputs, mode=PY, on_unused_input="ignore")
    nodes = [n for n in fc.maker.fgraph.toposort() if isinstance(n.op, kernel_ops)]
    assert all(c_kernel(n.op, n) is not None for n in nodes), "no C kernel for %s" % nodes
    rc, rp = fc(*values), fp(*values)
    for out, a, b in zip(outputs, rc, rp):
        assert a.dtype == b.dtype and a.shape == b.shape, out
        tol = rtol if rtol is not None else (1e-5 if a.dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True, err_msg=str(out))
    return rc


def rand(dtype, *shape):
    return RNG.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------- BLAS
@needs_blas
def test_find_blas_returns_every_routine_address():
    b = c_blas.find_blas()
    assert b.int_type in ("int", "int64_t")
    assert set(b.addr) == {"sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger"}
    assert all(isinstance(a, int) and a for a in b.addr.values())


@needs_blas
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_kernel_matches_numpy_dot_for_contiguous_transposed_and_sliced_operands(dtype):
    x, y, v = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype), T.vector("v", dtype=dtype)
    outs = [T.dot(x, y), T.dot(y.T, x.T), T.dot(x, v), T.dot(v, x.T), T.dot(x[:, ::2], y[::2])]
    xv, yv, vv = rand(dtype, 6, 8), rand(dtype, 8, 6), rand(dtype, 8)
    rc = compare([x, y, v], outs, [xv, yv, vv], (Dot,))
    expected = [xv @ yv, yv.T @ xv.T, xv @ vv, vv @ xv.T, xv[:, ::2] @ yv[::2]]
    for got, want in zip(rc, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)
    # operands neither row- nor column-contiguous are copied first
    f = theano.function([x, y], T.dot(x, y), mode=C)
    a, b = rand(dtype, 5, 6)[::2, ::2], rand(dtype, 6, 4)[::2]
    np.testing.assert_allclose(f(a, b), np.dot(a, b), rtol=1e-5)


@needs_blas
def test_dot_kernel_handles_empty_and_zero_length_contractions():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    compare([x, y], [T.dot(x, y)], [np.zeros((3, 0)), np.zeros((0, 4))], (Dot,))
    compare([x, y], [T.dot(x, y)], [np.zeros((0, 2)), rand("float64", 2, 4)], (Dot,))


@needs_blas
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_gemv_ger_kernels_match_python_linker_with_broadcast_z(dtype):
    z, x, y = T.matrix("z", dtype=dtype), T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    row, col = T.row("row", dtype=dtype), T.col("col", dtype=dtype)
    u, w, v5 = T.vector("u", dtype=dtype), T.vector("w", dtype=dtype), T.vector("v5", dtype=dtype)
    one = T.TensorType(dtype, (1,))("one")
    a, b = T.scalar("a", dtype=dtype), T.scalar("b", dtype=dtype)
    # z (4, 5) = x (4, 3) @ y (3, 5); u (3,), w (4,), v5 (5,)
    outs = [gemm(z, a, x, y, b), gemm(row, a, x, y, b), gemm(col, 1.0, x, y, 1.0), gemm(z.T, a, y.T, x.T, b),
            gemm(z, a, x, y, 0.0), gemv(u, a, x.T, w, b), gemv(one, a, x, u, b), ger(z, a, w, v5),
            ger(row, a, w, v5), ger(z.T, a, v5, w)]  # fmt: skip
    values = [rand(dtype, 4, 5), rand(dtype, 4, 3), rand(dtype, 3, 5), rand(dtype, 1, 5), rand(dtype, 4, 1),
              rand(dtype, 3), rand(dtype, 4), rand(dtype, 5), rand(dtype, 1), np.asarray(0.7, dtype),
              np.asarray(-1.5, dtype)]  # fmt: skip
    compare([z, x, y, row, col, u, w, v5, one, a, b], outs, values, (Gemm, Gemv, Ger))


@needs_blas
def test_gemm_kernel_keeps_nan_of_z_when_beta_is_zero_like_the_reference():
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    zv = np.full((2, 2), np.nan)
    rc = compare([z, x, y], [gemm(z, 1.0, x, y, 0.0)], [zv, np.eye(2), np.eye(2)], (Gemm,))
    assert np.isnan(rc[0]).all()


@needs_blas
def test_blas_kernels_report_misaligned_shapes_like_the_reference():
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z")
    for mode in (C, PY):
        f = theano.function([x, y], T.dot(x, y), mode=mode)
        with pytest.raises(ValueError, match=r"dot: shapes \(2, 3\) and \(2, 3\) are not aligned"):
            f(np.ones((2, 3)), np.ones((2, 3)))
        g = theano.function([z, x, y], gemm(z, 1.0, x, y, 1.0), mode=mode)
        with pytest.raises(ValueError, match=r"gemm: z of shape \(3, 3\) does not match the product's shape"):
            g(np.ones((3, 3)), np.ones((2, 2)), np.ones((2, 2)))


def test_without_blas_dot_and_gemm_run_perform(monkeypatch):
    monkeypatch.setattr(c_blas, "find_blas", lambda: None)
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z")
    f = theano.function([x, y, z], [T.dot(x, y), gemm(z, 2.0, x, y, 1.0)], mode=C)
    assert all(c_kernel(n.op, n) is None for n in f.maker.fgraph.toposort())
    xv, yv, zv = rand("float64", 2, 3), rand("float64", 3, 2), rand("float64", 2, 2)
    d, g = f(xv, yv, zv)
    np.testing.assert_allclose(d, xv @ yv)
    np.testing.assert_allclose(g, zv + 2 * xv @ yv)


# -------------------------------------------------------------------- softmax
def _logits(dtype):
    xv = rand(dtype, 5, 7) * 3
    xv[1] = [1000, -1000, 0, 0, 0, 0, 0]  # needs the max subtraction
    xv[2] = -np.inf  # all -inf: NaN like the reference
    xv[3, 2] = np.nan
    return xv


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_log_softmax_and_softmax_grad_kernels_match_python_linker(dtype):
    x, dy = T.matrix("x", dtype=dtype), T.matrix("dy", dtype=dtype)
    t3 = T.tensor3("t3", dtype=dtype)
    sm = T.nnet.softmax(x)
    outs = [sm, T.nnet.log_softmax(x), SoftmaxGrad(1)(dy, sm), T.nnet.softmax(t3), T.nnet.log_softmax(x.T)]
    values = [_logits(dtype), rand(dtype, 5, 7), rand(dtype, 2, 3, 4)]
    compare([x, dy, t3], outs, values, (Softmax, LogSoftmax, SoftmaxGrad))
    # not along the last axis: no kernel, perform runs
    f = theano.function([t3], T.nnet.softmax(t3, axis=1), mode=C)
    assert all(c_kernel(n.op, n) is None for n in f.maker.fgraph.toposort())
    # non-contiguous input
    compare([x], [T.nnet.softmax(x)], [np.asfortranarray(rand(dtype, 4, 6))], (Softmax,))


def test_softmax_kernel_on_empty_rows_and_columns():
    x = T.fmatrix("x")
    compare([x], [T.nnet.softmax(x), T.nnet.log_softmax(x)], [np.zeros((0, 3), "float32")], (Softmax, LogSoftmax))
    compare([x], [T.nnet.softmax(x)], [np.zeros((3, 0), "float32")], (Softmax,))


# --------------------------------------------------------------- crossentropy
@pytest.mark.parametrize("dtype,ydtype", [("float32", "int32"), ("float64", "int64"), ("float32", "uint8")])
def test_fused_crossentropy_and_its_gradient_match_python_linker(dtype, ydtype):
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=ydtype)
    g, g1 = T.vector("g", dtype=dtype), T.TensorType(dtype, (1,))("g1")
    sm = T.nnet.softmax(x)
    outs = [CrossentropySoftmax1Hot()(x, y), CrossentropySoftmax1HotDx()(g, sm, y),
            CrossentropySoftmax1HotDx()(g1, sm, y)]  # fmt: skip
    xv = rand(dtype, 6, 4) * 4
    xv[0] = [500, -500, 0, 1]
    values = [xv, np.array([0, 3, 1, 2, 2, 0], ydtype), rand(dtype, 6), rand(dtype, 1)]
    compare([x, y, g, g1], outs, values, (CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx, Softmax))


def test_mlp_cost_and_gradient_of_softmax_crossentropy_match_python_linker():
    x, y = T.fmatrix("x"), T.ivector("y")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    opt_c, opt_py = theano.Mode(linker="c"), theano.Mode(linker="py")
    fc = theano.function([x, y], [cost, T.grad(cost, x)], mode=opt_c)
    fp = theano.function([x, y], [cost, T.grad(cost, x)], mode=opt_py)
    ops = {type(n.op) for n in fc.maker.fgraph.toposort()}
    assert CrossentropySoftmax1Hot in ops and CrossentropySoftmax1HotDx in ops
    xv, yv = rand("float32", 8, 5), RNG.integers(0, 5, 8).astype("int32")
    for a, b in zip(fc(xv, yv), fp(xv, yv)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", [C, PY], ids=["c", "py"])
def test_bad_class_index_and_row_counts_raise_the_reference_errors(mode):
    x, y, g = T.fmatrix("x"), T.ivector("y"), T.fvector("g")
    f = theano.function([x, y], CrossentropySoftmax1Hot()(x, y), mode=mode)
    with pytest.raises(IndexError, match=r"class index 3 \(at position 1\) is out of range for 3 classes"):
        f(np.zeros((2, 3), "float32"), np.array([0, 3], "int32"))
    with pytest.raises(ValueError, match="different numbers of rows"):
        f(np.zeros((2, 3), "float32"), np.array([0], "int32"))
    d = theano.function([g, x, y], CrossentropySoftmax1HotDx()(g, x, y), mode=mode)
    with pytest.raises(IndexError, match=r"class index -1 \(at position 0\)"):
        d(np.ones(2, "float32"), np.zeros((2, 3), "float32"), np.array([-1, 0], "int32"))
    with pytest.raises(ValueError, match="3 row weights for 2 rows"):
        d(np.ones(3, "float32"), np.zeros((2, 3), "float32"), np.array([0, 0], "int32"))


# ------------------------------------------------------------- output buffers
def test_output_pool_reuses_only_arrays_nothing_else_refers_to():
    pool = OutputPool("float32")
    n = MIN_BYTES // 4
    a = pool.empty((n,))
    assert pool.empty((n,)) is not a  # a is still referenced here
    b_id = id(a)
    del a
    assert id(pool.empty((n,))) == b_id
    small = pool.empty((3,))
    assert pool.empty((3,)) is not small and len(pool.bufs) <= 2


def test_reused_buffers_never_overwrite_results_the_caller_holds():
    x = T.fmatrix("x")
    f = theano.function([x], T.exp(x) * 2, mode=theano.Mode(linker="c"))
    big = MIN_BYTES // 4 + 64
    a, b = np.zeros((1, big), "float32"), np.ones((1, big), "float32")
    r1 = f(a)
    r2 = f(b)
    r3 = f(a)
    assert r1 is not r2 and r2 is not r3
    np.testing.assert_allclose(r1, 2.0)
    np.testing.assert_allclose(r2, 2 * np.e, rtol=1e-6)
    del r1
    np.testing.assert_allclose(f(b), 2 * np.e, rtol=1e-6)
    np.testing.assert_allclose(r3, 2.0)
