"""Fuse: trees of elementwise ops become one ``Elemwise{Composite{...}}``.

Starting from an Elemwise node, the rewrite absorbs the Elemwise nodes that
compute its inputs when every reader of their result is inside the fused
group (chains, trees and diamonds), or when the result is also needed
outside and has the group's output shape (it becomes an extra output).  A
fused node has at most ``MAX_INPUTS`` inputs, so a backend can pass them as
kernel arguments.
"""

from ...graph.basic import Apply, ancestors
from ...graph.rewriting import node_rewriter
from ..composite import Composite
from ..elemwise import Elemwise
from ..type import TensorType

MAX_INPUTS = 32


def _fusable(node):
    return isinstance(node.op, Elemwise) and len(node.outputs) == 1


def _will_be_absorbed(fgraph, node):
    """True when this node's only reader is an Elemwise that will absorb it."""
    if getattr(node.tag, "fusion_root", False):
        return False
    clients = fgraph.clients.get(node.outputs[0], ())
    if len(clients) == 0:
        return False
    for c, _ in clients:
        if c == "output" or not _fusable(c):
            return False
    return len({c for c, _ in clients}) == 1


@node_rewriter([Elemwise], phase="fuse", tags=("fast_run", "fusion"))
def local_elemwise_fusion(fgraph, node):
    """elemwise(elemwise(x), y) -> Elemwise{Composite{...}}(x, y)"""
    if not _fusable(node) or _will_be_absorbed(fgraph, node):
        return None
    root = node.outputs[0]
    group = [node]
    in_group = {node}
    extra_outputs = []
    ext = dict.fromkeys(node.inputs)  # the group's inputs, in order (a dict used as an ordered set)
    queue = list(ext)
    rejected = []
    while queue:
        v = queue.pop()
        if v not in ext:
            continue
        p = v.owner
        if p is None or p in in_group or not _fusable(p):
            continue
        outside = [c for c, _ in fgraph.clients.get(v, ()) if c == "output" or c not in in_group]
        if outside:
            # needed elsewhere too: fuse only as an extra output of the same shape, and only if
            # no other input of the group is computed from it (that would make a cycle)
            if v.type.broadcastable != root.type.broadcastable or v in set(ancestors([e for e in ext if e is not v])):
                rejected.append(v)
                continue
        new_inputs = [i for i in p.inputs if i not in ext]
        if len(ext) - 1 + len(dict.fromkeys(new_inputs)) > MAX_INPUTS:
            p.tag.fusion_root = True  # this group is full: p starts a group of its own on the next pass
            continue
        group.append(p)
        in_group.add(p)
        del ext[v]
        for i in new_inputs:
            ext[i] = None
            queue.append(i)
        if outside:
            extra_outputs.append(v)
        # a variable rejected because a reader was outside may now be private to the group
        queue.extend(rejected)
        rejected = []
    if len(group) == 1:
        return None
    return _build(fgraph, group, in_group, root, extra_outputs)


def _external_inputs(group, in_group):
    seen = []
    ids = set()
    for n in group:
        for v in n.inputs:
            if (v.owner is None or v.owner not in in_group) and id(v) not in ids:
                ids.add(id(v))
                seen.append(v)
    return seen


def _build(fgraph, group, in_group, root, extra_outputs):
    order = [n for n in fgraph.toposort() if n in in_group]
    ext = _external_inputs(order, in_group)
    ref = {v: k for k, v in enumerate(ext)}
    program = []
    n_in = len(ext)
    for n in order:
        sop = n.op.scalar_op
        args = [ref[v] for v in n.inputs]
        if isinstance(sop, Composite):
            # inline a previously fused program, renumbering its refs
            base = n_in + len(program)
            local = list(args)
            for op, a, dt in sop.program:
                program.append((op, tuple(local[x] if x < sop.n_inputs else base + (x - sop.n_inputs) for x in a), dt))
            outs = [local[o] if o < sop.n_inputs else base + (o - sop.n_inputs) for o in sop.outputs]
            for o, r in zip(n.outputs, outs):
                ref[o] = r
        else:
            program.append((sop, tuple(args), n.outputs[0].type.dtype))
            ref[n.outputs[0]] = n_in + len(program) - 1
    wanted = [root] + extra_outputs
    comp = Composite(n_in, program, [ref[v] for v in wanted], [v.type.dtype for v in ext])
    outs = [TensorType(v.type.dtype, root.type.shape)() for v in wanted]
    new_node = Apply(Elemwise(comp), ext, outs)
    # the user lines of every fused node, for error reports (tag.trace is the root's)
    traces = [t for n in order for t in getattr(n.tag, "fused_traces", [getattr(n.tag, "trace", None)])]
    new_node.tag.fused_traces = list(dict.fromkeys(t for t in traces if t))
    return {v: o for v, o in zip(wanted, new_node.outputs)}
