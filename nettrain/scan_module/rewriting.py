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
    outs = ScanGrad(op.scan, wanted)(*node.inputs)
    return outs if isinstance(outs, list) else [outs]
