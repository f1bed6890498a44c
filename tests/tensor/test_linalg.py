"""dot, matmul, tensordot, outer, batched_dot, batched_tensordot against NumPy."""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.tensor.blas import Dot, MatMul
from nettrain.tensor.type import TensorType
from nettrain.testing import verify_grad

RNG = np.random.default_rng(1234)


def _value(shape, dtype="float64"):
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-4, 5, size=shape).astype(dtype)
    return RNG.normal(size=shape).astype(dtype)


def _var(value, shape=None):
    return TensorType(value.dtype, shape if shape is not None else (None,) * value.ndim)()


def _eval(fn, *values, shapes=None):
    """Build ``fn`` on symbolic inputs shaped like ``values`` and run it."""
    shapes = shapes or [None] * len(values)
    ins = [_var(v, s) for v, s in zip(values, shapes)]
    out = fn(*ins)
    return nettrain.function(ins, out)(*values), out


DOT_SHAPES = [
    ((), (3,)), ((2, 3), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
    ((2, 3, 4), (4,)), ((4,), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (5, 4, 6)),
]  # fmt: skip


@pytest.mark.parametrize("sa,sb", DOT_SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_dot_matches_numpy_for_every_ndim_and_keeps_dtype(sa, sb, dtype):
    a, b = _value(sa, dtype), _value(sb, dtype)
    res, out = _eval(T.dot, a, b)
    expected = np.dot(a, b)
    assert out.dtype == expected.dtype.name == res.dtype.name
    assert out.type.ndim == expected.ndim
    np.testing.assert_allclose(res, expected, rtol=1e-5, atol=1e-5)


def test_dot_of_mixed_dtypes_follows_numpy_promotion():
    a, b = _value((2, 3), "float32"), _value((3,), "float64")
    res, out = _eval(T.dot, a, b)
    assert out.dtype == "float64"
    np.testing.assert_allclose(res, np.dot(a, b))
    i, j = _value((2, 3), "int8"), _value((3,), "int8")
    assert _eval(T.dot, i, j)[1].dtype == "int8"


def test_dot_method_and_matmul_operator_build_dot_products():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    a, b = _value((2, 3)), _value((3, 4))
    f = nettrain.function([x, y], [x.dot(y), x @ y])
    for r in f(a, b):
        np.testing.assert_allclose(r, a @ b)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4))])
def test_dot_op_gradient_for_vector_and_matrix_combinations(sa, sb):
    verify_grad(T.dot, [_value(sa), _value(sb)])


@pytest.mark.parametrize("sa,sb", [((2, 3, 4), (4,)), ((3,), (2, 3, 4)), ((2, 3, 4), (5, 4, 2)), ((), (2, 3))])
def test_dot_of_higher_ranks_and_scalars_has_correct_gradient(sa, sb):
    verify_grad(T.dot, [_value(sa), _value(sb)])


def test_dot_propagates_static_shapes():
    a = TensorType("float64", (2, None))()
    b = TensorType("float64", (None, 5))()
    assert T.dot(a, b).type.shape == (2, 5)
    c = TensorType("float64", (2, 3, 4))()
    assert T.dot(c, b).type.shape == (2, 3, 5)
    assert T.dot(TensorType("float64", (4,))(), TensorType("float64", (4,))()).type.shape == ()


def test_dot_of_mismatched_static_shapes_fails_at_build_time():
    a = TensorType("float64", (2, 3))()
    b = TensorType("float64", (4, 5))()
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        T.dot(a, b)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) and \(5, 6\)"):
        T.dot(TensorType("float64", (2, 3, 4))(), TensorType("float64", (5, 6))())


def test_dot_of_mismatched_shapes_at_run_time_names_both_shapes():
    x, y = T.dmatrix("x"), T.dvector("y")
    f = nettrain.function([x, y], T.dot(x, y))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        f(_value((2, 3)), _value((4,)))


def test_dot_op_rejects_higher_ranks():
    with pytest.raises(TypeError, match="1-d or 2-d"):
        Dot()(T.dtensor3(), T.dmatrix())


def test_dot_r_op_is_the_product_rule():
    x, y, ex = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("ex")
    (r,) = Dot().R_op([x, y], [ex, None])
    b, e = _value((3, 4)), _value((2, 3))
    np.testing.assert_allclose(r.eval({y: b, ex: e}), e @ b)


MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3,), (2, 3, 4)),
    ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
]  # fmt: skip


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_matmul_matches_numpy_with_batch_broadcasting_and_1d_promotion(sa, sb, dtype):
    a, b = _value(sa, dtype), _value(sb, dtype)
    static = [tuple(1 if s == 1 else None for s in sh) for sh in (sa, sb)]
    res, out = _eval(T.matmul, a, b, shapes=static)
    expected = np.matmul(a, b)
    assert res.dtype == expected.dtype and out.dtype == expected.dtype.name
    assert res.shape == expected.shape
    np.testing.assert_allclose(res, expected, rtol=1e-5, atol=1e-5)


def test_matmul_gradient_sums_over_broadcast_batch_dimensions():
    a, b = _value((1, 2, 3)), _value((4, 3, 2))

    def f(x, y):
        return T.matmul(T.addbroadcast(x, 0), y)

    verify_grad(f, [a, b])
    verify_grad(T.matmul, [_value((2, 3, 4)), _value((4,))])
    verify_grad(T.matmul, [_value((3,)), _value((2, 3, 4))])


def test_matmul_batch_mismatch_is_an_error_at_build_and_run_time():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) and \(5, 4, 6\)"):
        T.matmul(TensorType("float64", (2, 3, 4))(), TensorType("float64", (5, 4, 6))())
    x, y = T.dtensor3("x"), T.dtensor3("y")
    f = nettrain.function([x, y], T.matmul(x, y))
    # A run-time length of 1 only broadcasts when it is known statically.
    with pytest.raises(ValueError, match=r"\(1, 3, 4\) and \(2, 4, 5\)"):
        f(_value((1, 3, 4)), _value((2, 4, 5)))


def test_matmul_rejects_scalars_and_matmul_op_needs_equal_ranks():
    with pytest.raises(ValueError, match="scalar"):
        T.matmul(T.dscalar(), T.dmatrix())
    with pytest.raises(TypeError, match="same ndim"):
        MatMul()(T.dtensor3(), T.dmatrix())


@pytest.mark.parametrize(
    "sa,sb,axes",
    [((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2, 3), (4, 5), 0), ((3,), (4,), 0),
     ((2, 3, 4), (4, 3), [[1, 2], [1, 0]]), ((2, 3, 4), (5, 2), [[0], [1]]), ((4, 3), (3, 4), [[-1, 0], [0, -1]]),
     ((2, 3, 4), (2, 3, 4), 3)],
)  # fmt: skip
def test_tensordot_matches_numpy(sa, sb, axes):
    a, b = _value(sa), _value(sb)
    res, out = _eval(lambda x, y: T.tensordot(x, y, axes), a, b)
    expected = np.tensordot(a, b, axes)
    assert res.shape == expected.shape and out.type.ndim == expected.ndim
    np.testing.assert_allclose(res, expected)


def test_tensordot_gradient_and_static_shape():
    verify_grad(lambda x, y: T.tensordot(x, y, [[0, 2], [1, 0]]), [_value((2, 3, 4)), _value((4, 2, 3))])
    verify_grad(lambda x, y: T.tensordot(x, y, 0), [_value((2,)), _value((3,))])
    a = TensorType("float32", (2, None, 4))()
    b = TensorType("float32", (4, 5))()
    out = T.tensordot(a, b, [[2], [0]])
    assert out.type.shape == (2, None, 5) and out.dtype == "float32"


def test_tensordot_bad_axes_give_clear_errors():
    a, b = T.dtensor3(), T.dmatrix()
    with pytest.raises(ValueError, match="out of range"):
        T.tensordot(a, b, [[3], [0]])
    with pytest.raises(ValueError, match="1 axes given for the first tensor but 2"):
        T.tensordot(a, b, [[0], [0, 1]])
    with pytest.raises(ValueError, match="cannot contract 3 axes"):
        T.tensordot(a, b, 3)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 3\)"):
        T.tensordot(TensorType("float64", (2, 3))(), TensorType("float64", (4, 3))(), [[1], [0]])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_outer_matches_numpy_and_flattens_matrices(dtype):
    x, y = _value((3,), dtype), _value((2, 2), dtype)
    res, out = _eval(T.outer, x, y)
    np.testing.assert_allclose(res, np.outer(x, y))
    assert res.dtype == np.outer(x, y).dtype
    verify_grad(T.outer, [_value((3,)), _value((4,))])


def _batched_dot_reference(a, b):
    return np.stack([np.dot(a[i], b[i]) for i in range(a.shape[0])])


