"""Joining and splitting (concatenate/join, stack, split) against NumPy, with gradients."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.testing import check_infer_shape as _check_infer_shape
from nettrain.testing import verify_grad

RNG = np.random.default_rng(23)


def _run(inputs, output, *values):
    return theano.function(inputs, output, on_unused_input="ignore")(*values)


# --------------------------------------------------------------- concatenate
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_concatenate_matches_numpy_on_any_axis(axis):
    x, y = T.dtensor3("x"), T.dtensor3("y")
    shape_y = [2, 3, 4]
    shape_y[axis] = 1
    xv, yv = RNG.normal(size=(2, 3, 4)), RNG.normal(size=shape_y)
    out = T.concatenate([x, y], axis=axis)
    np.testing.assert_array_equal(_run([x, y], out, xv, yv), np.concatenate([xv, yv], axis=axis))
    _check_infer_shape(out, [x, y], [xv, yv])


def test_join_takes_axis_first_and_a_constant_axis():
    x, y = T.dmatrices("x", "y")
    xv, yv = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 1))
    ref = np.concatenate([xv, yv], axis=1)
    np.testing.assert_array_equal(_run([x, y], T.join(1, x, y), xv, yv), ref)
    np.testing.assert_array_equal(_run([x, y], T.join(T.constant(1), [x, y]), xv, yv), ref)


def test_concatenate_static_shape_and_dtype_promotion():
    a = T.TensorType("float32", (2, 3))("a")
    b = T.TensorType("int16", (None, 3))("b")
    out = T.concatenate([a, b])
    assert out.type.shape == (None, 3)
    assert out.dtype == np.result_type(np.float32, np.int16).name
    assert T.concatenate([a, a], axis=1).type.shape == (2, 6)
    res = _run([a, b], out, np.ones((2, 3), np.float32), np.ones((1, 3), np.int16))
    assert res.dtype == out.dtype and res.shape == (3, 3)


def test_concatenate_grad_splits_back():
    verify_grad(lambda x, y: T.concatenate([x, y, x], axis=1), [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 1))])
    verify_grad(lambda x, y: T.concatenate([x, y], axis=-2), [RNG.normal(size=(2, 3)), RNG.normal(size=(1, 3))])


def test_concatenate_grad_skips_integer_inputs():
    x = T.dvector("x")
    i = T.lvector("i")
    g = T.grad(T.concatenate([x, i]).sum(), x)
    np.testing.assert_array_equal(_run([x, i], g, np.ones(2), np.ones(3, np.int64)), [1.0, 1.0])


def test_join_errors_on_mismatched_shapes_at_run_time():
    x, y = T.dmatrices("x", "y")
    f = theano.function([x, y], T.concatenate([x, y]))
    with pytest.raises(ValueError, match=r"cannot join arrays of shapes \[\(2, 3\), \(2, 2\)\] along axis 0"):
        f(np.ones((2, 3)), np.ones((2, 2)))


def test_join_rejects_bad_inputs_when_building():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="static lengths"):
        T.concatenate([T.TensorType("float64", (2, 3))(), T.TensorType("float64", (3, 3))()], axis=1)
    with pytest.raises(TypeError, match="2 dimensions"):
        T.concatenate([x, T.dvector()])
    with pytest.raises(ValueError, match="out of range"):
        T.concatenate([x, x], axis=2)
    with pytest.raises(TypeError, match="zero-dimensional"):
        T.concatenate([T.dscalar()])
    with pytest.raises(TypeError, match="list of tensors"):
        T.concatenate(x)
    with pytest.raises(ValueError, match="empty"):
        T.concatenate([])
    with pytest.raises(TypeError, match="symbolic axes"):
        T.join(T.lscalar(), x, x)


# --------------------------------------------------------------------- stack
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_stack_matches_numpy(axis):
    x, y = T.dmatrices("x", "y")
    xv, yv = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    out = T.stack([x, y], axis=axis)
    np.testing.assert_array_equal(_run([x, y], out, xv, yv), np.stack([xv, yv], axis=axis))


def test_stack_of_scalars_and_as_tensor_variable_of_a_list():
    s, t = T.dscalars("s", "t")
    out = T.stack([s, t, 3.0])
    assert out.type.shape == (3,)
    np.testing.assert_array_equal(_run([s, t], out, 1.0, 2.0), [1.0, 2.0, 3.0])
    v = T.as_tensor_variable([s, t])
    assert v.type.shape == (2,)
    np.testing.assert_array_equal(_run([s, t], v, 1.0, 2.0), [1.0, 2.0])
    x, y = T.dvectors("x", "y")
    m = T.as_tensor_variable([x, y])
    np.testing.assert_array_equal(_run([x, y], m, [1.0, 2.0], [3.0, 4.0]), [[1.0, 2.0], [3.0, 4.0]])


def test_stack_grad():
    verify_grad(lambda x, y: T.stack([x, y], axis=-1), [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))])
    verify_grad(lambda s, t: T.stack([s, t * 2.0, s]), [np.array(0.5), np.array(-1.5)])


def test_stack_rejects_mixed_ndim_and_bad_axis():
    with pytest.raises(TypeError, match="same ndim"):
        T.stack([T.dvector(), T.dmatrix()])
    with pytest.raises(ValueError, match="out of range"):
        T.stack([T.dvector(), T.dvector()], axis=2)
    with pytest.raises(ValueError, match="empty"):
        T.stack([])


# --------------------------------------------------------------------- split
def test_split_with_constant_sizes_matches_numpy():
    x = T.dmatrix("x")
    val = RNG.normal(size=(2, 6))
    parts = T.split(x, [1, 3, 2], 3, axis=1)
    assert [p.type.shape for p in parts] == [(None, 1), (None, 3), (None, 2)]
    for r, ref in zip(_run([x], parts, val), np.split(val, [1, 4], axis=1)):
        np.testing.assert_array_equal(r, ref)


def test_split_with_symbolic_sizes_and_negative_axis():
    x = T.dmatrix("x")
    n = T.lscalar("n")
    val = RNG.normal(size=(3, 5))
    parts = T.split(x, [n, 5 - n], 2, axis=-1)
    for r, ref in zip(_run([x, n], parts, val, 2), np.split(val, [2], axis=1)):
        np.testing.assert_array_equal(r, ref)
    sizes = T.lvector("sizes")
    parts = T.split(x, sizes, 2, axis=0)
    for r, ref in zip(_run([x, sizes], parts, val, [1, 2]), np.split(val, [1], axis=0)):
        np.testing.assert_array_equal(r, ref)
    _check_infer_shape(parts[1], [x, sizes], [val, [1, 2]])


def test_split_into_one_part_returns_the_variable():
    x = T.dvector("x")
    out = T.split(x, [3], 1)
    np.testing.assert_array_equal(_run([x], out, np.arange(3.0)), np.arange(3.0))


def test_split_grad_including_unused_parts():
    verify_grad(lambda x: T.split(x, [1, 2], 2, axis=1)[1] * 2.0, [RNG.normal(size=(2, 3))])

    def both_parts(x):
        a, b = T.split(x, [2, 2], 2)
        return a * 3.0 + b

    verify_grad(both_parts, [RNG.normal(size=(4,))])


def test_split_rejects_bad_sizes():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="2 sizes for n_splits=3"):
        T.split(x, [1, 2], 3)
    with pytest.raises(TypeError, match="integers"):
        T.split(x, [1.5, T.lscalar()], 2)
    with pytest.raises(TypeError, match="integers"):
        T.split(x, T.dvector(), 2)
    with pytest.raises(ValueError, match="do not add up"):
        T.split(T.TensorType("float64", (2, 3))(), [1, 1], 2, axis=1)
    with pytest.raises(ValueError, match="out of range"):
        T.split(x, [1, 1], 2, axis=2)
    n = T.lscalar("n")
    f = theano.function([x, n], T.split(x, [n, 1], 2, axis=1))
    with pytest.raises(ValueError, match=r"sizes \[1, 1\] do not add up to the length 3 of axis 1"):
        f(np.ones((2, 3)), 1)


def test_stack_takes_theanos_separate_tensor_arguments_too():
    x, y = T.dvectors("x", "y")
    xv, yv = RNG.normal(size=3), RNG.normal(size=3)
    np.testing.assert_array_equal(_run([x, y], T.stack(x, y, x), xv, yv), np.stack([xv, yv, xv]))
    np.testing.assert_array_equal(_run([x, y], T.stack([x, y], 1), xv, yv), np.stack([xv, yv], 1))
    with pytest.raises(TypeError, match="2 positional"):
        T.stack([x, y], 1, 2)
