"""sort and argsort against NumPy, with the gradient of sort."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import verify_grad

RNG = np.random.default_rng(5)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
def test_sort_and_argsort_match_numpy(axis):
    x = T.dmatrix("x")
    val = RNG.normal(size=(3, 4))
    s, a = _run([x], [T.sort(x, axis), T.argsort(x, axis)], val)
    np.testing.assert_array_equal(s, np.sort(val, axis))
    np.testing.assert_array_equal(a, np.argsort(val, axis))
    assert a.dtype == np.int64


def test_sort_methods_keep_dtype_and_shape():
    x = T.ivector("x")
    val = np.array([3, -1, 2], np.int32)
    s, a = _run([x], [x.sort(), x.argsort()], val)
    np.testing.assert_array_equal(s, [-1, 2, 3])
    assert s.dtype == np.int32
    np.testing.assert_array_equal(a, [1, 2, 0])
    m = T.TensorType("float32", (2, None))("m")
    assert T.sort(m).type.shape == (2, None)
    assert T.sort(m, axis=None).type.ndim == 1


def test_argsort_stable_kind_keeps_order_of_ties():
    x = T.dvector("x")
    val = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_run([x], T.argsort(x, kind="stable"), val), np.argsort(val, kind="stable"))


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort_grad_scatters_back_through_the_permutation(axis):
    verify_grad(lambda x: T.sort(x, axis), [RNG.normal(size=(3, 4))])


def test_sort_grad_is_the_inverse_permutation_of_the_output_grad():
    x = T.dvector("x")
    w = np.array([10.0, 20.0, 30.0])
    g = T.grad((T.sort(x) * T.constant(w)).sum(), x)
    np.testing.assert_array_equal(_run([x], g, np.array([2.0, 3.0, 1.0])), [20.0, 30.0, 10.0])


def test_sort_second_order_grad():
    x = T.dvector("x")
    w = T.constant(np.array([1.0, 2.0, 3.0]))
    g = T.grad((T.sort(x) ** 2 * w).sum(), x)
    h = T.grad(g.sum(), x)
    # d/dx_i of 2 * w[rank_i] * x_i = 2 * w[rank_i]
    np.testing.assert_allclose(_run([x], h, np.array([0.5, -1.0, 2.0])), [4.0, 2.0, 6.0])


def test_argsort_has_no_gradient_path():
    x = T.dvector("x")
    g = T.grad(T.cast(T.argsort(x), "float64").sum() + x.sum(), x)
    np.testing.assert_array_equal(_run([x], g, np.array([3.0, 1.0])), [1.0, 1.0])


def test_sort_rejects_bad_axis_kind_and_order():
    with pytest.raises(ValueError, match="out of range"):
        T.sort(T.dvector(), axis=1)
    with pytest.raises(ValueError, match="0-d"):
        T.argsort(T.dscalar(), axis=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        T.sort(T.dvector(), kind="bogo")
    with pytest.raises(ValueError, match="order"):
        T.sort(T.dvector(), order="f")
