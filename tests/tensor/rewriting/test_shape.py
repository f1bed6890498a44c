"""Shape inference as rewrites: the shape of a computed tensor is computed from input shapes only."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.compile.mode import Mode
from nettrain.graph.basic import Apply
from nettrain.graph.op import Op
from nettrain.tensor.shape import Shape, Shape_i
from nettrain.tensor.type import TensorType

RNG = np.random.default_rng(9)


def _both(inputs, output):
    kw = dict(on_unused_input="ignore")
    return theano.function(inputs, output, **kw), theano.function(inputs, output, mode=Mode(optimizer=None), **kw)


def _assert_shape_only(f):
    """Every node computes integers, and shapes are read from the function's inputs only."""
    fg = f.maker.fgraph
    for node in fg.toposort():
        for o in node.outputs:
            assert o.type.dtype.startswith(("int", "uint")), "%s computes %s" % (node.op, o.type)
        if isinstance(node.op, (Shape, Shape_i)):
            assert node.inputs[0] in fg.inputs, "shape of a computed value %s" % node.inputs[0]


X = RNG.normal(size=(3, 4))
Y = RNG.normal(size=(4, 5))
V = RNG.normal(size=4)


def _x(name="x"):
    return T.dmatrix(name)


CASES = [
    ("elemwise", lambda x, y, v: T.exp(x) * 2 + 1),
    ("dot", lambda x, y, v: T.dot(T.tanh(x), y)),
    ("dot_vector", lambda x, y, v: T.dot(x, v)),
    ("outer", lambda x, y, v: T.outer(v, v)),
    ("reshape", lambda x, y, v: T.reshape(T.exp(x), (2, -1))),
    ("flatten", lambda x, y, v: T.flatten(T.exp(x))),
    ("join", lambda x, y, v: T.concatenate([x, T.exp(x), x * 2], axis=0)),
    ("join_axis1", lambda x, y, v: T.concatenate([x, T.dot(x, y)], axis=1)),
    ("stack", lambda x, y, v: T.stack([v, T.exp(v)])),
    ("slice", lambda x, y, v: T.exp(x)[1:, ::2]),
    ("index", lambda x, y, v: T.exp(x)[1]),
    ("negative_step", lambda x, y, v: T.exp(x)[::-2, -3:]),
    ("advanced_index", lambda x, y, v: T.exp(x)[[0, 2, 2]]),
    ("sum", lambda x, y, v: T.sum(T.exp(x), axis=0)),
    ("mean_keepdims", lambda x, y, v: T.mean(T.exp(x), axis=1, keepdims=True)),
    ("max_negative_axis", lambda x, y, v: T.max(T.exp(x), axis=-1)),
    ("argmax", lambda x, y, v: T.argmax(T.exp(x), axis=1)),
    ("transpose", lambda x, y, v: T.exp(x).T),
    ("dimshuffle", lambda x, y, v: T.exp(v).dimshuffle("x", 0, "x")),
    ("broadcast_row", lambda x, y, v: T.exp(v) + x),
    ("zeros_like", lambda x, y, v: T.zeros_like(T.exp(x))),
    ("softmax", lambda x, y, v: T.nnet.softmax(x)),
]


@pytest.mark.parametrize("name, build", CASES, ids=[c[0] for c in CASES])
def test_shape_is_computed_from_input_shapes_only(name, build):
    x, y, v = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v")
    out = build(x, y, v)
    f, ref = _both([x, y, v], out.shape)
    _assert_shape_only(f)
    want = np.shape(theano.function([x, y, v], out, on_unused_input="ignore")(X, Y, V))
    got = f(X, Y, V)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ref(X, Y, V), want)


def test_shape_of_exp_contains_no_exp():
    x = _x()
    f, _ = _both([x], T.exp(x).shape)
    assert all("Exp" not in str(n.op) for n in f.maker.fgraph.toposort())
    np.testing.assert_array_equal(f(X), [3, 4])
    assert f.maker.fgraph.rewrite_log.counts()["local_shape_of_computed_variable"] >= 1


