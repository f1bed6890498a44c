"""The C linker computes what the Python linker computes (DESIGN.md §5).

Every function here is compiled twice, with Mode(linker='c') and
Mode(linker='py'), and the results are compared.  Ops are grouped so that a
whole family is one function (one compiler call), which keeps this file fast
even with a cold compile cache.
"""

import itertools
import warnings

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.registry import c_kernel
from nettrain.tensor import scalar_op as ps
from nettrain.tensor.composite import Composite
from nettrain.tensor.elemwise import Elemwise
from nettrain.tensor.type import TensorType

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
pytestmark = [pytest.mark.c, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
C_OPT, PY_OPT = theano.Mode(linker="c"), theano.Mode(linker="py")
RNG = np.random.default_rng(42)


def compare(inputs, outputs, values, c_mode=C, py_mode=PY, rtol=None, expect_kernels=True):
    """Compile with both linkers, check the C one used kernels, compare every output."""
    fc = theano.function(inputs, outputs, mode=c_mode, on_unused_input="ignore")
    fp = theano.function(inputs, outputs, mode=py_mode, on_unused_input="ignore")
    if expect_kernels:
        nodes = fc.maker.fgraph.toposort()
        missing = [n for n in nodes if isinstance(n.op, Elemwise) and c_kernel(n.op, n) is None]
        assert not missing, "no C kernel for %s" % missing
    rc, rp = fc(*values), fp(*values)
    if not isinstance(outputs, list):
        rc, rp, outputs = [rc], [rp], [outputs]
    for out, a, b in zip(outputs, rc, rp):
        assert a.dtype == b.dtype, out
        assert a.shape == b.shape, out
        tol = rtol if rtol is not None else (2e-6 if a.dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True, err_msg=str(out))
    return fc, rc


def transposed(a):
    """A non-contiguous view with the values of ``a``."""
    return np.ascontiguousarray(a.T).T


# ------------------------------------------------------------------ unary ops
_UNARY_ANY = [ps.Neg, ps.Abs, ps.Exp, ps.Exp2, ps.Expm1, ps.Sqr, ps.Sin, ps.Cos, ps.Tan, ps.ArcTan,
              ps.Sinh, ps.Cosh, ps.Tanh, ps.ArcSinh, ps.Sigmoid, ps.Softplus, ps.Erf, ps.Erfc, ps.Floor,
              ps.Ceil, ps.Trunc, ps.RoundHalfToEven, ps.RoundHalfAwayFromZero, ps.Sgn, ps.Identity,
              ps.IsNan, ps.IsInf, ps.Reciprocal]  # fmt: skip
_UNARY_UNIT = [ps.ArcSin, ps.ArcCos, ps.ArcTanh]  # |x| < 1
_UNARY_POS = [ps.Log, ps.Log2, ps.Log10, ps.Log1p, ps.Sqrt]  # x > 0


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_unary_float_op_matches_python_linker(dtype):
    x, u, p = (TensorType(dtype, (None, None))(n) for n in "xup")
    outs = [Elemwise(cls())(x) for cls in _UNARY_ANY]
    outs += [Elemwise(cls())(u) for cls in _UNARY_UNIT]
    outs += [Elemwise(cls())(p) for cls in _UNARY_POS] + [Elemwise(ps.ArcCosh())(p + 1)]
    xv = RNG.uniform(-4, 4, (4, 5)).astype(dtype)
    xv[0, :3] = [0.5, -2.5, 0.0]  # rounding ties
    xv[1, :4] = [np.nan, np.inf, -np.inf, -0.0]
    xv[2, :2] = [-100.0, 100.0]  # sigmoid / softplus far from 0
    uv = RNG.uniform(-0.95, 0.95, (4, 5)).astype(dtype)
    pv = RNG.uniform(0.05, 5, (4, 5)).astype(dtype)
    compare([x, u, p], outs, [transposed(xv.T.copy()), uv[:, ::1], pv], rtol=1e-5 if dtype == "float32" else None)


@needs_c
@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8", "bool"])
def test_unary_ops_on_integers_and_bools(dtype):
    x = TensorType(dtype, (None, None))("x")
    ops = [ps.Exp, ps.Sin, ps.Sqrt, ps.Sigmoid, ps.Floor, ps.IsNan, ps.IsInf, ps.Identity, ps.Invert]
    if dtype != "bool":
        ops += [ps.Neg, ps.Abs, ps.Sqr, ps.Sgn]
    outs = [Elemwise(cls())(x) for cls in ops]
    xv = RNG.integers(0 if dtype in ("uint8", "bool") else -50, 50, (3, 4)).astype(dtype)
    if dtype in ("int8", "int32", "int64"):
        xv[0, 0] = np.iinfo(dtype).min  # abs/neg wrap like NumPy
    compare([x], outs, [xv[:, ::-1]], rtol=1e-5)


# ----------------------------------------------------------------- binary ops
_FLOAT_BINARY = [ps.Add, ps.Sub, ps.Mul, ps.TrueDiv, ps.IntDiv, ps.Mod, ps.Pow, ps.Minimum, ps.Maximum,
                 ps.ArcTan2, ps.LT, ps.GT, ps.LE, ps.GE, ps.EQ, ps.NEQ, ps.Second]  # fmt: skip
_INT_BINARY = [ps.Add, ps.Sub, ps.Mul, ps.TrueDiv, ps.IntDiv, ps.Mod, ps.Minimum, ps.Maximum, ps.LT,
               ps.GT, ps.LE, ps.GE, ps.EQ, ps.NEQ, ps.AND, ps.OR, ps.XOR, ps.Second]  # fmt: skip
_BOOL_BINARY = [ps.Minimum, ps.Maximum, ps.LT, ps.GE, ps.EQ, ps.NEQ, ps.AND, ps.OR, ps.XOR, ps.Add, ps.Mul]


def _values(dtype, shape):
    if dtype == "bool":
        return RNG.integers(0, 2, shape).astype(bool)
    if dtype.startswith("float"):
        v = RNG.uniform(-3, 3, shape).astype(dtype)
        v.flat[:4] = [0.0, -0.0, np.nan, 2.0][: v.size]
        return v
    lo = 0 if dtype.startswith("uint") else -7
    return RNG.integers(lo, 8, shape).astype(dtype)


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "uint32", "bool"])
def test_every_binary_op_matches_python_linker_with_broadcasting(dtype):
    ops = _FLOAT_BINARY if dtype.startswith("float") else _BOOL_BINARY if dtype == "bool" else _INT_BINARY
    x = TensorType(dtype, (None, None))("x")
    row = TensorType(dtype, (1, None))("row")
    outs = [Elemwise(cls())(x, row) for cls in ops]
    outs += [Elemwise(cls())(row, x) for cls in ops if cls in (ps.Sub, ps.IntDiv, ps.Mod, ps.Pow, ps.LT, ps.Second)]
    xv = _values(dtype, (5, 3))  # used transposed: shape (3, 5), not contiguous
    rv = _values(dtype, (1, 5))
    if dtype.startswith("int"):
        rv[0, :2] = [0, -1]  # x // 0, x % 0 and MIN // -1 follow NumPy
        xv[0, 0] = np.iinfo(dtype).min
    compare([x, row], outs, [xv.T, rv], rtol=1e-5 if dtype == "float32" else None)


