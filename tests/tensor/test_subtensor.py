"""Indexing: basic and advanced getitem, set/inc_subtensor, gradients, take and nonzero."""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.graph.basic import Variable
from nettrain.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedIncSubtensor1,
    AdvancedSubtensor,
    AdvancedSubtensor1,
    IncSubtensor,
    Subtensor,
)
from nettrain.testing import verify_grad

A3 = np.arange(24.0).reshape(2, 3, 4)
A2 = np.arange(12.0).reshape(3, 4)


def _run(inputs, outputs, *values):
    return nettrain.function(inputs, outputs, on_unused_input="ignore")(*values)


def _check_against_numpy(out, expected, given):
    res = _run(list(given), out, *given.values())
    assert res.dtype == expected.dtype
    assert res.shape == expected.shape
    np.testing.assert_array_equal(res, expected)
    # Static lengths, where known, match the run-time ones.
    for s, r in zip(out.type.shape, res.shape):
        assert s is None or s == r
    return res


def _inferred_shape(out, given):
    """Evaluate the op's infer_shape for ``out`` (shapes of the node inputs as symbolic scalars)."""
    node = out.owner
    in_shapes = [tuple(T.shape_i(v, k) for k in range(v.type.ndim)) for v in node.inputs]
    shape = node.op.infer_shape(node, in_shapes)[0]
    return tuple(int(s) if not isinstance(s, Variable) else int(_run(list(given), s, *given.values())) for s in shape)


# ------------------------------------------------------------------ basic indexing
BASIC_CASES = [
    (1,),
    (-1,),
    (1, -2, 3),
    (slice(1, None),),
    (slice(None, None, -1),),
    (slice(None, None, -2), slice(3, 0, -1)),
    (slice(5, 10),),  # empty: beyond the end
    (slice(2, 1),),  # empty: stop before start
    (slice(-100, 100),),
    (slice(None), 2),
    (None,),
    (slice(1, None), None, slice(None, None, 2)),
    (Ellipsis, 1),
    (0, Ellipsis, None),
    (None, Ellipsis, None),
    (),
    (Ellipsis,),
]


@pytest.mark.parametrize("idx", BASIC_CASES, ids=repr)
def test_basic_indexing_matches_numpy(idx):
    x = T.dtensor3("x")
    out = x[idx]
    _check_against_numpy(out, A3[idx], {x: A3})


@pytest.mark.parametrize("idx", BASIC_CASES[:12], ids=repr)
def test_basic_indexing_infer_shape_matches_numpy(idx):
    x = T.dtensor3("x")
    out = x[tuple(e for e in idx if e is not None)]
    expected = A3[tuple(e for e in idx if e is not None)].shape
    assert _inferred_shape(out, {x: A3}) == expected


def test_a_list_holding_slices_is_a_tuple_of_indices_and_a_list_of_ints_is_an_index_array():
    # Theano (and NumPy before 1.23) read [slice, slice] as (slice, slice); Lasagne's autocrop does this
    x = T.dtensor3("x")
    _check_against_numpy(x[[slice(1, None), slice(None, None, 2)]], A3[1:, ::2], {x: A3})
    _check_against_numpy(x[[None, 0]], A3[None, 0], {x: A3})
    _check_against_numpy(x[[1, 0]], A3[np.array([1, 0])], {x: A3})


def test_basic_index_is_a_subtensor_view_with_props():
    x = T.dmatrix("x")
    out = x[1:, ::2]
    assert isinstance(out.owner.op, Subtensor)
    assert out.owner.op.view_map == {0: [0]}
    assert out.owner.op == x[1:, ::2].owner.op  # equal props: mergeable
    assert str(out.owner.op) == "Subtensor{1:, ::2}"


@pytest.mark.parametrize(
    "start,stop,step",
    [(0, 3, 1), (1, -1, 1), (-1, 0, -1), (2, 0, -2), (5, 10, 1), (-100, 100, 3), (3, 1, 1)],
)
def test_symbolic_slice_bounds_match_numpy(start, stop, step):
    x = T.dmatrix("x")
    a, b, c = T.lscalar("a"), T.lscalar("b"), T.lscalar("c")
    out = x[a:b:c]
    res = _run([x, a, b, c], out, A2, start, stop, step)
    np.testing.assert_array_equal(res, A2[start:stop:step])
    assert _inferred_shape(out, {x: A2, a: start, b: stop, c: step}) == A2[start:stop:step].shape


