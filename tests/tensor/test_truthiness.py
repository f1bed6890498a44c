"""Theano's truthiness: a variable is truthy (``if not W:`` tests for None), a comparison is not.

``a < b < c`` is Python's ``(a < b) and (b < c)``; it must raise, not quietly build ``b < c``.
"""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T


def test_variables_shared_variables_and_constants_are_truthy():
    x = T.dmatrix("x")
    W = theano.shared(np.zeros((2, 2)), name="W")
    assert bool(x) and bool(x + 1) and bool(T.sum(x)) and bool(W) and bool(T.constant(0.0))
    # the idiom of the tutorials: ``if not W: W = shared(...)``
    w = None
    w = w if w else W
    assert w is W


@pytest.mark.parametrize(
    "compare",
    [
        lambda a, b: a < b,
        lambda a, b: a > b,
        lambda a, b: a <= b,
        lambda a, b: a >= b,
        lambda a, b: T.eq(a, b),
        lambda a, b: T.neq(a, b),
    ],
    ids=["lt", "gt", "le", "ge", "eq", "neq"],
)
def test_a_comparison_result_has_no_truth_value(compare):
    a, b = T.dscalar("a"), T.dscalar("b")
    with pytest.raises(TypeError, match="no truth value"):
        bool(compare(a, b))


def test_chained_comparison_raises_instead_of_dropping_the_first_test():
    a, b, c = T.dscalars("a", "b", "c")
    with pytest.raises(TypeError, match="no truth value"):
        a < b < c  # noqa: B015
    # the explicit form works
    f = theano.function([a, b, c], (a < b) & (b < c))
    assert bool(f(1.0, 2.0, 3.0)) and not bool(f(2.0, 1.0, 3.0))
