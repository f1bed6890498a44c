"""Scan loops in compiled code: every step of a Scan (and of its BPTT gradient) runs in one C loop.

The step function of a scan is linked by the C linker (see ``_loop_function``),
and each of its kernels gets a *trampoline* (``<name>_tramp(const nt_arg *)``,
see :func:`~nettrain.backends.c.linker.trampoline`).  On the first call with
given input layouts, two steps run through the kernels' Python drivers with
the compiled functions wrapped by a recorder: each call's arguments are
turned into constants (sizes, strides, BLAS routine addresses, layout
arrays) and pointers, each pointer into a known array (a sequence, a state
buffer, a non-sequence, an intermediate result) at a byte offset; comparing
the two steps gives each pointer's move per step.  That *plan* (a table of
calls, pointer patches, copies into the state buffers or gradient
accumulations, the ``until`` flag; see ``loop_plan.py``) then drives one C
function compiled once for every scan: no Python and no allocation per
step, inner GEMMs on views of preallocated buffers.  Later calls with the
same layouts reuse the plan for every step.

Anything the recorder cannot prove step-invariant (an inner op without a C
kernel, a per-step value read by a driver as a Python number, a pointer into
a temporary array, states that change shape) makes that scan run its
``perform`` (the Python loop), as before.
"""

import numpy as np

from ...scan_module.op import Scan, ScanGrad
from .loop_plan import Body, Plan, Unsupported, _add_kind, _data, _layout_key, _loop_function, _Regions
from .registry import Kernel, c_kernel


class _Runner:
    """Shared by both loops: the plan cache and the fallback to ``perform``."""

    def __init__(self, op):
        self.op = op
        self.plans = {}
        self.broken = None  # why this loop cannot be compiled, once known
        self.compiled_calls = 0  # calls that ran their steps in C (for tests)

    def __call__(self, node, args, outs):
        from ...scan_module.op import checking_mode

        if self.broken is None and checking_mode() is None:  # a checking mode runs every step through perform
            try:
                if self.try_compiled(node, args, outs):
                    self.compiled_calls += 1
                    return
            except Unsupported as e:
                self.broken = str(e)
            except Exception:  # noqa: BLE001 - bad input: perform raises the reference's error, with context
                pass
        self.op.perform(node, args, outs)


