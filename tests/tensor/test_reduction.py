"""Reductions (sum, prod, max, min, all, any, argmax, argmin, mean, var, std) against NumPy."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import verify_grad

RNG = np.random.default_rng(3)
A = RNG.uniform(-1.0, 1.0, (2, 3, 4))
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2), ()]
AXIS_IDS = ["None", "0", "1", "-1", "(0,2)", "(-1,0)", "all", "()"]

REDUCTIONS = [
    ("sum", T.sum, np.sum), ("prod", T.prod, np.prod), ("max", T.max, np.max), ("min", T.min, np.min),
    ("mean", T.mean, np.mean), ("var", T.var, np.var), ("std", T.std, np.std),
    ("all", T.all, np.all), ("any", T.any, np.any),
]  # fmt: skip


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


@pytest.mark.parametrize("name,fn,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", AXES, ids=AXIS_IDS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_matches_numpy(name, fn, ref, axis, keepdims):
    x = T.dtensor3("x")
    av = A > 0 if name in ("all", "any") else A
    if name in ("all", "any"):
        x = T.tensor("bool", (False, False, False), "x")
    out = fn(x, axis=axis, keepdims=keepdims)
    res = _run([x], out, av)
    expected = ref(av, axis=axis, keepdims=keepdims)
    assert res.shape == np.shape(expected)
    assert out.type.ndim == np.ndim(expected)
    assert res.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(res, expected, rtol=1e-12)


@pytest.mark.parametrize("name,fn", [("sum", T.sum), ("prod", T.prod), ("max", T.max), ("min", T.min),
                                     ("mean", T.mean), ("var", T.var), ("std", T.std)])  # fmt: skip
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), (-1, True), ((0, 2), False), ((0, 1), True)])
def test_reduction_gradient_matches_finite_differences(name, fn, axis, keepdims):
    verify_grad(lambda v: fn(v, axis=axis, keepdims=keepdims), [A])


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "bool", "float32"])
def test_sum_and_prod_accumulate_like_numpy(dtype):
    av = RNG.integers(0, 4, (3, 5)).astype(dtype)
    x = T.matrix("x", dtype=dtype)
    for fn, ref in ((T.sum, np.sum), (T.prod, np.prod)):
        res = _run([x], fn(x, axis=0), av)
        expected = ref(av, axis=0)
        assert res.dtype == expected.dtype
        np.testing.assert_array_equal(res, expected)


def test_reduction_dtype_argument():
    x = T.bmatrix("x")
    xv = np.full((4, 50), 3, "int8")
    assert T.sum(x, dtype="int8").dtype == "int8"
    np.testing.assert_array_equal(_run([x], T.sum(x, axis=1, dtype="int16"), xv), np.sum(xv, axis=1, dtype="int16"))
    f = T.fmatrix("f")
    res = _run([f], [T.sum(f, dtype="float64"), T.mean(f, dtype="float64")], np.ones((2, 2), "float32"))
    assert [r.dtype for r in res] == [np.float64, np.float64]
    assert x.sum(dtype="float32").dtype == "float32"


def test_mean_var_std_of_integers_are_float64_and_of_float32_stay_float32():
    i = T.imatrix("i")
    iv = np.arange(6, dtype="int32").reshape(2, 3)
    res = _run([i], [T.mean(i, axis=0), T.var(i), T.std(i, axis=1)], iv)
    assert [r.dtype for r in res] == [np.float64] * 3
    np.testing.assert_allclose(res[0], iv.mean(0))
    np.testing.assert_allclose(res[1], iv.var())
    np.testing.assert_allclose(res[2], iv.std(1))
    f = T.fmatrix("f")
    fv = RNG.normal(size=(3, 4)).astype("float32")
    res = _run([f], [T.mean(f), T.var(f, axis=0), T.std(f, axis=1, keepdims=True)], fv)
    assert [r.dtype for r in res] == [np.float32] * 3
    np.testing.assert_allclose(res[2], fv.std(1, keepdims=True), rtol=1e-5)


def test_var_and_std_with_ddof():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(4, 3))
    res = _run([x], [T.var(x, axis=0, ddof=1), T.std(x, ddof=1)], xv)
    np.testing.assert_allclose(res[0], xv.var(0, ddof=1))
    np.testing.assert_allclose(res[1], xv.std(ddof=1))
    verify_grad(lambda v: T.var(v, axis=1, ddof=1), [xv])


def test_prod_gradient_is_exact_with_zeros_in_the_input():
    x = T.dmatrix("x")
    xv = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0], [5.0, 0.0, 0.5]])
    g = _run([x], T.grad(T.prod(x, axis=1).sum(), x), xv)
    expected = np.array([[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 2.0], [0.0, 2.5, 0.0]])
    np.testing.assert_array_equal(g, expected)
    g_all = _run([x], T.grad(T.prod(x), x), np.array([[1.0, 0.0], [2.0, 3.0]]))
    np.testing.assert_array_equal(g_all, [[0.0, 6.0], [0.0, 0.0]])
    verify_grad(lambda v: T.prod(v, axis=0, keepdims=True), [xv])  # single zeros per column: finite


def test_max_gradient_goes_to_every_maximal_element():
    x = T.dmatrix("x")
    g = _run([x], T.grad(T.max(x, axis=1).sum(), x), np.array([[1.0, 3.0, 3.0], [5.0, 4.0, 0.0]]))
    np.testing.assert_array_equal(g, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    g = _run([x], T.grad(T.min(x), x), np.array([[1.0, -3.0], [2.0, 0.0]]))
    np.testing.assert_array_equal(g, [[0.0, 1.0], [0.0, 0.0]])


def test_max_min_of_integers_keep_their_dtype():
    i = T.imatrix("i")
    iv = np.array([[3, -1], [2, 7]], "int32")
    res = _run([i], [T.max(i, axis=0), T.min(i)], iv)
    assert res[0].dtype == np.int32 and res[1].dtype == np.int32
    np.testing.assert_array_equal(res[0], [3, 7])
    assert int(res[1]) == -1


def test_all_any_of_numbers_test_non_zero():
    x = T.dmatrix("x")
    xv = np.array([[0.0, 1.0], [2.0, 3.0]])
    res = _run([x], [T.all(x, axis=0), T.any(x, axis=1), T.all(x), T.any(x)], xv)
    np.testing.assert_array_equal(res[0], [False, True])
    np.testing.assert_array_equal(res[1], [True, True])
    assert res[2].dtype == bool and not res[2] and res[3]


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1, 2)], ids=["None", "0", "1", "-1", "all"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin_match_numpy(name, axis, keepdims):
    x = T.dtensor3("x")
    out = getattr(T, name)(x, axis=axis, keepdims=keepdims)
    res = _run([x], out, A)
    np_axis = None if axis == (0, 1, 2) else axis
    expected = getattr(np, name)(A, axis=np_axis, keepdims=keepdims)
    assert res.dtype == np.int64
    np.testing.assert_array_equal(res, expected)


def test_max_and_argmax_returns_both_and_argmax_does_not_block_gradients():
    x = T.dmatrix("x")
    m, a = T.max_and_argmax(x, axis=0)
    res = _run([x], [m, a], np.array([[1.0, 5.0], [3.0, 2.0]]))
    np.testing.assert_array_equal(res[0], [3.0, 5.0])
    np.testing.assert_array_equal(res[1], [1, 0])
    cost = (T.cast(T.argmax(x, axis=1), "float64") * x).sum()
    g = _run([x], T.grad(cost, x), np.array([[1.0, 5.0], [3.0, 2.0]]))
    np.testing.assert_array_equal(g, [[1.0, 0.0], [1.0, 0.0]])  # argmax [1, 0] broadcast as a row


def test_reductions_of_a_0d_tensor_and_empty_axes():
    s = T.dscalar("s")
    assert float(_run([s], T.sum(s), 2.5)) == 2.5
    assert float(_run([s], T.max(s, axis=0), 2.5)) == 2.5
    x = T.dmatrix("x")
    res = _run([x], T.sum(x, axis=()), A[0])
    np.testing.assert_array_equal(res, A[0])


def test_sum_of_empty_array_is_zero_and_max_of_empty_raises():
    x = T.dmatrix("x")
    assert float(_run([x], T.sum(x), np.zeros((0, 3)))) == 0.0
    f = theano.function([x], T.max(x, axis=0))
    with pytest.raises(ValueError, match="empty dimension has no identity"):
        f(np.zeros((0, 3)))


def test_bad_axes_raise_value_error():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="axis 2 is out of range for a 2-d tensor"):
        T.sum(x, axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        T.max(x, axis=-3)
    with pytest.raises(ValueError, match="repeated axis"):
        T.sum(x, axis=(1, -1))
    with pytest.raises(ValueError, match="several"):
        T.argmax(T.dtensor3(), axis=(0, 1))


def test_reduction_methods_on_variables():
    x = T.dmatrix("x")
    xv = A[0]
    outs = [x.sum(axis=0), x.prod(), x.max(axis=1, keepdims=True), x.min(), x.mean(axis=-1),
            x.var(), x.std(axis=0), x.argmax(axis=1), x.argmin(), x.norm(1), x.norm(2, axis=0)]  # fmt: skip
    expected = [xv.sum(0), xv.prod(), xv.max(1, keepdims=True), xv.min(), xv.mean(-1), xv.var(), xv.std(0),
                xv.argmax(1), xv.argmin(), np.abs(xv).sum(), np.sqrt((xv**2).sum(0))]  # fmt: skip
    for r, e in zip(_run([x], outs, xv), expected):
        np.testing.assert_allclose(r, e)


def test_reduction_of_broadcastable_dims_keeps_static_shape():
    x = T.TensorType("float64", (None, 1, 3))("x")
    assert T.sum(x, axis=0).type.shape == (1, 3)
    assert T.max(x, axis=1, keepdims=True).type.shape == (None, 1, 3)
    verify_grad(lambda v: T.sum(v.dimshuffle(0, "x", 1), axis=1) * 2, [A[0]])


@pytest.mark.parametrize("fn", [T.max, T.min, T.sum, T.all, T.any])
def test_reduction_over_no_axis_returns_a_copy_not_the_input(fn):
    x = T.dvector("x")
    f = theano.function([x], fn(x, axis=()), mode=theano.Mode(optimizer=None))
    xv = np.array([1.0, 0.0])
    res = f(xv)
    assert not np.shares_memory(res, xv)