@needs_c
def test_mixed_dtypes_compute_in_the_promoted_dtype():
    b, i8, i64, f32, f64 = T.bvector("b"), T.bvector("i8"), T.lvector("i64"), T.fvector("f32"), T.dvector("f64")
    bl = TensorType("bool", (None,))("bl")
    outs = [i8 + f32, i64 / i64, f32 < f64, i64 * f32, i8 // T.cast(i8 + 1, "int8"), T.exp(i8), T.sqrt(i64),
            T.switch(bl, i8, f32), T.switch(f32, f64, i64), T.clip(f32, i64, f64), b + b]  # fmt: skip
    v = [
        np.array([1, -2, 3, 100], "int8"),
        np.array([1, -2, 3, 100], "int8"),
        np.array([2, 3, -5, 7]),
        np.array([0.5, 0, -2, 3], "float32"),
        np.array([0.25, 0, -2, 1.5]),
        np.array([True, False, True, False]),
    ]
    compare([b, i8, i64, f32, f64, bl], outs, v, rtol=1e-6)


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_clip_switch_and_casts_match_python_linker(dtype):
    x = TensorType(dtype, (None, None))("x")
    col = TensorType(dtype, (None, 1))("col")
    outs = [T.clip(x, col, x + 3), T.switch(T.gt(x, col), x, col), Elemwise(ps.Clip())(x, col, col)]
    outs += [T.cast(x, d) for d in ["bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64"]]
    xv = _values(dtype, (3, 4))
    cv = _values(dtype, (3, 1))
    if dtype.startswith("float"):
        xv = np.nan_to_num(xv, nan=1.5)  # NaN casts to integers are undefined
    compare([x, col], outs, [xv, cv])


