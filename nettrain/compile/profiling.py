"""The profiler: where a compiled function spends its time and memory.

``function(..., profile=True)`` (or ``config.profile = True``) gives the
function a :class:`ProfileStats` as ``f.profile``.  Its nodes are linked with
timing wrappers (only profiled functions get them: the plain call path is
unchanged), and ``f.profile.summary()`` prints calls, total and per-call time,
the time inside the runner against the Python overhead of the call, one row
per node (op, implementation, shapes seen, time, share of the total) with the
slowest first, the peak bytes of intermediate results and each node's output
size.  With ``config.profile`` set, every profiled function's summary and a
global one are printed when the program exits, as Theano's ProfileStats did.
"""

import atexit
import sys
import time

from ..configdefaults import config
from ..graph.utils import format_trace
from .function import Function

_perf = time.perf_counter

#: every ProfileStats made while the program runs (printed at exit under config.profile)
_ALL = []
#: functions compiled and seconds spent compiling them, for config.print_global_stats
COMPILED = {"functions": 0, "seconds": 0.0}
_exit_hook = []


def note_compile(seconds):
    """Count one compiled function (called by ``function``)."""
    COMPILED["functions"] += 1
    COMPILED["seconds"] += seconds
    if config.print_global_stats and not _exit_hook:
        _exit_hook.append(atexit.register(_print_at_exit))


def _nbytes(v):
    return int(getattr(v, "nbytes", 0) or 0)


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%d" % n


class NodeStats:
    """What one node cost over all calls."""

    __slots__ = ("node", "index", "impl", "time", "calls", "shapes", "out_bytes")

    def __init__(self, node, index, impl):
        self.node, self.index, self.impl = node, index, impl
        self.time = 0.0
        self.calls = 0
        self.shapes = []  # distinct input shapes seen (the first few)
        self.out_bytes = 0  # largest total size of the outputs in one call


