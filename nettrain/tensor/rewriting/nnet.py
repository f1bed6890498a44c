"""Stabilize: softmax, log-softmax and crossentropy in forms that never overflow.

Gradients are built before rewriting, so each forward rule has a gradient
rule beside it that recognizes what ``T.grad`` produced for the unstable form.
"""

from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..elemwise import DimShuffle, Elemwise
from ..nnet.crossentropy import CrossentropyCategorical1Hot, CrossentropyCategorical1HotGrad
from ..nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx
from ..nnet.softmax_ops import LogSoftmax, Softmax, SoftmaxGrad
from ..reduction import CAReduce
from .canonicalize import _factors
from .utils import fit_to, producer

_TAGS = ("fast_run", "fast_compile", "stabilize")


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_log_softmax_to_logsoftmax(fgraph, node):
    """log(softmax(x)) -> log_softmax(x)"""
    if not isinstance(node.op.scalar_op, ps.Log):
        return None
    sm = node.inputs[0].owner
    if sm is None or not isinstance(sm.op, Softmax):
        return None
    return [fit_to(LogSoftmax(sm.op.axis)(sm.inputs[0]), node.outputs[0])]


@node_rewriter([SoftmaxGrad], phase="stabilize", tags=_TAGS)
def local_softmax_grad_of_quotient(fgraph, node):
    """softmax_grad(a / sm, sm) -> a - sm * sum(a): the gradient of log(softmax) without dividing by sm"""
    dy, sm = node.inputs
    if sm.owner is None or not isinstance(sm.owner.op, Softmax) or not dy.type.dtype.startswith("float"):
        return None
    num, den, consts = [], [], []
    _factors(fgraph, dy, dy.type.dtype, num, den, False, consts, True)
    if not any(d is sm for d in den):
        return None
    den.remove(next(d for d in den if d is sm))
    from ..math import mul, true_div
    from ..reduction import sum as _sum

    c = 1.0
    for v, flip in consts:
        c = c / float(v) if flip else c * float(v)
    parts = list(num)
    if c != 1.0 or not parts:
        parts.insert(0, _const(c, dy.type.dtype))
    a = parts[0] if len(parts) == 1 else mul(*parts)
    if den:
        a = true_div(a, den[0] if len(den) == 1 else mul(*den))
    a = fit_to(a, dy, [dy])
    if a is None:
        return None
    return [fit_to(a - sm * _sum(a, axis=node.op.axis, keepdims=True), node.outputs[0])]


def _const(c, dtype):
    import numpy as np

    from ..basic import constant

    return constant(np.asarray(c, dtype=dtype))


@node_rewriter([CrossentropyCategorical1Hot], phase="stabilize", tags=_TAGS)
def local_crossentropy_of_softmax_to_fused(fgraph, node):
    """categorical_crossentropy(softmax(x), y) -> crossentropy_softmax_1hot(x, y) (computed from log_softmax)"""
    sm, y = node.inputs
    if sm.owner is None or not isinstance(sm.owner.op, Softmax) or sm.owner.op.axis != 1:
        return None
    return [fit_to(CrossentropySoftmax1Hot()(sm.owner.inputs[0], y), node.outputs[0])]


@node_rewriter([SoftmaxGrad], phase="stabilize", tags=_TAGS)
def local_softmax_grad_of_crossentropy_grad(fgraph, node):
    """softmax_grad(crossentropy_1hot_grad(g, sm, y), sm) -> g * (sm - onehot(y))"""
    dy, sm = node.inputs
    ce = dy.owner
    if ce is None or not isinstance(ce.op, CrossentropyCategorical1HotGrad) or node.op.axis != 1:
        return None
    g, sm2, y = ce.inputs
    if sm2 is not sm:
        return None
    return [fit_to(CrossentropySoftmax1HotDx()(g, sm, y), node.outputs[0])]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_exp_over_sum_exp_to_softmax(fgraph, node):
    """exp(x) / sum(exp(x), axis, keepdims=True) -> softmax(x, axis)"""
    if not isinstance(node.op.scalar_op, ps.TrueDiv):
        return None
    num, den = node.inputs
    e = producer(num, ps.Exp)
    ds = den.owner
    if e is None or ds is None or not isinstance(ds.op, DimShuffle):
        return None
    s = ds.inputs[0].owner
    if s is None or not isinstance(s.op, CAReduce) or s.op.reducer != "add" or len(s.op.axis) != 1:
        return None
    if s.inputs[0] is not num:
        return None
    axis = s.op.axis[0]
    # the dimshuffle must put back exactly the reduced axis
    expected = tuple("x" if i == axis else (i if i < axis else i - 1) for i in range(num.type.ndim))
    if ds.op.new_order != expected:
        return None
    return [fit_to(Softmax(axis)(e.inputs[0]), node.outputs[0])]


@node_rewriter([CrossentropySoftmax1HotDx], phase="stabilize", tags=_TAGS)
def local_crossentropy_dx_of_fill(fgraph, node):
    """crossentropy_softmax_1hot_dx(fill(nll, c), sm, y) -> crossentropy_softmax_1hot_dx(c, sm, y) (c broadcasts)"""
    g, sm, y = node.inputs
    fill = producer(g, ps.Second)
    if fill is None:
        return None
    a, c = fill.inputs
    if c.type.shape != (1,) or a.type.ndim != 1:
        return None
    return [fit_to(CrossentropySoftmax1HotDx()(c, sm, y), node.outputs[0])]