@needs_c
def test_nan_propagation_of_maximum_minimum_and_clip():
    x, y = T.dvector("x"), T.dvector("y")
    fc, (mx, mn, cl) = compare([x, y], [T.maximum(x, y), T.minimum(x, y), T.clip(x, 0.0, y)],
                               [np.array([np.nan, 1.0, 2.0]), np.array([1.0, np.nan, 0.5])])  # fmt: skip
    np.testing.assert_array_equal(np.isnan(mx), [True, True, False])
    np.testing.assert_array_equal(np.isnan(mn), [True, True, False])
    np.testing.assert_array_equal(np.isnan(cl), [True, True, False])


# ------------------------------------------------------------------ composites
@needs_c
def test_fused_composite_matches_python_linker_on_contiguous_strided_and_broadcast_inputs():
    x, y = T.fmatrix("x"), T.fmatrix("y")
    e = T.exp(-x * x) * T.sin(y) + T.tanh(x * y)
    xv = RNG.standard_normal((6, 7)).astype("float32")
    yv = RNG.standard_normal((7, 6)).astype("float32")
    fc, _ = compare([x, y], e, [xv, yv.T], C_OPT, PY_OPT, rtol=1e-5)
    (node,) = fc.maker.fgraph.toposort()
    assert isinstance(node.op.scalar_op, Composite)
    compare([x, y], e, [xv, yv.T.copy()], C_OPT, PY_OPT, rtol=1e-5)
    r = T.frow("r")
    compare([x, r], T.exp(-x * x) * T.sin(r) + T.tanh(x * r), [xv, yv.T[:1]], C_OPT, PY_OPT, rtol=1e-5)