@pytest.mark.parametrize("k, want", [(0, 3), (1, 4), (-1, 4), (-2, 3)])
def test_one_shape_entry_is_one_shape_i_of_the_input(k, want):
    x = _x()
    f, ref = _both([x], T.exp(T.dot(x, x.T[:, :2]) + 1).T.T.shape[k] if k in (0, -2) else T.exp(x).shape[k])
    nodes = f.maker.fgraph.toposort()
    assert [type(n.op) for n in nodes] == [Shape_i]
    assert int(f(X)) == want == int(ref(X))


def test_shape_entry_of_an_input_is_shape_i():
    x = _x()
    f, _ = _both([x], x.shape[1])
    assert [type(n.op) for n in f.maker.fgraph.toposort()] == [Shape_i]
    assert int(f(X)) == 4


def test_size_is_a_product_of_input_shapes():
    x, y = _x(), _x("y")
    f, _ = _both([x, y], T.dot(T.exp(x), y).size)
    _assert_shape_only(f)
    assert int(f(X, Y)) == 15


def test_static_shapes_fold_to_constants():
    s = TensorType("float64", (3, None))("s")
    f, _ = _both([s], T.exp(s).shape[0] + T.exp(s).shape)
    assert all(not isinstance(n.op, Shape_i) or n.op.i == 1 for n in f.maker.fgraph.toposort())
    np.testing.assert_array_equal(f(np.zeros((3, 7))), [6, 10])
    g, _ = _both([s], T.sqrt(s).shape[0])
    assert g.maker.fgraph.toposort() == []
    assert int(g(np.zeros((3, 7)))) == 3


def test_shape_of_a_scalar_is_an_empty_vector():
    a = T.dscalar("a")
    f, _ = _both([a], T.exp(a).shape)
    res = f(1.0)
    assert res.shape == (0,) and res.dtype == np.int64


def test_shape_of_an_input_is_read_directly():
    x = _x()
    f, _ = _both([x], x.shape)
    _assert_shape_only(f)
    np.testing.assert_array_equal(f(X), [3, 4])


def test_shape_entry_out_of_range_warns_at_build_time_and_raises_when_run():
    x = _x()
    with pytest.warns(RuntimeWarning, match="index 2 is out of bounds"):
        n = T.exp(x).shape[2]
    f = theano.function([x], n)  # the rewrite to shape_i leaves it alone
    with pytest.raises(IndexError, match="index 2 is out of bounds"):
        f(np.zeros((2, 3)))


class _NoShapeOp(Op):
    """An op without ``infer_shape``: its shape must be read from its result."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 2


def test_shape_of_an_op_without_infer_shape_is_taken_from_its_result():
    x = _x()
    out = _NoShapeOp()(T.exp(x))
    f, ref = _both([x], out.shape)
    assert any(isinstance(n.op, _NoShapeOp) for n in f.maker.fgraph.toposort())
    np.testing.assert_array_equal(f(X), [3, 4])
    np.testing.assert_array_equal(ref(X), [3, 4])


def test_shapes_in_an_expression_keep_values_equal():
    x = _x()
    out = T.exp(x) / T.cast(T.exp(x).shape[0], "float64") + T.cast(x.shape[1], "float64")
    f, ref = _both([x], out)
    np.testing.assert_allclose(f(X), np.exp(X) / 3 + 4, rtol=1e-14)
    np.testing.assert_allclose(ref(X), np.exp(X) / 3 + 4, rtol=1e-14)


def test_shape_entry_becomes_shape_i_even_without_shape_inference():
    x = _x()
    mode = Mode(optimizer="fast_run").excluding("local_shape_of_computed_variable")
    f = theano.function([x], T.exp(x).shape[-1], mode=mode)
    assert [type(n.op) for n in f.maker.fgraph.toposort()][-1] is Shape_i
    assert f.maker.fgraph.rewrite_log.counts()["local_shape_entry_to_shape_i"] == 1
    assert int(f(X)) == 4


def test_entry_of_a_stack_of_scalars_is_the_scalar():
    a, b = T.dscalars("a", "b")
    f, ref = _both([a, b], T.stack([a, T.exp(b)])[1])
    assert all(type(n.op).__name__ != "Join" for n in f.maker.fgraph.toposort())
    assert float(f(1.0, 0.5)) == float(ref(1.0, 0.5)) == np.exp(0.5)
