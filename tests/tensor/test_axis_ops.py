"""Ops along one axis (cumsum, cumprod, diff, flip, roll) against NumPy, with gradients."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import check_infer_shape as _check_infer_shape
from nettrain.testing import verify_grad

RNG = np.random.default_rng(3)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


# ---------------------------------------------------------- cumsum/cumprod
@pytest.mark.parametrize("fn, ref", [(T.cumsum, np.cumsum), (T.cumprod, np.cumprod)])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumsum_cumprod_match_numpy(fn, ref, axis):
    x = T.dtensor3("x")
    val = RNG.uniform(0.5, 1.5, size=(2, 3, 4))
    out = fn(x, axis=axis)
    np.testing.assert_allclose(_run([x], out, val), ref(val, axis=axis))
    _check_infer_shape(out, [x], [val])


@pytest.mark.parametrize("dtype", ["int8", "bool", "uint8", "float32"])
def test_cumsum_cumprod_dtypes_follow_numpy(dtype):
    x = T.vector("x", dtype=dtype)
    val = np.array([1, 0, 1, 1], dtype=dtype)
    for fn, ref in [(T.cumsum, np.cumsum), (T.cumprod, np.cumprod)]:
        res = _run([x], fn(x), val)
        np.testing.assert_array_equal(res, ref(val))
        assert res.dtype == ref(val).dtype


def test_cumsum_as_a_method_and_static_shape_when_flattened():
    x = T.TensorType("float64", (2, 3))("x")
    assert x.cumsum().type.shape == (6,)
    assert T.cumsum(x, axis=0).type.shape == (2, 3)


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_cumsum_grad(axis):
    verify_grad(lambda x: T.cumsum(x, axis=axis), [RNG.normal(size=(3, 4))])


@pytest.mark.parametrize("axis", [None, 1])
def test_cumprod_grad_away_from_zero(axis):
    verify_grad(lambda x: T.cumprod(x, axis=axis), [RNG.uniform(0.5, 2.0, size=(3, 4)) * [1, -1, 1, -1]])


def test_cumsum_rejects_bad_axis():
    with pytest.raises(ValueError, match="out of range"):
        T.cumsum(T.dmatrix(), axis=2)


# --------------------------------------------------------------------- diff
@pytest.mark.parametrize("n, axis", [(1, -1), (2, -1), (1, 0), (3, 1), (5, 1), (0, 0)])
def test_diff_matches_numpy(n, axis):
    x = T.dmatrix("x")
    val = RNG.normal(size=(3, 4))
    out = T.diff(x, n, axis)
    np.testing.assert_allclose(_run([x], out, val), np.diff(val, n, axis))
    if n:
        _check_infer_shape(out, [x], [val])


def test_diff_keeps_integer_and_bool_dtypes():
    x = T.ivector("x")
    res = _run([x], T.diff(x), np.array([1, 4, 9], np.int32))
    np.testing.assert_array_equal(res, [3, 5])
    assert res.dtype == np.int32


@pytest.mark.parametrize("n, axis", [(1, -1), (2, 0), (2, 1), (4, 1)])
def test_diff_grad(n, axis):
    verify_grad(lambda x: T.diff(x, n, axis), [RNG.normal(size=(3, 4))])


def test_diff_rejects_scalars_and_negative_order():
    with pytest.raises(ValueError, match="at least a 1-d"):
        T.diff(T.dscalar())
    with pytest.raises(ValueError, match="non-negative"):
        T.diff(T.dvector(), -1)


# --------------------------------------------------------------------- flip
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
def test_flip_matches_numpy_and_its_grad(axis):
    x = T.dmatrix("x")
    val = RNG.normal(size=(2, 3))
    np.testing.assert_array_equal(_run([x], T.flip(x, axis), val), np.flip(val, axis))
    verify_grad(lambda x: T.flip(x, axis), [val])


# --------------------------------------------------------------------- roll
@pytest.mark.parametrize("shift, axis", [(1, None), (-2, None), (1, 0), (5, 1), (-1, -1), (0, 0)])
def test_roll_matches_numpy(shift, axis):
    x = T.dmatrix("x")
    val = RNG.normal(size=(2, 3))
    np.testing.assert_array_equal(_run([x], T.roll(x, shift, axis), val), np.roll(val, shift, axis))


def test_roll_with_a_symbolic_shift_and_its_grad():
    x = T.dvector("x")
    s = T.iscalar("s")
    val = np.arange(5.0)
    np.testing.assert_array_equal(_run([x, s], T.roll(x, s), val, -7), np.roll(val, -7))
    verify_grad(lambda x: T.roll(x, 2, axis=1), [RNG.normal(size=(2, 3))])
    verify_grad(lambda x: T.roll(x, -1), [RNG.normal(size=(2, 3))])


def test_roll_rejects_float_shift_and_bad_axis():
    with pytest.raises(TypeError, match="integers"):
        T.roll(T.dvector(), 1.5)
    with pytest.raises(ValueError, match="out of range"):
        T.roll(T.dvector(), 1, axis=1)


def test_second_order_grads_of_diff_and_cumsum():
    verify_grad(lambda x: T.grad((T.diff(x, 2) ** 2).sum(), x), [RNG.normal(size=(5,))])
    verify_grad(lambda x: T.grad((T.cumsum(x) ** 2).sum(), x), [RNG.normal(size=(4,))])
