"""DebugMode: every node checked against the reference, every rewrite checked against the original graph.

For each node of a call, after the compiled backend ran it:

* its outputs are compared with the op's ``perform`` (the Python reference) run
  on copies of the same inputs, with tolerances by dtype;
* its ``infer_shape``, evaluated on the actual inputs, must give the computed
  shapes;
* inputs the op does not declare destroyed (``destroy_map``) must be unchanged,
  and outputs not declared views (``view_map``/``destroy_map``) must not share
  memory with an input;

and after the call, the rewritten graph's outputs (and updates) are compared
with those of the unrewritten graph run on the Python linker (where the
unrewritten graph gives NaN or Inf and the rewritten one a number, the
rewrite stabilized it: that is not an error).  The first
disagreement raises :class:`DebugModeError` naming the node (or output), both
values and the user's line that built the node.  Slow is fine; wrong is not.
"""

import copy

import numpy as np

from ..backends.errors import op_error_message
from ..backends.python import PythonLinker, instrumented, runner_impl
from ..graph.basic import clone_replace
from ..graph.fg import FunctionGraph
from ..graph.utils import format_trace
from ..configdefaults import config
from .mode import Mode

#: ``(atol, rtol)`` by dtype kind and size: C kernels may sum in another order than NumPy
TOLERANCES = {"float16": (1e-3, 1e-2), "float32": (1e-5, 1e-4), "float64": (1e-8, 1e-6),
              "complex64": (1e-5, 1e-4), "complex128": (1e-8, 1e-6)}  # fmt: skip


class DebugModeError(AssertionError):
    """A node or a rewrite computed something other than the reference (DebugMode)."""


class DebugMode(Mode):
    """A Mode that double-checks every node and every rewrite (slow).

    Parameters
    ----------
    check_py : bool
        Compare each node's compiled result with its ``perform``.
    check_shapes : bool
        Compare ``infer_shape`` with the computed shapes.
    check_inputs : bool
        Inputs not declared destroyed stay unchanged; undeclared views are errors.
    check_rewrites : bool
        Compare the rewritten graph with the unrewritten one on the Python linker.
    atol, rtol : float, optional
        Tolerances for every float dtype (default: :data:`TOLERANCES` by dtype).
    optimizer, linker
        As for :class:`Mode` (the linker whose kernels are checked).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> f = theano.function([x], T.exp(x).sum(), mode='DebugMode')
    >>> float(f(np.zeros(3)))
    3.0
    """

    def __init__(self, optimizer="default", linker=None, check_py=True, check_shapes=True, check_inputs=True,
                 check_rewrites=True, atol=None, rtol=None):  # fmt: skip
        super().__init__(linker=linker, optimizer=optimizer, name="DebugMode")
        self.check_py, self.check_shapes = bool(check_py), bool(check_shapes)
        self.check_inputs, self.check_rewrites = bool(check_inputs), bool(check_rewrites)
        self.atol, self.rtol = atol, rtol

    def node_wrapper(self, fgraph, linker):
        from ..scan_module.op import scans_checked_by

        # a scan's steps are checked too (compiled under this mode unless the scan named its own)
        return scans_checked_by(self, NodeChecker(self, getattr(linker, "name", "?")).wrap)

    def wrap_run(self, function, run):
        if not self.check_rewrites:
            return run
        checker = RewriteChecker(self, function)

        def debug_run():
            snap = checker.snapshot()
            run()
            checker.compare(snap)

        for attr in ("library", "runtime", "runners", "steps", "c_kernels"):
            if hasattr(run, attr):
                setattr(debug_run, attr, getattr(run, attr))
        return debug_run

    def tolerances(self, dtype):
        atol, rtol = TOLERANCES.get(str(dtype), (0.0, 0.0))
        return (atol if self.atol is None else self.atol), (rtol if self.rtol is None else self.rtol)

    def __repr__(self):
        return "DebugMode(linker=%r, optimizer=%r)" % (self.linker, self.optimizer)


# ---------------------------------------------------------------- values
def _host(v):
    return v.get() if getattr(v, "is_device_array", False) else v


def _copy(v):
    v = _host(v)
    if isinstance(v, np.ndarray):
        return v.copy()
    try:
        return copy.deepcopy(v)
    except Exception:  # noqa: BLE001 - an uncopyable value is compared as is
        return v


def _is_array(v):
    return isinstance(v, (np.ndarray, np.generic))


