"""Test values: shape errors at graph-building time, at the user's line (config.compute_test_value)."""

import inspect
import traceback

import numpy as np
import pytest

import nettrain as theano
from nettrain import config
from nettrain import tensor as T
from nettrain.graph.testvalue import TestValueError, get_test_value


def test_a_bad_dot_raises_at_the_line_that_builds_it():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    x.tag.test_value = np.ones((3, 4))
    w.tag.test_value = np.ones((5, 2))
    with config.change_flags(compute_test_value="raise"):
        h = T.tanh(x) * 2.0  # fine: values flow through
        np.testing.assert_allclose(h.tag.test_value, 2 * np.tanh(np.ones((3, 4))))
        line = inspect.currentframe().f_lineno + 2
        with pytest.raises(ValueError) as info:
            T.dot(h, w)
    msg = str(info.value)
    assert "while computing the test value of Dot" in msg
    assert "%s:%d" % (__file__, line) in msg
    assert "float64 (3, 4)" in msg and "float64 (5, 2)" in msg
    # the traceback itself runs through the user's line
    frames = traceback.extract_tb(info.tb)
    assert any(f.filename == __file__ and f.lineno == line for f in frames)


def test_off_computes_nothing_and_function_results_are_unchanged():
    x = T.dvector("x")
    x.tag.test_value = np.ones(3)
    y = T.exp(x)
    assert not hasattr(y.tag, "test_value")
    with config.change_flags(compute_test_value="raise"):
        z = T.exp(x).sum() + theano.shared(1.0)
        assert float(z.tag.test_value) == pytest.approx(3 * np.e + 1)
        f = theano.function([x], z)  # compiling (rewrites build value-less nodes) still works
    assert f(np.zeros(3)) == 4.0


def test_missing_values_raise_warn_or_are_ignored():
    x, y = T.dvector("x"), T.dvector("y")
    x.tag.test_value = np.ones(2)
    with config.change_flags(compute_test_value="raise"):
        with pytest.raises(TestValueError, match=r"input 1 \(y\) of .* has no test value"):
            x + y
    with config.change_flags(compute_test_value="warn"):
        with pytest.warns(UserWarning, match="has no test value"):
            z = x + y
        assert not hasattr(z.tag, "test_value")
    with config.change_flags(compute_test_value="ignore"):
        assert not hasattr((x + y).tag, "test_value")
        assert get_test_value(x * 3.0).tolist() == [3.0, 3.0]


def test_a_test_value_of_the_wrong_type_is_reported():
    x = T.dmatrix("x")
    x.tag.test_value = np.ones(3)  # a vector for a matrix
    with config.change_flags(compute_test_value="raise"):
        with pytest.raises(TypeError, match="the test value of x does not fit its type"):
            T.exp(x)
