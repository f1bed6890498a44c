"""Canonicalize: constant folding and removal of useless operations."""

import numpy as np

from ...graph.basic import Constant
from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..elemwise import DimShuffle, Elemwise
from ..shape import Reshape, SpecifyShape, Unbroadcast
from ..variable import TensorConstant
from .utils import constant_value, fit_to, is_constant, producer

_CHEAP = ("fast_run", "fast_compile")
_FOLD_LIMIT = 1 << 20  # do not bake outputs larger than this into the graph...


@node_rewriter(None, tags=_CHEAP + ("constant_folding",))
def local_constant_folding(fgraph, node):
    """op(constant, ...) -> constant"""
    return _fold_constants(node)


@node_rewriter(None, phase="specialize", tags=_CHEAP + ("constant_folding",))
def local_constant_folding_late(fgraph, node):
    """op(constant, ...) -> constant, again after stabilize and specialize built new ones (DimShuffle{x}(c))"""
    return _fold_constants(node)


def _fold_constants(node):
    if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
        return None
    if not node.op.do_constant_folding(node):
        return None
    if not all(hasattr(o.type, "filter") for o in node.outputs):
        return None
    storage = [[None] for _ in node.outputs]
    try:
        node.op.perform(node, [i.data for i in node.inputs], storage)
    except Exception:  # noqa: BLE001 - leave the error to run time, where it names the user's line
        return None
    in_size = max((np.size(i.data) for i in node.inputs), default=1)
    out = []
    for o, (val,) in zip(node.outputs, storage):
        val = np.asarray(val)
        # ...unless they are no larger than the inputs (then folding saves work).
        if val.size > _FOLD_LIMIT and val.size > in_size:
            return None
        out.append(TensorConstant(o.type, np.array(val, dtype=o.type.dtype, order="C")))
    return out


@node_rewriter([Elemwise], tags=_CHEAP)
def local_useless_identity(fgraph, node):
    """tensor_copy(x) -> x"""
    if isinstance(node.op.scalar_op, ps.Identity):
        return [node.inputs[0]]
    return None


@node_rewriter([Elemwise], tags=_CHEAP)
def local_cast_to_same_dtype(fgraph, node):
    """cast(x, x.dtype) -> x; cast(cast(x, wider), dtype(x)) -> x"""
    sop = node.op.scalar_op
    if not isinstance(sop, ps.Cast):
        return None
    x = node.inputs[0]
    if x.type.dtype == sop.dtype:
        return [x]
    inner = producer(x, ps.Cast)
    if inner is not None:
        src = inner.inputs[0]
        if src.type.dtype == sop.dtype and _round_trips(src.type.dtype, x.type.dtype):
            return [src]
    return None


def _round_trips(src, mid):
    """True when every value of dtype ``src`` survives a cast to ``mid`` and back."""
    src, mid = np.dtype(src), np.dtype(mid)
    if not np.can_cast(src, mid, "safe"):
        return False
    if src.kind in "iu" and mid.kind in "fc":
        # NumPy calls int64 -> float64 "safe", but 2**53 + 1 does not come back
        return np.finfo(mid).nmant + 1 >= src.itemsize * 8 - (src.kind == "i")
    return True


@node_rewriter([Elemwise], tags=_CHEAP)
def local_neg_neg(fgraph, node):
    """-(-x) -> x"""
    if isinstance(node.op.scalar_op, ps.Neg):
        inner = producer(node.inputs[0], ps.Neg)
        if inner is not None:
            return [fit_to(inner.inputs[0], node.outputs[0])]
    return None


@node_rewriter([Elemwise], tags=_CHEAP)
def local_mul_by_one_add_zero(fgraph, node):
    """x * 1 -> x, x + 0 -> x, x - 0 -> x, x / 1 -> x"""
    sop = node.op.scalar_op
    out = node.outputs[0]
    if isinstance(sop, (ps.Add, ps.Mul)):
        neutral = 0 if isinstance(sop, ps.Add) else 1
        keep = [i for i in node.inputs if not is_constant(i, neutral)]
        dropped = [i for i in node.inputs if is_constant(i, neutral)]
        if not dropped:
            return None
        if not keep:
            return [fit_to(node.inputs[0], out, node.inputs)]
        new = keep[0] if len(keep) == 1 else node.op(*keep)
        return [fit_to(new, out, dropped)]
    if isinstance(sop, ps.Sub) and is_constant(node.inputs[1], 0):
        return [fit_to(node.inputs[0], out, node.inputs[1:])]
    if isinstance(sop, ps.TrueDiv) and is_constant(node.inputs[1], 1):
        return [fit_to(node.inputs[0], out, node.inputs[1:])]
    return None