def _differs(mode, a, b, stabilized_ok=False):
    """None when ``a`` and ``b`` agree, else a short reason.

    With ``stabilized_ok``, entries where ``b`` (the unrewritten reference) is NaN or Inf and ``a`` is finite
    agree: a stabilizing rewrite (log1p, softplus, logsumexp, softmax) exists to turn those into numbers.
    """
    a, b = _host(a), _host(b)
    if not (_is_array(a) and _is_array(b)):
        return None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return "shapes differ: %s vs %s" % (a.shape, b.shape)
    if a.dtype != b.dtype:
        return "dtypes differ: %s vs %s" % (a.dtype, b.dtype)
    if a.dtype.kind in "fc":
        atol, rtol = mode.tolerances(a.dtype)
        ok = np.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
        if stabilized_ok:
            ok |= np.isfinite(a) & ~np.isfinite(b)
        if ok.all():
            return None
        i = np.unravel_index(int(np.argmin(ok)), a.shape) if a.ndim else ()
        return "values differ beyond atol=%g, rtol=%g (first at index %s: %r vs %r)" % (atol, rtol, i, a[i], b[i])
    if not np.array_equal(a, b):
        return "values differ"
    return None


def _show(v, limit=200):
    v = _host(v)
    text = np.array2string(np.asarray(v), threshold=20, precision=6) if _is_array(v) else repr(v)
    return text if len(text) <= limit else text[:limit] + " ..."


def _error(node, args, head, detail):
    err = DebugModeError(op_error_message(node, args, DebugModeError(head)) + "\n" + detail)
    err.__nettrain_node__ = node  # the runner loop must not wrap this message again
    return err


# ---------------------------------------------------------------- per node
class NodeChecker:
    """Wraps node runners with the per-node checks of a DebugMode."""

    def __init__(self, mode, linker_name):
        self.mode, self.linker_name = mode, linker_name

    def wrap(self, step, runner):
        mode = self.mode
        impl = runner_impl(step, runner, self.linker_name)
        op = step.node.op
        destroyed = {i for ins in (getattr(op, "destroy_map", None) or {}).values() for i in ins}
        declared = set(getattr(op, "view_map", None) or {}) | set(getattr(op, "destroy_map", None) or {})
        compare_py = mode.check_py and impl != "py" and not _is_random(op)
        shapes = ShapeCheck(step.node) if mode.check_shapes else None

        def checked(node, args, outs):
            before = [_copy(a) for a in args]
            runner(node, args, outs)
            values = [c[0] for c in outs]
            if mode.check_inputs:
                for j, (a, b) in enumerate(zip(args, before)):
                    if j not in destroyed and _differs_exact(a, b):
                        raise _error(node, before, "%s changed its input %d (%s), which it does not declare "
                                     "destroyed (destroy_map=%s)" % (op, j, node.inputs[j], op.destroy_map or {}),
                                     "before: %s\nafter:  %s" % (_show(b), _show(a)))  # fmt: skip
                for i, v in enumerate(values):
                    if i in declared or not isinstance(v, np.ndarray):
                        continue
                    for j, a in enumerate(args):
                        if isinstance(a, np.ndarray) and a.size and np.may_share_memory(v, a):
                            raise _error(node, before, "output %d of %s shares memory with input %d, but the op "
                                         "declares no view_map or destroy_map for it" % (i, op, j), "")  # fmt: skip
            if compare_py:
                ref = [[None] for _ in outs]
                op.perform(node, [_copy(b) for b in before], ref)
                for i, (v, r) in enumerate(zip(values, ref)):
                    why = _differs(mode, v, r[0])
                    if why is not None:
                        raise _error(node, before, "output %d of %s: the %s implementation disagrees with perform "
                                     "(the Python reference): %s" % (i, op, impl, why),
                                     "%s result:\n%s\nperform result:\n%s" % (impl, _show(v), _show(r[0])))
            if shapes is not None:
                shapes.check(node, before, values)

        checked.impl = impl
        return checked


def _differs_exact(a, b):
    a, b = _host(a), b
    if _is_array(a) and _is_array(b):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    return False


def _is_random(op):
    from ..tensor.random.op import RandomVariable

    return isinstance(op, RandomVariable)


