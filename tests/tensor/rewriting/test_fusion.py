"""Fusion of elementwise trees into ``Elemwise{Composite{...}}``: same values as without rewrites."""

import pickle

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.compile.mode import Mode
from nettrain.tensor.composite import Composite
from nettrain.tensor.elemwise import Elemwise
from nettrain.tensor.rewriting.fusion import MAX_INPUTS

RNG = np.random.default_rng(21)


def _fused(f):
    return [
        n for n in f.maker.fgraph.toposort() if isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Composite)
    ]


def _elemwise(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Elemwise)]


def _check(inputs, outputs, values, rtol=1e-13):
    """FAST_RUN and no-rewrite results agree (values, dtypes, shapes); returns the FAST_RUN function."""
    fast = theano.function(inputs, outputs)
    ref = theano.function(inputs, outputs, mode=Mode(optimizer=None))
    got, want = fast(*values), ref(*values)
    if not isinstance(got, list):
        got, want = [got], [want]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, equal_nan=True)
    return fast


def _m(*shape):
    return RNG.normal(size=shape or (3, 4))


# ------------------------------------------------------------ shapes of the fused group
def test_chain_becomes_one_fused_node_printed_as_a_composite():
    x = T.dmatrix("x")
    f = _check([x], T.tanh(T.exp(T.sin(x))), [_m()])
    (node,) = f.maker.fgraph.toposort()
    assert str(node.op) == "Elemwise{Composite{tanh(exp(sin(i0)))}}"
    assert f.maker.fgraph.rewrite_log.counts()["local_elemwise_fusion"] == 1


def test_tree_of_three_inputs_becomes_one_node():
    x, y, z = T.dmatrices("x", "y", "z")
    f = _check([x, y, z], T.exp(x) * T.sin(y) + T.cos(z), [_m(), _m(), _m()])
    (node,) = f.maker.fgraph.toposort()
    assert str(node.op) == "Elemwise{Composite{((exp(i0) * sin(i1)) + cos(i2))}}"
    assert len(node.inputs) == 3


def test_diamond_computes_the_shared_subexpression_once():
    x, y = T.dmatrices("x", "y")
    a = T.exp(x)
    f = _check([x, y], T.sin(a) + T.cos(a) * y, [_m(), _m()])
    (node,) = _fused(f)
    steps = [type(op).__name__ for op, _, _ in node.op.scalar_op.program]
    assert steps.count("Exp") == 1
    assert len(f.maker.fgraph.toposort()) == 1


def test_row_broadcast_against_a_matrix_inside_a_fused_node():
    x, r = T.dmatrix("x"), T.drow("r")
    f = _check([x, r], T.exp(r) * x + r, [_m(), _m(1, 4)])
    assert len(f.maker.fgraph.toposort()) == 1
    assert f(_m(), _m(1, 4)).shape == (3, 4)


def test_column_and_row_make_an_outer_sum():
    c, r = T.dcol("c"), T.drow("r")
    f = _check([c, r], T.exp(c) + T.sin(r) * 2, [_m(3, 1), _m(1, 4)])
    assert f(_m(3, 1), _m(1, 4)).shape == (3, 4)


def test_vector_broadcast_through_a_dimshuffle():
    x, v = T.dmatrix("x"), T.dvector("v")
    _check([x, v], T.exp(v) * x + v, [_m(), _m(4)])


def test_intermediate_that_is_also_an_output_becomes_an_extra_output():
    x, y = T.dmatrices("x", "y")
    a = T.exp(x)
    f = _check([x, y], [a * y + 1, a], [_m(), _m()])
    (node,) = f.maker.fgraph.toposort()
    assert len(node.outputs) == 2
    assert str(node.op) == "Elemwise{Composite{((exp(i0) * i1) + i2), exp(i0)}}"


def test_intermediate_read_by_a_reduction_too():
    x, y = T.dmatrices("x", "y")
    a = T.exp(x)
    _check([x, y], [T.sin(a * y + 1), a * 2, T.sum(a)], [_m(), _m()])
    # a reduction that feeds back into the same tree must not create a cycle
    _check([x, y], (a + 1) * T.exp(T.sum(a) + y), [_m(), _m()])
    _check([x, y], T.exp(T.sum(a) + y) * (a + 1), [_m(), _m()])


def test_intermediate_of_smaller_shape_read_elsewhere_is_not_an_extra_output():
    x, r = T.dmatrix("x"), T.drow("r")
    a = T.exp(r)
    f = _check([x, r], [a * x, a + 1], [_m(), _m(1, 4)])
    for node in _fused(f):
        for o in node.outputs:
            assert o.type.broadcastable == node.outputs[0].type.broadcastable


def test_output_read_twice_by_one_node():
    x = T.dmatrix("x")
    a = T.exp(x)
    _check([x], a * a - a, [_m()])


def test_more_inputs_than_max_inputs_are_split_into_several_fused_nodes():
    n = MAX_INPUTS + 8
    ins = [T.dvector("i%d" % k) for k in range(n)]
    e = ins[0]
    for v in ins[1:]:
        e = e * 1.5 + T.sin(v)
    f = _check(ins, e, [_m(3) for _ in ins], rtol=1e-12)
    nodes = f.maker.fgraph.toposort()
    assert all(len(nd.inputs) <= MAX_INPUTS for nd in nodes)
    assert len(nodes) <= 3
    assert all(nd in _fused(f) for nd in nodes)


