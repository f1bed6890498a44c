"""Graph rewriting: small named node rewriters, run in a fixed order of phases.

The whole pipeline, top to bottom::

    merge -> canonicalize -> stabilize -> specialize -> fuse -> backend -> merge

* A node rewriter is a function ``local_<before>_to_<after>(fgraph, node)``
  registered with :func:`node_rewriter` for some op classes and one phase.
  It returns ``None`` (no change) or a list of replacement variables, one per
  output of ``node`` (``None`` entries keep an output).  Its one-line
  docstring is the rule.
* Each phase runs its rewriters over the graph until nothing changes (a fixed
  point), then ``merge`` removes common subexpressions.
* Modes pick phases and filter rewriters by name or tag (``fast_compile``
  runs only rewriters tagged so, plus every stabilizing rewriter, so numerics
  never depend on the mode).

Nodes created by a rewrite inherit the user source line of the node they
replace, so run-time errors still point at the user's code.
"""

import sys
import time
from collections import defaultdict

from .basic import Constant

#: The phase order, written once.
PHASES = ("canonicalize", "stabilize", "specialize", "fuse", "backend")

#: Phases that run whatever the rewrite level (numerical safety).
ALWAYS = ("stabilize",)


class NodeRewriter:
    """A registered local rewrite: ``fn(fgraph, node) -> replacements or None``."""

    def __init__(self, fn, tracks, phase, tags, name):
        self.fn = fn
        self.tracks = tuple(tracks) if tracks else None
        self.phase = phase
        self.tags = frozenset(tags) | {name, phase}
        self.name = name
        self.rule = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name

    def __call__(self, fgraph, node):
        return self.fn(fgraph, node)

    def __repr__(self):
        return "<rewrite %s (%s): %s>" % (self.name, self.phase, self.rule)


_REGISTRY = defaultdict(list)  # phase -> [NodeRewriter]
_BY_NAME = {}


def node_rewriter(tracks, phase="canonicalize", tags=("fast_run",), name=None):
    """Register the decorated function as a rewriter of nodes whose op is one of ``tracks``.

    ``tracks`` is a list of Op classes (or op instances, matched by equality);
    None tracks every node.
    """
    if phase not in PHASES:
        raise ValueError("unknown phase %r; phases are %s" % (phase, PHASES))

    def deco(fn):
        nm = name or fn.__name__
        rw = NodeRewriter(fn, tracks, phase, tags, nm)
        if nm in _BY_NAME:
            old = _BY_NAME[nm]
            _REGISTRY[old.phase].remove(old)
        _REGISTRY[phase].append(rw)
        _BY_NAME[nm] = rw
        fn.rewriter = rw
        return fn

    return deco


def registered_rewriters(phase=None):
    """The registered rewriters (of one phase, or all in phase order)."""
    if phase is not None:
        return list(_REGISTRY[phase])
    return [rw for ph in PHASES for rw in _REGISTRY[ph]]


def _tracks_node(rw, node):
    if rw.tracks is None:
        return True
    op = node.op
    for t in rw.tracks:
        if isinstance(t, type):
            if isinstance(op, t):
                return True
        elif op == t:
            return True
    return False


class RewriteLog:
    """What fired: ``(rewrite name, node before)``; printed when ``optimizer_verbose``."""

    def __init__(self, verbose=False):
        self.entries = []
        self.verbose = verbose
        self.seconds = defaultdict(float)

    def add(self, name, node, new):
        self.entries.append((name, str(node.op)))
        if self.verbose:
            print("rewriting: %s replaces %s by %s" % (name, node, ", ".join(map(str, new))), file=sys.stderr)

    def counts(self):
        c = defaultdict(int)
        for name, _ in self.entries:
            c[name] += 1
        return dict(c)


def _inherit_trace(fgraph, old_node, new_vars):
    """Give nodes created by a rewrite the user line of the node they replace."""
    trace = getattr(old_node.tag, "trace", None)
    if trace is None:
        return
    known = fgraph.clients
    stack = [v for v in new_vars if v is not None]
    seen = set()
    while stack:
        v = stack.pop()
        node = v.owner
        if v in known or node is None or node in seen:
            continue
        seen.add(node)
        node.tag.trace = trace
        for o in node.outputs:
            o.tag.trace = trace
        stack.extend(node.inputs)