class ShapeCheck:
    """``infer_shape`` of one node, compiled once on the Python linker, checked against computed shapes."""

    def __init__(self, node):
        self.node = node
        self.fn = None
        self.skip = not hasattr(node.op, "infer_shape")

    def _build(self):
        from ..tensor.basic import as_tensor_variable
        from ..tensor.shape import shape_tuple
        from .function import function

        node = self.node
        fresh = [v.type() for v in node.inputs]
        in_shapes = [shape_tuple(f) if hasattr(f.type, "ndim") else None for f in fresh]
        try:
            out_shapes = node.op.infer_shape(node, [shape_tuple(v) if hasattr(v.type, "ndim") else None
                                                    for v in node.inputs])  # fmt: skip
        except NotImplementedError:
            self.skip = True
            return
        dims, where = [], []
        for i, s in enumerate(out_shapes):
            if s is None or not hasattr(node.outputs[i].type, "ndim"):
                continue
            for d in s:
                dims.append(as_tensor_variable(d))
            where.append((i, len(s)))
        del in_shapes
        dims = clone_replace(dims, dict(zip(node.inputs, fresh)), strict=False) if dims else []
        with instrumented(None):
            self.fn = function(fresh, dims, mode=Mode(linker="py", optimizer=None), on_unused_input="ignore",
                               profile=False)
        self.where = where

    def check(self, node, args, values):
        if self.skip:
            return
        if self.fn is None:
            with config.change_flags(compute_test_value="off", warn_float64="ignore"):  # DebugMode's own graph
                self._build()
            if self.skip:
                return
        dims = [int(d) for d in self.fn(*[_host(a) for a in args])] if self.where else []
        k = 0
        for i, n in self.where:
            said = tuple(dims[k:k + n])
            k += n
            got = np.shape(_host(values[i]))
            if said != got:
                raise _error(node, args, "infer_shape of %s says output %d has shape %s, but the computed output "
                             "has shape %s" % (node.op, i, said, got), "")  # fmt: skip


# ---------------------------------------------------------------- per graph
class RewriteChecker:
    """Runs the unrewritten graph on the Python linker and compares every output and update."""

    def __init__(self, mode, function):
        self.mode, self.function = mode, function
        self.run = None
        fg = function.maker.fgraph
        self.skip = mode.linker == "cuda" and any(_is_random(n.op) for n in fg.apply_nodes)

    def _build(self):
        m = self.function.maker
        _nodes, in_vars, all_vars = m.spec_graph
        originals = list(in_vars) + list(m.shared_vars)
        fresh = [v.type() for v in originals]
        outs = clone_replace(list(all_vars), dict(zip(originals, fresh)), strict=False)
        ref_fg = FunctionGraph(fresh, outs)
        self.cells = [[None] for _ in fresh]
        with instrumented(None):
            self.run, cells = PythonLinker().make_thunk(ref_fg, dict(zip(fresh, self.cells)), allow_gc=True)
        self.out_cells = [cells[o] for o in ref_fg.outputs]

    def snapshot(self):
        if self.skip:
            return None
        sm = self.function.storage_map
        return [_copy(sm[v][0]) for v in self.function.maker.fgraph.inputs]

    def compare(self, snap):
        if snap is None:
            return
        if self.run is None:
            with config.change_flags(compute_test_value="off", warn_float64="ignore"):
                self._build()
        for c, v in zip(self.cells, snap):
            c[0] = v
        try:
            self.run()
        except Exception as e:  # noqa: BLE001 - reported as what it means here
            raise DebugModeError("DebugMode: the unrewritten graph (the reference, on the Python linker) fails where "
                                 "the rewritten one ran: the rewrites removed or changed a computation that is an "
                                 "error as written:\n%s" % e) from e
        fn = self.function
        fg = fn.maker.fgraph
        n_out = fn.maker.n_out
        for i, (o, ref) in enumerate(zip(fg.outputs, self.out_cells)):
            got = fn.storage_map[o][0]
            why = _differs(self.mode, got, ref[0], stabilized_ok=True)
            if why is None:
                continue
            what = "output %d" % i if i < n_out else "the update of %s" % _update_name(fn, i - n_out)
            node = o.owner
            where = ""
            if node is not None:
                where = "\nIt is computed by %s, built at (your code): %s" % (
                    node.op, format_trace(getattr(node.tag, "trace", None)))
            raise DebugModeError("DebugMode: %s of the rewritten graph differs from the unrewritten graph's (a "
                                 "rewrite changed the result): %s\nrewritten:\n%s\nunrewritten:\n%s%s"
                                 % (what, why, _show(got), _show(ref[0]), where))  # fmt: skip
        for c in self.cells:
            c[0] = None


def _update_name(fn, k):
    ups = list(fn.maker.updates)
    if k < len(ups):
        v = ups[k][0]
        return "shared variable %r" % (v.name or v)
    return "state input %d" % (k - len(ups))


__all__ = ["DebugMode", "DebugModeError", "TOLERANCES"]