class ScanRunner(_Runner):
    """Runs a Scan node's steps in C."""

    def body(self):
        b = self.__dict__.get("_body")
        if b is None:
            op = self.op
            info = op.info
            n_var = sum(map(len, info.seq_taps)) + sum(map(len, info.state_taps))
            fn = _loop_function(op.inner_inputs, op.inner_outputs, op.mode)
            ins = fn.maker.fgraph.inputs
            static = [v for v in ins[n_var:] if v.type.ndim == 0]
            b = self._body = Body(fn, static)
        return b

    def try_compiled(self, node, args, outs):
        op = self.op
        info = op.info
        n, seqs, inits, nonseqs = op.prepare(args)
        if n < 2:
            return False
        body = self.body()
        fg_out = body.fgraph.outputs
        inits_a = []
        for i, init in enumerate(inits):
            init = np.asarray(init) if not isinstance(init, np.ndarray) else init
            if info.single_init[i]:
                init = init[None]
            if init.shape[0] < info.span(i):
                return False  # perform raises the error
            inits_a.append(init)
        # the state buffers are allocated here (contiguous): their dtype and step shape decide their layout
        key = (_layout_key(seqs + nonseqs), tuple((a.dtype.str, a.shape[1:]) for a in inits_a))
        plan = self.plans.get(key)
        if key in self.plans and plan is None:
            return False
        bufs = []
        for i, init in enumerate(inits_a):
            span, dt = info.span(i), fg_out[i].type.numpy_dtype
            b = np.empty((span + n,) + init.shape[1:], dt)
            b[:span] = init[init.shape[0] - span :]
            bufs.append(b)
        t0, nits = 0, None
        if plan is None:
            try:
                plan, nits, t0, stop = self.record(seqs, bufs, nonseqs, n)
            except Unsupported:
                self.plans[key] = None
                raise
            if stop is not None:  # until stopped the loop while it was being recorded
                return self.finish(node, outs, inits, bufs, nits, stop)
            self.plans[key] = plan
        if nits is None:
            nits = [np.empty((n,) + shape, dt) for shape, dt in plan.nit_layout]
        done = t0 + plan.run([_data(a) for a in seqs + bufs + nits + nonseqs], t0, n - t0, 1)
        return self.finish(node, outs, inits, bufs, nits, done)

    def step_inputs(self, seqs, bufs, nonseqs, t):
        info = self.op.info
        vals = []
        for s, taps in zip(seqs, info.seq_taps):
            vals.extend(s[t - min(taps) + tap, ...] for tap in taps)  # views, also of 0-d steps
        for i, taps in enumerate(info.state_taps):
            vals.extend(bufs[i][info.span(i) + t + tap, ...] for tap in taps)
        return vals + list(nonseqs)

    def record(self, seqs, bufs, nonseqs, n):
        """Steps 0 and 1 through the drivers; ``(plan, nit buffers, next step, steps done if until stopped)``."""
        info = self.op.info
        body = self.body()
        fg_out = body.fgraph.outputs
        n_st, n_nit = info.n_state, info.n_nit
        n_call = len(seqs) + len(bufs) + n_nit + len(nonseqs)
        nits, rec = [], []
        for t in (0, 1):
            regions = _Regions()
            for j, a in enumerate(seqs + bufs):
                regions.add(j, a)
            for j, a in enumerate(nonseqs):
                regions.add(len(seqs) + len(bufs) + n_nit + j, a)
            vals, calls = body.record(self.step_inputs(seqs, bufs, nonseqs, t), regions)
            rec.append((vals, calls, regions))
            for i in range(n_st):
                v = np.asarray(vals[fg_out[i]])
                if v.shape != bufs[i].shape[1:]:
                    raise Unsupported("state %d changes shape" % i)
                bufs[i][info.span(i) + t] = v
            for j in range(n_nit):
                v = np.asarray(vals[fg_out[n_st + j]])
                if t == 0:
                    nits.append(np.empty((n,) + v.shape, fg_out[n_st + j].type.numpy_dtype))
                nits[j][t] = v
            if info.has_until and bool(vals[fg_out[-1]]):
                return None, nits, t + 1, t + 1
        (va, ca, ra), (vb, cb, rb) = rec
        plan = Plan(n_call)
        plan.add_calls(ca, cb, 0, 1, ra)
        for i in range(n_st):
            src = plan.where(fg_out[i], va, vb, 0, 1, ra, rb, bufs[i].shape[1:], bufs[i].dtype)
            row = bufs[i][0].nbytes
            plan.moves.append((0, row, len(seqs) + i, info.span(i) * row, row) + src)
        for j in range(n_nit):
            src = plan.where(fg_out[n_st + j], va, vb, 0, 1, ra, rb, nits[j].shape[1:], nits[j].dtype)
            row = nits[j][0].nbytes
            plan.moves.append((0, row, len(seqs) + len(bufs) + j, 0, row) + src)
        if info.has_until:
            c = va[fg_out[-1]]
            if not isinstance(c, np.ndarray) or c.dtype.kind not in "biu":
                raise Unsupported("an until condition that is not an integer array")
            la, lb = ra.find(_data(c)), rb.find(_data(vb[fg_out[-1]]))
            if la is None or lb is None:
                raise Unsupported("an until condition outside known arrays")
            plan.cond = list(plan.locate(la, lb, 0, 1, ra)) + [c.nbytes]
        plan.nit_layout = [(a.shape[1:], a.dtype) for a in nits]
        plan.finish()
        return plan, nits, 2, None

    def finish(self, node, outs, inits, bufs, nits, done):
        info = self.op.info
        n_traj = info.n_state - info.n_shared
        trajs = [bufs[i][info.span(i) : info.span(i) + done] for i in range(n_traj)]
        # a copy: the final value must not keep the whole trajectory buffer alive
        finals = [bufs[i][info.span(i) + done - 1].copy() for i in range(n_traj, info.n_state)]
        self.op.store_outputs(node, outs, inits, trajs, [a[:done] for a in nits], finals, done)
        return True


