"""NanGuardMode: stop at the first node that produces a NaN, an Inf or a huge value.

Every node's outputs are checked right after it runs, on every backend: host
arrays with NumPy, device arrays with a small reduction compiled for the device
(three flags come back, the tensor itself is never copied to the host).  The
error names the node, its op, its input shapes, which inputs were already bad,
and the line of the user's code that built it (the trace of run-time errors).
"""

import numpy as np

from ..backends.errors import op_error_message
from ..backends.python import instrumented
from ..configdefaults import config
from .mode import Mode

#: ``big_is_error`` flags values whose magnitude exceeds this (Theano's threshold)
BIG = 1e10


class NanGuardError(AssertionError):
    """A node produced a NaN, an Inf or a value larger than ``BIG`` under NanGuardMode.

    An AssertionError, as Theano's NanGuardMode raised.
    """


class NanGuardMode(Mode):
    """A Mode that checks every node's outputs for NaN, Inf and huge values.

    Parameters
    ----------
    nan_is_error, inf_is_error, big_is_error : bool, optional
        Which values raise :class:`NanGuardError` (default: all three, as in
        Theano; "big" means ``abs(x) > 1e10``).
    optimizer, linker
        As for :class:`Mode`.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.compile.nanguardmode import NanGuardMode
    >>> x = T.dvector('x')
    >>> f = theano.function([x], T.log(x) * 2, mode=NanGuardMode(nan_is_error=True))
    >>> f(np.array([1.0, -1.0]))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    NanGuardError: NaN in output 0 of Elemwise{...}
    """

    def __init__(self, nan_is_error=None, inf_is_error=None, big_is_error=None, optimizer="default", linker=None,
                 db=None):  # fmt: skip
        if db is not None:
            raise NotImplementedError("NanGuardMode(db=...): nettrain has one rewrite database; "
                                      "use optimizer=, Mode.including() or Mode.excluding()")  # fmt: skip
        super().__init__(linker=linker, optimizer=optimizer, name="NanGuardMode")
        self.nan_is_error = True if nan_is_error is None else bool(nan_is_error)
        self.inf_is_error = True if inf_is_error is None else bool(inf_is_error)
        self.big_is_error = True if big_is_error is None else bool(big_is_error)
        if not (self.nan_is_error or self.inf_is_error or self.big_is_error):
            raise ValueError("NanGuardMode with nan_is_error, inf_is_error and big_is_error all False checks "
                             "nothing; use a plain Mode")  # fmt: skip

    def node_wrapper(self, fgraph, linker):
        from ..scan_module.op import scans_checked_by

        # a scan's steps are guarded too (compiled under this mode unless the scan named its own)
        return scans_checked_by(self, Guard(self.nan_is_error, self.inf_is_error, self.big_is_error).wrap)

    def __repr__(self):
        return "NanGuardMode(nan_is_error=%r, inf_is_error=%r, big_is_error=%r, linker=%r, optimizer=%r)" % (
            self.nan_is_error, self.inf_is_error, self.big_is_error, self.linker, self.optimizer)  # fmt: skip


class Guard:
    """Checks values; ``wrap`` turns a node runner into one that checks its outputs."""

    def __init__(self, nan=True, inf=True, big=True):
        self.nan, self.inf, self.big = nan, inf, big

    def problem(self, value):
        """'NaN', 'Inf', 'a value above 1e10' or None for one run-time value."""
        if getattr(value, "is_device_array", False):
            flags = device_flags(value)
        else:
            if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind not in "fc" or value.size == 0:
                return None
            if np.isfinite(value).all() and not self.big:
                return None  # the common case: one pass over the data
            flags = (np.isnan(value).any(), np.isinf(value).any(), bool((np.abs(value) > BIG).any()))
        if flags is None:
            return None
        nan, inf, big = flags
        if self.nan and nan:
            return "NaN"
        if self.inf and inf:
            return "Inf"
        if self.big and big and not (nan or inf):
            return "a value above %g in magnitude" % BIG
        return None

    def wrap(self, step, runner):
        problem = self.problem

        def guarded(node, args, out_cells):
            runner(node, args, out_cells)
            for i, cell in enumerate(out_cells):
                what = problem(cell[0])
                if what is not None:
                    raise self.error(node, args, i, what)

        guarded.impl = getattr(runner, "impl", None)
        return guarded

    def error(self, node, args, i, what):
        """The NanGuardError for output ``i`` of ``node``, with the node's context."""
        bad = []
        for j, (var, val) in enumerate(zip(node.inputs, args)):
            p = self.problem(val)
            if p is not None:
                src = "the function's input" if var.owner is None else "computed by %s" % var.owner.op
                bad.append("  input %d (%s): %s, %s" % (j, var, p, src))
        head = NanGuardError("%s in output %d of %s (the first bad value of this call)" % (what, i, node.op))
        msg = op_error_message(node, args, head)
        if bad:
            msg += "\nInputs that were already bad:\n" + "\n".join(bad)
        else:
            msg += "\nNo input was bad: this node made the first bad value."
        err = NanGuardError(msg)
        err.__nettrain_node__ = node  # the runner loop must not wrap this message again
        return err


_DEVICE_CHECKS = {}


def device_flags(value):
    """``(has_nan, has_inf, has_big)`` of a device array, reduced on the device (3 booleans copied back)."""
    if value.size == 0 or np.dtype(value.dtype).kind not in "fc":
        return None
    key = (str(value.dtype), value.ndim)
    entry = _DEVICE_CHECKS.get(key)
    if entry is None:
        with config.change_flags(compute_test_value="off", warn_float64="ignore"):  # NanGuardMode's own graph
            entry = _DEVICE_CHECKS[key] = _build_device_check(*key)
    run, cell, out_cells, rt = entry
    saved = rt.upload_cache  # the guarded function's own call is still running: keep its state
    cell[0] = value
    try:
        run()
        return tuple(bool(np.asarray(c[0].get() if getattr(c[0], "is_device_array", False) else c[0]))
                     for c in out_cells)  # fmt: skip
    finally:
        cell[0] = None
        rt.upload_cache = saved


def _build_device_check(dtype, ndim):
    from .. import tensor as T
    from ..backends import get_linker
    from ..graph.fg import FunctionGraph
    from ..tensor.type import TensorType

    x = TensorType(dtype, shape=(None,) * ndim)()
    outs = [T.isnan(x).any(), T.isinf(x).any(), (abs(x) > BIG).any()]
    fg = FunctionGraph([x], outs)
    Mode(linker="cuda", optimizer="fast_run").optimize(fg)
    cell = [None]
    with instrumented(None):  # the check itself is not checked
        run, cells = get_linker("cuda").make_thunk(fg, {fg.inputs[0]: cell}, allow_gc=True)
    return run, cell, [cells[o] for o in fg.outputs], run.runtime


__all__ = ["NanGuardMode", "NanGuardError", "BIG"]