class ProfileStats:
    """Time and memory of one compiled function (``f.profile``).

    Attributes
    ----------
    calls, call_time, run_time : int, float, float
        Number of calls, seconds inside ``f(...)``, and seconds inside the
        runner (the node loop); the difference is the call's Python overhead
        (input checks, updates, output copies).
    nodes : list of NodeStats
        One per node, in execution order.
    peak_bytes : int
        Largest total size of intermediate results alive at once.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> f = theano.function([x], T.tanh(x).sum(), profile=True)
    >>> _ = f(np.ones((3, 4)))
    >>> f.profile.calls
    1
    >>> 'Nodes' in f.profile.report()
    True
    """

    def __init__(self, name=None, atexit_print=None):
        self.name = name
        self.trace = None
        self.calls = 0
        self.call_time = 0.0
        self.run_time = 0.0
        self.compile_time = 0.0
        self.linker = None
        self.nodes = []
        self.peak_bytes = 0
        self._live = 0
        self._counted = {}
        _ALL.append(self)
        if (config.profile if atexit_print is None else atexit_print) and not _exit_hook:
            _exit_hook.append(atexit.register(_print_at_exit))

    # ------------------------------------------------------------ collection
    def node_wrapper(self, outer=None):
        """The linker's node wrapper: time every node (inside ``outer``'s checks, if any)."""
        if outer is None:
            return self.wrap
        return lambda step, runner: outer(step, self.wrap(step, runner))

    def wrap(self, step, runner):
        """``runner`` timed and its outputs' bytes counted into a new NodeStats."""
        from ..backends.python import runner_impl

        impl = runner_impl(step, runner, self.linker or "?")
        st = NodeStats(step.node, len(self.nodes), impl)
        self.nodes.append(st)
        sync = _cuda_sync() if impl == "cuda" else None
        views = set()
        for m in (getattr(step.node.op, "view_map", None) or {}, getattr(step.node.op, "destroy_map", None) or {}):
            views.update(m)
        clear = step.clear
        counted = self._counted

        def timed(node, args, outs):
            t0 = _perf()
            runner(node, args, outs)
            if sync is not None:
                sync()  # kernels run asynchronously: charge the node its own time
            st.time += _perf() - t0
            st.calls += 1
            if len(st.shapes) < 4:
                shp = tuple(tuple(getattr(a, "shape", ())) for a in args)
                if shp not in st.shapes:
                    st.shapes.append(shp)
            total, new = 0, 0
            for i, c in enumerate(outs):
                b = _nbytes(c[0])
                total += b
                if i not in views:  # a view or an in-place result allocates nothing
                    new += b
                    counted[id(c)] = b
            if total > st.out_bytes:
                st.out_bytes = total
            self._live += new
            if self._live > self.peak_bytes:
                self.peak_bytes = self._live
            for c in clear:  # freed by the loop right after this node
                self._live -= counted.pop(id(c), 0)

        timed.impl = impl
        return timed

    def wrap_run(self, run):
        """The function's runner, timed as a whole."""

        def profiled_run():
            self._live = 0
            self._counted.clear()
            t0 = _perf()
            try:
                run()
            finally:
                self.run_time += _perf() - t0

        for attr in ("library", "runtime", "runners", "steps", "c_kernels"):
            if hasattr(run, attr):
                setattr(profiled_run, attr, getattr(run, attr))
        return profiled_run

    # ------------------------------------------------------------- reporting
    def node_time(self):
        """Seconds spent in the nodes themselves, all calls."""
        return sum(n.time for n in self.nodes)

    def totals(self):
        """The headline figures as a dict (what ``nettrain train --profile`` logs to TensorBoard)."""
        calls = max(self.calls, 1)
        return {
            "calls": self.calls,
            "call_time_s": self.call_time,
            "time_per_call_ms": 1000.0 * self.call_time / calls,
            "runner_time_s": self.run_time,
            "node_time_s": self.node_time(),
            "python_overhead_s": max(self.call_time - self.run_time, 0.0),
            "peak_intermediate_bytes": self.peak_bytes,
            "compile_time_s": self.compile_time,
        }

    def report(self, n_nodes=20):
        """The summary as a string (``n_nodes`` slowest nodes; None: all)."""
        t = self.totals()
        calls = max(self.calls, 1)
        where = (" (built at %s)" % format_trace(self.trace).split("\n")[0]) if self.trace else ""
        lines = ["Function profiling: %s%s" % (self.name or "<unnamed function>", where),
                 "  Compile time: %.3f s (rewrites and linking, linker %s)" % (self.compile_time, self.linker),
                 "  Calls: %d   total %.4f s   per call %.3f ms" % (self.calls, self.call_time,
                                                                    t["time_per_call_ms"])]  # fmt: skip
        ct = self.call_time or 1e-12
        nt = t["node_time_s"]
        lines.append("  Time in the runner: %.4f s (%.1f%%); Python overhead of the call (input checks, updates, "
                     "copies): %.4f s (%.1f%%)" % (self.run_time, 100 * self.run_time / ct, t["python_overhead_s"],
                                                   100 * t["python_overhead_s"] / ct))  # fmt: skip
        lines.append("  Time in the nodes: %.4f s (%.1f%% of the call time); the rest of the runner is its loop"
                     % (nt, 100 * nt / ct))  # fmt: skip
        lines.append("  Memory: peak of intermediate results %s; largest node output %s"
                     % (_fmt_bytes(self.peak_bytes), _fmt_bytes(max((n.out_bytes for n in self.nodes), default=0))))
        order = sorted(self.nodes, key=lambda n: -n.time)
        shown = order if n_nodes is None else order[:n_nodes]
        lines.append("  Nodes (%d of %d, slowest first):" % (len(shown), len(self.nodes)))
        lines.append("    %6s %6s %10s %5s %5s  %-10s %s" % ("<% time>", "<cum %>", "<per call>", "<#>", "<impl>",
                                                            "<out size>", "<node>  <input shapes>"))  # fmt: skip
        nt = nt or 1e-12
        cum = 0.0
        for n in shown:
            cum += n.time
            shapes = _cut(" ".join("x".join(map(str, s)) or "()" for s in n.shapes[0]) if n.shapes else "", 40)
            if len(n.shapes) > 1:
                shapes += " (+%d more)" % (len(n.shapes) - 1)
            lines.append("    %7.1f%% %6.1f%% %8.3fms %5d %5s  %-10s #%d %s  %s"
                         % (100 * n.time / nt, 100 * cum / nt, 1000 * n.time / max(n.calls, 1), n.calls, n.impl,
                            _fmt_bytes(n.out_bytes), n.index, _node_str(n.node), shapes))  # fmt: skip
        if len(order) > len(shown):
            rest = sum(n.time for n in order[len(shown):])
            lines.append("    ... %d more nodes, %.1f%% of the node time" % (len(order) - len(shown), 100 * rest / nt))
        lines.append("  Op classes:")
        for name, (tm, cnt) in _by_op([self])[:10]:
            lines.append("    %7.1f%%  %8.3fms/call  %3d node(s)  %s" % (100 * tm / nt, 1000 * tm / calls, cnt, name))
        return "\n".join(lines)

    def summary(self, file=None, n_nodes=20):
        """Print :meth:`report` (to stdout unless ``file`` is given)."""
        print(self.report(n_nodes), file=file or sys.stdout)