def test_symbolic_slice_with_none_parts_and_int32_index():
    x = T.dmatrix("x")
    i = T.iscalar("i")
    f = nettrain.function([x, i], [x[i:], x[:i], x[::i], x[i, ::-1]])
    for r, e in zip(f(A2, 2), [A2[2:], A2[:2], A2[::2], A2[2, ::-1]]):
        np.testing.assert_array_equal(r, e)


def test_static_shapes_of_basic_indexing():
    x = T.tensor("float64", shape=(3, 4, None))
    assert x[1:, ::2].type.shape == (2, 2, None)
    assert x[0, -1].type.shape == (None,)
    assert x[:, None, 1].type.shape == (3, 1, None)
    assert x[..., 1:].type.shape == (3, 4, None)
    assert x[::-1, 10:].type.shape == (3, 0, None)
    assert T.dmatrix()[1:].type.shape == (None, None)


def test_shape_indexing_and_common_forms_compile_and_run():
    x = T.dmatrix("x")
    f = nettrain.function([x], [x.shape[0], x.shape[-1], x[-1], x[::-1], x[1:, None, ::2]])
    n0, n1, last, rev, mixed = f(A2)
    assert n0.dtype == np.int64 and int(n0) == 3 and int(n1) == 4
    np.testing.assert_array_equal(last, A2[-1])
    np.testing.assert_array_equal(rev, A2[::-1])
    np.testing.assert_array_equal(mixed, A2[1:, None, ::2])


def test_integer_index_on_vector_gives_0d_array():
    v = T.dvector("v")
    res = _run([v], v[1], np.array([1.0, 2.0, 3.0]))
    assert isinstance(res, np.ndarray) and res.shape == () and res == 2.0


def test_symbolic_index_out_of_range_raises_index_error_naming_the_shape():
    x = T.dmatrix("x")
    i = T.lscalar("i")
    f = nettrain.function([x, i], x[i])
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 0 with size 3.*\(3, 4\)"):
        f(A2, 3)
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        f(A2, -4)


def test_constant_index_out_of_static_range_warns_at_build_time_and_fails_at_run_time():
    # Theano's rule (the error when it runs; Lasagne builds vector.shape[1] before its rank check),
    # with a warning at the line that built it
    x = T.tensor("float64", shape=(3,))
    with pytest.warns(RuntimeWarning, match="index 5 is out of bounds for axis 0 with size 3") as rec:
        y = x[5]
    assert rec[0].filename == __file__
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        nettrain.function([x], y)(np.zeros(3))
    with pytest.warns(RuntimeWarning, match="index 1 is out of bounds"):
        T.dvector("v").shape[1]


@pytest.mark.parametrize(
    "idx,exc,msg",
    [
        (1.0, TypeError, "indices must be"),
        (slice(1.5, None), TypeError, "slice indices must be integers"),
        (True, IndexError, "boolean scalar"),
        ((0, 0, 0), IndexError, "too many indices"),
        ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
        ("a", TypeError, "indices must be"),
    ],
    ids=repr,
)
def test_bad_indices_raise_clear_errors(idx, exc, msg):
    x = T.dmatrix("x")
    with pytest.raises(exc, match=msg):
        x[idx]


def test_float_tensor_index_raises_type_error():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="indices must be integers or booleans"):
        x[T.dscalar("f")]
    with pytest.raises(TypeError, match="indices must be integers or booleans"):
        x[T.dvector("fv")]
    with pytest.raises(TypeError, match="slice indices must be integer scalars"):
        x[T.dscalar("f") :]


# ------------------------------------------------------------------ advanced indexing
MASK = A3 > 6
ADV_CASES = [
    ([0, 1, 1],),
    (np.array([[0, 1], [1, 0]]),),
    ([-1, 0], slice(1, None)),
    (slice(None), [0, 0, 2]),
    (0, slice(None), [0, 1]),  # advanced separated by a slice: broadcast dims go first
    (slice(None), [0, 1], None, [0, 1]),  # separated by newaxis
    (None, 0, [1, 2]),  # adjacent: in place
    (slice(None), [0, 2], [1, 3]),
    (Ellipsis, [3, 0]),
    ([1, 0], Ellipsis, [3, 0]),
    (MASK,),
    (slice(None), MASK[0]),
    (0, MASK[0, :, 0]),
    ([],),
]


