"""Rewrites of ``rewriting/canonicalize.py``: flattening, products and quotients, exp/log, reductions."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.compile.mode import Mode
from nettrain.tensor.reduction import CAReduce
from nettrain.testing import check_rewritten, op_names

RNG = np.random.default_rng(3)


_ops = op_names


def _fired(f):
    return f.maker.fgraph.rewrite_log.counts()


_check = check_rewritten


def _pos(*shape):
    return RNG.uniform(0.5, 2.0, size=shape)


# ------------------------------------------------------------ flattening sums and products
def test_nested_sums_become_one_add_with_constants_folded():
    x, y, z = T.dmatrices("x", "y", "z")
    xv, yv, zv = _pos(2, 3), _pos(2, 3), _pos(2, 3)
    f = _check([x, y, z], (x + y) + (z + 1) + 2, [xv, yv, zv], xv + yv + zv + 3)
    assert _ops(f) == ["Add"]
    (node,) = f.maker.fgraph.toposort()
    assert len(node.inputs) == 4
    assert _fired(f)["local_add_mul_flatten"] == 1


def test_nested_products_become_one_mul_with_constants_folded():
    x, y, z = T.dmatrices("x", "y", "z")
    xv, yv, zv = _pos(2, 3), _pos(2, 3), _pos(2, 3)
    f = _check([x, y, z], (x * y) * (z * 2) * 3, [xv, yv, zv], xv * yv * zv * 6)
    assert _ops(f) == ["Mul"]


def test_shared_subexpression_is_not_flattened_into_both_readers():
    x, y, z = T.dmatrices("x", "y", "z")
    xv, yv, zv = _pos(2, 3), _pos(2, 3), _pos(2, 3)
    a = x + y
    f = _check([x, y, z], (a + z) * a, [xv, yv, zv], (xv + yv + zv) * (xv + yv))
    assert _ops(f).count("Add") == 2


def test_integer_constants_fold_with_the_same_wraparound():
    b = T.bvector("b")
    bv = np.array([100, 3], dtype="int8")
    _check([b], b + 100 + 100, [bv], bv + np.int8(100) + np.int8(100))
    _check([b], b * 100 * 100, [bv], bv * np.int8(100) * np.int8(100))


def test_mixed_dtypes_are_not_flattened_across_a_promotion():
    b, c = T.bvector("b"), T.bvector("c")
    x = T.dvector("x")
    bv, cv, xv = np.array([100, 7], "int8"), np.array([100, 2], "int8"), _pos(2)
    # b + c wraps in int8 before meeting the float64 x
    _check([b, c, x], (b + c) + x, [bv, cv, xv], (bv + cv).astype("float64") + xv)


# ------------------------------------------------------------ products and quotients
def test_common_factor_cancels():
    x, y = T.dmatrices("x", "y")
    xv, yv = _pos(2, 3), _pos(2, 3)
    f = _check([x, y], x * y / x, [xv, yv], yv)
    assert _ops(f) == []
    assert _fired(f)["local_mul_div_canonical"] == 1


def test_cancellation_keeps_the_output_shape_when_the_cancelled_factor_broadcast():
    x, r = T.dmatrix("x"), T.drow("r")
    xv, rv = _pos(2, 3), _pos(1, 3)
    f = _check([x, r], x * r / x, [xv, rv], np.broadcast_to(rv, (2, 3)))
    assert f.maker.fgraph.outputs[0].type.broadcastable == (False, False)
    _check([x, r], r * x / r, [xv, rv], xv)


def test_quotient_of_products_cancels_the_common_factor():
    x, y, z = T.dmatrices("x", "y", "z")
    xv, yv, zv = _pos(2, 3), _pos(2, 3), _pos(2, 3)
    f = _check([x, y, z], (x * y) / (x * z), [xv, yv, zv], yv / zv)
    assert sorted(_ops(f)) == ["TrueDiv"]


def test_constant_factors_are_multiplied_together():
    x, y = T.dmatrices("x", "y")
    xv, yv = _pos(2, 3), _pos(2, 3)
    f = _check([x, y], 2 * x * 3 / y, [xv, yv], 6 * xv / yv)
    assert sorted(_ops(f)) == ["Mul", "TrueDiv"]
    const = [i for n in f.maker.fgraph.toposort() for i in n.inputs if isinstance(i, T.TensorConstant)]
    assert [c.data.tolist() for c in const] == [[[6.0]]]


def test_negations_in_a_product_cancel():
    x, y = T.dmatrices("x", "y")
    xv, yv = _pos(2, 3), _pos(2, 3)
    f = _check([x, y], -x * -y, [xv, yv], xv * yv)
    assert _ops(f) == ["Mul"]


def test_reciprocal_cancels_a_factor():
    x, y = T.dmatrices("x", "y")
    xv, yv = _pos(2, 3), _pos(2, 3)
    f = _check([x, y], T.reciprocal(x) * x * y, [xv, yv], yv)
    assert _ops(f) == []


def test_division_by_constant_zero_folds_to_infinities_as_before():
    x = T.dvector("x")
    xv = np.array([1.0, -1.0, 0.0])
    with np.errstate(all="ignore"):
        want = xv * 3 / 0.0
    f = _check([x], x * 3 / 0.0, [xv], want)
    assert "TrueDiv" not in _ops(f)


def test_float32_product_stays_float32():
    x, y = T.fvector("x"), T.fvector("y")
    xv, yv = _pos(3).astype("float32"), _pos(3).astype("float32")
    _check([x, y], x * 0.5 * y / x * 4, [xv, yv], (2 * yv).astype("float32"), rtol=1e-6)


def test_integer_products_are_not_cancelled():
    i, j = T.ivectors("i", "j")
    iv, jv = np.array([0, 2], "int32"), np.array([3, 4], "int32")
    # 0 * 3 / 0 is nan: an integer zero is a real possibility, so no cancellation
    f = theano.function([i, j], i * j / i)
    ref = theano.function([i, j], i * j / i, mode=Mode(optimizer=None))
    with np.errstate(all="ignore"):
        want = (iv * jv) / iv
    np.testing.assert_array_equal(f(iv, jv), want)
    np.testing.assert_array_equal(ref(iv, jv), want)


# ------------------------------------------------------------ exp and log
def test_log_of_exp_is_the_argument():
    x = T.dvector("x")
    xv = np.array([-3.0, 0.5, 800.0])  # exp(800) overflows; the rewrite gives the exact answer
    f = theano.function([x], T.log(T.exp(x)))
    assert _ops(f) == []
    np.testing.assert_allclose(f(xv), xv)
    np.testing.assert_allclose(f(xv[:2]), np.log(np.exp(xv[:2])))


def test_exp_of_log_is_the_argument_where_defined():
    x = T.dvector("x")
    xv = np.array([0.0, 0.5, 3.0])
    f = _check([x], T.exp(T.log(x)), [xv], xv)
    assert "Exp" not in _ops(f) and "Log" not in _ops(f)
    assert _fired(f)["local_exp_log"] == 1


def test_exp_of_log_of_a_negative_number_is_still_nan():
    x = T.dvector("x")
    xv = np.array([-1.0, 2.0, np.nan, -np.inf])
    _check([x], T.exp(T.log(x)), [xv], np.array([np.nan, 2.0, np.nan, np.nan]))


def test_exp_of_log_of_integers_is_not_rewritten_into_an_integer():
    i = T.ivector("i")
    iv = np.array([1, 4], "int32")
    _check([i], T.exp(T.log(i)), [iv], iv.astype("float64"))


# ------------------------------------------------------------ reductions of dimshuffles
def test_sum_of_transpose_reduces_the_input_directly():
    x = T.dmatrix("x")
    xv = _pos(2, 3)
    f = _check([x], T.sum(x.T, axis=0), [xv], xv.sum(axis=1))
    nodes = f.maker.fgraph.toposort()
    assert len(nodes) == 1 and isinstance(nodes[0].op, CAReduce) and nodes[0].op.axis == (1,)
    assert _fired(f)["local_reduce_of_dimshuffle"] == 1


@pytest.mark.parametrize(
    "reduce, npfn",
    [(T.max, np.max), (T.min, np.min), (T.prod, np.prod), (T.sum, np.sum)],
)
def test_reduction_over_inserted_and_permuted_axes(reduce, npfn):
    x = T.dmatrix("x")
    xv = _pos(2, 3)
    out = reduce(x.dimshuffle(1, "x", 0), axis=(0, 1))
    f = _check([x], out, [xv], npfn(xv.T[:, None, :], axis=(0, 1)))
    assert "DimShuffle" not in _ops(f)


def test_reduction_with_keepdims_of_a_dimshuffle():
    x = T.dmatrix("x")
    xv = _pos(2, 3)
    _check([x], T.sum(x.dimshuffle(1, "x", 0), axis=1, keepdims=True), [xv], xv.T[:, None, :])
    _check([x], T.sum(x.T, axis=-1, keepdims=True), [xv], xv.T.sum(axis=-1, keepdims=True))


def test_integer_sum_of_a_dimshuffle_keeps_its_accumulator_dtype():
    b = T.bmatrix("b")
    bv = np.full((2, 3), 100, dtype="int8")
    out = T.sum(b.T, axis=0)
    _check([b], out, [bv], bv.sum(axis=1, dtype=out.dtype))


def test_sum_over_only_an_inserted_axis_of_an_empty_matrix():
    x = T.dmatrix("x")
    xv = np.zeros((0, 3))
    _check([x], T.max(x.dimshuffle("x", 0, 1), axis=0), [xv], xv)


# ------------------------------------------------------------ 1 - x spelling and distribution
@pytest.mark.parametrize("build", [lambda x: 1 + (-x), lambda x: (-x) + 1])
def test_one_plus_negation_is_one_minus(build):
    x = T.dmatrix("x")
    xv = _pos(2, 3)
    f = _check([x], build(x), [xv], 1 - xv)
    assert _ops(f) == ["Sub"]
    assert _fired(f)["local_one_plus_neg_to_sub"] == 1


def test_equal_one_minus_spellings_merge_and_cancel():
    p = T.dvector("p")
    pv = RNG.uniform(0.1, 0.9, size=3)
    f = _check([p], (1 - p) * 3 / (1 + (-p)), [pv], np.full(3, 3.0))
    assert "TrueDiv" not in _ops(f)


def test_product_distributes_over_a_sum_when_a_divisor_cancels():
    x, y, p, q = T.dmatrices("x", "y", "p", "q")
    xv, yv, pv, qv = _pos(2, 3), _pos(2, 3), _pos(2, 3), _pos(2, 3)
    f = _check([x, y, p, q], (x / p + y / q) * p * q, [xv, yv, pv, qv], xv * qv + yv * pv)
    assert "TrueDiv" not in _ops(f)
    assert _fired(f)["local_distribute_mul_for_cancellation"] >= 1


def test_difference_distributes_too():
    x, y, p, q = T.dmatrices("x", "y", "p", "q")
    xv, yv, pv, qv = _pos(2, 3), _pos(2, 3), _pos(2, 3), _pos(2, 3)
    f = _check([x, y, p, q], (x / p - y / q) * p, [xv, yv, pv, qv], xv - yv * pv / qv)
    assert _ops(f).count("TrueDiv") == 1


def test_product_without_a_cancelling_divisor_is_not_distributed():
    x, y, p = T.dmatrices("x", "y", "p")
    xv, yv, pv = _pos(2, 3), _pos(2, 3), _pos(2, 3)
    f = _check([x, y, p], (x + y) * p, [xv, yv, pv], (xv + yv) * pv)
    assert "local_distribute_mul_for_cancellation" not in _fired(f)
    assert sorted(_ops(f)) == ["Add", "Mul"]