def _after_init(traj, init, n):
    """The initial values and the first ``n`` steps as one array without a copy, or None.

    A trajectory returned by :class:`ScanRunner` is a view of a buffer that
    starts with the initial values; the gradient loop reads it as is when the
    rows before the view are still exactly ``init``.
    """
    base, span = traj.base, len(init)
    if not (isinstance(base, np.ndarray) and base.flags.c_contiguous and traj.flags.c_contiguous and traj.size):
        return None
    if base.dtype != traj.dtype or base.shape[1:] != traj.shape[1:] or base.shape[0] < span + n:
        return None
    if _data(traj) != _data(base) + span * traj[0].nbytes or not np.array_equal(base[:span], init):
        return None
    return base[: span + n]


class ScanGradRunner(_Runner):
    """Runs a ScanGrad node's reverse steps in C (loops without shared-variable updates)."""

    def body(self):
        b = self.__dict__.get("_body")
        if b is None:
            op = self.op
            info = op.scan.info
            if info.n_shared:
                raise Unsupported("gradients through loops that update shared variables")
            graph = op.vjp_graph()
            if graph is None:
                raise Unsupported("no gradient to propagate")
            fn = _loop_function(*graph, op.scan.mode)
            n_var = sum(map(len, info.seq_taps)) + sum(map(len, info.state_taps))
            n_in = len(op.scan.inner_inputs)
            ins = fn.maker.fgraph.inputs
            b = self._body = Body(fn, [v for v in ins[n_var:n_in] if v.type.ndim == 0])
        return b

    def try_compiled(self, node, args, outs):
        op = self.op
        info = op.scan.info
        self.body()  # the reasons not to compile that are known before looking at the inputs
        n, seqs, inits, nonseqs, trajs, g_trajs = op.unpack(args)
        stop = 0 if info.truncate_gradient < 0 else max(0, n - info.truncate_gradient)
        if n - stop < 2:
            return False
        n_st = info.n_state
        cot_types = [op.scan.inner_outputs[k].type.numpy_dtype for k in op._cot_idx]
        bufs, adjs, spans = [], [], []
        for i in range(n_st):
            span = info.span(i)
            spans.append(span)
            init = np.asarray(inits[i])
            if info.single_init[i]:
                init = init[None]
            traj = trajs[i]
            b = _after_init(traj, init[init.shape[0] - span :], n)
            if b is None:
                b = np.empty((span + n,) + traj.shape[1:], traj.dtype)
                b[:span] = init[init.shape[0] - span :]
                b[span:] = traj[:n]
            bufs.append(b)
            adj = np.empty_like(b)
            adj[:span] = 0
            adj[span:] = g_trajs[i][:n]
            adjs.append(adj)
        g_nit = []
        for j in range(info.n_nit):
            k = n_st + j
            dt = cot_types[op._cot_idx.index(k)] if k in op._cot_idx else g_trajs[k].dtype
            g_nit.append(np.ascontiguousarray(g_trajs[k][:n], dtype=dt))
        g_seqs = [np.zeros(s.shape, s.dtype) for s in seqs]
        g_non = [np.zeros(np.shape(v), np.asarray(v).dtype) for v in nonseqs]
        kept = [np.ascontiguousarray(k) for k in op.kept_trajectories(args)]
        call = seqs + bufs + nonseqs + adjs + g_nit + g_seqs + g_non + kept
        key = _layout_key(call)
        if key in self.plans and self.plans[key] is None:
            return False
        plan = self.plans.get(key)
        t0 = n - 1
        if plan is None:
            try:
                plan = self.plans[key] = self.record(call, n, stop)
            except Unsupported:
                self.plans[key] = None
                raise
            t0 = n - 3
        plan.run([_data(a) for a in call], t0, t0 - stop + 1, -1)
        op.store_outputs(node, outs, inits, g_seqs, adjs, spans, g_non)
        return True

    def step(self, call, t):
        """Inputs of reverse step ``t`` and where each gradient goes: ``(values, [(region, row or None)])``."""
        op = self.op
        info = op.scan.info
        n_seq, n_st, n_non = info.n_seq, info.n_state, info.n_nonseq
        seqs, bufs = call[:n_seq], call[n_seq : n_seq + n_st]
        nonseqs = call[n_seq + n_st : n_seq + n_st + n_non]
        adjs = call[n_seq + n_st + n_non : n_seq + 2 * n_st + n_non]
        g_nit = call[n_seq + 2 * n_st + n_non : n_seq + 2 * n_st + n_non + info.n_nit]
        o_gseq = n_seq + 2 * n_st + n_non + info.n_nit
        vals, slots = [], []
        for k, (s, taps) in enumerate(zip(seqs, info.seq_taps)):
            for tap in taps:
                vals.append(s[t - min(taps) + tap, ...])
                slots.append((o_gseq + k, tap - min(taps)))
        for i, taps in enumerate(info.state_taps):
            for tap in taps:
                vals.append(bufs[i][info.span(i) + t + tap, ...])
                slots.append((n_seq + n_st + n_non + i, info.span(i) + tap))
        for k, v in enumerate(nonseqs):
            vals.append(v)
            slots.append((o_gseq + n_seq + k, None))
        for k in op._cot_idx:
            vals.append(adjs[k][info.span(k) + t, ...] if k < n_st else g_nit[k - n_st][t, ...])
        vals += [bufs[i][info.span(i) + t, ...] for i in range(op._n_saved)]  # states after step t
        vals += [k[t, ...] for k in call[len(call) - len(op.saved) :]] if op.saved else []  # values kept at step t
        return vals, slots

    def record(self, call, n, stop):
        """Reverse steps ``n - 1`` and ``n - 2`` through the drivers (accumulating), then the plan."""
        op = self.op
        body = self.body()
        fg_out = body.fgraph.outputs
        rec = []
        for t in (n - 1, n - 2):
            regions = _Regions()
            for j, a in enumerate(call):
                regions.add(j, a)
            in_vals, slots = self.step(call, t)
            vals, calls = body.record(in_vals, regions)
            rec.append((vals, calls, regions))
            for v, idx in zip(fg_out, op._float_idx):
                r, row = slots[idx]
                dst = call[r] if row is None else call[r][row + t, ...]
                g = vals[v]
                if np.shape(g) != dst.shape:
                    raise Unsupported("a step gradient of unexpected shape")
                dst += g
        (va, ca, ra), (vb, cb, rb) = rec
        plan = Plan(len(call))
        plan.add_calls(ca, cb, n - 1, n - 2, ra)
        _, slots = self.step(call, 0)
        for v, idx in zip(fg_out, op._float_idx):
            r, row = slots[idx]
            dst = call[r]
            rowshape = dst.shape if row is None else dst.shape[1:]
            src = plan.where(v, va, vb, n - 1, n - 2, ra, rb, rowshape, dst.dtype)
            nbytes = dst.nbytes if row is None else dst[0].nbytes
            if row is None:
                plan.moves.append((_add_kind(dst.dtype), dst.size, r, 0, 0) + src)
            else:
                plan.moves.append((_add_kind(dst.dtype), nbytes // dst.itemsize, r, row * nbytes, nbytes) + src)
        self.folded = plan.fold_adds()
        plan.finish()
        return plan


def loop_runners(f):
    """The compiled-loop runner of each Scan / ScanGrad node of the compiled function ``f`` (C linker).

    Each has ``compiled_calls`` (calls whose steps ran in C) and ``broken``
    (why the loop runs ``perform`` instead, or None).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> s, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    >>> f = theano.function([x], s, mode=theano.Mode(linker='c'))
    >>> f(np.array([1., 2., 3.]))
    array([1., 3., 6.])
    >>> all(r.broken is None and r.compiled_calls == 1 for r in loop_runners(f))  # [] without a C compiler
    True
    """
    run = getattr(f, "_run", None)
    return [r for r in getattr(run, "runners", ()) if isinstance(r, _Runner)]


@c_kernel.register(Scan)
def scan_kernel(op, node):
    """The Scan's steps in one C loop when its inner function allows (else ``perform``)."""
    return Kernel("", "", lambda fn, ffi: ScanRunner(op))


@c_kernel.register(ScanGrad)
def scan_grad_kernel(op, node):
    """The BPTT steps in one C loop when the step's gradient function allows (else ``perform``)."""
    return Kernel("", "", lambda fn, ffi: ScanGradRunner(op))


__all__ = ["ScanGradRunner", "ScanRunner", "loop_runners"]
