"""Theano path ``theano.gof.graph``: graph traversal and comparison (real code in :mod:`nettrain.graph`)."""

from ..graph.basic import (  # noqa: F401
    Apply,
    Constant,
    Variable,
    ancestors,
    clone_get_equiv,
    clone_replace as clone,
    io_toposort,
    variables_between,
)
from ..graph.compare import equal_computations, is_same_graph  # noqa: F401


def inputs(variable_list, blockers=None):
    """The ownerless variables that ``variable_list`` depends on, in Theano's order.

    Theano walks the outputs from the last to the first, each depth first
    with its first input first; code that relies on that order (Lasagne
    passes ``reversed(outputs)`` to get the parameters in output order) gets it.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a, b, c = T.dscalar('a'), T.dscalar('b'), T.dscalar('c')
    >>> [v.name for v in inputs([a + b, c])]
    ['c', 'a', 'b']
    """
    return [v for v in ancestors(list(variable_list)[::-1], blockers) if v.owner is None]
