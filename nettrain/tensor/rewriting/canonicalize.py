"""Canonicalize: a normal form for sums, products and quotients, with cancellation.

Products and quotients are collected into a numerator and a denominator list
of factors; identical factors cancel (``x*y/x -> y``, ``(a*b)/(a*c) -> b/c``)
and constants are multiplied together.  This is also what makes gradients
stable: the gradient of ``log(sigmoid(x))`` contains ``(g / p) * p * (1-p)``,
which becomes ``g * (1-p)``.

As in Theano, cancelling ``x/x`` assumes ``x`` is finite and non-zero.
"""

import numpy as np

from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..elemwise import DimShuffle, Elemwise
from ..reduction import CAReduce
from .utils import constant_value, fit_to, n_clients, producer

_CHEAP = ("fast_run", "fast_compile")


def _absorbed_by_parent(fgraph, out, classes):
    """True when ``out``'s only reader is an Elemwise of ``classes`` that will rewrite the whole tree."""
    clients = fgraph.clients.get(out, ())
    if len(clients) != 1:
        return False
    client, _ = next(iter(clients))
    return (
        client != "output"
        and isinstance(client.op, Elemwise)
        and isinstance(client.op.scalar_op, classes)
        and client.outputs[0].type.dtype == out.type.dtype
    )


@node_rewriter([Elemwise], tags=_CHEAP)
def local_add_mul_flatten(fgraph, node):
    """add(add(a, b), c) -> add(a, b, c); add(x, 1, 2) -> add(x, 3); mul likewise"""
    sop = node.op.scalar_op
    if not isinstance(sop, (ps.Add, ps.Mul)):
        return None
    cls = type(sop)
    out = node.outputs[0]
    if _absorbed_by_parent(fgraph, out, cls):
        return None  # the root of the tree flattens it in one go (linear, not quadratic)
    leaves = []
    changed = False
    stack = list(reversed(node.inputs))
    while stack:
        v = stack.pop()
        inner = producer(v, cls)
        if inner is not None and n_clients(fgraph, v) == 1 and v.type.dtype == out.type.dtype:
            stack.extend(reversed(inner.inputs))
            changed = True
        else:
            leaves.append(v)
    consts = [v for v in leaves if constant_value(v) is not None and np.ndim(constant_value(v)) == 0]
    if len(consts) > 1:
        from ..basic import constant

        vals = [constant_value(v) for v in consts]
        total = np.add.reduce(vals) if cls is ps.Add else np.multiply.reduce(vals)
        leaves = [v for v in leaves if not any(v is c for c in consts)]
        leaves.append(constant(np.asarray(total, dtype=out.type.dtype)))
        changed = True
    if not changed:
        return None
    new = leaves[0] if len(leaves) == 1 else node.op(*leaves)
    return [fit_to(new, out, list(node.inputs) + consts)]


def _factors(fgraph, var, out_dtype, num, den, flip, consts, top):
    """Split ``var`` into multiplicative factors (descending only into private nodes)."""
    node = var.owner
    private = top or n_clients(fgraph, var) == 1
    c = constant_value(var)
    if c is not None and np.ndim(c) == 0 and var.type.dtype.startswith(("float", "int", "uint")):
        consts.append((c, flip))
        return
    if node is not None and private and isinstance(node.op, Elemwise) and var.type.dtype == out_dtype:
        sop = node.op.scalar_op
        if isinstance(sop, ps.Mul):
            for i in node.inputs:
                _factors(fgraph, i, out_dtype, num, den, flip, consts, False)
            return
        if isinstance(sop, ps.TrueDiv):
            _factors(fgraph, node.inputs[0], out_dtype, num, den, flip, consts, False)
            _factors(fgraph, node.inputs[1], out_dtype, num, den, not flip, consts, False)
            return
        if isinstance(sop, ps.Reciprocal):
            _factors(fgraph, node.inputs[0], out_dtype, num, den, not flip, consts, False)
            return
        if isinstance(sop, ps.Neg):
            consts.append((-1, False))
            _factors(fgraph, node.inputs[0], out_dtype, num, den, flip, consts, False)
            return
    (den if flip else num).append(var)


@node_rewriter([Elemwise], tags=_CHEAP)
def local_mul_div_canonical(fgraph, node):
    """x * y / x -> y, (a*b)/(a*c) -> b/c, 2 * x * 3 -> 6 * x, -(-x) * y -> x * y"""
    sop = node.op.scalar_op
    out = node.outputs[0]
    if not isinstance(sop, (ps.Mul, ps.TrueDiv, ps.Reciprocal)) or not out.type.dtype.startswith("float"):
        return None
    # only rewrite the root of a product tree (its parent would redo the work)
    if _absorbed_by_parent(fgraph, out, (ps.Mul, ps.TrueDiv, ps.Reciprocal)):
        return None
    num, den, consts = [], [], []
    _factors(fgraph, out, out.type.dtype, num, den, False, consts, True)
    # cancel identical factors
    cancelled = []
    for d in list(den):
        for k, n in enumerate(num):
            if n is d:
                num.pop(k)
                den.remove(d)
                cancelled.append(d)
                break
    c = np.float64(1.0)
    with np.errstate(all="ignore"):  # x / 0 folds to inf * x, as the division would give
        for v, flip in consts:
            c = c / np.float64(v) if flip else c * np.float64(v)
    n_nodes = _count_nodes(fgraph, out, out.type.dtype)
    n_parts = len(num) + (1 if (c != 1.0 or not num) else 0)
    n_rebuilt = (1 if n_parts > 1 else 0) + (1 if den else 0) + (1 if len(den) > 1 else 0)
    dropped_one = len(consts) == 1 and c == 1.0 and bool(num)
    # fire only when the result is strictly simpler: a fixed point is guaranteed
    if not (cancelled or len(consts) > 1 or dropped_one or n_rebuilt < n_nodes):
        return None
    from ..basic import constant
    from ..math import mul, true_div

    dt = out.type.dtype
    if not num and not den:
        new = constant(np.asarray(c, dtype=dt))
    else:
        parts = list(num)
        if c != 1.0 or not parts:
            parts.insert(0, constant(np.asarray(c, dtype=dt)))
        new = parts[0] if len(parts) == 1 else mul(*parts)
        if den:
            new = true_div(new, den[0] if len(den) == 1 else mul(*den))
    return [fit_to(new, out, cancelled + list(node.inputs))]