@pytest.mark.parametrize("idx", ADV_CASES, ids=lambda i: repr(i)[:40])
def test_advanced_indexing_with_constants_matches_numpy(idx):
    x = T.dtensor3("x")
    _check_against_numpy(x[idx], A3[idx], {x: A3})


@pytest.mark.parametrize("idx", ADV_CASES, ids=lambda i: repr(i)[:40])
def test_advanced_indexing_infer_shape_matches_numpy(idx):
    x = T.dtensor3("x")
    out = x[idx]
    assert _inferred_shape(out, {x: A3}) == A3[idx].shape


def test_symbolic_integer_vector_uses_advanced_subtensor1():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    out = x[iv]
    assert isinstance(out.owner.op, AdvancedSubtensor1)
    assert isinstance(x[iv, :].owner.op, AdvancedSubtensor1)
    assert isinstance(x[:, iv].owner.op, AdvancedSubtensor)
    idx = np.array([2, -1, 0, 0])
    np.testing.assert_array_equal(_run([x, iv], out, A2, idx), A2[idx])


def test_symbolic_mixed_advanced_and_basic_indices_match_numpy():
    x = T.dtensor3("x")
    iv = T.ivector("iv")
    im = T.imatrix("im")
    i = T.iscalar("i")
    outs = [x[i, :, iv], x[:, im], x[iv, i:], x[im, None, iv]]
    iv_v, im_v = np.array([1, 0], dtype="int32"), np.array([[0], [1]], dtype="int32")
    res = _run([x, iv, im, i], outs, A3, iv_v, im_v, 1)
    expected = [A3[1, :, iv_v], A3[:, im_v], A3[iv_v, 1:], A3[im_v, None, iv_v]]
    for r, e in zip(res, expected):
        np.testing.assert_array_equal(r, e)


def test_boolean_mask_from_comparison_has_unknown_length():
    x = T.dmatrix("x")
    out = x[x > 5]
    assert out.type.shape == (None,)
    np.testing.assert_array_equal(_run([x], out, A2), A2[A2 > 5])
    assert _inferred_shape(out, {x: A2}) == (6,)


def test_symbolic_boolean_mask_on_leading_dims():
    x = T.dtensor3("x")
    m = T.tensor("bool", shape=(None, None), name="m")
    res = _run([x, m], x[m, 1:], A3, MASK[:, :, 0])
    np.testing.assert_array_equal(res, A3[MASK[:, :, 0], 1:])


def test_advanced_index_out_of_range_raises_index_error_naming_the_shape():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    with pytest.raises(IndexError, match=r"out of bounds.*\(3, 4\)"):
        _run([x, iv], x[iv], A2, np.array([0, 3]))
    with pytest.raises(IndexError, match=r"out of bounds.*\(3, 4\)"):
        _run([x, iv], x[:, iv], A2, np.array([0, 4]))


def test_boolean_mask_of_wrong_static_shape_fails_at_build_time():
    x = T.tensor("float64", shape=(3, 4))
    with pytest.raises(IndexError, match="boolean index of shape"):
        x[np.ones((2, 4), dtype=bool)]


# ------------------------------------------------------------------ set / inc
SET_CASES = [
    ((1,), np.array([1.0, 2.0, 3.0, 4.0])),
    ((slice(1, None), slice(None, None, -2)), np.array([[10.0], [20.0]])),  # y broadcasts along a length-1 dim
    ((slice(None), 2), 7.0),
    ((Ellipsis, -1), np.array([1.0, 2.0, 3.0])),
    (([0, 2],), np.array([1.0, 2.0, 3.0, 4.0])),
    ((slice(None), [1, 3]), np.ones((3, 2))),
    ((0, [1, 3]), np.array([5.0, 6.0])),
    ((A2 > 5,), -1.0),
    ((None, 1), np.array([[9.0, 8.0, 7.0, 6.0]])),
]


