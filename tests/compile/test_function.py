import pickle

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.compile.function import UnusedInputError
from nettrain.graph.fg import MissingInputError


def test_single_list_and_dict_outputs():
    x, y = T.dscalars("x", "y")
    assert float(theano.function([x, y], x + y)(1.0, 2.0)) == 3.0
    res = theano.function([x, y], [x + y, x * y])(2.0, 3.0)
    assert isinstance(res, list) and [float(r) for r in res] == [5.0, 6.0]
    res = theano.function([x, y], {"sum": x + y, "prod": x * y})(2.0, 3.0)
    assert set(res) == {"sum", "prod"} and float(res["prod"]) == 6.0


def test_no_outputs_runs_updates_only():
    s = theano.shared(1.0, name="s")
    f = theano.function([], updates={s: s * 2})
    assert f() == []
    f()
    assert float(s.get_value()) == 4.0


def test_updates_use_old_values_of_all_shared_variables():
    a = theano.shared(1.0, name="a")
    b = theano.shared(10.0, name="b")
    # a swap: both expressions read the values from before the call
    f = theano.function([], [a, b], updates=[(a, b), (b, a)])
    out = f()
    assert [float(v) for v in out] == [1.0, 10.0]
    assert float(a.get_value()) == 10.0 and float(b.get_value()) == 1.0


def test_outputs_are_computed_before_updates_are_written():
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    f = theano.function([], w * 2, updates={w: w + 1})
    np.testing.assert_array_equal(f(), [2.0, 4.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 3.0])


def test_default_update_is_applied_and_can_be_disabled():
    c = theano.shared(0, name="counter")
    c.default_update = c + 1
    f = theano.function([], c)
    f()
    f()
    assert int(c.get_value()) == 2
    g = theano.function([], c, no_default_updates=True)
    g()
    assert int(c.get_value()) == 2
    h = theano.function([], c, no_default_updates=[c])
    h()
    assert int(c.get_value()) == 2


def test_explicit_update_overrides_default_update():
    c = theano.shared(0, name="c")
    c.default_update = c + 1
    f = theano.function([], c, updates={c: c + 10})
    f()
    assert int(c.get_value()) == 10


def test_givens_replace_variables_by_shared_data_slices():
    data = theano.shared(np.arange(10.0), name="data")
    i = T.lscalar("i")
    x = T.dvector("x")
    f = theano.function([i], x.sum(), givens={x: data[i * 2 : i * 2 + 2]})
    assert float(f(1)) == 2.0 + 3.0


def test_givens_with_wrong_type_is_rejected():
    x = T.dvector("x")
    y = T.dmatrix("y")
    with pytest.raises(TypeError, match="givens"):
        theano.function([y], x.sum(), givens={x: y})


def test_in_default_values_and_keyword_arguments():
    x, y = T.dscalars("x", "y")
    f = theano.function([x, theano.In(y, value=1.0)], x * 10 + y)
    assert float(f(2.0)) == 21.0
    assert float(f(2.0, 3.0)) == 23.0
    assert float(f(x=2.0, y=5.0)) == 25.0
    with pytest.raises(TypeError, match="unknown keyword"):
        f(2.0, z=1.0)
    with pytest.raises(TypeError, match="missing argument"):
        f()
    f["y"] = 7.0
    assert float(f(0.0)) == 7.0


def test_in_with_update_keeps_internal_state():
    x = T.dscalar("x")
    acc = T.dscalar("acc")
    f = theano.function([x, theano.In(acc, value=0.0, update=acc + x)], acc + x)
    assert float(f(1.0)) == 1.0
    assert float(f(2.0)) == 3.0
    assert float(f["acc"]) == 3.0


def test_out_borrow_and_copies_of_aliased_outputs():
    x = T.dvector("x")
    w = theano.shared(np.ones(3), name="w")
    f = theano.function([x], [x, w, w.T])
    xv = np.arange(3.0)
    a, b, c = f(xv)
    a[0] = 100
    b[0] = 100
    c[1] = 100
    assert xv[0] == 0 and w.get_value()[0] == 1 and w.get_value()[1] == 1


