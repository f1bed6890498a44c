"""Rewrites of ``rewriting/basic.py``: constant folding and removal of useless operations.

Each test compiles with FAST_RUN, checks the rewritten graph, and compares the values with
``Mode(optimizer=None)`` and NumPy.
"""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.compile.mode import Mode
from nettrain.tensor.elemwise import DimShuffle
from nettrain.testing import check_rewritten, op_names

RNG = np.random.default_rng(42)


_ops = op_names


def _fired(f):
    return f.maker.fgraph.rewrite_log.counts()


_check = check_rewritten


# ------------------------------------------------------------ constant folding
def test_constant_folding_computes_constant_subgraphs_once():
    x = T.dvector("x")
    out = x + T.exp(T.constant(np.array([0.0, 1.0]))) * 2
    xv = RNG.normal(size=2)
    f = _check([x], out, [xv], xv + np.exp([0.0, 1.0]) * 2)
    assert _ops(f) == ["Add"]
    assert _fired(f)["local_constant_folding"] >= 2


def test_constant_folding_keeps_a_large_allocation_made_from_small_inputs():
    f = theano.function([], T.alloc(T.constant(0.0), 1100, 1000))
    assert _ops(f) == ["Alloc"]
    assert f().shape == (1100, 1000)


def test_constant_folding_leaves_a_failing_op_to_raise_at_run_time():
    out = T.max(T.constant(np.zeros((0, 3))), axis=0)
    f = theano.function([], out)
    assert "CAReduce" in _ops(f)
    with pytest.raises(ValueError, match="no identity"):
        f()


def test_constant_folding_result_is_a_constant_of_the_output_type():
    out = T.cast(T.constant(np.array([1.7, -2.2])), "int32")
    f = theano.function([], out)
    assert _ops(f) == []
    res = f()
    assert res.dtype == np.int32
    np.testing.assert_array_equal(res, [1, -2])


# ------------------------------------------------------------ identities and casts
def test_tensor_copy_is_removed_and_the_output_still_does_not_alias_the_input():
    x = T.dvector("x")
    xv = RNG.normal(size=3)
    f = _check([x], T.tensor_copy(x) * 1, [xv], xv)
    assert _ops(f) == []
    res = f(xv)
    res[0] = 99.0
    assert xv[0] != 99.0


def test_cast_to_own_dtype_and_lossless_cast_chain_disappear():
    i = T.ivector("i")
    iv = np.array([2**31 - 1, -(2**31), 5], dtype="int32")
    f = _check([i], T.cast(T.cast(i, "float64"), "int32") + 0, [iv], iv)
    assert _ops(f) == []
    assert _fired(f)["local_cast_to_same_dtype"] >= 1


def test_int64_through_float64_cast_chain_is_kept_because_it_loses_precision():
    i = T.lscalar("i")
    f = _check([i], T.cast(T.cast(i, "float64"), "int64"), [2**53 + 1], np.int64(2**53))
    assert _ops(f).count("Cast") == 2


def test_float64_through_float32_cast_chain_is_kept_because_it_rounds():
    x = T.dvector("x")
    xv = np.array([0.1, 1e-50, 1e30])
    f = _check([x], T.cast(T.cast(x, "float32"), "float64"), [xv], xv.astype("float32").astype("float64"))
    assert _ops(f).count("Cast") == 2


# ------------------------------------------------------------ neg, neutral elements, zero
def test_double_negation_is_removed():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    f = _check([x], T.neg(T.neg(x)), [xv], xv)
    assert _ops(f) == []
    assert "local_neg_neg" in _fired(f) or "local_mul_div_canonical" in _fired(f)


def test_double_negation_of_bool_gives_int8_as_before():
    b = T.TensorType("bool", (None,))("b")
    bv = np.array([True, False])
    _check([b], T.neg(T.neg(b)), [bv], np.array([1, 0], dtype="int8"))


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda x: x * 1, "mul"),
        (lambda x: 1 * x * 1.0, "mul_left"),
        (lambda x: x + 0, "add"),
        (lambda x: 0 + x + 0.0, "add_left"),
        (lambda x: x - 0, "sub"),
        (lambda x: x / 1, "div"),
    ],
)
def test_multiplying_by_one_and_adding_zero_are_removed(build, name):
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    f = _check([x], build(x), [xv], xv)
    assert _ops(f) == [], name