def _cut(s, n):
    return s if len(s) <= n else s[: n - 3] + "..."


def _node_str(node):
    return _cut("%s(%s)" % (node.op, ", ".join(str(v) for v in node.inputs)), 60)


def _by_op(stats):
    agg = {}
    for p in stats:
        for n in p.nodes:
            k = type(n.node.op).__name__
            tm, cnt = agg.get(k, (0.0, 0))
            agg[k] = (tm + n.time, cnt + 1)
    return sorted(agg.items(), key=lambda kv: -kv[1][0])


def global_report(stats=None):
    """One summary over every profiled function (Theano's global ProfileStats)."""
    stats = [p for p in (_ALL if stats is None else stats) if p.calls]
    lines = ["Global profile: %d profiled function(s) called; %d function(s) compiled in %.3f s"
             % (len(stats), COMPILED["functions"], COMPILED["seconds"])]  # fmt: skip
    ct = sum(p.call_time for p in stats)
    nt = sum(p.node_time() for p in stats) or 1e-12
    lines.append("  Total call time %.4f s, in the runners %.4f s, in the nodes %.4f s, peak intermediates %s"
                 % (ct, sum(p.run_time for p in stats), nt if stats else 0.0,
                    _fmt_bytes(max((p.peak_bytes for p in stats), default=0))))  # fmt: skip
    for name, (tm, cnt) in _by_op(stats)[:15]:
        lines.append("    %7.1f%%  %9.4fs  %3d node(s)  %s" % (100 * tm / nt, tm, cnt, name))
    return "\n".join(lines)


def _print_at_exit():
    out = sys.stderr
    if config.profile:
        for p in _ALL:
            if p.calls:
                p.summary(file=out)
                print(file=out)
    if config.profile or config.print_global_stats:
        print(global_report(), file=out)


def _cuda_sync():
    from ..backends.cuda.runtime import get_runtime

    rt = get_runtime()
    return rt.synchronize if rt is not None else None


class ProfiledFunction(Function):
    """A Function whose calls are timed into ``self.profile`` (only profiled functions pay for it)."""

    def __call__(self, *args, **kwargs):
        t0 = _perf()
        try:
            return Function.__call__(self, *args, **kwargs)
        finally:
            p = self.profile
            p.call_time += _perf() - t0
            p.calls += 1


__all__ = ["ProfileStats", "ProfiledFunction", "global_report", "NodeStats"]