@pytest.mark.parametrize("set_", [True, False], ids=["set", "inc"])
@pytest.mark.parametrize("idx,y", SET_CASES, ids=lambda v: repr(v)[:30])
def test_set_and_inc_subtensor_match_numpy(idx, y, set_):
    x = T.dmatrix("x")
    given = {x: A2}
    if np.ndim(y) == 0:
        ysym = T.constant(y)
    else:
        yin = T.tensor("float64", shape=(None,) * np.ndim(y), name="y")
        given[yin] = np.asarray(y)
        ysym = T.addbroadcast(yin, *[d for d in range(np.ndim(y)) if np.shape(y)[d] == 1])
    out = T.set_subtensor(x[idx], ysym) if set_ else T.inc_subtensor(x[idx], ysym)
    expected = A2.copy()
    inner = tuple(e for e in idx if e is not None)
    y_inner = np.reshape(y, np.shape(expected[inner])) if any(e is None for e in idx) else y
    if set_:
        expected[inner] = y_inner
    else:
        expected[inner] += y_inner
    x_before = A2.copy()
    _check_against_numpy(out, expected, given)
    np.testing.assert_array_equal(A2, x_before)  # the input is never modified


def test_inc_subtensor_accumulates_repeated_indices():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    y = T.dmatrix("y")
    idx = np.array([0, 2, 0, 0])
    yv = np.arange(16.0).reshape(4, 4)
    out1 = T.inc_subtensor(x[iv], y)
    assert isinstance(out1.owner.op, AdvancedIncSubtensor1)
    expected = A2.copy()
    np.add.at(expected, idx, yv)
    np.testing.assert_array_equal(_run([x, iv, y], out1, A2, idx, yv), expected)
    # General advanced index with repeated pairs.
    out2 = T.inc_subtensor(x[iv, 1:], y[:, 1:])
    assert isinstance(out2.owner.op, AdvancedIncSubtensor)
    expected = A2.copy()
    np.add.at(expected, (idx, slice(1, None)), yv[:, 1:])
    np.testing.assert_array_equal(_run([x, iv, y], out2, A2, idx, yv), expected)


def test_set_subtensor_repeated_indices_last_write_wins():
    v = T.dvector("v")
    out = T.set_subtensor(v[[1, 1, 1]], T.constant(np.array([5.0, 6.0, 7.0])))
    np.testing.assert_array_equal(_run([v], out, np.zeros(3)), [0.0, 7.0, 0.0])


def test_inc_subtensor_through_newaxis_with_repeated_advanced_index():
    x = T.dmatrix("x")
    out = T.inc_subtensor(x[:, None, [0, 0]], 1.0)
    expected = A2.copy()
    np.add.at(expected, (slice(None), [0, 0]), 1.0)
    np.testing.assert_array_equal(_run([x], out, A2), expected)


def test_inc_subtensor_keyword_compat_and_set_instead_of_inc():
    x = T.dvector("x")
    a = np.array([1.0, 2.0, 3.0])
    out = T.inc_subtensor(x[1:], 10.0, inplace=True, set_instead_of_inc=True, tolerate_inplace_aliasing=True)
    assert isinstance(out.owner.op, IncSubtensor) and out.owner.op.set_instead_of_inc
    np.testing.assert_array_equal(_run([x], out, a), [1.0, 10.0, 10.0])
    out = T.set_subtensor(x[:1], [4.0], inplace=True, tolerate_inplace_aliasing=True)
    np.testing.assert_array_equal(_run([x], out, a), [4.0, 2.0, 3.0])


def test_set_subtensor_casts_y_to_the_dtype_of_x():
    x, y = T.fvector("x"), T.dscalar("y")
    out = T.set_subtensor(x[0], y)
    assert out.dtype == "float32"
    res = _run([x, y], out, np.zeros(2, "float32"), 2.5)
    assert res.dtype == np.float32 and res[0] == 2.5


def test_set_subtensor_on_a_non_indexed_variable_raises():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="first argument must be the result of indexing"):
        T.set_subtensor(x, 0.0)
    with pytest.raises(TypeError, match="first argument must be the result of indexing"):
        T.inc_subtensor(x + 1, 0.0)


def test_set_subtensor_with_incompatible_value_shapes_raises():
    x = T.tensor("float64", shape=(3, 4))
    with pytest.raises(ValueError, match="cannot broadcast a value of static shape"):
        T.set_subtensor(x[0], np.ones(3))
    with pytest.raises(ValueError, match="the value has 3 dimensions"):
        T.set_subtensor(x[0], np.ones((2, 2, 4)))
    xm, y = T.dmatrix("xm"), T.dvector("y")
    f = nettrain.function([xm, y], T.set_subtensor(xm[0], y))
    with pytest.raises(ValueError, match="does not match the indexed shape"):
        f(A2, np.ones(1))  # a run-time length 1 does not broadcast unless declared


