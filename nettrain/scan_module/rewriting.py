"""Rewrites of Scan nodes: move loop-invariant computations out of the loop."""

from ..graph.basic import Constant, clone_replace, io_toposort
from ..graph.rewriting import node_rewriter
from .op import Scan, ScanGrad, ScanInfo


@node_rewriter([Scan], phase="specialize")
def local_scan_hoist_invariants(fgraph, node):
    """scan(step uses f(non_sequences)) -> scan(step uses a new non-sequence computed once outside the loop)"""
    op = node.op
    info = op.info
    n_varying = sum(len(t) for t in info.seq_taps) + sum(len(t) for t in info.state_taps)
    inner_in = op.inner_inputs
    varying = set(inner_in[:n_varying])
    nonseq_in = inner_in[n_varying:]
    outer_nonseq = node.inputs[1 + info.n_seq + info.n_state :]
    if len(nonseq_in) != len(outer_nonseq):
        return None
    nodes = io_toposort(inner_in, op.inner_outputs)
    variant = set(varying)
    invariant_nodes = []
    for n in nodes:
        if any(i in variant for i in n.inputs) or not n.op.do_constant_folding(n):
            variant.update(n.outputs)
        else:
            invariant_nodes.append(n)
    if not invariant_nodes:
        return None
    inv_vars = {o for n in invariant_nodes for o in n.outputs}
    # the frontier: invariant results read by the loop body (or returned by it)
    frontier = []
    for n in nodes:
        if n in invariant_nodes:
            continue
        for i in n.inputs:
            if i in inv_vars and i not in frontier:
                frontier.append(i)
    for o in op.inner_outputs:
        if o in inv_vars and o not in frontier:
            frontier.append(o)
    frontier = [v for v in frontier if not isinstance(v, Constant)]
    if not frontier:
        return None
    outer_exprs = clone_replace(frontier, dict(zip(nonseq_in, outer_nonseq)), strict=False)
    new_ph = []
    for v in frontier:
        p = v.type()
        p.name = "hoisted"
        new_ph.append(p)
    new_outs = clone_replace(op.inner_outputs, dict(zip(frontier, new_ph)), strict=False)
    new_info = ScanInfo(info.seq_taps, info.state_taps, info.n_nit, info.n_nonseq + len(new_ph), info.n_shared,
                        info.go_backwards, info.truncate_gradient, info.has_until, info.name,
                        info.single_init)  # fmt: skip
    new_op = Scan(list(inner_in) + new_ph, new_outs, new_info, mode=op.mode)
    outs = new_op(*(list(node.inputs) + list(outer_exprs)))
    return outs if isinstance(outs, list) else [outs]


@node_rewriter([ScanGrad], phase="specialize")
def local_scan_grad_unused(fgraph, node):
    """ScanGrad(every gradient) -> ScanGrad(only the gradients of sequences and non-sequences that are read)"""
    op = node.op
    info = op.scan.info
    n = len(node.outputs)
    wanted = list(op.wanted) if op.wanted is not None else [True] * n
    droppable = [k < info.n_seq or k >= info.n_seq + info.n_state for k in range(n)]
    unused = [k for k in range(n) if wanted[k] and droppable[k] and not fgraph.clients.get(node.outputs[k])]
    if not unused:
        return None
    for k in unused:
        wanted[k] = False
    outs = ScanGrad(op.scan, wanted, op.saved)(*node.inputs)
    return outs if isinstance(outs, list) else [outs]


@node_rewriter([ScanGrad], phase="canonicalize")
def local_scan_save_for_grad(fgraph, node):
    """Scan + ScanGrad(recomputes the step's products) -> Scan(also returns them) + ScanGrad(reads them)"""
    op = node.op
    sc = op.scan
    info = sc.info
    n_scan_in = 1 + info.n_seq + info.n_state + info.n_nonseq
    n_traj = info.n_state - info.n_shared
    if op.saved or info.n_shared or not n_traj:
        return None
    fwd = node.inputs[n_scan_in].owner
    if fwd is None or fwd.op is not sc or fwd.inputs != node.inputs[:n_scan_in]:
        return None
    if list(node.inputs[n_scan_in : n_scan_in + n_traj]) != fwd.outputs[:n_traj]:
        return None
    keep = values_to_keep(op)
    if not keep:
        return None
    # the forward loop returns them as outputs that are not fed back, after its own
    n_out = info.n_state + info.n_nit
    inner_outs = sc.inner_outputs[:n_out] + keep + sc.inner_outputs[n_out:]
    new_info = ScanInfo(info.seq_taps, info.state_taps, info.n_nit + len(keep), info.n_nonseq, info.n_shared,
                        info.go_backwards, info.truncate_gradient, info.has_until, info.name,
                        info.single_init)  # fmt: skip
    new_fwd = Scan(sc.inner_inputs, inner_outs, new_info, mode=sc.mode)(*fwd.inputs)
    new_fwd = new_fwd if isinstance(new_fwd, list) else [new_fwd]
    n_old = n_traj + info.n_nit
    kept = new_fwd[n_old : n_old + len(keep)]
    old_to_new = dict(zip(fwd.outputs, new_fwd[:n_old]))
    grad_in = [old_to_new.get(v, v) for v in node.inputs]
    new_grad = ScanGrad(sc, op.wanted, keep)(*(grad_in + kept))
    new_grad = new_grad if isinstance(new_grad, list) else [new_grad]
    return dict(list(zip(node.outputs, new_grad)) + list(old_to_new.items()))