@pytest.mark.parametrize(
    "sa,sb", [((4, 3), (4, 3)), ((4, 2, 3), (4, 3, 5)), ((4, 2, 3), (4, 3)), ((4, 3), (4, 3, 5)), ((4,), (4, 2, 3)),
              ((4, 2, 3), (4,)), ((4, 2, 3, 5), (4, 5, 2)), ((4, 3), (4, 2, 3, 5))],
)  # fmt: skip
def test_batched_dot_matches_a_loop_of_numpy_dots(sa, sb):
    a, b = _value(sa), _value(sb)
    res, _ = _eval(T.batched_dot, a, b)
    if len(sa) == 1:
        expected = a.reshape(sa + (1,) * (len(sb) - 1)) * b
    elif len(sb) == 1:
        expected = a * b.reshape(sb + (1,) * (len(sa) - 1))
    else:
        expected = _batched_dot_reference(a, b)
    np.testing.assert_allclose(res, expected)


@pytest.mark.parametrize(
    "sa,sb", [((3, 2), (3, 2)), ((3, 2, 4), (3, 4, 2)), ((3, 2, 4), (3, 4)), ((3, 2, 4, 2), (3, 2))]
)
def test_batched_dot_gradient(sa, sb):
    verify_grad(T.batched_dot, [_value(sa), _value(sb)])


def test_batched_dot_rejects_scalars():
    with pytest.raises(TypeError, match="batch axis"):
        T.batched_dot(T.dscalar(), T.dmatrix())


@pytest.mark.parametrize(
    "sa,sb,axes",
    [((3, 2, 4), (3, 4, 5), [[2], [1]]), ((3, 2, 4), (3, 2, 4), 2), ((3, 2, 4, 5), (3, 5, 4), [[2, 3], [2, 1]]),
     ((3, 2), (3, 4), 0)],
)  # fmt: skip
def test_batched_tensordot_matches_a_loop_of_numpy_tensordots(sa, sb, axes):
    a, b = _value(sa), _value(sb)
    res, _ = _eval(lambda x, y: T.batched_tensordot(x, y, axes), a, b)
    if isinstance(axes, int):
        np_axes = axes
    else:
        np_axes = [[d - 1 for d in axes[0]], [d - 1 for d in axes[1]]]
    expected = np.stack([np.tensordot(a[i], b[i], np_axes) for i in range(sa[0])])
    np.testing.assert_allclose(res, expected)


def test_batched_tensordot_gradient_and_batch_axis_errors():
    verify_grad(lambda x, y: T.batched_tensordot(x, y, [[1, 2], [2, 1]]), [_value((2, 3, 2)), _value((2, 2, 3))])
    with pytest.raises(ValueError, match="batch axis"):
        T.batched_tensordot(T.dtensor3(), T.dtensor3(), [[0], [1]])
    with pytest.raises(ValueError, match="batch sizes"):
        T.batched_tensordot(TensorType("float64", (2, 3))(), TensorType("float64", (4, 3))(), [[1], [1]])


def _inferred_shapes(out, values):
    """Evaluate ``out.owner.op.infer_shape`` on the run-time shapes of ``values``."""
    node = out.owner
    shapes = [T.shape_tuple(i) for i in node.inputs]
    inferred = node.op.infer_shape(node, shapes)[0]
    ins = [v for v in nettrain.graph.basic.graph_inputs([out]) if v in values]
    f = nettrain.function(ins, [T.as_tensor_variable(s) for s in inferred], on_unused_input="ignore")
    return tuple(int(s) for s in f(*[values[i] for i in ins]))


@pytest.mark.parametrize(
    "op,sa,sb",
    [(Dot(), (3,), (3,)), (Dot(), (2, 3), (3,)), (Dot(), (3,), (3, 4)), (Dot(), (2, 3), (3, 4)),
     (MatMul(), (2, 3, 4), (2, 4, 5)), (MatMul(), (1, 3, 4), (6, 4, 5))],
)  # fmt: skip
def test_infer_shape_of_dot_and_matmul_matches_the_computed_shape(op, sa, sb):
    a, b = _value(sa), _value(sb)
    x, y = _var(a, tuple(1 if s == 1 else None for s in sa)), _var(b)
    out = op(x, y)
    assert _inferred_shapes(out, {x: a, y: b}) == nettrain.function([x, y], out)(a, b).shape
