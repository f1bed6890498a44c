"""The Python linker: the reference backend that runs each node's ``perform``.

It turns a FunctionGraph into a list of steps over storage cells (one-element
lists).  Input cells and shared-variable containers are given by the caller;
cells of intermediate results are emptied after their last reader, so peak
memory stays close to the live set.
"""

import contextlib

from ..graph.basic import Constant
from .errors import reraise_with_op

#: While a function is linked under an inspecting mode (profiling, NanGuardMode,
#: DebugMode): ``wrap(step, runner) -> runner`` applied to every node's runner.
#: Set only around ``make_thunk``, so the plain path pays nothing per call.
_NODE_WRAPPER = [None]


@contextlib.contextmanager
def instrumented(wrap):
    """Link with every node runner wrapped by ``wrap(step, runner)`` (None: no wrapping)."""
    old = _NODE_WRAPPER[0]
    _NODE_WRAPPER[0] = wrap
    try:
        yield
    finally:
        _NODE_WRAPPER[0] = old


def runner_impl(step, runner, default):
    """Which implementation runs ``step``: 'py' for its ``perform``, else ``runner.impl`` or ``default``."""
    impl = getattr(runner, "impl", None)
    if impl is not None:
        return impl
    return "py" if runner == step.perform else default


class Step:
    """One node to run: its ``perform`` and its input/output cells."""

    __slots__ = ("node", "perform", "inputs", "outputs", "clear")

    def __init__(self, node, inputs, outputs):
        self.node = node
        self.perform = node.op.perform
        self.inputs = inputs
        self.outputs = outputs
        self.clear = ()


def storage_plan(fgraph, input_cells, allow_gc=True, order=None):
    """Cells for every variable of ``fgraph`` and the steps that fill them.

    ``input_cells`` maps each fgraph input to its cell; ``order`` is the
    nodes' order (a topological one; ``fgraph.toposort()`` by default).
    Returns ``(steps, cells)`` where ``cells`` maps variables to cells.
    """
    cells = dict(input_cells)
    order = fgraph.toposort() if order is None else order
    steps = []
    for node in order:
        ins = []
        for v in node.inputs:
            c = cells.get(v)
            if c is None:
                if isinstance(v, Constant):
                    c = [v.data]
                elif hasattr(v, "container"):
                    c = v.container
                else:
                    raise ValueError("no storage for %s" % v)
                cells[v] = c
            ins.append(c)
        outs = []
        for o in node.outputs:
            c = cells.setdefault(o, [None])
            outs.append(c)
        steps.append(Step(node, ins, outs))
    for o in fgraph.outputs:
        if o not in cells:
            cells[o] = [o.data] if isinstance(o, Constant) else o.container
    if allow_gc:
        keep = set(fgraph.outputs) | set(fgraph.inputs)
        last = {}
        for i, node in enumerate(order):
            for v in node.inputs:
                if v.owner is not None and v not in keep:
                    last[v] = i
        for i, node in enumerate(order):
            for o in node.outputs:
                if o not in keep and o not in last:
                    last[o] = i  # never read: free at once
        per_step = [[] for _ in order]
        for v, i in last.items():
            per_step[i].append(cells[v])
        for step, cl in zip(steps, per_step):
            step.clear = tuple(cl)
    return steps, cells


class PythonLinker:
    """Runs nodes one by one with NumPy ``perform`` implementations."""

    name = "py"

    def make_thunk(self, fgraph, input_cells, allow_gc=True):
        """Return ``(run, cells)``; ``run()`` computes every output cell."""
        steps, cells = storage_plan(fgraph, input_cells, allow_gc)
        return make_runner(steps, [s.perform for s in steps]), cells


def make_runner(steps, runners):
    """The callable that runs ``steps`` in order, node ``i`` through ``runners[i]``.

    Shared by every linker: a runner has ``perform``'s signature; errors are
    re-raised with the node's context; cells are cleared after their last reader.
    """
    wrap = _NODE_WRAPPER[0]
    if wrap is not None:
        runners = [wrap(s, r) for s, r in zip(steps, runners)]
    plan = tuple((r, s.node, s.inputs, s.outputs, s.clear) for r, s in zip(runners, steps))

    def run():
        for perform, node, ins, outs, clear in plan:
            args = [c[0] for c in ins]
            try:
                perform(node, args, outs)
            except Exception as e:  # noqa: BLE001 - re-raised with context
                reraise_with_op(node, args, e)
            for c in clear:
                c[0] = None

    return run