@node_rewriter([Elemwise], tags=_CHEAP)
def local_mul_by_zero(fgraph, node):
    """x * 0 -> zeros (for integer x only: floats keep nan/inf semantics)"""
    sop = node.op.scalar_op
    if isinstance(sop, ps.Mul) and node.outputs[0].type.dtype.startswith(("int", "uint", "bool")):
        if any(is_constant(i, 0) for i in node.inputs):
            from ..basic import zeros_like

            return [fit_to(zeros_like(node.inputs[0]), node.outputs[0], node.inputs)]
    return None


@node_rewriter([Elemwise], tags=_CHEAP)
def local_useless_fill(fgraph, node):
    """fill(x, y) -> y when y already has the output's shape"""
    if isinstance(node.op.scalar_op, ps.Second):
        x, y = node.inputs
        if y.type.broadcastable == node.outputs[0].type.broadcastable:
            # y could still be broadcast at run time only where x has length 1 too
            return [fit_to(y, node.outputs[0])]
    return None


@node_rewriter([Elemwise], tags=_CHEAP)
def local_fill_sink(fgraph, node):
    """f(fill(a, b), c) -> f(b, c) when c alone gives the output's shape (the fill was only a broadcast)"""
    if isinstance(node.op.scalar_op, ps.Second):
        return None
    out = node.outputs[0]
    new_inputs = list(node.inputs)
    for k, i in enumerate(node.inputs):
        fill = producer(i, ps.Second)
        if fill is not None and fill.inputs[1].type.dtype == i.type.dtype:
            new_inputs[k] = fill.inputs[1]
    if all(n is i for n, i in zip(new_inputs, node.inputs)):
        return None
    if any(n is not i and n.type.ndim < i.type.ndim for n, i in zip(new_inputs, node.inputs)):
        return None  # the rank came from the fill: keep it
    new = node.op(*new_inputs)
    if len(node.outputs) != 1 or new.type.broadcastable != out.type.broadcastable:
        return None
    return [fit_to(new, out)]


@node_rewriter([Elemwise], phase="stabilize", tags=_CHEAP + ("stabilize",))
def local_fill_sink_after_stabilize(fgraph, node):
    """f(fill(a, b), c) -> f(b, c) again for the fills stabilizing rewrites make (p * (1/p) -> fill(p, 1))"""
    return local_fill_sink(fgraph, node)


@node_rewriter([Elemwise], tags=_CHEAP)
def local_switch_constant_condition(fgraph, node):
    """switch(True, a, b) -> a; switch(False, a, b) -> b; switch(c, a, a) -> a"""
    if not isinstance(node.op.scalar_op, ps.Switch):
        return None
    c, a, b = node.inputs
    v = constant_value(c)
    out = node.outputs[0]
    if v is not None:
        return [fit_to(a if v else b, out, [c, b if v else a])]
    if a is b:
        return [fit_to(a, out, [c])]
    return None


@node_rewriter([DimShuffle], tags=_CHEAP)
def local_dimshuffle_useless_or_merged(fgraph, node):
    """dimshuffle(x, 0..n-1) -> x; dimshuffle(dimshuffle(x)) -> one dimshuffle"""
    op = node.op
    x = node.inputs[0]
    if op.new_order == tuple(range(x.type.ndim)):
        return [x]
    inner = x.owner
    if inner is not None and isinstance(inner.op, DimShuffle):
        inner_order = inner.op.new_order
        order = tuple("x" if d == "x" else inner_order[d] for d in op.new_order)
        src = inner.inputs[0]
        return [DimShuffle(src.type.broadcastable, order)(src)]
    return None


@node_rewriter([Reshape], tags=_CHEAP)
def local_useless_reshape(fgraph, node):
    """reshape(x, s) -> x when the shape cannot change; reshape(reshape(x)) -> reshape(x)"""
    x, shp = node.inputs
    out = node.outputs[0]
    if x.type.ndim == out.type.ndim and None not in x.type.shape and x.type.shape == out.type.shape:
        return [x]
    inner = x.owner
    if inner is not None and isinstance(inner.op, Reshape):
        return [node.op(inner.inputs[0], shp)]
    return None


@node_rewriter([SpecifyShape, Unbroadcast], tags=_CHEAP)
def local_useless_specify_shape(fgraph, node):
    """specify_shape(x, s) -> x when x's type already says s"""
    x = node.inputs[0]
    if x.type == node.outputs[0].type:
        return [x]
    return None
