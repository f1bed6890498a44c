"""The Scan op (a loop over an inner graph) and ScanGrad (backpropagation through time).

Layout of a Scan node's outer inputs::

    [n_steps, seq_0 .. seq_S-1, init_0 .. init_M-1, nonseq_0 .. nonseq_N-1]

and of its outputs: one trajectory per recurrent state (``M``, the steps'
results without the initial values), then one per output that is not fed
back (``K``), then the final value of each shared variable updated inside the
loop (``U``, the last ``U`` of the recurrent states).

The inner function takes, in Theano's order, the sequence slices (one per
sequence tap), the previous states (one per state tap) and the
non-sequences, and returns the new states then the other outputs (then the
``until`` condition).  It is rewritten and compiled once, with the mode given
to ``scan`` (``config.mode`` by default; while a checking mode, NanGuardMode or DebugMode,
runs the Scan node, that mode, so every node of every step is checked), and called once per step.
"""

import contextlib

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.type import TensorType


class ScanInfo:
    """Static description of a loop: taps per sequence/state, counts, flags."""

    def __init__(self, seq_taps, state_taps, n_nit, n_nonseq, n_shared, go_backwards, truncate_gradient,
                 has_until, name, single_init=None):  # fmt: skip
        self.seq_taps = tuple(tuple(t) for t in seq_taps)
        self.state_taps = tuple(tuple(t) for t in state_taps)
        # a state with taps [-1] gets its initial value as one state; others as a sequence of them
        self.single_init = tuple(single_init) if single_init is not None else tuple(t == (-1,) for t in self.state_taps)
        self.n_nit = n_nit
        self.n_nonseq = n_nonseq
        self.n_shared = n_shared
        self.go_backwards = bool(go_backwards)
        self.truncate_gradient = int(truncate_gradient)
        self.has_until = bool(has_until)
        self.name = name

    def key(self):
        return (self.seq_taps, self.state_taps, self.single_init, self.n_nit, self.n_nonseq, self.n_shared,
                self.go_backwards, self.truncate_gradient, self.has_until)  # fmt: skip

    @property
    def n_seq(self):
        return len(self.seq_taps)

    @property
    def n_state(self):
        return len(self.state_taps)

    def span(self, i):
        """How many initial values state ``i`` needs (the largest look-back)."""
        return -min(self.state_taps[i])


def _compile(inputs, outputs, mode):
    from ..compile.function import function

    return function(inputs, outputs, mode=mode, on_unused_input="ignore")


#: the checking mode (NanGuardMode, DebugMode) of the function now running a Scan node: a scan that named no mode
#: of its own compiles its steps with it, so that every node of every step is checked too
_CHECKING = [None]


@contextlib.contextmanager
def checked_by(mode):
    """Run Scan nodes inside this block with their steps compiled under ``mode`` (unless a scan named a mode)."""
    old = _CHECKING[0]
    _CHECKING[0] = mode
    try:
        yield
    finally:
        _CHECKING[0] = old


def checking_mode():
    """The mode set by :func:`checked_by`, or None."""
    return _CHECKING[0]


def scans_checked_by(mode, wrap):
    """``wrap(step, runner)`` for a checking mode, running Scan and ScanGrad nodes under :func:`checked_by`."""

    def wrapper(step, runner):
        run = wrap(step, runner)
        if not isinstance(step.node.op, (Scan, ScanGrad)):
            return run

        def checked(node, args, outs):
            with checked_by(mode):
                run(node, args, outs)

        return checked

    return wrapper


def _step_function(holder, inputs, outputs, own_mode):
    """The compiled step of ``holder`` (a Scan or ScanGrad), under a checking mode when one is running it."""
    mode = checking_mode() if own_mode is None else None
    if mode is None:
        if holder._fn is None:
            holder._fn = _compile(inputs, outputs, own_mode)
        return holder._fn
    cache = holder.__dict__.setdefault("_checked_fns", {})
    entry = cache.get(id(mode))
    if entry is None:  # the mode is kept with its function: its id stays unique while cached
        entry = cache[id(mode)] = (mode, _compile(inputs, outputs, mode))
    return entry[1]