def test_a_root_with_more_inputs_than_max_inputs_still_compiles():
    ins = [T.dvector("i%d" % k) for k in range(MAX_INPUTS + 3)]
    _check(ins, T.add(*[T.sin(v) for v in ins]), [_m(2) for _ in ins])


# ------------------------------------------------------------ dtypes inside a fused node
def test_comparison_cast_and_switch_inside_a_fused_node():
    i, j = T.ivectors("i", "j")
    x = T.dvector("x")
    out = T.switch(T.gt(i, j), T.cast(i, "float64"), T.exp(x)) * 2
    iv, jv = np.array([1, 5, 2, 3], "int32"), np.array([2, 3, 2, 1], "int32")
    f = _check([i, j, x], out, [iv, jv, _m(4)])
    assert len(_fused(f)) == 1


def test_bool_and_integer_arithmetic_inside_a_fused_node():
    b = T.TensorType("bool", (None,))("b")
    i = T.ivector("i")
    out = T.cast(b, "int32") + i * 2 - (i // 2) + (i % 3)
    _check([b, i], out, [np.array([True, False, True]), np.array([7, -3, 0], "int32")])


def test_bool_logic_inside_a_fused_node():
    x, y = T.dvectors("x", "y")
    out = T.and_(T.gt(x, 0), T.lt(y, 0)) | T.eq(x, y)
    f = _check([x, y], out, [_m(6), _m(6)])
    assert f(_m(6), _m(6)).dtype == np.bool_


def test_int8_arithmetic_wraps_before_a_float32_cast():
    b, c = T.bvectors("b", "c")
    bv, cv = np.array([100, 3, -128], "int8"), np.array([100, 5, -1], "int8")
    _check([b, c], T.sqrt(T.cast(b * c, "float32") ** 2), [bv, cv])
    _check([b, c], T.exp(T.cast(b + c, "float32") / 100), [bv, cv], rtol=1e-6)


def test_int8_bitwise_op_feeding_a_float32_result():
    b, c = T.bvectors("b", "c")
    bv, cv = np.array([100, 3, -128], "int8"), np.array([100, 5, -1], "int8")
    # Elemwise.perform widens all-int8 inputs of a float32 output; bitwise_and needs the ints back
    _check([b, c], T.exp(T.cast(b & c, "float32") / 64), [bv, cv], rtol=1e-6)


def test_exp_of_int8_inside_a_fused_node_has_float32_precision():
    b = T.bvector("b")
    m = T.TensorType("bool", (None,))("m")
    bv = np.array([3, 4, 5], "int8")
    out = T.exp(T.switch(m, b, b + 1))
    f = _check([m, b], out, [np.array([True, False, True]), bv], rtol=1e-6)
    assert f(np.array([True, False, True]), bv).dtype == np.float32


def test_float32_graph_stays_float32():
    x, y = T.fmatrices("x", "y")
    xv, yv = _m().astype("float32"), _m().astype("float32")
    f = _check([x, y], T.tanh(x * 0.5 + y) * 2 - 1, [xv, yv], rtol=1e-6)
    assert f(xv, yv).dtype == np.float32


# ------------------------------------------------------------ composites, errors, gradients
def test_an_existing_composite_is_inlined_into_a_larger_group():
    x = T.dmatrix("x")
    inner = theano.function([x], T.sin(x) * 2)
    (node,) = _fused(inner)
    comp_op = node.op
    y, z = T.dmatrices("y", "z")
    out = T.exp(comp_op(y, *node.inputs[1:])) + z
    f = _check([y, z], out, [_m(), _m()])
    (fused,) = f.maker.fgraph.toposort()
    assert "sin" in str(fused.op) and "exp" in str(fused.op)


def test_composite_ops_compare_by_program_and_pickle():
    x = T.dmatrix("x")
    f1 = theano.function([x], T.exp(x) * 2 + 1)
    f2 = theano.function([x], T.exp(x) * 2 + 1)
    op1, op2 = _fused(f1)[0].op, _fused(f2)[0].op
    assert op1 == op2 and hash(op1) == hash(op2)
    op3 = pickle.loads(pickle.dumps(op1))
    assert op3 == op1 and str(op3) == str(op1)


def test_shape_mismatch_in_a_fused_node_raises_with_the_input_shapes():
    x, y = T.dmatrices("x", "y")
    f = theano.function([x, y], T.exp(x) + T.sin(y))
    assert len(_fused(f)) == 1
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 5\)|do not match"):
        f(_m(3, 4), _m(3, 5))


def test_runtime_length_one_in_a_non_broadcast_dimension_is_rejected_as_before():
    x, y = T.dmatrices("x", "y")
    f = theano.function([x, y], T.exp(x) + T.sin(y))
    ref = theano.function([x, y], T.exp(x) + T.sin(y), mode=Mode(optimizer=None))
    for fn in (f, ref):
        with pytest.raises(ValueError):
            fn(_m(3, 4), _m(1, 4))


def test_gradient_of_a_fused_graph_is_taken_before_fusion():
    x = T.dvector("x")
    cost = T.sum(T.tanh(T.exp(x) * 2))
    g = T.grad(cost, x)
    xv = _m(5) * 0.3
    f = _check([x], [cost, g], [xv])
    assert len(_fused(f)) >= 1


def test_composite_itself_is_not_differentiable():
    x = T.dvector("x")
    (node,) = _fused(theano.function([x], T.exp(x) * 2))
    y = T.dvector("y")
    out = node.op(y, *node.inputs[1:])
    with pytest.raises(Exception, match="differentiate before compiling"):
        theano.function([y], T.grad(T.sum(out), y))
