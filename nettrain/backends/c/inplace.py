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
* another update moved to the end reads the weight (``L <- L + G G'`` and
  ``W <- W - lr L G``: the updates run last in any order among themselves);
* a node wrapper is inspecting the step (DebugMode checks that undeclared
  inputs stay unchanged, profiling times each node): they see the plain
  out-of-place step.

At run time the kernel still falls back to a fresh output when the weight's
array cannot take it (not C-contiguous, read-only, another shape or dtype,
or sharing memory with ``x`` or ``y``).  An update whose value is another
shared variable (``W_target <- W``) is copied by ``Function`` (it would
otherwise share ``W``'s buffer and follow its in-place updates).  As in
Theano, a call that fails after an in-place update ran (an interrupt, a
shape error in a later update) leaves that weight updated.
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
    chosen = {}  # update node -> the nodes that read its variable's old value
    for value, var in targets.items():
        node = value.owner
        if node is None or not isinstance(node.op, Gemm) or node.inputs[0] is not var:
            continue
        if outputs.count(value) != 1 or any(key != ("output", outputs.index(value)) for key in clients.get(value, ())):
            continue  # returned as well, or read by another node: it must stay a value of its own
        readers = _readers_of_old_value(fgraph, var, node)
        if readers is not None:
            chosen[node] = readers
    # the moved updates run after everything else, in any order among themselves: one that reads another's
    # variable (as a factor, or through a view) would see it updated, so that other one stays out of place
    dropped = True
    while dropped:
        dropped = False
        for node, readers in list(chosen.items()):
            if any(r in chosen for r in readers):
                del chosen[node]
                dropped = True
    if not chosen:
        return order, set()
    last = set(chosen)
    # nothing reads the updates' results: after every other node, the old values have all been read
    return [n for n in order if n not in last] + [n for n in order if n in last], last


def _readers_of_old_value(fgraph, var, update):
    """The nodes besides ``update`` that read ``var`` or a view of it, or None when its old value escapes.

    It escapes when ``var`` or a view of it is an output of the function, when ``update`` reads it
    beyond its ``z``, or when a node destroys it.
    """
    readers, seen, stack = set(), set(), [var]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        for node, i in fgraph.clients.get(v, ()):
            if node == "output":
                return None
            if node is update:
                if v is not var or i != 0:
                    return None  # the update reads the old value as a factor too
                continue
            readers.add(node)
            for o, ins in (getattr(node.op, "view_map", None) or {}).items():
                if i in ins:
                    stack.append(node.outputs[o])  # a view: its readers read the old value too
            if getattr(node.op, "destroy_map", None):
                return None
    return readers


__all__ = ["inplace_plan"]