def _count_nodes(fgraph, var, dtype):
    """Mul/TrueDiv/Reciprocal/Neg nodes in the private tree under ``var``."""
    count = 0
    stack = [(var, True)]
    while stack:
        v, top = stack.pop()
        node = v.owner
        if node is None or not isinstance(node.op, Elemwise) or v.type.dtype != dtype:
            continue
        if not (top or n_clients(fgraph, v) == 1):
            continue
        if isinstance(node.op.scalar_op, (ps.Mul, ps.TrueDiv, ps.Reciprocal, ps.Neg)):
            count += 1
            stack.extend((i, False) for i in node.inputs)
    return count


@node_rewriter([Elemwise], tags=_CHEAP)
def local_exp_log(fgraph, node):
    """log(exp(x)) -> x; exp(log(x)) -> x where x >= 0 (nan elsewhere, as before)"""
    sop = node.op.scalar_op
    out = node.outputs[0]
    if isinstance(sop, ps.Log):
        inner = producer(node.inputs[0], ps.Exp)
        if inner is not None and inner.inputs[0].type.dtype == out.type.dtype:
            return [fit_to(inner.inputs[0], out)]
    if isinstance(sop, ps.Exp):
        inner = producer(node.inputs[0], ps.Log)
        if inner is not None and inner.inputs[0].type.dtype == out.type.dtype:
            from ..math import ge, switch

            x = inner.inputs[0]
            return [fit_to(switch(ge(x, 0), x, np.nan), out)]
    return None


@node_rewriter([CAReduce], tags=_CHEAP)
def local_reduce_of_dimshuffle(fgraph, node):
    """sum(dimshuffle(x)) -> dimshuffle(sum(x)): reduce before reordering"""
    ds = node.inputs[0].owner
    if ds is None or not isinstance(ds.op, DimShuffle):
        return None
    op = node.op
    order = ds.op.new_order
    x = ds.inputs[0]
    red_axes = set(op.axis)
    # input axes of x to reduce: those under reduced positions, plus dropped length-1 axes
    x_axes = sorted({order[a] for a in red_axes if order[a] != "x"} | set(ds.op.drop))
    kept = [order[p] for p in range(len(order)) if p not in red_axes]
    # after reducing x, its remaining axes are renumbered
    remaining = [a for a in range(x.type.ndim) if a not in x_axes]
    new_order = tuple("x" if d == "x" else remaining.index(d) for d in kept)
    reduced = CAReduce(op.reducer, tuple(x_axes), op.dtype)(x) if x_axes else x
    if reduced.type.dtype != op.dtype:
        from ..basic import cast

        reduced = cast(reduced, op.dtype)
    new = DimShuffle(reduced.type.broadcastable, new_order)(reduced)
    return [fit_to(new, node.outputs[0])]


@node_rewriter([Elemwise], tags=_CHEAP)
def local_one_plus_neg_to_sub(fgraph, node):
    """c + (-x) -> c - x; (-x) + c -> c - x (one spelling of 1 - p, so equal terms merge)"""
    if not isinstance(node.op.scalar_op, ps.Add) or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    for c, n in ((a, b), (b, a)):
        neg = producer(n, ps.Neg)
        if neg is not None and constant_value(c) is not None:
            from ..math import sub

            return [fit_to(sub(c, neg.inputs[0]), node.outputs[0], node.inputs)]
    return None


@node_rewriter([Elemwise], tags=_CHEAP)
def local_distribute_mul_for_cancellation(fgraph, node):
    """(a/p + b/q) * p * q -> a*q + b*p: distribute a product over a sum when that cancels a divisor"""
    if not isinstance(node.op.scalar_op, ps.Mul) or not node.outputs[0].type.dtype.startswith("float"):
        return None
    out = node.outputs[0]
    for k, s in enumerate(node.inputs):
        add = producer(s, ps.Add, ps.Sub)
        if add is None or n_clients(fgraph, s) != 1 or s.type.dtype != out.type.dtype:
            continue
        others = [v for j, v in enumerate(node.inputs) if j != k]
        terms = list(add.inputs)
        if isinstance(add.op.scalar_op, ps.Sub):
            from ..math import neg

            terms = [terms[0], neg(terms[1])]
        cancels = False
        for t in terms:
            num, den, consts = [], [], []
            _factors(fgraph, t, out.type.dtype, num, den, False, consts, True)
            if any(d is o for d in den for o in others):
                cancels = True
                break
        if not cancels:
            continue
        from ..math import add as add_, mul

        new = add_(*[mul(t, *others) for t in terms])
        return [fit_to(new, out, node.inputs)]
    return None