def test_shared_get_set_value_copies_unless_borrowed():
    v = np.zeros(3)
    s = theano.shared(v, name="s")
    v[0] = 5
    assert s.get_value()[0] == 0
    got = s.get_value()
    got[1] = 5
    assert s.get_value()[1] == 0
    s2 = theano.shared(v, name="s2", borrow=True)
    assert s2.get_value(borrow=True) is v
    s.set_value(np.ones(4))  # shared variables may change shape (Theano semantics)
    assert s.get_value().shape == (4,)


def test_shared_set_value_rejects_wrong_ndim_and_lossy_dtype():
    s = theano.shared(np.zeros(3, dtype="float32"), name="w32")
    with pytest.raises(TypeError, match="w32"):
        s.set_value(np.zeros((2, 2), dtype="float32"))
    with pytest.raises(TypeError, match="float64"):
        s.set_value(np.zeros(3))
    s.set_value([1.0, 2.0, 3.0])  # Python floats follow the variable's dtype
    assert s.get_value().dtype == np.float32


def test_shared_python_float_follows_floatx():
    with theano.config.change_flags(floatX="float32"):
        s = theano.shared(0.5)
    assert s.dtype == "float32"


def test_non_variable_in_inputs_is_a_clear_type_error():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="input 1 is ndarray"):
        theano.function([x, np.zeros(2)], x)
    with pytest.raises(TypeError, match="must be a list"):
        theano.function(x, x)


def test_shared_variable_as_input_is_rejected():
    s = theano.shared(1.0, name="s")
    with pytest.raises(TypeError, match="shared variable"):
        theano.function([s], s * 2)


def test_a_computed_variable_as_input_cuts_the_graph_there():
    # Theano's rule (Lasagne's tests do ``out.eval({intermediate: value})``)
    x = T.dvector("x")
    h = T.exp(x).dimshuffle("x", 0)
    y = (h * 2).sum()
    assert theano.function([h], y)(np.array([[1.0, 2.0]])) == 6.0
    assert y.eval({h: np.array([[3.0]])}) == 6.0
    assert theano.function([h, x], [y, x + 1])(np.array([[1.0]]), np.array([5.0]))[0] == 2.0
    with pytest.raises(theano.graph.MissingInputError):
        theano.function([x * 2], x)


def test_update_of_a_non_shared_variable_is_rejected():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="not a shared variable"):
        theano.function([x], x, updates={x: x + 1})


def test_update_with_a_different_type_is_rejected():
    w = theano.shared(np.zeros(3, dtype="float32"), name="w")
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"shared variable 'w'.*float64.*T.cast"):
        theano.function([x], [], updates={w: w + x})
    with pytest.raises(TypeError, match="the update"):
        theano.function([], [], updates={w: w.sum()})


def test_update_given_twice_is_rejected():
    w = theano.shared(0.0, name="w")
    with pytest.raises(ValueError, match="updated twice"):
        theano.function([], [], updates=[(w, w + 1), (w, w + 2)])


def test_missing_input_names_the_variable_and_its_line():
    x, y = T.dscalars("x", "y")
    with pytest.raises(MissingInputError, match="variable y"):
        theano.function([x], x + y)


def test_unused_input_policy():
    x, y = T.dscalars("x", "y")
    with pytest.raises(UnusedInputError, match="input 1"):
        theano.function([x, y], x * 2)
    with pytest.warns(UserWarning, match="not used"):
        theano.function([x, y], x * 2, on_unused_input="warn")
    f = theano.function([x, y], x * 2, on_unused_input="ignore")
    assert float(f(1.0, 5.0)) == 2.0