class Scan(Op):
    """A loop; see the module docstring for the input/output layout."""

    __props__ = ("_key",)

    def __init__(self, inner_inputs, inner_outputs, info, mode=None):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.info = info
        self.mode = mode
        self._key = (info.key(), id(self))  # inner graphs are compared by identity
        self._fn = None

    def __str__(self):
        return "Scan{%s}" % (self.info.name or "scan")

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_fn"] = None
        d.pop("_checked_fns", None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._key = (self.info.key(), id(self))

    def fn(self):
        return _step_function(self, self.inner_inputs, self.inner_outputs, self.mode)

    def make_node(self, n_steps, *outer):
        from ..tensor.basic import as_tensor_variable, cast

        info = self.info
        from ..graph.basic import Variable

        n_steps = cast(as_tensor_variable(n_steps), "int64")
        outer = [v if isinstance(v, Variable) else as_tensor_variable(v) for v in outer]
        inits = outer[info.n_seq : info.n_seq + info.n_state]
        outs = []
        n_traj = info.n_state - info.n_shared
        # each step's static shape is what the inner graph guarantees for every step
        for inner_out in self.inner_outputs[:n_traj]:
            outs.append(TensorType(inner_out.type.dtype, (None,) + tuple(inner_out.type.shape))())
        for inner_out in self.inner_outputs[info.n_state : info.n_state + info.n_nit]:
            outs.append(TensorType(inner_out.type.dtype, (None,) + tuple(inner_out.type.shape))())
        for i in range(n_traj, info.n_state):
            outs.append(inits[i].type())
        return Apply(self, [n_steps] + outer, outs)

    def prepare(self, inputs):
        """``(n_steps, sequences, initial values, non-sequences)`` of a call, checked.

        Sequences are already reversed for ``go_backwards``.  Shared by
        ``perform`` and by backends that run the loop in compiled code.
        """
        info = self.info
        n_steps = int(inputs[0])
        seqs = list(inputs[1 : 1 + info.n_seq])
        inits = inputs[1 + info.n_seq : 1 + info.n_seq + info.n_state]
        nonseqs = list(inputs[1 + info.n_seq + info.n_state :])
        if info.go_backwards:
            seqs = [s[::-1] for s in seqs]
        for k, (s, taps) in enumerate(zip(seqs, info.seq_taps)):
            avail = s.shape[0] - (max(taps) - min(taps))
            if avail < max(n_steps, 0) or avail < 0:
                raise ValueError("scan: sequence %d has %d entries, too few for %d steps with taps %s"
                                 % (k, s.shape[0], max(n_steps, 0), list(taps)))  # fmt: skip
        if n_steps < 0:
            raise ValueError("scan: n_steps must be >= 0, got %d" % n_steps)
        return n_steps, seqs, inits, nonseqs

    def perform(self, node, inputs, output_storage):
        info = self.info
        n_steps, seqs, inits, nonseqs = self.prepare(inputs)
        bufs, nit, n_done = self.run_steps(seqs, inits, nonseqs, n_steps)
        trajs = [bufs[i][info.span(i) :] for i in range(info.n_state - info.n_shared)]
        finals = [bufs[i][-1] for i in range(info.n_state - info.n_shared, info.n_state)]
        self.store_outputs(node, output_storage, inits, trajs, nit, finals, n_done)

    def store_outputs(self, node, output_storage, inits, trajs, nit, finals, n_done):
        """Write the node's outputs: per state its steps (a list or an array), per other output its steps,
        per loop-updated shared variable its final value."""
        info = self.info
        out_k = 0
        for i in range(info.n_state - info.n_shared):
            node_out = node.outputs[out_k]
            output_storage[out_k][0] = _stack(trajs[i], node_out, np.shape(inits[i]) if info.single_init[i]
                                              else np.shape(inits[i])[1:])  # fmt: skip
            out_k += 1
        for j in range(info.n_nit):
            node_out = node.outputs[out_k]
            shape = nit[j][0].shape if len(nit[j]) else (0,) * (node_out.ndim - 1)
            output_storage[out_k][0] = _stack(nit[j], node_out, shape)
            out_k += 1
        for v in finals:
            output_storage[out_k][0] = node.outputs[out_k].type.filter(v, allow_downcast=True)
            out_k += 1
        self.last_n_steps = n_done

    def run_steps(self, seqs, inits, nonseqs, n_steps):
        """Run up to ``n_steps`` steps (sequences already reversed for go_backwards).

        Returns ``(bufs, nit, n_done)``: per state, its initial values followed by
        its value after each step; per not-fed-back output, its value at each
        step; and the number of steps run (``until`` may stop early).
        """
        info = self.info
        fn = self.fn()
        # state buffers: the initial values followed by one slot per step
        bufs = []
        for i, init in enumerate(inits):
            span = info.span(i)
            if info.single_init[i]:
                init = np.asarray(init)[None]
            if init.shape[0] < span:
                raise ValueError("scan: output %d needs %d initial values (taps %s), got %d"
                                 % (i, span, info.state_taps[i], init.shape[0]))  # fmt: skip
            bufs.append([init[init.shape[0] - span + j] for j in range(span)])
        nit = [[] for _ in range(info.n_nit)]
        n_done = 0
        for t in range(n_steps):
            args = []
            for s, taps in zip(seqs, info.seq_taps):
                base = t - min(taps)
                args.extend(s[base + tap] for tap in taps)
            for i, taps in enumerate(info.state_taps):
                b = bufs[i]
                args.extend(b[len(b) + tap] for tap in taps)
            args.extend(nonseqs)
            res = fn(*args)
            if not isinstance(res, list):
                res = [res]
            for i in range(info.n_state):
                bufs[i].append(res[i])
            for j in range(info.n_nit):
                nit[j].append(res[info.n_state + j])
            n_done = t + 1
            if info.has_until and bool(res[-1]):
                break
        return bufs, nit, n_done

    def L_op(self, inputs, outputs, output_grads):
        from ..graph.grad import grad_undefined

        info = self.info
        if info.n_shared:
            # gradients through shared variables *updated* in the loop are not defined here
            pass
        n_traj = info.n_state - info.n_shared + info.n_nit
        g_traj = []
        for o, g in zip(outputs[: info.n_state - info.n_shared], output_grads):
            g_traj.append(g if g is not None else o.zeros_like())
        for o, g in zip(outputs[info.n_state - info.n_shared : n_traj], output_grads[info.n_state - info.n_shared :]):
            g_traj.append(g if g is not None else o.zeros_like())
        grad_op = ScanGrad(self)
        state_trajs = list(outputs[: info.n_state - info.n_shared])
        res = grad_op(*(list(inputs) + state_trajs + g_traj))
        if not isinstance(res, list):
            res = [res]
        out = [grad_undefined(self, 0, inputs[0], "n_steps is an integer")]
        n_in = len(inputs) - 1
        for k in range(n_in):
            v = inputs[1 + k]
            g = res[k]
            if not getattr(v.type, "dtype", "").startswith("float"):
                out.append(None)
            else:
                out.append(g)
        return out


def _reuse_states(gs, state_outs, kept=()):
    """``(gs, placeholders)``: the gradient graph reading each state's new value from a placeholder.

    The backward step would recompute what the forward step returned (e.g.
    ``tanh(z)`` in the gradient of ``tanh``); the forward trajectory already
    holds it, so every node of ``gs`` equal to the node that computed a state
    (same op, same inputs) reads the placeholder, which the loop feeds with
    the state's value after that step.  ``kept`` (other values of the step
    the forward loop returns) get placeholders too, after the states'.
    """
    from ..graph.basic import ancestors, clone_replace

    saved, targets = [], {}
    for o in list(state_outs) + list(kept):
        p = o.type()
        p.name = "%s.saved" % (o.name or "state")
        saved.append(p)
        if o.owner is not None:
            targets[(o.owner.op, tuple(o.owner.inputs), o.owner.outputs.index(o))] = p
    repl = dict(zip(list(state_outs) + list(kept), saved))
    for v in ancestors(gs):
        n = v.owner
        if n is not None and v not in repl:
            p = targets.get((n.op, tuple(n.inputs), n.outputs.index(v)))
            if p is not None and p.type == v.type:
                repl[v] = p
    repl = {k: v for k, v in repl.items() if k.type == v.type}
    return clone_replace(gs, repl, strict=False), saved


def _stack(items, var, step_shape):
    dt = var.type.numpy_dtype
    if isinstance(items, np.ndarray):  # steps already in one array (compiled loops)
        return items if items.dtype == dt else items.astype(dt)
    if not items:
        return np.zeros((0,) + tuple(step_shape), dtype=dt)
    return np.asarray(np.stack([np.asarray(i) for i in items]), dtype=dt)


class ScanGrad(Op):
    """Backpropagation through a Scan: a reverse loop calling the step's vector-Jacobian product.

    Inputs: the Scan node's inputs, the state trajectories, and the gradients
    of every trajectory output.  Outputs: the gradients of the Scan's inputs
    after ``n_steps`` (sequences, initial states, non-sequences).
    """

    __props__ = ("_key",)

    def __init__(self, scan, wanted=None, saved=()):
        self.scan = scan
        #: per Scan input (after n_steps): whether its gradient is computed (None: all); the gradients of
        #: states are always computed (they carry the recursion), unused ones of sequences and
        #: non-sequences are dropped by ``local_scan_grad_unused`` and left zero
        self.wanted = tuple(wanted) if wanted is not None else None
        #: values of the step (variables of ``scan``'s inner graph) that the backward step reads from their
        #: trajectories, extra inputs after the output gradients, instead of computing them again
        #: (``local_scan_save_for_grad`` makes the forward loop return them)
        self.saved = tuple(saved)
        self._fn = None
        self._set_key()

    def _set_key(self):
        self._key = ("grad", self.wanted, tuple(id(v) for v in self.saved)) + self.scan._key

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.__dict__.setdefault("saved", ())
        self._set_key()

    def inner_wanted(self):
        """Per inner input of the step: whether its gradient is computed."""
        info = self.scan.info
        if self.wanted is None:
            return [True] * len(self.scan.inner_inputs)
        res = []
        for k, taps in enumerate(info.seq_taps):
            res += [self.wanted[k]] * len(taps)
        for taps in info.state_taps:
            res += [True] * len(taps)
        return res + list(self.wanted[info.n_seq + info.n_state :])

    def __str__(self):
        return "ScanGrad{%s}" % (self.scan.info.name or "scan")

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_fn"] = None
        d.pop("_checked_fns", None)
        d.pop("_vjp_graph", None)  # rebuilt on demand
        return d

    def vjp_graph(self):
        """``(inputs, outputs)`` of the step's vector-Jacobian product, or None when nothing is differentiable.

        Inputs: the step's inputs, the cotangents of its float outputs, each
        state's value after the step; outputs: the gradients of the step's
        wanted float inputs.  Built once; backends may compile it their way.
        """
        if "_vjp_graph" not in self.__dict__:
            sc = self.scan
            info = sc.info
            cots, gs = self.step_grads()
            saved = []
            if gs:
                gs, saved = _reuse_states(gs, sc.inner_outputs[: info.n_state - info.n_shared], self.saved)
            self._n_saved = len(saved) - len(self.saved)  # the states' placeholders, then those of self.saved
            self._vjp_graph = (list(sc.inner_inputs) + cots + saved, gs) if gs else None
        return self._vjp_graph

    def step_grads(self):
        """``(cotangents, gradients)``: the step's gradient graph, built on the step's own graph.

        Nodes of the forward step appear in it as they are (what the backward
        step would compute again); :meth:`vjp_graph` cuts them off where the
        trajectories hold their values.
        """
        from ..graph.grad import grad

        sc = self.scan
        info = sc.info
        outs = sc.inner_outputs[: info.n_state + info.n_nit]
        self._cot_idx = [k for k, o in enumerate(outs) if getattr(o.type, "dtype", "").startswith("float")]
        cots = [outs[k].type() for k in self._cot_idx]
        wrt = list(sc.inner_inputs)
        known = {outs[k]: c for k, c in zip(self._cot_idx, cots)}
        wanted = self.inner_wanted()
        self._float_idx = [k for k, w in enumerate(wrt)
                           if getattr(w.type, "dtype", "").startswith("float") and wanted[k]]  # fmt: skip
        float_wrt = [wrt[k] for k in self._float_idx]
        gs = grad(None, float_wrt, known_grads=known, disconnected_inputs="ignore", return_disconnected="zero") \
            if known and float_wrt else []  # fmt: skip
        return cots, gs

    def _vjp_fn(self):
        """Compile ``(step inputs, cotangents of step outputs) -> gradients of the step inputs``."""
        g = self.vjp_graph()
        return _step_function(self, g[0], g[1], self.scan.mode) if g is not None else None

    def make_node(self, *args):
        info = self.scan.info
        n_scan_in = 1 + info.n_seq + info.n_state + info.n_nonseq
        scan_inputs = args[:n_scan_in]
        outs = []
        for v in scan_inputs[1:]:
            if isinstance(v.type, TensorType):
                outs.append(v.type.clone(dtype=v.type.dtype if v.type.dtype.startswith("float") else "float64")())
            else:  # e.g. a random generator state: no gradient, a placeholder output
                outs.append(TensorType("float64", ())())
        return Apply(self, list(args), outs)

    def unpack(self, inputs):
        """``(n, sequences, initial values, non-sequences, state trajectories, output gradients)``.

        ``n`` is the number of steps the forward loop ran; sequences are
        reversed for ``go_backwards``.  Shared by ``perform`` and compiled loops.
        """
        info = self.scan.info
        n_scan_in = 1 + info.n_seq + info.n_state + info.n_nonseq
        scan_in = inputs[:n_scan_in]
        n_traj_state = info.n_state - info.n_shared
        trajs = inputs[n_scan_in : n_scan_in + n_traj_state]
        g_trajs = inputs[n_scan_in + n_traj_state : len(inputs) - len(self.saved)]
        seqs = list(scan_in[1 : 1 + info.n_seq])
        inits = scan_in[1 + info.n_seq : 1 + info.n_seq + info.n_state]
        nonseqs = list(scan_in[1 + info.n_seq + info.n_state :])
        n = trajs[0].shape[0] if trajs else (g_trajs[n_traj_state].shape[0] if info.n_nit else int(scan_in[0]))
        if info.go_backwards:
            seqs = [s[::-1] for s in seqs]
        return n, seqs, inits, nonseqs, trajs, g_trajs

    def kept_trajectories(self, inputs):
        """The trajectories of :attr:`saved` (the last inputs): row ``t`` holds the value at step ``t``."""
        return list(inputs[len(inputs) - len(self.saved) :]) if self.saved else []

    def perform(self, node, inputs, output_storage):
        sc = self.scan
        info = sc.info
        fn = self._vjp_fn()
        n_traj_state = info.n_state - info.n_shared
        n, seqs, inits, nonseqs, trajs, g_trajs = self.unpack(inputs)
        kept = self.kept_trajectories(inputs)
        # full state buffers (initial values + trajectory) and their adjoints
        bufs, adjs, spans = [], [], []
        shared_hist = self._replay_shared(seqs, inits, nonseqs, n) if info.n_shared else None
        for i in range(info.n_state):
            span = info.span(i)
            spans.append(span)
            if i >= n_traj_state:
                # shared variables updated in the loop: their value before each step (no gradient)
                bufs.append(shared_hist[i - n_traj_state])
                adjs.append(None)
                continue
            init = np.asarray(inits[i])
            if info.single_init[i]:
                init = init[None]
            init = init[init.shape[0] - span :]
            traj = trajs[i]
            buf = np.concatenate([init.astype(traj.dtype, copy=False), traj[:n]], axis=0)
            bufs.append(buf)
            adj = np.zeros(buf.shape, dtype=np.float64)
            adj[span:] += g_trajs[i][:n]
            adjs.append(adj)
        g_seqs = [np.zeros(s.shape, dtype=np.float64) for s in seqs]
        g_nonseqs = [np.zeros(np.shape(v), dtype=np.float64) for v in nonseqs]
        stop = 0 if info.truncate_gradient < 0 else max(0, n - info.truncate_gradient)
        float_idx = getattr(self, "_float_idx", [])
        for t in range(n - 1, stop - 1, -1):
            args = []
            arg_slots = []  # where each step input's gradient goes
            for k, (s, taps) in enumerate(zip(seqs, info.seq_taps)):
                base = t - min(taps)
                for tap in taps:
                    args.append(s[base + tap])
                    arg_slots.append(("seq", k, base + tap))
            for i, taps in enumerate(info.state_taps):
                for tap in taps:
                    args.append(bufs[i][spans[i] + t + tap])
                    arg_slots.append(("state", i, spans[i] + t + tap))
            for k, v in enumerate(nonseqs):
                args.append(v)
                arg_slots.append(("nonseq", k, None))
            cots = [adjs[i][spans[i] + t] if i < n_traj_state else None for i in range(info.n_state)]
            cots += [g_trajs[n_traj_state + j][t] for j in range(info.n_nit)]
            if fn is None:
                continue
            cot_vals = []
            for k in self._cot_idx:
                c = cots[k]
                if c is None:  # a float shared variable updated in the loop: no gradient flows back
                    c = np.zeros(np.shape(bufs[k][spans[k] + t]))
                cot_vals.append(sc.inner_outputs[k].type.filter(c, allow_downcast=True))
            saved = [bufs[i][spans[i] + t] for i in range(self._n_saved)] + [k[t] for k in kept]
            res = fn(*(args + cot_vals + saved))
            if not isinstance(res, list):
                res = [res]
            for g, idx in zip(res, float_idx):
                kind, k, pos = arg_slots[idx]
                if kind == "seq":
                    g_seqs[k][pos] += g
                elif kind == "state":
                    if adjs[k] is not None:
                        adjs[k][pos] += g
                else:
                    g_nonseqs[k] += g
        self.store_outputs(node, output_storage, inits, g_seqs, adjs, spans, g_nonseqs)

    def store_outputs(self, node, output_storage, inits, g_seqs, adjs, spans, g_nonseqs):
        """Write the gradients: of the sequences (in the loop's order), of the initial values (from the
        first ``span`` rows of each state's adjoint, None for loop-updated shared variables), of the
        non-sequences."""
        info = self.scan.info
        if info.go_backwards:
            g_seqs = [g[::-1] for g in g_seqs]
        outs = list(g_seqs)
        for i in range(info.n_state):
            if adjs[i] is None:
                outs.append(np.zeros(np.shape(inits[i])) if hasattr(inits[i], "shape") else 0.0)
                continue
            g0 = adjs[i][: spans[i]]
            init = np.asarray(inits[i])
            if info.single_init[i]:
                g0 = g0[0]
            else:
                full = np.zeros(init.shape, dtype=np.float64)
                full[init.shape[0] - spans[i] :] = g0
                g0 = full
            outs.append(g0)
        outs += g_nonseqs
        for storage, var, val in zip(output_storage, node.outputs, outs):
            storage[0] = np.asarray(val, dtype=var.type.numpy_dtype).reshape(np.shape(val))

    def _replay_shared(self, seqs, inits, nonseqs, n):
        """Values of the loop-updated shared variables before each step, by running the loop again."""
        info = self.scan.info
        bufs, _, _ = self.scan.run_steps(seqs, inits, nonseqs, n)
        return [bufs[i][:n] for i in range(info.n_state - info.n_shared, info.n_state)]

    def grad(self, inputs, output_grads):
        from ..graph.grad import grad_not_implemented

        return [grad_not_implemented(self, i, x, "second derivatives through scan") for i, x in enumerate(inputs)]