def test_y_with_leading_length1_dims_is_accepted():
    x = T.dvector("x")
    out = T.set_subtensor(x[1:], np.array([[5.0, 6.0]]))
    np.testing.assert_array_equal(_run([x], out, np.zeros(3)), [0.0, 5.0, 6.0])


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize(
    "fn",
    [
        lambda v: v[1:, ::-2],
        lambda v: v[-1, None],
        lambda v: v[[0, 0, 2]],  # repeated: gradients accumulate
        lambda v: v[:, [1, 1, 3]],
        lambda v: v[[0, 2], None, [1, 1]],
        lambda v: v[v > 0.5],
    ],
    ids=["basic", "int-newaxis", "adv1-repeated", "adv-repeated", "adv-newaxis", "bool"],
)
def test_grad_of_indexing_matches_finite_differences(fn):
    verify_grad(fn, [np.random.default_rng(0).uniform(size=(3, 4))], n_tests=1)


def test_grad_of_symbolic_index_is_none_and_x_grad_is_correct():
    x = T.dmatrix("x")
    i = T.lscalar("i")
    out = x[i:, i]
    node = out.owner
    grads = node.op.grad(node.inputs, [out.ones_like()])
    assert all(g is None for g in grads[1:])
    gx = T.grad(out.sum(), x)
    expected = np.zeros_like(A2)
    expected[1:, 1] = 1.0
    np.testing.assert_array_equal(_run([x, i], gx, A2, 1), expected)


@pytest.mark.parametrize("set_", [False, True], ids=["inc", "set"])
@pytest.mark.parametrize(
    "idx,yshape",
    [
        ((slice(1, None), 2), (2,)),
        ((slice(None), None, slice(1, 3)), (3, 1, 2)),
        (([2, 0],), (1, 4)),  # AdvancedIncSubtensor1 with y broadcast along dim 0
        ((slice(None), [3, 0]), (3, 2)),
    ],
    ids=["basic", "newaxis", "adv1-broadcast", "adv"],
)
def test_grad_of_set_and_inc_subtensor_wrt_x_and_y(idx, yshape, set_):
    rng = np.random.default_rng(1)
    bc = [d for d, s in enumerate(yshape) if s == 1]

    def fn(x, y):
        y = T.addbroadcast(y, *bc) if bc else y
        return T.set_subtensor(x[idx], y) if set_ else T.inc_subtensor(x[idx], y)

    verify_grad(fn, [rng.uniform(size=(3, 4)), rng.uniform(size=yshape)], n_tests=1)


def test_grad_of_inc_subtensor_with_repeated_indices_wrt_y():
    rng = np.random.default_rng(2)
    pt = [rng.uniform(size=(2, 3)), rng.uniform(size=(3, 3))]
    verify_grad(lambda x, y: T.inc_subtensor(x[[1, 1, 0]], y) ** 2, pt, n_tests=1)
    verify_grad(
        lambda x, y: T.set_subtensor(x[x > 0.5], y), [rng.uniform(size=(2, 3)), rng.uniform(size=())], n_tests=1
    )


def test_grad_of_set_subtensor_repeated_indices_zeroes_x_at_written_positions():
    x = T.dvector("x")
    out = T.set_subtensor(x[[1, 1]], 3.0)
    gx = T.grad((out * np.array([1.0, 2.0, 3.0])).sum(), x)
    np.testing.assert_array_equal(_run([x], gx, np.zeros(3)), [1.0, 0.0, 3.0])


def test_infer_shape_of_set_and_inc_ops_is_the_shape_of_x():
    x = T.dmatrix("x")
    for out in [T.set_subtensor(x[1:], 0.0), T.inc_subtensor(x[[0, 1]], 1.0), T.inc_subtensor(x[:, [0, 1]], 1.0)]:
        assert _inferred_shape(out, {x: A2}) == (3, 4)


# ------------------------------------------------------------------ take, nonzero
@pytest.mark.parametrize(
    "indices,axis,mode",
    [
        ([5, 0, 11], None, "raise"),
        ([2, 0, 2], 0, "raise"),
        ([[1, 0], [3, 3]], 1, "raise"),
        (-1, -1, "raise"),
        ([4, -5], 1, "wrap"),
        ([7, -1], 0, "clip"),
    ],
    ids=repr,
)
def test_take_matches_numpy(indices, axis, mode):
    x = T.dmatrix("x")
    _check_against_numpy(T.take(x, indices, axis=axis, mode=mode), np.take(A2, indices, axis=axis, mode=mode), {x: A2})


