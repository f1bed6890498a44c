"""Shape ops (shape, shape_i, specify_shape, reshape, flatten, squeeze, expand_dims, broadcast patterns)."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import check_infer_shape as _check_infer_shape
from nettrain.testing import verify_grad

RNG = np.random.default_rng(17)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


# ------------------------------------------------------------ shape/shape_i
def test_shape_is_an_int64_vector_of_known_length():
    x = T.dtensor3("x")
    assert x.shape.type.shape == (3,) and x.shape.dtype == "int64"
    res = _run([x], x.shape, np.zeros((2, 3, 4)))
    np.testing.assert_array_equal(res, [2, 3, 4])
    assert res.dtype == np.int64


def test_shape_i_accepts_negative_indices_and_is_constant_when_static():
    x = T.dmatrix("x")
    np.testing.assert_array_equal(_run([x], [T.shape_i(x, 0), T.shape_i(x, -1)], np.zeros((2, 5))), [2, 5])
    c = T.TensorType("float64", (None, 7))("c")
    assert isinstance(T.shape_i(c, 1), T.TensorConstant) and int(T.shape_i(c, 1).data) == 7


def test_shape_has_no_gradient_path_to_x():
    x = T.dvector("x")
    g = T.grad(T.cast(x.shape[0], "float64") * x.sum(), x)
    np.testing.assert_array_equal(_run([x], g, np.ones(3)), [3.0, 3.0, 3.0])


# -------------------------------------------------------------- specify_shape
def test_specify_shape_sets_static_shape_and_checks_at_run_time():
    x = T.dmatrix("x")
    y = T.specify_shape(x, (2, None))
    assert y.type.shape == (2, None)
    f = theano.function([x], y * 2)
    np.testing.assert_array_equal(f(np.ones((2, 5))), np.full((2, 5), 2.0))
    with pytest.raises(ValueError, match=r"specify_shape: expected shape \(2, \?\), got \(3, 5\)"):
        f(np.ones((3, 5)))


def test_specify_shape_grad_passes_through():
    verify_grad(lambda x: T.specify_shape(x, (2, 3)) * 3.0, [RNG.normal(size=(2, 3))])


def test_specify_shape_rejects_wrong_length_conflicts_and_symbolic_entries():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="2 dimensions, not 1"):
        T.specify_shape(x, (None,))
    with pytest.raises(ValueError, match="static shape"):
        T.specify_shape(T.TensorType("float64", (2, 3))(), (3, 3))
    with pytest.raises(TypeError, match="not symbolic"):
        T.specify_shape(x, (T.lscalar(), 2))


# ------------------------------------------------------------------- reshape
@pytest.mark.parametrize("newshape", [(4, 6), (-1,), (2, -1, 3), (24, 1), (1, 2, 12), (-1, 4)])
def test_reshape_with_constant_shapes_matches_numpy(newshape):
    x = T.dtensor3("x")
    val = RNG.normal(size=(2, 3, 4))
    out = x.reshape(newshape)
    np.testing.assert_array_equal(_run([x], out, val), val.reshape(newshape))
    _check_infer_shape(out, [x], [val])


def test_reshape_with_symbolic_dims_keeps_the_constant_ones_static():
    x = T.dmatrix("x")
    n = T.lscalar("n")
    val = RNG.normal(size=(2, 6))
    out = T.reshape(x, (n, 3))
    assert out.type.shape == (None, 3)
    np.testing.assert_array_equal(_run([x, n], out, val, 4), val.reshape(4, 3))
    for shp in [(n, -1), (-1, n), (n, 3)]:
        _check_infer_shape(T.reshape(x, shp), [x, n], [val, 4])


def test_reshape_to_the_shape_of_another_tensor_and_with_a_shape_vector():
    x = T.dvector("x")
    y = T.dmatrix("y")
    val = np.arange(6.0)
    out = x.reshape(y.shape)
    assert out.type.ndim == 2
    np.testing.assert_array_equal(_run([x, y], out, val, np.zeros((3, 2))), val.reshape(3, 2))
    v = T.lvector("v")
    np.testing.assert_array_equal(_run([x, v], x.reshape(v, ndim=3), val, [1, 3, 2]), val.reshape(1, 3, 2))


def test_reshape_static_shape_infers_minus_one_from_static_input():
    c = T.TensorType("float64", (2, 3))("c")
    assert c.reshape((3, -1)).type.shape == (3, 2)
    assert c.reshape((-1,)).type.shape == (6,)


def test_reshape_grad():
    verify_grad(lambda x: x.reshape((3, -1)), [RNG.normal(size=(2, 3))])
    verify_grad(lambda x: x.reshape((x.shape[1], x.shape[0])), [RNG.normal(size=(2, 3))])


def test_reshape_wrong_total_size_raises_at_build_or_run_time():
    with pytest.raises(ValueError, match="cannot reshape a tensor of static shape"):
        T.TensorType("float64", (2, 3))().reshape((4, 2))
    x = T.dmatrix("x")
    f = theano.function([x], x.reshape((5, -1)))
    with pytest.raises(ValueError, match=r"cannot reshape an array of shape \(2, 3\) into shape \(5, -1\)"):
        f(np.zeros((2, 3)))


def test_reshape_rejects_bad_shapes():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="at most one -1"):
        x.reshape((-1, -1))
    with pytest.raises(ValueError, match="negative dimension"):
        x.reshape((-2, 3))
    with pytest.raises(TypeError, match="integers"):
        x.reshape((2.5, 3))
    with pytest.raises(TypeError, match="integers"):
        x.reshape(T.dvector(), ndim=2)
    with pytest.raises(ValueError, match="give ndim"):
        x.reshape(T.lvector())


# ------------------------------------------------------------------- flatten
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten_keeps_leading_dims(ndim):
    x = T.dtensor3("x")
    val = RNG.normal(size=(2, 3, 4))
    res = _run([x], T.flatten(x, ndim), val)
    np.testing.assert_array_equal(res, val.reshape(val.shape[: ndim - 1] + (-1,)))
    assert x.flatten(ndim).type.ndim == ndim


def test_flatten_static_shape_and_grad():
    c = T.TensorType("float64", (2, None, 3))("c")
    assert T.flatten(c, 2).type.shape == (2, None)
    assert T.flatten(T.TensorType("float64", (2, 3))()).type.shape == (6,)
    verify_grad(lambda x: T.flatten(x, 2), [RNG.normal(size=(2, 3, 2))])


def test_flatten_rejects_out_of_range_ndim():
    with pytest.raises(ValueError, match=r"ndim must be in \[1, 2\]"):
        T.flatten(T.dmatrix(), 3)


# ------------------------------------------------------ squeeze/expand_dims
def test_squeeze_drops_static_length_one_dims():
    x = T.TensorType("float64", (1, None, 1))("x")
    out = T.squeeze(x)
    assert out.type.ndim == 1
    val = RNG.normal(size=(1, 4, 1))
    np.testing.assert_array_equal(_run([x], out, val), np.squeeze(val))
    np.testing.assert_array_equal(_run([x], x.squeeze(axis=-1), val), np.squeeze(val, -1))


def test_squeeze_an_axis_not_known_to_be_one_checks_at_run_time():
    x = T.dmatrix("x")
    f = theano.function([x], T.squeeze(x, axis=0))
    np.testing.assert_array_equal(f(np.ones((1, 3))), np.ones(3))
    with pytest.raises(ValueError, match="expected shape"):
        f(np.ones((2, 3)))
    verify_grad(lambda x: T.squeeze(x, axis=1), [RNG.normal(size=(3, 1))])


@pytest.mark.parametrize("axis", [0, 1, 2, -1, (0, 2), (0, -1)])
def test_expand_dims_matches_numpy(axis):
    x = T.dmatrix("x")
    val = RNG.normal(size=(2, 3))
    out = T.expand_dims(x, axis)
    res = _run([x], out, val)
    np.testing.assert_array_equal(res, np.expand_dims(val, axis))
    assert out.type.broadcastable == tuple(s == 1 for s in res.shape)


def test_squeeze_and_expand_dims_reject_out_of_range_axes():
    with pytest.raises(ValueError, match="out of range"):
        T.expand_dims(T.dvector(), 2)
    with pytest.raises(ValueError, match="out of range"):
        T.squeeze(T.row(), axis=2)
    with pytest.raises(ValueError, match="repeated axis"):
        T.expand_dims(T.dvector(), (0, 0))


# ----------------------------------------------- addbroadcast/unbroadcast/...
def test_addbroadcast_declares_length_one_and_checks_at_run_time():
    x = T.dmatrix("x")
    y = T.addbroadcast(x, 0)
    assert y.broadcastable == (True, False)
    f = theano.function([x], y * 1.0)
    np.testing.assert_array_equal(f(np.ones((1, 3))), np.ones((1, 3)))
    with pytest.raises(ValueError, match="expected shape"):
        f(np.ones((2, 3)))


def test_addbroadcast_lets_a_column_broadcast_in_elementwise_ops():
    x = T.dmatrix("x")
    m = T.dmatrix("m")
    out = m + T.addbroadcast(x, 1)
    np.testing.assert_array_equal(_run([x, m], out, np.ones((2, 1)), np.zeros((2, 3))), np.ones((2, 3)))
    verify_grad(lambda x, m: m * T.addbroadcast(x, 1), [RNG.normal(size=(2, 1)), RNG.normal(size=(2, 3))])


def test_unbroadcast_forgets_length_one():
    r = T.row("r", dtype="float64")
    u = T.unbroadcast(r, 0)
    assert u.broadcastable == (False, False)
    np.testing.assert_array_equal(_run([r], u, np.ones((1, 2))), np.ones((1, 2)))
    assert T.unbroadcast(T.dmatrix(), 0).broadcastable == (False, False)  # no-op
    verify_grad(lambda x: T.unbroadcast(T.addbroadcast(x, 0), 0) * 2.0, [RNG.normal(size=(1, 3))])


def test_patternbroadcast_sets_exactly_the_pattern():
    r = T.row("r")
    out = T.patternbroadcast(r, (False, True))
    assert out.broadcastable == (False, True)
    with pytest.raises(ValueError, match="pattern"):
        T.patternbroadcast(r, (True,))


def test_broadcast_helpers_reject_out_of_range_axes():
    with pytest.raises(ValueError, match="out of range"):
        T.addbroadcast(T.dmatrix(), 2)
    with pytest.raises(ValueError, match="out of range"):
        T.unbroadcast(T.row(), 3)


# ------------------------------------------------- Theano's shape_pad* helpers
def test_shape_padleft_padright_padaxis_insert_broadcastable_axes():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    cases = [
        (T.shape_padleft(x), xv[None]),
        (T.shape_padleft(x, 2), xv[None, None]),
        (T.shape_padright(x, 2), xv[:, :, None, None]),
        (T.shape_padaxis(x, 1), xv[:, None]),
        (T.shape_padaxis(x, -1), xv[..., None]),
    ]
    for out, expected in cases:
        # x's axes (lengths 2 and 3) stay unknown; the inserted ones are static 1s
        assert out.type.shape == tuple(1 if s == 1 else None for s in expected.shape)
        got = theano.function([x], out)(xv)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError):
        T.shape_padaxis(x, 3)


# ---------------------------------------- TensorType: Theano's positional pattern
def test_tensortype_positional_bools_are_theanos_broadcastable_pattern():
    assert T.TensorType("float32", (True, False)).shape == (1, None)
    assert T.TensorType("float32", (False, False, False)).shape == (None, None, None)
    assert T.TensorType("float32", np.array([False, True])).shape == (None, 1)
    assert T.TensorType("float32", (2, 1)).shape == (2, 1)  # ints stay a static shape
    t = T.TensorType("float64", (False, True))("t")
    f = theano.function([t], t * 2)
    np.testing.assert_array_equal(f(np.ones((5, 1))), 2 * np.ones((5, 1)))


def test_numpy_reductions_over_symbolic_shape_entries_build_expressions():
    # Theano code (Lasagne's ReshapeLayer) multiplies shapes with np.prod; a numeric array still needs a function
    x = T.dtensor3("x")
    a, b, c = x.shape
    n = np.prod([a, b, 2])
    assert isinstance(n, theano.graph.Variable)
    assert theano.function([x], n)(np.zeros((3, 4, 5))) == 24
    with pytest.raises(TypeError, match="compile a function first"):
        np.asarray(x, dtype="float64")
    with pytest.raises(TypeError, match="symbolic variable"):
        theano.function([x], x.sum())(x)
