"""Structural comparison of graphs: do two expressions compute the same thing?

Two variables are equal when they are the same object, a pair declared equal
by the caller, constants of the same type and value, or outputs of the same
index of nodes with equal ops and pairwise-equal inputs.  Nothing is
evaluated or rewritten: ``x + y`` and ``y + x`` differ.
"""

from .basic import Constant

__all__ = ["equal_computations", "is_same_graph"]


def _leaf_equal(x, y):
    """Ownerless variables that are not the same object: only equal constants match."""
    if not (isinstance(x, Constant) and isinstance(y, Constant)):
        return False
    if x.type != y.type:
        return False
    try:
        return bool(x.type.values_eq(x.data, y.data))
    except (TypeError, ValueError):
        return False


def equal_computations(xs, ys, in_xs=None, in_ys=None):
    """True if each ``xs[i]`` computes the same graph as ``ys[i]``.

    Parameters
    ----------
    xs, ys : list of Variable
        The outputs to compare pairwise.
    in_xs, in_ys : list of Variable, optional
        Variables of the first graph and of the second one that count as equal
        to each other (``in_xs[i]`` with ``in_ys[i]``), e.g. the inputs of two
        separately built copies of one function.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x, y = T.dvector('x'), T.dvector('y')
    >>> equal_computations([(x + 1) * 2], [(x + 1) * 2])
    True
    >>> equal_computations([x + 1], [y + 1]), equal_computations([x + 1], [y + 1], [x], [y])
    (False, True)
    """
    xs, ys = list(xs), list(ys)
    in_xs, in_ys = list(in_xs or ()), list(in_ys or ())
    if len(xs) != len(ys):
        raise ValueError("equal_computations: %d outputs against %d" % (len(xs), len(ys)))
    if len(in_xs) != len(in_ys):
        raise ValueError("equal_computations: %d given inputs against %d" % (len(in_xs), len(in_ys)))
    given = {(id(a), id(b)) for a, b in zip(in_xs, in_ys)}
    for a, b in zip(in_xs, in_ys):
        if a.type != b.type:
            return False
    # Equality is the conjunction of a local check over every pair reached
    # from the outputs, so the pairs can be visited in any order (no recursion).
    stack = list(zip(xs, ys))
    seen = set()
    while stack:
        x, y = stack.pop()
        key = (id(x), id(y))
        if key in seen or x is y or key in given:
            continue
        seen.add(key)
        if x.owner is None or y.owner is None:
            if not (x.owner is None and y.owner is None and _leaf_equal(x, y)):
                return False
            continue
        nx, ny = x.owner, y.owner
        if x.index != y.index or x.type != y.type or len(nx.inputs) != len(ny.inputs):
            return False
        if nx is not ny and nx.op != ny.op:
            return False
        stack.extend(zip(nx.inputs, ny.inputs))
    return True


def is_same_graph(var1, var2, givens=None):
    """True if ``var1`` and ``var2`` compute the same graph.

    ``givens`` maps variables to variables that count as equal to them (in
    either graph), as in Theano's ``gof.graph.is_same_graph``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> is_same_graph(x.mean(), x.mean()), is_same_graph(x.mean(), x.sum())
    (True, False)
    """
    pairs = list((givens or {}).items())
    in_xs = [a for a, b in pairs] + [b for a, b in pairs]
    in_ys = [b for a, b in pairs] + [a for a, b in pairs]
    return equal_computations([var1], [var2], in_xs, in_ys)