@needs_c
def test_composite_with_extra_outputs_and_mixed_dtypes():
    x, n = T.dmatrix("x"), T.lmatrix("n")
    a = x * n + 1
    outs = [a, T.exp(a) * T.cast(T.gt(n, 0), "float64"), (n // 2) % 3]
    fc, _ = compare([x, n], outs, [RNG.standard_normal((3, 4)), RNG.integers(-5, 5, (3, 4))], C_OPT, PY_OPT)
    assert any(isinstance(nd.op, Elemwise) and isinstance(nd.op.scalar_op, Composite) and len(nd.outputs) > 1
               for nd in fc.maker.fgraph.toposort())  # fmt: skip


@needs_c
def test_large_arrays_take_the_threaded_paths():
    # above NT_PAR_MIN_HEAVY elements: loops calling libm functions are split over threads
    x, r = T.dmatrix("x"), T.drow("r")
    xv = RNG.standard_normal((520, 512))
    rv = RNG.standard_normal((1, 512))
    compare([x, r], [T.tanh(x) * 2 + 1, T.exp(x) + r, T.sum(x * x, axis=1), T.max(x, axis=0)], [xv, rv], C_OPT, PY_OPT)
    compare([x, r], [T.tanh(x) * 2 + 1, T.exp(x) + r, T.sum(x * x, axis=1)], [transposed(xv), rv], C_OPT, PY_OPT)


# ----------------------------------------------------------------- reductions
_AXES = [None] + [c for k in (1, 2, 3) for c in itertools.combinations(range(3), k)] + [()]


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_reductions_over_every_axis_combination(dtype):
    x = TensorType(dtype, (None, None, None))("x")
    outs = []
    for ax in _AXES:
        outs += [T.sum(x, axis=ax), T.prod(x, axis=ax), T.max(x, axis=ax), T.min(x, axis=ax),
                 T.all(x, axis=ax), T.any(x, axis=ax)]  # fmt: skip
    outs += [T.sum(x, axis=1, keepdims=True), T.max(x, axis=-1, keepdims=True), T.sum(x, dtype="float64")]
    xv = _values(dtype, (2, 3, 4))
    if dtype.startswith("float"):
        xv = np.nan_to_num(xv, nan=0.25)
    compare([x], outs, [xv], rtol=1e-5 if dtype == "float32" else None)
    compare([x], outs, [xv.transpose(2, 0, 1).copy().transpose(1, 2, 0)], rtol=1e-5 if dtype == "float32" else None)


@needs_c
def test_reductions_of_nan_and_empty_inputs():
    x = T.dmatrix("x")
    xv = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    compare([x], [T.max(x, axis=1), T.min(x), T.sum(x, axis=0)], [xv])
    compare([x], [T.sum(x, axis=0), T.prod(x, axis=1), T.sum(x)], [np.zeros((0, 3))])
    f = theano.function([x], T.max(x, axis=0), mode=C)
    with pytest.raises(ValueError, match="empty dimension has no identity"):
        f(np.zeros((0, 3)))


# ----------------------------------------------------------- whole programs
@needs_c
def test_mlp_training_step_matches_python_linker():
    def train(mode):
        rng = np.random.default_rng(0)
        W1 = theano.shared(rng.standard_normal((5, 8)).astype("float32") * 0.3, name="W1")
        b1 = theano.shared(np.zeros(8, "float32"), name="b1")
        W2 = theano.shared(rng.standard_normal((8, 3)).astype("float32") * 0.3, name="W2")
        b2 = theano.shared(np.zeros(3, "float32"), name="b2")
        x, y = T.fmatrix("x"), T.ivector("y")
        h = T.tanh(T.dot(x, W1) + b1)
        p = T.nnet.softmax(T.dot(h, W2) + b2)
        cost = T.mean(T.nnet.categorical_crossentropy(p, y)) + 1e-3 * T.sum(W1 * W1)
        params = [W1, b1, W2, b2]
        grads = T.grad(cost, params)
        step = theano.function([x, y], cost, updates=[(q, q - 0.1 * g) for q, g in zip(params, grads)], mode=mode)
        xv = rng.standard_normal((16, 5)).astype("float32")
        yv = rng.integers(0, 3, 16).astype("int32")
        costs = [float(step(xv, yv)) for _ in range(5)]
        return costs, [q.get_value() for q in params], step

    cc, pc, step = train(C_OPT)
    cp, pp, _ = train(PY_OPT)
    np.testing.assert_allclose(cc, cp, rtol=1e-5)
    for a, b in zip(pc, pp):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    nodes = step.maker.fgraph.toposort()
    assert any(c_kernel(n.op, n) is not None for n in nodes)
    # some nodes run Python (perform, or a lean runner: a kernel without C source, e.g. DimShuffle)
    assert any(c_kernel(n.op, n) is None or not c_kernel(n.op, n).source for n in nodes)


@pytest.fixture
def builds(monkeypatch):
    """Record every source handed to build_library."""
    seen = []
    real = c_linker.build_library

    def record(source, cdef):
        seen.append(source)
        return real(source, cdef)

    monkeypatch.setattr(c_linker, "build_library", record)
    return seen


@needs_c
def test_one_library_is_built_per_function(builds):
    x, y = T.dmatrix("x"), T.dvector("y")
    f = theano.function([x, y], [T.exp(x) + y, T.sum(x, axis=0), T.max(x * 2, axis=1), T.erfinv(y / 10)], mode=C_OPT)
    assert len(builds) == 1
    assert sum(c_kernel(n.op, n) is not None for n in f.maker.fgraph.toposort()) >= 3
    theano.function([x], x.T, mode=C_OPT)  # only a DimShuffle: nothing to compile
    assert len(builds) == 1


@needs_c
def test_new_constant_values_reuse_the_same_source(builds):
    x = T.fvector("x")
    f1 = theano.function([x], T.exp(x) * np.float32(0.1), mode=C_OPT)
    f2 = theano.function([x], T.exp(x) * np.float32(0.2), mode=C_OPT)
    theano.function([x], T.exp(x) * np.float32(0.1), mode=C_OPT)
    assert len(builds) == 3 and builds[0] == builds[1] == builds[2]
    xv = np.array([0.0, 1.0], "float32")
    np.testing.assert_allclose(f1(xv), 0.1 * np.exp(xv), rtol=1e-6)
    np.testing.assert_allclose(f2(xv), 0.2 * np.exp(xv), rtol=1e-6)


@needs_c
def test_ops_without_kernel_fall_back_to_perform():
    x, n = T.dvector("x"), T.lvector("n")
    assert c_kernel(T.erfinv(x).owner.op, T.erfinv(x).owner) is None
    outs = [T.erfinv(x), T.erfinv(x) * 2 + 1, n**2, T.exp(x)]
    compare([x, n], outs, [np.array([-0.5, 0.0, 0.9]), np.array([1, -2, 3])], C_OPT, PY_OPT, expect_kernels=False)


@needs_c
def test_runtime_errors_name_the_node_like_the_python_linker():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], T.exp(x) + y, mode=C_OPT)
    with pytest.raises(ValueError, match=r"do not match in dimension 0(.|\n)*Apply node that caused the error"):
        f(np.ones(3), np.ones(4))
    m, r = T.dmatrix("m"), T.drow("r")
    g = theano.function([m, r], m * r, mode=C)
    with pytest.raises(ValueError, match=r"dimension 1(.|\n)*Elemwise\{Mul\}"):
        g(np.ones((2, 3)), np.ones((1, 4)))


@needs_c
def test_compile_failure_warns_and_uses_the_python_linker(monkeypatch):
    def broken(source, cdef):
        raise c_linker.CompileError("boom")

    monkeypatch.setattr(c_linker, "build_library", broken)
    x = T.dvector("x")
    with pytest.warns(RuntimeWarning, match="failed to compile"):
        f = theano.function([x], T.exp(x), mode=C)
    np.testing.assert_allclose(f(np.array([0.0, 1.0])), np.exp([0.0, 1.0]))


def test_without_a_compiler_the_c_linker_warns_once_and_runs_python(monkeypatch):
    monkeypatch.setattr(c_linker, "usable", lambda: False)
    monkeypatch.setattr(c_linker, "_warned", [])
    x = T.dvector("x")
    with pytest.warns(RuntimeWarning, match="falls back to the Python linker"):
        f = theano.function([x], T.exp(x) + 1, mode=C)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = theano.function([x], T.exp(x) * 2, mode=C)
    np.testing.assert_allclose(f(np.array([0.0])), [2.0])
    np.testing.assert_allclose(g(np.array([0.0])), [2.0])
