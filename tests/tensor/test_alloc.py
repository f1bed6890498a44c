"""Construction ops (alloc, zeros, ones, full, arange, eye, identity_like, tri, tril, triu) against NumPy."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import check_infer_shape as _check_infer_shape
from nettrain.testing import verify_grad

RNG = np.random.default_rng(7)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


# ------------------------------------------------------------------- alloc
def test_alloc_broadcasts_a_scalar_to_symbolic_and_constant_dims():
    n = T.lscalar("n")
    out = T.alloc(1.5, n, 3)
    assert out.type.shape == (None, 3)
    res = _run([n], out, 2)
    np.testing.assert_array_equal(res, np.full((2, 3), 1.5))
    assert res.dtype == np.float64


def test_alloc_adds_leading_dims_and_broadcasts_static_length_one_dims():
    r = T.row("r", dtype="float64")
    out = T.alloc(r, 2, 3, 4)
    assert out.type.shape == (2, 3, 4)
    val = RNG.normal(size=(1, 4))
    np.testing.assert_array_equal(_run([r], out, val), np.broadcast_to(val, (2, 3, 4)))


def test_alloc_accepts_a_shape_vector_and_a_list_mixing_ints_and_scalars():
    x = T.dmatrix("x")
    n = T.lscalar("n")
    val = RNG.normal(size=(2, 5))
    np.testing.assert_array_equal(_run([x], T.alloc(0.0, x.shape), val), np.zeros((2, 5)))
    np.testing.assert_array_equal(_run([n], T.alloc(3, [n, 2]), 4), np.full((4, 2), 3))
    np.testing.assert_array_equal(_run([n], T.alloc(3, T.stack([n, 2])), 1), np.full((1, 2), 3))


def test_alloc_returns_a_fresh_array_not_the_value():
    x = T.dvector("x")
    val = np.array([1.0, 2.0])
    res = _run([x], T.alloc(x, 1, 2), val)
    res[...] = 0
    assert val.tolist() == [1.0, 2.0]


def test_alloc_infer_shape_matches_the_result():
    n = T.lscalar("n")
    v = T.dvector("v")
    _check_infer_shape(T.alloc(v, n, 3), [n, v], [4, np.ones(3)])


def test_alloc_grad_sums_over_new_and_broadcast_dims():
    def f(v):
        return T.alloc(T.addbroadcast(v, 0), 2, 3, 4)

    verify_grad(f, [RNG.normal(size=(1, 4))])
    verify_grad(lambda v: T.alloc(v, 3, v.shape[0]), [RNG.normal(size=(4,))])
    verify_grad(lambda s: T.alloc(s, 2, 2), [np.array(0.5)])


def test_alloc_rejects_runtime_broadcast_of_a_non_broadcastable_dim():
    x = T.dvector("x")
    f = theano.function([x], T.alloc(x, 2, 3))
    with pytest.raises(ValueError, match="not broadcastable"):
        f(np.ones(1))


def test_alloc_rejects_bad_shapes():
    with pytest.raises(TypeError, match="more dimensions"):
        T.alloc(T.dmatrix(), 3)
    with pytest.raises(TypeError, match="integers"):
        T.alloc(0.0, 2.5)
    with pytest.raises(TypeError, match="integers"):
        T.alloc(0.0, T.dscalar())
    with pytest.raises(ValueError, match="negative"):
        T.alloc(0.0, -1, 2)
    with pytest.raises(ValueError, match="cannot fill"):
        T.alloc(T.constant(np.ones(3)), 2, 4)
    with pytest.raises(ValueError, match="unknown"):
        T.alloc(0.0, T.lvector())


# --------------------------------------------------------- zeros/ones/full
@pytest.mark.parametrize("fn, ref", [(T.zeros, np.zeros), (T.ones, np.ones)])
def test_zeros_and_ones_default_to_floatx_and_honour_dtype(fn, ref):
    n = T.lscalar("n")
    res = _run([n], fn((n, 2)), 3)
    np.testing.assert_array_equal(res, ref((3, 2)))
    assert res.dtype == theano.config.floatX
    assert fn(3, dtype="int32").eval().dtype == np.int32
    assert fn(3).type.shape == (3,)


def test_zeros_like_a_shape_vector():
    x = T.ftensor3("x")
    res = _run([x], T.zeros(x.shape, dtype=x.dtype), np.ones((2, 1, 3), np.float32))
    assert res.shape == (2, 1, 3) and res.dtype == np.float32


def test_full_takes_its_dtype_from_the_fill_value_like_numpy():
    assert T.full((2,), 7).eval().dtype == np.full((2,), 7).dtype
    np.testing.assert_array_equal(T.full((2, 2), 2.5).eval(), np.full((2, 2), 2.5))
    assert T.full((2,), 1, dtype="float32").eval().dtype == np.float32


# ------------------------------------------------------------------- arange
@pytest.mark.parametrize(
    "args",
    [(5,), (2, 9), (2, 9, 3), (9, 2, -2), (0.0, 1.0, 0.25), (1.5, 4), (5, 2), (0, 1, 0.3)],
)
def test_arange_matches_numpy_values_dtype_and_static_length(args):
    out = T.arange(*args)
    ref = np.arange(*args)
    res = out.eval()
    np.testing.assert_allclose(res, ref)
    assert res.dtype == ref.dtype
    assert out.type.shape == ref.shape


def test_arange_with_symbolic_bounds():
    start, stop = T.lscalars("start", "stop")
    out = T.arange(start, stop, 2)
    assert out.dtype == "int64" and out.type.shape == (None,)
    np.testing.assert_array_equal(_run([start, stop], out, 1, 8), np.arange(1, 8, 2))
    np.testing.assert_array_equal(_run([start, stop], out, 8, 1), np.arange(8, 1, 2))
    _check_infer_shape(out, [start, stop], [1, 8])
    _check_infer_shape(T.arange(start, stop, -3), [start, stop], [10, 0])


@pytest.mark.parametrize(
    "dtypes", [("int32",), ("int8",), ("uint8",), ("float32",), ("int16", "int32"), ("float32", "int64"), ("uint64",)]
)
def test_arange_dtype_of_symbolic_inputs_follows_numpy(dtypes):
    args = [T.scalar(dtype=d) for d in dtypes]
    ref = np.arange(*[np.array(1, dtype=d) for d in dtypes]).dtype
    assert T.arange(*args).dtype == ref.name


def test_arange_under_floatx_float32_keeps_float32_unless_an_input_is_float64():
    with theano.config.change_flags(floatX="float32"):
        assert T.arange(T.fscalar()).dtype == "float32"
        assert T.arange(0.0, 1.0, 0.25).dtype == "float32"
        assert T.arange(T.iscalar(), 0.5).dtype == "float32"
        assert T.arange(T.fscalar(), T.dscalar()).dtype == "float64"
        assert T.arange(T.iscalar()).dtype == "int64"
    assert T.arange(5, dtype="float32").eval().dtype == np.float32


def test_arange_rejects_bool_bounds():
    with pytest.raises(TypeError, match="not bool"):
        T.arange(T.scalar(dtype="bool"))


def test_arange_grad_of_float_start_and_step():
    def f(start, step):
        return T.arange(start, start + 2.0, step)

    verify_grad(f, [np.array(0.3), np.array(0.45)])


def test_arange_rejects_zero_step_and_non_scalars():
    with pytest.raises(ValueError, match="step must not be zero"):
        T.arange(0, 5, 0)
    s = T.lscalar("s")
    f = theano.function([s], T.arange(0, 5, s))
    with pytest.raises(ValueError, match="step must not be zero"):
        f(0)
    with pytest.raises(TypeError, match="must be a scalar"):
        T.arange(T.lvector())


# ------------------------------------------------------- eye / tri / tril
@pytest.mark.parametrize("n, m, k", [(3, None, 0), (2, 4, 1), (4, 2, -1), (3, 3, 5)])
def test_eye_and_tri_match_numpy(n, m, k):
    np.testing.assert_array_equal(T.eye(n, m, k).eval(), np.eye(n, m, k))
    np.testing.assert_array_equal(T.tri(n, m, k, dtype="int32").eval(), np.tri(n, m, k, dtype="int32"))
    assert T.eye(n, m, k).dtype == theano.config.floatX


def test_eye_with_symbolic_sizes_and_offset():
    n, k = T.lscalars("n", "k")
    out = T.eye(n, 3, k, dtype="int8")
    assert out.type.shape == (None, 3)
    res = _run([n, k], out, 2, -1)
    np.testing.assert_array_equal(res, np.eye(2, 3, -1, dtype="int8"))
    assert res.dtype == np.int8
    _check_infer_shape(out, [n, k], [2, -1])


def test_identity_like_takes_shape_and_dtype_of_x():
    x = T.fmatrix("x")
    res = _run([x], T.identity_like(x), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(res, np.eye(2, 3))
    assert res.dtype == np.float32
    with pytest.raises(TypeError, match="matrix"):
        T.identity_like(T.vector())


@pytest.mark.parametrize("fn, ref", [(T.tril, np.tril), (T.triu, np.triu)])
@pytest.mark.parametrize("k", [0, 1, -1])
def test_tril_triu_match_numpy_on_matrices_and_batches(fn, ref, k):
    x = T.dtensor3("x")
    val = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(_run([x], fn(x, k), val), ref(val, k))
    m = T.imatrix("m")
    ival = RNG.integers(-5, 5, size=(4, 3)).astype(np.int32)
    res = _run([m], fn(m, k), ival)
    np.testing.assert_array_equal(res, ref(ival, k))
    assert res.dtype == np.int32


def test_tril_keeps_inf_out_of_the_zeroed_part():
    x = T.dmatrix("x")
    val = np.array([[1.0, np.inf], [2.0, 3.0]])
    np.testing.assert_array_equal(_run([x], T.tril(x), val), np.tril(val))


@pytest.mark.parametrize("fn", [T.tril, T.triu])
def test_tril_triu_grad(fn):
    verify_grad(lambda x: fn(x, 1), [RNG.normal(size=(3, 4))])


def test_tril_rejects_vectors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        T.tril(T.dvector())


# ------------------------------------------------------------------- out of memory
@pytest.mark.parametrize("linker", ["py", "c"])
def test_petabyte_alloc_and_repeat_raise_memory_error_with_shape_and_bytes(linker):
    # users catch MemoryError; a RuntimeError("MemoryError: ...") would slip past them
    x, n = T.dvector("x"), T.lscalar("n")
    mode = theano.Mode(linker=linker)
    cases = [
        (T.alloc(0.0, n, n), [10**8], r"80000000000000000 bytes \(71\.1 PiB\) for an array of shape "
                                      r"\(100000000, 100000000\) and dtype float64"),
        (T.repeat(x, n), [[1.0, 2.0], 10**16], r"160000000000000000 bytes \(142\.1 PiB\) for an array of shape "
                                               r"\(20000000000000000,\)"),
    ]
    for out, values, message in cases:
        f = theano.function([x, n] if len(values) == 2 else [n], out, mode=mode)
        with pytest.raises(MemoryError, match=message) as info:
            f(*values)
        assert type(info.value) is MemoryError and "Apply node that caused the error" in str(info.value)