def test_mul_by_one_keeps_other_factors():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    xv, yv = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    f = _check([x, y], x * 1 * y, [xv, yv], xv * yv)
    assert _ops(f) == ["Mul"]


def test_mul_by_a_matrix_of_ones_still_broadcasts_a_row():
    r = T.drow("r")
    rv = RNG.normal(size=(1, 4))
    ones = T.constant(np.ones((3, 4)))
    f = _check([r], r * ones, [rv], np.broadcast_to(rv, (3, 4)))
    assert f.maker.fgraph.outputs[0].type.shape == (3, 4)
    zeros = T.constant(np.zeros((3, 4)))
    _check([r], r + zeros, [rv], np.broadcast_to(rv, (3, 4)))


def test_integer_divided_by_one_is_still_float():
    i = T.ivector("i")
    iv = np.array([3, -4], dtype="int32")
    f = _check([i], i / 1, [iv], iv.astype("float64"))
    assert "TrueDiv" not in _ops(f)


def test_integer_times_zero_becomes_zeros():
    i = T.imatrix("i")
    iv = RNG.integers(-5, 5, size=(2, 3)).astype("int32")
    f = _check([i], i * 0, [iv], np.zeros((2, 3), dtype="int32"))
    assert "Mul" not in _ops(f)
    assert _fired(f)["local_mul_by_zero"] == 1


def test_float_times_zero_is_kept_so_inf_and_nan_give_nan():
    x = T.dvector("x")
    xv = np.array([np.inf, np.nan, 2.0])
    f = _check([x], x * 0, [xv], np.array([np.nan, np.nan, 0.0]))
    assert "Mul" in _ops(f)


# ------------------------------------------------------------ fill and switch
def test_fill_by_a_value_of_the_output_shape_is_removed():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    xv, yv = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    f = _check([x, y], T.fill(x, y), [xv, yv], yv)
    assert _ops(f) == []


def test_fill_that_broadcasts_a_row_is_kept():
    x, r = T.dmatrix("x"), T.drow("r")
    xv, rv = RNG.normal(size=(2, 3)), RNG.normal(size=(1, 3))
    f = _check([x, r], T.fill(x, r), [xv, rv], np.broadcast_to(rv, (2, 3)))
    assert _ops(f) == ["Second"]


def test_fill_inside_an_elementwise_op_whose_other_input_has_the_shape_is_dropped():
    # what grad makes of 0.01 * (w ** 2).sum(): fill(w ** 2, 0.01) * 2 * w
    w = T.dvector("w")
    wv = RNG.normal(size=4)
    f = _check([w], T.fill(T.sqr(w), 0.01) * 2 * w, [wv], 0.02 * wv)
    assert "Second" not in _ops(f) and "Sqr" not in _ops(f)
    assert _fired(f).get("local_fill_sink", 0) >= 1


def test_fill_inside_an_elementwise_op_that_gives_the_shape_is_kept():
    x, r = T.dmatrix("x"), T.drow("r")
    xv, rv = RNG.normal(size=(2, 3)), RNG.normal(size=(1, 3))
    f = _check([x, r], T.fill(x, 2.0) * r, [xv, rv], np.broadcast_to(2 * rv, (2, 3)))
    assert f(xv, rv).shape == (2, 3)


@pytest.mark.parametrize("cond, pick", [(1, 0), (True, 0), (0, 1), (False, 1)])
def test_switch_on_a_constant_condition_picks_a_branch(cond, pick):
    x = T.dvector("x")
    xv = RNG.normal(size=3)
    f = _check([x], T.switch(cond, T.exp(x), T.sin(x)), [xv], [np.exp(xv), np.sin(xv)][pick])
    assert "Switch" not in _ops(f)
    assert ["Exp", "Sin"][1 - pick] not in _ops(f)


