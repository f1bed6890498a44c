"""Lazy ifelse: values, laziness, gradients, lists of outputs and type errors."""

import pickle

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.graph.basic import Apply
from nettrain.graph.op import Op
from nettrain.ifelse import IfElse, ifelse
from nettrain.tensor.shared_randomstreams import RandomStreams
from nettrain.testing import verify_grad

CALLS = {}


class Count(Op):
    """Identity that counts how often it runs (to observe laziness)."""

    __props__ = ("key",)

    def __init__(self, key):
        self.key = key

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        CALLS[self.key] = CALLS.get(self.key, 0) + 1
        output_storage[0][0] = inputs[0].copy()

    def grad(self, inputs, output_grads):
        return [output_grads[0]]


class Fail(Op):
    """An op that always raises when run."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        raise RuntimeError("the untaken branch was computed")


def _ifelse_nodes(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, IfElse)]


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("cond_dtype", ["int8", "bool", "float64"])
def test_ifelse_selects_the_branch_by_condition(cond_dtype):
    c = T.scalar("c", dtype=cond_dtype)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([c, x, y], ifelse(c, x + y, x * y))
    xv, yv = np.arange(6.0).reshape(2, 3), np.full((2, 3), 2.0)
    np.testing.assert_allclose(f(np.asarray(1, dtype=cond_dtype), xv, yv), xv + yv)
    np.testing.assert_allclose(f(np.asarray(0, dtype=cond_dtype), xv, yv), xv * yv)
    assert len(_ifelse_nodes(f)) == 1


def test_ifelse_with_a_symbolic_comparison_and_python_constant_branch():
    a, b = T.dscalars("a", "b")
    out = ifelse(T.lt(a, b), a, 0)
    assert out.type.dtype == "float64"
    f = theano.function([a, b], out)
    assert float(f(1.0, 2.0)) == 1.0 and float(f(3.0, 2.0)) == 0.0


def test_ifelse_lists_and_tuples_of_outputs():
    c = T.iscalar("c")
    x, y = T.dvector("x"), T.dvector("y")
    outs = ifelse(c, [x, y.sum()], [y, x.sum()])
    assert isinstance(outs, list) and len(outs) == 2
    tup = ifelse(c, (x,), (y,))
    assert isinstance(tup, tuple)
    f = theano.function([c, x, y], outs + list(tup))
    xv, yv = np.array([1.0, 2.0]), np.array([5.0, 7.0])
    r1, s1, t1 = f(1, xv, yv)
    r0, s0, t0 = f(0, xv, yv)
    np.testing.assert_allclose(r1, xv)
    np.testing.assert_allclose(s1, 12.0)
    np.testing.assert_allclose(r0, yv)
    np.testing.assert_allclose(s0, 3.0)
    np.testing.assert_allclose(t1, xv)
    np.testing.assert_allclose(t0, yv)


def test_ifelse_output_joins_static_shapes():
    c = T.iscalar("c")
    x = T.tensor("float64", shape=(3,))
    y = T.dvector("y")
    assert ifelse(c, x, y).type.shape == (None,)
    assert ifelse(c, x, x * 2).type.shape == (3,)


def test_nested_ifelse():
    a, b = T.iscalars("a", "b")
    x = T.dscalar("x")
    out = ifelse(a, ifelse(b, x + 1, x + 2), x + 3)
    f = theano.function([a, b, x], out)
    assert [float(f(1, 1, 0.0)), float(f(1, 0, 0.0)), float(f(0, 1, 0.0))] == [1.0, 2.0, 3.0]


def test_constant_condition_is_rewritten_away():
    x = T.dvector("x")
    f = theano.function([x], ifelse(T.constant(1), x * 2, Fail()(x)), mode="FAST_RUN")
    assert not _ifelse_nodes(f)
    np.testing.assert_allclose(f(np.ones(2)), [2.0, 2.0])


# ---------------------------------------------------------------- laziness
def test_only_the_taken_branch_is_computed():
    CALLS.clear()
    c = T.iscalar("c")
    x = T.dvector("x")
    f = theano.function([c, x], ifelse(c, Count("then")(x) * 2, Count("else")(x) + 1))
    f(1, np.ones(3))
    f(1, np.ones(3))
    assert CALLS == {"then": 2}
    f(0, np.ones(3))
    assert CALLS == {"then": 2, "else": 1}


def test_a_branch_that_would_raise_is_not_run():
    c = T.iscalar("c")
    x = T.dvector("x")
    f = theano.function([c, x], ifelse(c, x + 1, Fail()(x)))
    np.testing.assert_allclose(f(1, np.zeros(2)), [1.0, 1.0])
    with pytest.raises(RuntimeError, match="untaken branch"):
        f(0, np.zeros(2))


def test_work_shared_by_both_branches_is_done_once_outside():
    CALLS.clear()
    c = T.iscalar("c")
    x = T.dvector("x")
    h = Count("shared")(x)
    f = theano.function([c, x], ifelse(c, h * 2, h + 1))
    node = _ifelse_nodes(f)[0]
    assert any(isinstance(getattr(i.owner, "op", None), Count) for i in node.inputs)
    f(0, np.ones(2))
    assert CALLS == {"shared": 1}


def test_random_draw_inside_a_branch():
    srng = RandomStreams(3)
    c = T.iscalar("c")
    out = ifelse(c, srng.uniform((3,)), T.zeros((3,), dtype=theano.config.floatX))
    f = theano.function([c], out)
    a, b = f(1), f(1)
    assert not np.array_equal(a, b) and np.all((a >= 0) & (a < 1))
    np.testing.assert_array_equal(f(0), np.zeros(3))


def test_function_with_ifelse_pickles():
    c = T.iscalar("c")
    x = T.dvector("x")
    f = theano.function([c, x], ifelse(c, x * 2, x - 1))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(0, np.ones(2)), [0.0, 0.0])
    np.testing.assert_allclose(g(1, np.ones(2)), [2.0, 2.0])


# --------------------------------------------------------------- gradients
@pytest.mark.parametrize("taken", [1, 0])
def test_ifelse_gradient_through_each_branch(taken):
    c = theano.shared(np.int8(taken), name="c")
    rng = np.random.default_rng(0)
    verify_grad(lambda x, y: ifelse(c, T.tanh(x) * y, x * y**2), [rng.random((2, 3)), rng.random((2, 3))])


def test_ifelse_gradient_with_list_outputs_and_forwarded_inputs():
    c = theano.shared(np.int8(0), name="c")
    rng = np.random.default_rng(1)
    verify_grad(lambda x, y: sum(ifelse(c, [x, y.sum()], [y * x, x.sum()]))[0], [rng.random(3), rng.random(3)])


def test_gradient_of_shared_parameters_through_ifelse():
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    c = T.iscalar("c")
    x = T.dvector("x")
    cost = ifelse(c, (w * x).sum(), (w**2).sum())
    g = T.grad(cost, w)
    gc = T.grad(cost, c, disconnected_inputs="ignore")
    f = theano.function([c, x], [g, gc])
    np.testing.assert_allclose(f(1, np.array([3.0, 4.0]))[0], [3.0, 4.0])
    np.testing.assert_allclose(f(0, np.array([3.0, 4.0]))[0], [2.0, 4.0])
    assert float(f(1, np.zeros(2))[1]) == 0.0


def test_gradient_is_lazy_too():
    CALLS.clear()
    c = T.iscalar("c")
    x = T.dvector("x")
    cost = ifelse(c, Count("g_then")(x).sum(), (x**2).sum())
    f = theano.function([c, x], T.grad(cost, x))
    np.testing.assert_allclose(f(0, np.array([1.0, 2.0])), [2.0, 4.0])
    assert "g_then" not in CALLS


# ------------------------------------------------------------------ errors
def test_type_mismatches_raise_clear_errors():
    c = T.iscalar("c")
    with pytest.raises(TypeError, match="float64 vector.*float32 vector"):
        ifelse(c, T.dvector(), T.fvector())
    with pytest.raises(TypeError, match="number of dimensions"):
        ifelse(c, T.dvector(), T.dmatrix())
    with pytest.raises(ValueError, match="2 outputs but the else branch has 1"):
        ifelse(c, [T.dvector(), T.dvector()], [T.dvector()])
    with pytest.raises(TypeError, match="condition must be a scalar"):
        ifelse(T.ivector(), T.dvector(), T.dvector())
    with pytest.raises(TypeError, match="output 0"):
        ifelse(c, T.ivector(), 0.5)


def test_ifelse_rop_and_givens():
    c = T.iscalar("c")
    x, v = T.dvector("x"), T.dvector("v")
    out = ifelse(c, x * 2, x**2)
    f = theano.function([c, x, v], theano.Rop(out, x, v))
    xv, vv = np.array([1.0, 2.0]), np.array([1.0, 3.0])
    np.testing.assert_allclose(f(1, xv, vv), [2.0, 6.0])
    np.testing.assert_allclose(f(0, xv, vv), [2.0, 12.0])
    data = theano.shared(np.arange(3.0), name="data")
    g = theano.function([c], out, givens={x: data})
    np.testing.assert_allclose(g(0), [0.0, 1.0, 4.0])
