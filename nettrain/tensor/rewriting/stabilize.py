"""Stabilize: rewrite expressions that overflow or lose precision into safe forms.

These run in every compile mode that rewrites at all (FAST_RUN and
FAST_COMPILE), so a program's numerics never depend on the mode.
"""


from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..elemwise import DimShuffle, Elemwise
from ..reduction import CAReduce, _expand
from .sigmoid import as_sigmoid, build_signed, logsumexp_of, one_plus_exp, sum_of_exps
from .utils import fit_to, is_constant, producer

_TAGS = ("fast_run", "fast_compile", "stabilize")


def _one_plus(var):
    """If ``var`` is ``1 + x`` (an Add with a constant 1), return ``x``."""
    node = producer(var, ps.Add)
    if node is None:
        return None
    ones = [i for i in node.inputs if is_constant(i, 1)]
    if not ones:
        return None
    rest = list(node.inputs)
    rest.remove(ones[0])
    if not rest:
        return None
    from ..math import add

    return rest[0] if len(rest) == 1 else add(*rest)


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_log_sigmoid_to_softplus(fgraph, node):
    """log(sigmoid(x)) -> -softplus(-x); log(1 - sigmoid(x)) -> -softplus(x) (sigmoid in any spelling)"""
    if not isinstance(node.op.scalar_op, ps.Log):
        return None
    s = as_sigmoid(fgraph, node.inputs[0])
    if s is None:
        return None
    from ..math import neg, softplus

    base, sign = s
    return [fit_to(neg(softplus(build_signed(base, -sign))), node.outputs[0], [node.inputs[0]])]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_log_one_plus_exp_to_softplus(fgraph, node):
    """log(1 + exp(x)) -> softplus(x); log1p(exp(x)) -> softplus(x)"""
    sop = node.op.scalar_op
    x = None
    if isinstance(sop, ps.Log):
        x = one_plus_exp(node.inputs[0])
    elif isinstance(sop, ps.Log1p):
        e = producer(node.inputs[0], ps.Exp)
        x = e.inputs[0] if e is not None else None
    if x is None or x.type.dtype != node.outputs[0].type.dtype:
        return None
    from ..math import softplus

    return [fit_to(softplus(x), node.outputs[0], [node.inputs[0]])]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_log_sum_of_exps_to_logaddexp(fgraph, node):
    """log(exp(a) + exp(b) + ...) -> max + log(sum(exp(a_i - max))) (a - b shifted, never overflowing)"""
    if not isinstance(node.op.scalar_op, ps.Log):
        return None
    args = sum_of_exps(node.inputs[0])
    if args is None or any(a.type.dtype != node.outputs[0].type.dtype for a in args) or _shifted_by_switch(args):
        return None
    return [fit_to(logsumexp_of(args), node.outputs[0], [node.inputs[0]])]


def _shifted_by_switch(args):
    """True when every ``a_i`` is ``x_i - m`` with one ``m = switch(isinf(max), 0, max)``: this rule's own output."""
    subs = [producer(a, ps.Sub) for a in args]
    if any(n is None for n in subs):
        return False
    m = subs[0].inputs[1]
    return all(n.inputs[1] is m for n in subs) and producer(m, ps.Switch) is not None


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_log1p_of_neg_sigmoid(fgraph, node):
    """log1p(-sigmoid(x)) -> -softplus(x)"""
    if not isinstance(node.op.scalar_op, ps.Log1p):
        return None
    neg_node = producer(node.inputs[0], ps.Neg)
    if neg_node is None:
        return None
    sig = producer(neg_node.inputs[0], ps.Sigmoid)
    if sig is None:
        return None
    from ..math import neg, softplus

    return [fit_to(neg(softplus(sig.inputs[0])), node.outputs[0])]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_log_one_plus_to_log1p(fgraph, node):
    """log(1 + x) -> log1p(x)"""
    if not isinstance(node.op.scalar_op, ps.Log):
        return None
    x = _one_plus(node.inputs[0])
    if x is None:
        return None
    from ..math import log1p

    return [fit_to(log1p(x), node.outputs[0], [node.inputs[0]])]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_exp_minus_one_to_expm1(fgraph, node):
    """exp(x) - 1 -> expm1(x)"""
    sop = node.op.scalar_op
    x = None
    if isinstance(sop, ps.Sub) and is_constant(node.inputs[1], 1):
        e = producer(node.inputs[0], ps.Exp)
        x = e.inputs[0] if e is not None else None
    elif isinstance(sop, ps.Add) and len(node.inputs) == 2:
        a, b = node.inputs
        for e_var, c in ((a, b), (b, a)):
            e = producer(e_var, ps.Exp)
            if e is not None and is_constant(c, -1):
                x = e.inputs[0]
    if x is None:
        return None
    from ..math import expm1

    return [fit_to(expm1(x), node.outputs[0], node.inputs)]


def _shifted_by_own_max(x, axis):
    """True when ``x`` is ``y - m`` with ``m`` built from ``max(y, axis)`` (this rewrite's own output)."""
    sub = producer(x, ps.Sub)
    if sub is None:
        return False
    y, m = sub.inputs
    stack, seen = [m], set()
    while stack:  # m is DimShuffle(switch(isinf(max(y)), 0, max(y)))
        v = stack.pop()
        n = v.owner
        if n is None or n in seen:
            continue
        seen.add(n)
        if isinstance(n.op, CAReduce):
            if n.op.reducer == "maximum" and n.inputs[0] is y and n.op.axis == tuple(axis):
                return True
            continue
        if isinstance(n.op, (DimShuffle, Elemwise)):
            stack.extend(n.inputs)
    return False


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_logsumexp(fgraph, node):
    """log(sum(exp(x), axis)) -> m + log(sum(exp(x - m), axis)) with m = max(x, axis)"""
    if not isinstance(node.op.scalar_op, ps.Log):
        return None
    s = node.inputs[0].owner
    keep = None
    if s is not None and isinstance(s.op, DimShuffle):  # sum(..., keepdims=True)
        keep, s = s.op, s.inputs[0].owner
    if s is None or not isinstance(s.op, CAReduce) or s.op.reducer != "add":
        return None
    e = producer(s.inputs[0], ps.Exp)
    if e is None:
        return None
    x = e.inputs[0]
    axis = s.op.axis
    if x.type.dtype != node.outputs[0].type.dtype or _shifted_by_own_max(x, axis):
        return None
    from ..math import exp, isinf, log, switch

    m = CAReduce("maximum", axis, x.type.dtype)(x)
    # all -inf (or +inf) along the axis: shift by 0 so the result stays -inf/+inf, not nan
    m = switch(isinf(m), 0, m)
    res = m + log(CAReduce("add", axis, x.type.dtype)(exp(x - _expand(m, x.type.ndim, axis))))
    if keep is not None:
        res = keep(res)
    return [fit_to(res, node.outputs[0])]