def test_wrong_ndim_and_dtype_name_the_argument():
    x = T.fmatrix("x")
    f = theano.function([x], x * 2)
    with pytest.raises(TypeError, match=r"argument 0 \('x'\).*expected float32 matrix.*dimensions"):
        f(np.zeros(3, dtype="float32"))
    with pytest.raises(TypeError, match=r"'x'.*float64.*float32"):
        f(np.zeros((2, 2)))
    g = theano.function([x], x * 2, allow_input_downcast=True)
    assert g(np.ones((2, 2))).dtype == np.float32
    with pytest.raises(TypeError, match="takes 1 argument"):
        f(np.zeros((1, 1), "float32"), 1)


def test_int64_labels_into_int32_input_are_accepted_when_they_fit():
    y = T.ivector("y")
    f = theano.function([y], y + 1)
    assert f(np.array([1, 2])).dtype == np.int32
    with pytest.raises(TypeError, match="outside the range"):
        f(np.array([2**40]))


def test_runtime_shape_error_names_op_shapes_and_user_line():
    a, b = T.dvectors("a", "b")
    f = theano.function([a, b], a * b)  # THIS LINE
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "Elemwise{Mul}" in msg and "(3,)" in msg and "(4,)" in msg
    assert "test_function.py" in msg and "a * b" in msg


def test_eval_compiles_once_and_uses_given_values():
    x = T.dvector("x")
    y = (x * 2).sum()
    assert float(y.eval({x: [1.0, 2.0]})) == 6.0
    assert float(y.eval({x: [1.0]})) == 2.0
    s = theano.shared(3.0)
    assert float((s * 2).eval()) == 6.0


def test_pickled_function_runs_and_shares_state_with_pickled_shared_variables():
    x = T.dvector("x")
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    f = theano.function([x], (x * w).sum(), updates={w: w + 1})
    f2, w2 = pickle.loads(pickle.dumps((f, w)))
    assert float(f2(np.array([1.0, 1.0]))) == 3.0
    np.testing.assert_array_equal(w2.get_value(), [2.0, 3.0])
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])  # the original is untouched


def test_pickle_of_a_deep_graph_does_not_hit_the_recursion_limit():
    x = T.dscalar("x")
    y = x
    for _ in range(3000):
        y = y + 1
    f = theano.function([x], y)
    g = pickle.loads(pickle.dumps(f))
    assert float(g(0.0)) == 3000.0


def test_function_graph_is_introspectable():
    x = T.dmatrix("x")
    f = theano.function([x], T.exp(x).sum())
    ops = [type(n.op).__name__ for n in f.maker.fgraph.toposort()]
    assert "CAReduce" in ops and "Elemwise" in ops


def test_intermediate_results_are_freed_after_last_use():
    x = T.dvector("x")
    z = (T.exp(x) * 2).sum()
    f = theano.function([x], z)
    assert float(f(np.zeros(5))) == 10.0
    fg = f.maker.fgraph
    intermediates = [o for n in fg.apply_nodes for o in n.outputs if o not in fg.outputs]
    assert intermediates
    assert all(f.storage_map[v][0] is None for v in intermediates)
    with theano.config.change_flags(allow_gc=False):
        g = theano.function([x], z)
    g(np.zeros(5))
    kept = [o for n in g.maker.fgraph.apply_nodes for o in n.outputs if o not in g.maker.fgraph.outputs]
    assert all(g.storage_map[v][0] is not None for v in kept)


def test_pickled_function_keeps_profiling_and_trust_input():
    x = T.dvector("x")
    f = theano.function([x], x * 2, profile=True, trust_input=True)
    g = pickle.loads(pickle.dumps(f))
    assert g.trust_input and g.profile is not None and g.profile.calls == 0
    np.testing.assert_array_equal(g(np.ones(2)), [2.0, 2.0])
    assert g.profile.calls == 1
    plain = pickle.loads(pickle.dumps(theano.function([x], x * 2)))
    assert not plain.trust_input and plain.profile is None