def test_switch_with_equal_branches_is_the_branch():
    c, x = T.dvector("c"), T.dvector("x")
    cv, xv = RNG.normal(size=3), RNG.normal(size=3)
    f = _check([c, x], T.switch(c > 0, x, x), [cv, xv], xv)
    assert _ops(f) == []


def test_switch_on_a_constant_keeps_the_broadcast_shape():
    r, m = T.drow("r"), T.dmatrix("m")
    rv, mv = RNG.normal(size=(1, 3)), RNG.normal(size=(2, 3))
    _check([r, m], T.switch(1, r, m), [rv, mv], np.broadcast_to(rv, (2, 3)))


# ------------------------------------------------------------ dimshuffle, reshape, specify_shape
def test_transpose_of_transpose_is_removed():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    f = _check([x], x.T.T, [xv], xv)
    assert _ops(f) == []


def test_chained_dimshuffles_become_one():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    f = _check([x], x.dimshuffle("x", 1, 0).dimshuffle(2, 0, 1), [xv], xv[:, None, :])
    nodes = f.maker.fgraph.toposort()
    assert len(nodes) == 1 and isinstance(nodes[0].op, DimShuffle)
    assert nodes[0].op.new_order == (0, "x", 1)


def test_dimshuffle_dropping_a_broadcast_axis_merges_with_its_input():
    c = T.dcol("c")
    cv = RNG.normal(size=(3, 1))
    f = _check([c], c.dimshuffle(1, 0).dimshuffle(1), [cv], cv[:, 0])
    assert len(f.maker.fgraph.toposort()) == 1


def test_reshape_to_the_known_shape_is_removed():
    s = T.TensorType("float64", (3, 4))("s")
    sv = RNG.normal(size=(3, 4))
    f = _check([s], T.reshape(s, (3, 4)), [sv], sv)
    assert _ops(f) == []


def test_reshape_of_reshape_becomes_one_reshape():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    f = _check([x], T.reshape(T.reshape(x, (-1,)), (3, 2)), [xv], xv.reshape(3, 2))
    assert _ops(f).count("Reshape") == 1


def test_reshape_of_unknown_shape_is_kept_and_checked():
    x = T.dmatrix("x")
    f = theano.function([x], T.reshape(x, (3, 2)))
    assert "Reshape" in _ops(f)
    with pytest.raises(ValueError):
        f(np.zeros((2, 2)))


def test_specify_shape_already_in_the_type_is_removed():
    s = T.TensorType("float64", (3, 4))("s")
    sv = RNG.normal(size=(3, 4))
    f = _check([s], T.specify_shape(s, (3, 4)), [sv], sv)
    assert _ops(f) == []


def test_specify_shape_adding_information_is_kept_and_checked():
    x = T.dmatrix("x")
    f = theano.function([x], T.specify_shape(x, (3, 4)) * 2)
    assert "SpecifyShape" in _ops(f)
    with pytest.raises(Exception, match="shape"):
        f(np.zeros((2, 4)))


def test_unbroadcast_of_a_non_broadcast_axis_is_removed():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(2, 3))
    f = _check([x], T.unbroadcast(x, 0), [xv], xv)
    assert _ops(f) == []
    r = T.drow("r")
    g = theano.function([r], T.unbroadcast(r, 0))
    assert _ops(g) == ["Unbroadcast"]


def test_constants_built_by_specialize_are_folded_too():
    x = T.dvector("x")
    # specialize turns x / 2 into x * 0.5; the new scalar constant needs no run-time DimShuffle
    f = theano.function([x], x / 2, mode=Mode(optimizer="fast_run").excluding("fusion"))
    assert _ops(f) == ["Mul"]
    assert _fired(f)["local_constant_folding_late"] == 1
    np.testing.assert_array_equal(f(np.array([3.0, -1.0])), [1.5, -0.5])


def test_every_registered_rewrite_is_named_local_and_states_its_rule():
    from nettrain.graph.rewriting import PHASES, registered_rewriters

    rws = registered_rewriters()
    assert {rw.phase for rw in rws} <= set(PHASES)
    for rw in rws:
        assert rw.name.startswith("local_"), rw
        assert rw.rule and rw.rule != rw.name, "%s has no one-line docstring" % rw.name