def test_take_with_symbolic_indices_and_bad_arguments():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    np.testing.assert_array_equal(_run([x, iv], T.take(x, iv, axis=1), A2, np.array([3, 1])), A2[:, [3, 1]])
    with pytest.raises(TypeError, match="take: indices must be integers"):
        T.take(x, T.dvector())
    with pytest.raises(ValueError, match="mode must be"):
        T.take(x, [0], mode="bogus")


def test_nonzero_flatnonzero_and_nonzero_values_match_numpy():
    x = T.dmatrix("x")
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])
    rows, cols = _run([x], list(x.nonzero()), a)
    np.testing.assert_array_equal(rows, np.nonzero(a)[0])
    np.testing.assert_array_equal(cols, np.nonzero(a)[1])
    mat = _run([x], T.nonzero(x, return_matrix=True), a)
    assert mat.dtype == np.int64
    np.testing.assert_array_equal(mat, np.array(np.nonzero(a)))
    np.testing.assert_array_equal(_run([x], T.flatnonzero(x), a), np.flatnonzero(a))
    np.testing.assert_array_equal(_run([x], T.nonzero_values(x), a), a[a != 0])
    m = T.nonzero(x, return_matrix=True)
    assert _inferred_shape(m, {x: a}) == (2, 3)


def test_nonzero_of_a_scalar_raises():
    with pytest.raises(ValueError, match="at least one dimension"):
        T.nonzero(T.dscalar())
    with pytest.raises(ValueError, match="at least one dimension"):
        T.flatnonzero(T.dscalar())


def test_ops_accept_slice_objects_and_print_their_index():
    x = T.dmatrix("x")
    op = Subtensor([slice(1, None), 2])
    assert op == Subtensor([(1, None, None), 2])
    np.testing.assert_array_equal(_run([x], op(x), A2), A2[1:, 2])
    adv = AdvancedSubtensor([slice(None, None, -1), "?"])
    assert str(adv) == "AdvancedSubtensor{::-1, ?}"
    np.testing.assert_array_equal(_run([x], adv(x, T.constant([0, 0])), A2), A2[::-1, [0, 0]])


def test_row_label_picking_idiom_and_its_gradient():
    x = T.dmatrix("x")
    labels = T.lvector("labels")
    lv = np.array([0, 3, 1])
    picked = x[T.arange(x.shape[0]), labels]
    np.testing.assert_array_equal(_run([x, labels], picked, A2, lv), A2[np.arange(3), lv])
    expected = np.zeros_like(A2)
    expected[np.arange(3), lv] = 1.0
    np.testing.assert_array_equal(_run([x, labels], T.grad(picked.sum(), x), A2, lv), expected)


def test_inc_subtensor_as_a_shared_variable_update():
    s = nettrain.shared(np.zeros(3))
    i = T.lscalar("i")
    f = nettrain.function([i], [], updates={s: T.inc_subtensor(s[i], 1.0)})
    for k in (1, 1, 2):
        f(k)
    np.testing.assert_array_equal(s.get_value(), [0.0, 2.0, 1.0])


def test_indexing_with_the_result_of_nonzero():
    x = T.dmatrix("x")
    a = A2 - 5
    np.testing.assert_array_equal(_run([x], x[x.nonzero()], a), a[a.nonzero()])
    np.testing.assert_array_equal(_run([x], T.set_subtensor(x[x.nonzero()], 0.0), a), np.zeros_like(a))


def test_set_subtensor_with_symbolic_slice_bounds_and_its_gradients():
    x, y = T.dvector("x"), T.dvector("y")
    i, j = T.lscalar("i"), T.lscalar("j")
    out = T.set_subtensor(x[i:j], y)
    gx, gy = T.grad((out * np.arange(5.0)).sum(), [x, y])
    res, gxv, gyv = _run([x, y, i, j], [out, gx, gy], np.ones(5), np.array([7.0, 8.0]), 1, 3)
    np.testing.assert_array_equal(res, [1.0, 7.0, 8.0, 1.0, 1.0])
    np.testing.assert_array_equal(gxv, [0.0, 0.0, 0.0, 3.0, 4.0])
    np.testing.assert_array_equal(gyv, [1.0, 2.0])
