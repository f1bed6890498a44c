"""Structural graph comparison (equal_computations, is_same_graph) and Theano's ``gof.graph.inputs`` order."""

import numpy as np

import nettrain as theano
from nettrain import tensor as T
from nettrain.gof.graph import inputs, is_same_graph
from nettrain.scan_module.scan_utils import equal_computations


def test_same_expression_built_twice_is_equal_and_operands_order_matters():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    assert equal_computations([(x * y).sum(axis=1)], [(x * y).sum(axis=1)])
    assert not equal_computations([x * y], [y * x])
    assert not equal_computations([x.sum(axis=0)], [x.sum(axis=1)])  # op props differ
    assert not equal_computations([x], [y]) and equal_computations([x], [x])


def test_declared_input_pairs_and_constants():
    x, y = T.dvector("x"), T.dvector("y")
    assert equal_computations([x + 2.0], [y + 2.0], [x], [y])
    assert not equal_computations([x + 2.0], [x + 3.0])
    big = np.arange(5000.0)  # past the size where constants are keyed by identity
    assert equal_computations([x + T.constant(big)], [x + T.constant(big.copy())])


def test_is_same_graph_with_givens_in_either_direction():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    assert is_same_graph(x.mean(), x.mean()) and not is_same_graph(x.mean(), x.sum())
    assert is_same_graph(T.exp(x), T.exp(y), givens={x: y})
    assert is_same_graph(T.exp(y), T.exp(x), givens={x: y})


def test_gof_graph_inputs_walks_the_outputs_last_first():
    a, b, c = T.dscalars("a", "b", "c")
    w = theano.shared(1.0, name="w")
    assert [v.name for v in inputs([a * w + b, c])] == ["c", "a", "w", "b"]
    # Lasagne's idiom: reversed outputs give the inputs in output order
    assert [v.name for v in inputs(reversed([a * w + b, c]))] == ["a", "w", "b", "c"]