def apply_rewriter(fgraph, rw, node, log):
    """Try one rewriter on one node; return True if the graph changed."""
    try:
        res = rw(fgraph, node)
    except Exception as e:  # noqa: BLE001 - a broken rewrite must not break compilation
        import warnings

        warnings.warn("rewrite %s failed on %s and was skipped: %r" % (rw.name, node, e), stacklevel=2)
        return False
    if not res:
        return False
    if isinstance(res, dict):
        pairs = list(res.items())
    else:
        if len(res) != len(node.outputs):
            raise ValueError(
                "rewrite %s returned %d replacements for %d outputs" % (rw.name, len(res), len(node.outputs))
            )
        pairs = [(o, n) for o, n in zip(node.outputs, res) if n is not None and n is not o]
    if not pairs:
        return False
    _inherit_trace(fgraph, node, [n for _, n in pairs])
    changed = False
    for old, new in pairs:
        if old not in fgraph.clients:
            continue
        if old.type != new.type:
            conv = old.type.convert_variable(new)
            if conv is None:
                raise TypeError("rewrite %s changed the type of %s from %s to %s" % (rw.name, old, old.type, new.type))
            new = conv
        fgraph.replace(old, new, reason=rw.name)
        changed = True
    if changed:
        log.add(rw.name, node, [n for _, n in pairs])
    return changed


def run_phase(fgraph, rewriters, log, max_passes=50):
    """Apply ``rewriters`` to every node until none fires (a fixed point)."""
    if not rewriters:
        return
    for _ in range(max_passes):
        changed = False
        for node in fgraph.toposort():
            for rw in rewriters:
                if node not in fgraph.apply_nodes:
                    break
                if _tracks_node(rw, node) and apply_rewriter(fgraph, rw, node, log):
                    changed = True
        if not changed:
            return
        # equal subexpressions made by this pass become one, so that later
        # rewrites can recognize them (e.g. cancel ``(1 - p) / (1 - p)``)
        merge(fgraph)
    import warnings

    warnings.warn("rewriting did not reach a fixed point in %d passes" % max_passes, stacklevel=2)


def merge(fgraph, log=None):
    """Common-subexpression elimination: equal constants and equal nodes become one."""
    consts = {}
    for v in list(fgraph.variables):
        if isinstance(v, Constant) and v in fgraph.clients and fgraph.clients[v]:
            try:
                key = v.signature()
                hash(key)
            except TypeError:
                continue
            other = consts.setdefault(key, v)
            if other is not v:
                fgraph.replace(v, other, reason="merge")
    seen = {}
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes:
            continue
        key = (node.op, tuple(id(i) for i in node.inputs))
        try:
            other = seen.get(key)
        except TypeError:  # unhashable op props
            continue
        if other is None:
            seen[key] = node
            continue
        for o, n in zip(node.outputs, other.outputs):
            if o in fgraph.clients:
                fgraph.replace(o, n, reason="merge")
        if log is not None:
            log.add("merge", node, other.outputs)


def select_rewriters(phase, level, including=(), excluding=()):
    """The rewriters of ``phase`` that run at ``level`` with the given filters."""
    out = []
    inc = set(including)
    exc = set(excluding)
    for rw in _REGISTRY[phase]:
        if rw.tags & exc:
            continue
        if level == "fast_run" or level in ("o1", "o2", "o3", "o4"):
            ok = "fast_run" in rw.tags or bool(rw.tags & inc)
        elif level == "fast_compile":
            ok = "fast_compile" in rw.tags or phase in ALWAYS or bool(rw.tags & inc)
        else:
            ok = bool(rw.tags & inc)
        if ok:
            out.append(rw)
    return out


def rewrite_graph(fgraph, level="fast_run", including=(), excluding=()):
    """Run the phase pipeline on ``fgraph`` in place and return it.

    ``level`` None (or 'None') runs nothing; 'merge' only merges.
    """
    from ..configdefaults import config

    log = RewriteLog(verbose=config.optimizer_verbose)
    fgraph.rewrite_log = log
    if level in (None, "None"):
        return fgraph
    t0 = time.perf_counter()
    if "merge" not in excluding:
        merge(fgraph, log)
    if level != "merge" or including:  # at 'merge', only the included rewrites run in the phases
        for phase in PHASES:
            rws = select_rewriters(phase, level, including, excluding)
            t = time.perf_counter()
            run_phase(fgraph, rws, log)
            log.seconds[phase] += time.perf_counter() - t
            if "merge" not in excluding:
                merge(fgraph, log)
    log.seconds["total"] = time.perf_counter() - t0
    return fgraph


__all__ = [
    "PHASES", "node_rewriter", "rewrite_graph", "merge", "run_phase", "registered_rewriters", "RewriteLog",
]  # fmt: skip
