"""Shared-variable updates computed in place: ``W <- W - lr * dot(x.T, d)`` writes into ``W``'s own buffer.

A training step's weight update is a ``Gemm`` whose ``z`` is the weight and
whose result becomes the weight's next value.  Computed out of place it reads
the whole old matrix once more (``c = beta * z``) into a second buffer, and
the step keeps two copies of every weight in the cache; in place, BLAS adds
``alpha * x y`` straight into the weight (``c += ...``): a measured 11% of an
MLP step at batch 128.

It is safe when nothing else in the step needs the old value after the
update runs, so :func:`inplace_plan` moves each such update to the end of
the step's order (its result has no reader but the update itself) and
refuses where the old value could still be seen:

* the weight, or a view of it, is a function output, or another node's input
  that the update itself reads (``dot(W, y)`` as its ``x``);
* the update's value is also returned (the caller would hold the weight's
  buffer);
* a node wrapper is inspecting the step (DebugMode checks that undeclared
  inputs stay unchanged, profiling times each node): they see the plain
  out-of-place step.

At run time the kernel still falls back to a fresh output when the weight's
array cannot take it (not C-contiguous, read-only, another shape or dtype,
or sharing memory with ``x`` or ``y``).
"""

from ...tensor.blas import Gemm


def inplace_plan(fgraph, targets):
    """``(order, nodes)``: the step order and the set of Gemm nodes to compute in place.

    ``targets`` maps each update's value (an fgraph output) to the shared
    variable (an fgraph input) it replaces after the call.
    """
    order = fgraph.toposort()
    if not targets:
        return order, set()
    clients = fgraph.clients
    outputs = fgraph.outputs
    chosen = []
    for value, var in targets.items():
        node = value.owner
        if node is None or not isinstance(node.op, Gemm) or node.inputs[0] is not var:
            continue
        if outputs.count(value) != 1 or any(key != ("output", outputs.index(value)) for key in clients.get(value, ())):
            continue  # returned as well, or read by another node: it must stay a value of its own
        if _old_value_escapes(fgraph, var, node):
            continue
        chosen.append(node)
    if not chosen:
        return order, set()
    last = set(chosen)
    # nothing reads the updates' results: after every other node, the old values have all been read
    return [n for n in order if n not in last] + [n for n in order if n in last], last


def _old_value_escapes(fgraph, var, update):
    """True when ``var``'s old value (or a view of it) is an output or is read by ``update`` beyond its ``z``."""
    seen, stack = set(), [var]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        for node, i in fgraph.clients.get(v, ()):
            if node == "output":
                return True
            if node is update:
                if v is not var or i != 0:
                    return True  # the update reads the old value as a factor too
                continue
            for o, ins in (getattr(node.op, "view_map", None) or {}).items():
                if i in ins:
                    stack.append(node.outputs[o])  # a view: its readers read the old value too
            if getattr(node.op, "destroy_map", None):
                return True
    return False


__all__ = ["inplace_plan"]
