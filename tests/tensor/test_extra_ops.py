"""T.extra_ops (tile, repeat, broadcast_to, fill_diagonal, bincount, unique, to_one_hot) against NumPy."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.tensor import extra_ops
from nettrain.testing import check_infer_shape as _check_infer_shape
from nettrain.testing import verify_grad

RNG = np.random.default_rng(11)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


def test_extra_ops_module_has_theanos_names():
    for name in ("cumsum", "cumprod", "diff", "repeat", "bincount", "squeeze", "fill_diagonal", "to_one_hot"):
        assert callable(getattr(extra_ops, name))


# --------------------------------------------------------------------- tile
@pytest.mark.parametrize(
    "shape, reps", [((3,), (2,)), ((3,), (2, 2)), ((2, 3), (2,)), ((2, 3), (1, 3)), ((2, 1), (0, 2))]
)
def test_tile_matches_numpy_with_constant_reps(shape, reps):
    x = T.TensorType("float64", (None,) * len(shape))("x")
    val = RNG.normal(size=shape)
    out = T.tile(x, reps)
    np.testing.assert_array_equal(_run([x], out, val), np.tile(val, reps))
    assert out.type.ndim == max(len(shape), len(reps))


def test_tile_with_symbolic_reps_and_ndim():
    x = T.dmatrix("x")
    n = T.lscalar("n")
    val = RNG.normal(size=(2, 3))
    np.testing.assert_array_equal(_run([x, n], T.tile(x, [n, 2]), val, 3), np.tile(val, (3, 2)))
    r = T.lvector("r")
    np.testing.assert_array_equal(_run([x, r], T.tile(x, r, ndim=3), val, [2, 1, 2]), np.tile(val, (2, 1, 2)))


def test_tile_static_shape_is_known_for_static_input_and_constant_reps():
    x = T.TensorType("float64", (2, 3))("x")
    assert T.tile(x, (2, 1)).type.shape == (4, 3)


def test_tile_grad_sums_the_copies():
    verify_grad(lambda x: T.tile(x, (2, 3)), [RNG.normal(size=(2, 2))])
    verify_grad(lambda x: T.tile(x, (2, 1, 2)), [RNG.normal(size=(3,))])


def test_tile_rejects_bad_reps_and_ndim():
    with pytest.raises(TypeError, match="integers"):
        T.tile(T.dvector(), (1.5,))
    with pytest.raises(ValueError, match="ndim"):
        T.tile(T.dmatrix(), (2,), ndim=1)


# ------------------------------------------------------------------- repeat
@pytest.mark.parametrize("repeats, axis", [(2, None), (3, 0), (2, 1), (2, -1), ([1, 0, 2], 1), ([2, 1], 0), (0, 0)])
def test_repeat_matches_numpy(repeats, axis):
    x = T.dmatrix("x")
    val = RNG.normal(size=(2, 3))
    res = _run([x], T.repeat(x, repeats, axis=axis), val)
    np.testing.assert_array_equal(res, np.repeat(val, repeats, axis=axis))


def test_repeat_with_symbolic_repeats_and_as_a_method():
    x = T.dvector("x")
    r = T.lvector("r")
    val = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(_run([x, r], x.repeat(r), val, [0, 2, 1]), np.repeat(val, [0, 2, 1]))
    out = T.repeat(x, r, axis=0)
    _check_infer_shape(out, [x, r], [val, [0, 2, 1]])
    k = T.iscalar("k")
    _check_infer_shape(T.repeat(x, k), [x, k], [val, 2])


def test_repeat_static_shape_from_constant_repeats():
    x = T.TensorType("float64", (3, None))("x")
    assert T.repeat(x, 2, axis=0).type.shape == (6, None)
    assert T.repeat(x, [1, 2, 0], axis=0).type.shape == (3, None)


@pytest.mark.parametrize("repeats, axis", [(2, 0), (3, None), ([2, 0, 1], 1), ([1, 3], -2)])
def test_repeat_grad_sums_each_run(repeats, axis):
    verify_grad(lambda x: T.repeat(x, repeats, axis=axis), [RNG.normal(size=(2, 3))])


def test_repeat_second_order_grad():
    x = T.dvector("x")
    y = (T.repeat(x, [1, 2, 0]) ** 2).sum()
    g = T.grad(y, x)
    h = T.grad((g * T.constant(np.array([1.0, 2.0, 3.0]))).sum(), x)
    val = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(_run([x], h, val), 2 * np.array([1, 2, 0]) * [1.0, 2.0, 3.0])


def test_repeat_rejects_bad_repeats():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="integers"):
        T.repeat(x, 1.5)
    with pytest.raises(TypeError, match="scalar or a vector"):
        T.repeat(x, np.ones((2, 2), int))
    with pytest.raises(ValueError, match="out of range"):
        T.repeat(x, 2, axis=1)
    with pytest.raises(ValueError, match="negative"):
        T.repeat(x, -1)
    r = T.lvector("r")
    f = theano.function([x, r], T.repeat(x, r))
    with pytest.raises(ValueError, match="2 repeats for axis 0 of length 3"):
        f(np.ones(3), [1, 2])
    with pytest.raises(ValueError, match="negative"):
        f(np.ones(2), [1, -2])


# ------------------------------------------------------------- broadcast_to
def test_broadcast_to_matches_numpy_and_has_static_shape():
    x = T.TensorType("float64", (1, None))("x")
    n = T.lscalar("n")
    val = RNG.normal(size=(1, 3))
    out = T.broadcast_to(x, (n, 3))
    assert out.type.shape == (None, 3)
    np.testing.assert_array_equal(_run([x, n], out, val, 4), np.broadcast_to(val, (4, 3)))
    np.testing.assert_array_equal(T.broadcast_to(2.0, [2]).eval(), [2.0, 2.0])


def test_broadcast_to_grad():
    verify_grad(lambda x: T.broadcast_to(T.addbroadcast(x, 1), (2, 3, 4)), [RNG.normal(size=(3, 1))])


# ------------------------------------------------------------ fill_diagonal
@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_fill_diagonal_matches_numpy_and_leaves_input_unchanged(shape):
    a = T.dmatrix("a")
    val = RNG.normal(size=shape)
    before = val.copy()
    ref = val.copy()
    np.fill_diagonal(ref, 5.0)
    np.testing.assert_array_equal(_run([a], T.fill_diagonal(a, 5.0), val), ref)
    np.testing.assert_array_equal(val, before)


def test_fill_diagonal_of_a_cube():
    a = T.dtensor3("a")
    val = RNG.normal(size=(2, 2, 2))
    ref = val.copy()
    np.fill_diagonal(ref, -1.0)
    np.testing.assert_array_equal(_run([a], T.fill_diagonal(a, -1.0), val), ref)
    with pytest.raises(ValueError, match="must be equal"):
        _run([a], T.fill_diagonal(a, -1.0), np.ones((2, 3, 2)))


@pytest.mark.parametrize("offset", [0, 1, -1, 3, -4])
def test_fill_diagonal_offset_matches_a_numpy_mask(offset):
    a = T.dmatrix("a")
    val = RNG.normal(size=(3, 4))
    ref = np.where(np.eye(3, 4, offset, dtype=bool), 9.0, val)
    np.testing.assert_array_equal(_run([a], T.fill_diagonal_offset(a, 9.0, offset), val), ref)


def test_fill_diagonal_grad_wrt_array_and_value():
    verify_grad(lambda a, v: T.fill_diagonal(a, v), [RNG.normal(size=(3, 4)), np.array(0.7)])
    verify_grad(lambda a, v: T.fill_diagonal_offset(a, v, 1), [RNG.normal(size=(3, 3)), np.array(0.7)])


def test_fill_diagonal_rejects_bad_inputs():
    with pytest.raises(TypeError, match="at least 2 dimensions"):
        T.fill_diagonal(T.dvector(), 1.0)
    with pytest.raises(TypeError, match="scalar"):
        T.fill_diagonal(T.dmatrix(), T.dvector())
    with pytest.raises(TypeError, match="cannot put a float64 value into a int32"):
        T.fill_diagonal(T.imatrix(), T.dscalar())


# ----------------------------------------------------------------- bincount
def test_bincount_matches_numpy_with_weights_and_minlength():
    x = T.lvector("x")
    w = T.dvector("w")
    xv = np.array([0, 3, 3, 1])
    wv = np.array([0.5, 1.0, 2.0, -1.0])
    res = _run([x], T.bincount(x), xv)
    np.testing.assert_array_equal(res, np.bincount(xv))
    assert res.dtype == np.int64
    np.testing.assert_array_equal(_run([x, w], T.bincount(x, w, minlength=6), xv, wv), np.bincount(xv, wv, 6))


def test_bincount_rejects_negative_values_and_float_input():
    x = T.ivector("x")
    f = theano.function([x], T.bincount(x))
    with pytest.raises(ValueError, match="non-negative"):
        f(np.array([1, -1], np.int32))
    with pytest.raises(TypeError, match="integers"):
        T.bincount(T.dvector())


# ------------------------------------------------------------------- unique
def test_unique_with_all_outputs_matches_numpy():
    x = T.lvector("x")
    val = np.array([3, 1, 3, 2, 1])
    outs = T.unique(x, return_index=True, return_inverse=True, return_counts=True)
    res = _run([x], outs, val)
    for r, ref in zip(res, np.unique(val, True, True, True)):
        np.testing.assert_array_equal(r, ref)


def test_unique_of_a_matrix_flattens_or_works_along_axis():
    x = T.imatrix("x")
    val = np.array([[1, 2], [1, 2], [0, 5]], np.int32)
    np.testing.assert_array_equal(_run([x], T.unique(x), val), np.unique(val))
    np.testing.assert_array_equal(_run([x], T.unique(x, axis=0), val), np.unique(val, axis=0))


# --------------------------------------------------------------- to_one_hot
def test_to_one_hot_rows():
    y = T.lvector("y")
    res = _run([y], T.to_one_hot(y, 4), [3, 0, 1])
    np.testing.assert_array_equal(res, np.eye(4)[[3, 0, 1]])
    assert res.dtype == theano.config.floatX
    assert T.to_one_hot(y, 4, dtype="int32").dtype == "int32"
    with pytest.raises(TypeError, match="vector of integers"):
        T.to_one_hot(T.dvector(), 3)


def test_bincount_nodes_can_be_cloned_with_new_inputs():
    # clone_with_new_inputs calls make_node with the node's inputs (givens and DebugMode rebuild graphs so)
    x, w = T.lvector("x"), T.dvector("w")
    x2 = T.lvector("x2")
    from nettrain.graph.basic import clone_replace

    out = clone_replace(T.bincount(x, w, minlength=4), {x: x2})
    f = theano.function([x2, w], out)
    np.testing.assert_array_equal(f(np.array([0, 2, 2]), np.array([1.0, 2.0, 3.0])), [1.0, 0.0, 5.0, 0.0])