#: ops whose results the backward step reads from the forward loop rather than computing them again
def _costly(op):
    from ..tensor.blas import Dot, Ger, MatMul, _ScaledProduct
    from ..tensor.nnet.conv import BaseConv

    return isinstance(op, (Dot, MatMul, _ScaledProduct, Ger, BaseConv))


def values_to_keep(op):
    """The values of a ScanGrad's forward step worth keeping from the forward loop (a list, maybe empty).

    The backward step is built on the forward step's graph, so it computes
    again whatever of the forward step its gradients read: for an LSTM, the
    gates' matrix products.  Each costly node (a product, a convolution) it
    would compute is kept instead, moved down through elementwise nodes that
    are its only readers and whose other inputs are the same at every step
    (``dot(x, U) + dot(h, W) + b`` keeps one sum, not two products).  The
    states are not kept: their trajectories already hold them.
    """
    from ..tensor.elemwise import Elemwise

    sc = op.scan
    info = sc.info
    _, gs = op.step_grads()
    if not gs:
        return []
    states = set(sc.inner_outputs[: info.n_state])
    fwd_nodes = io_toposort(sc.inner_inputs, sc.inner_outputs)
    fwd = set(fwd_nodes)
    # forward nodes the gradient graph reads, up to the states
    needed, seen, stack = set(), set(), list(gs)
    while stack:
        v = stack.pop()
        if v in seen or v in states or v.owner is None:
            continue
        seen.add(v)
        if v.owner in fwd:
            needed.add(v.owner)
        stack.extend(v.owner.inputs)
    costly = [n for n in fwd_nodes if n in needed and _costly(n.op)]
    if not costly:
        return []
    n_varying = sum(map(len, info.seq_taps)) + sum(map(len, info.state_taps))
    varying = set(sc.inner_inputs[:n_varying])
    clients = {}
    for n in io_toposort(list(sc.inner_inputs), list(sc.inner_outputs) + list(gs)):
        if any(i in varying or i.owner is None and not isinstance(i, Constant) and i not in sc.inner_inputs
               for i in n.inputs):  # fmt: skip
            varying.update(n.outputs)  # (an input of neither: a cotangent placeholder)
        for i in n.inputs:
            clients.setdefault(i, []).append(n)
    # a product of loop-invariant values only is the same at every step: n copies of it would only cost memory
    costly = [n for n in costly if any(i in varying for i in n.inputs)]
    outputs = set(sc.inner_outputs) | set(gs)
    keep = [o for n in costly for o in n.outputs if o in clients or o in outputs]
    moved = True
    while moved:
        moved = False
        for v in keep:
            readers = set(clients.get(v, ()))
            if v in outputs or len(readers) != 1:
                continue
            (n,) = readers
            if n not in fwd or not isinstance(n.op, Elemwise) or len(n.outputs) != 1:
                continue
            if any(i in varying and (i not in keep or set(clients[i]) != {n} or i in outputs) for i in n.inputs):
                continue
            keep = [k for k in keep if k not in n.inputs] + [n.outputs[0]]
            moved = True
            break
    return [v for v in keep if v not in states and getattr(v.type, "ndim", None) is not None
            and _same_shape_every_step(v, sc.inner_inputs, varying)]  # fmt: skip


def _same_shape_every_step(v, inner_inputs, varying):
    """True when ``v``'s shape follows from its inputs' shapes and loop-invariant values only.

    The kept values of all steps are stacked into one array.  Elementwise
    ops, transposes, products and reductions take their output shape from
    their inputs' shapes (each step's slice of a sequence has the same shape;
    scan requires it of states); any other op must get its other inputs
    (indices, shapes, axes) from loop-invariant values: ``M[:t]`` with ``t`` a
    state is not kept.
    """
    from ..tensor.elemwise import DimShuffle, Elemwise
    from ..tensor.reduction import CAReduce

    by_shapes = (Elemwise, DimShuffle, CAReduce)
    stack, seen = [v], set()
    while stack:
        w = stack.pop()
        if w in seen or w.owner is None or w in inner_inputs:
            continue
        seen.add(w)
        node = w.owner
        if not isinstance(node.op, by_shapes) and not _costly(node.op):
            if any(i in varying for i in node.inputs[1:]):
                return False
        stack.extend(node.inputs)
    return True
