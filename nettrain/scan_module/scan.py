"""``scan``: Theano's loop construct, with gradients (backpropagation through time)."""

import numpy as np

from ..graph.basic import Constant, SharedVariable, Variable, ancestors, clone_replace
from ..tensor.basic import as_tensor_variable, cast
from ..tensor.type import TensorType
from .op import Scan, ScanInfo


class until:
    """Return ``until(condition)`` from a scan step to stop once ``condition`` is true."""

    def __init__(self, condition):
        c = as_tensor_variable(condition)
        if c.type.ndim != 0:
            raise TypeError("until: the condition must be a scalar, got %s" % c.type)
        self.condition = c


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _normalize_sequences(sequences):
    out = []
    for k, s in enumerate(_as_list(sequences)):
        if isinstance(s, dict):
            if "input" not in s:
                raise ValueError("scan: sequence %d is a dict without 'input'" % k)
            x, taps = s["input"], s.get("taps", [0])
        else:
            x, taps = s, [0]
        x = as_tensor_variable(x)
        taps = [int(t) for t in _as_list(taps)]
        if x.type.ndim == 0:
            raise TypeError("scan: sequence %d is a scalar; sequences are iterated over their first dimension" % k)
        if not taps:
            raise ValueError("scan: sequence %d has no taps" % k)
        out.append((x, taps))
    return out


def _normalize_outputs_info(outputs_info):
    out = []
    for k, o in enumerate(_as_list(outputs_info)):
        if o is None:
            out.append(None)
            continue
        if isinstance(o, dict):
            init = o.get("initial")
            if init is None:
                out.append(None)
                continue
            taps = [int(t) for t in _as_list(o.get("taps", [-1]))]
        else:
            init, taps = o, [-1]
        if not taps or any(t >= 0 for t in taps):
            raise ValueError("scan: output %d taps must be negative (look back in time), got %s" % (k, taps))
        out.append((as_tensor_variable(init), taps))
    return out


def _step_type(init, taps):
    """Type of one step of a state whose initial value is ``init``."""
    if taps == [-1]:
        return init.type
    if init.type.ndim == 0:
        raise TypeError("scan: taps %s need an initial sequence (leading time dimension), got a scalar" % (taps,))
    return TensorType(init.type.dtype, init.type.shape[1:])


def _loose(t):
    """The same dtype and ndim with every length unknown (states may change shape over steps)."""
    return TensorType(t.dtype, (None,) * t.ndim)


def scan(
    fn,
    sequences=None,
    outputs_info=None,
    non_sequences=None,
    n_steps=None,
    truncate_gradient=-1,
    go_backwards=False,
    mode=None,
    name=None,
    profile=False,
    allow_gc=None,
    strict=False,
    return_list=False,
):
    """Loop ``fn`` over sequences, carrying state between steps.

    Parameters
    ----------
    fn : callable
        Called once with symbolic arguments: a slice of each sequence (per tap),
        the previous value of each fed-back output (per tap), then each
        non-sequence.  Returns the step outputs, optionally with an updates
        dict and/or ``until(condition)``.
    sequences : list of Variable or dict(input=x, taps=[...])
    outputs_info : list of initial values, dict(initial=x, taps=[...]) or None
        None marks an output that is not fed back.  A fed-back state keeps the dtype of
        its initial value: a step output of the same kind is cast to it (float64 ->
        float32, int64 -> int32, and int -> float), one of another kind (float -> int)
        raises ``TypeError`` rather than truncate.
    non_sequences : list of Variable
    n_steps : int or scalar, optional
        Number of steps (needed when there are no sequences).
    truncate_gradient : int
        Backpropagate through at most this many steps (-1: all).
    go_backwards : bool
        Iterate over the sequences from the end.

    Returns
    -------
    (outputs, updates)
        ``outputs`` (trajectories with a leading step dimension) is one
        variable when the loop has one output, whether ``fn`` returned ``x``
        or ``[x]`` (Theano's rule), a list for several, None for none;
        ``return_list=True`` always gives a list.  ``updates`` must be passed
        to ``function`` when the loop updates shared variables (or draws
        random numbers).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> s, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    >>> theano.function([x], s)(np.array([1., 2., 3.]))
    array([1., 3., 6.])
    """
    seqs = _normalize_sequences(sequences)
    outs_info = _normalize_outputs_info(outputs_info)
    nonseqs = [v if isinstance(v, Variable) else as_tensor_variable(v) for v in _as_list(non_sequences)]

    # ---- inner placeholders, in Theano's argument order
    seq_args = []
    for k, (x, taps) in enumerate(seqs):
        for t in taps:
            v = TensorType(x.type.dtype, x.type.shape[1:])()
            v.name = "%s[t%+d]" % (x.name or "seq%d" % k, t) if t else "%s[t]" % (x.name or "seq%d" % k)
            seq_args.append(v)
    state_args = []
    for k, o in enumerate(outs_info):
        if o is None:
            continue
        init, taps = o
        st = _loose(_step_type(init, taps))
        for t in taps:
            v = st()
            v.name = "out%d[t%d]" % (k, t)
            state_args.append(v)
    nonseq_args = []
    for v in nonseqs:
        c = v.type()
        c.name = v.name
        nonseq_args.append(c)
    res = fn(*(seq_args + state_args + nonseq_args))

    # ---- parse what fn returned: outputs, updates, until (any order)
    updates, cond = {}, None
    parts = list(res) if isinstance(res, tuple) else [res]
    outputs = None
    for p in parts:
        if isinstance(p, until):
            cond = p.condition
        elif isinstance(p, dict) or (
            isinstance(p, list)
            and p
            and all(isinstance(e, tuple) and len(e) == 2 for e in p)
            and isinstance(p[0][0], SharedVariable)
        ):
            updates.update(dict(p))
        elif outputs is None:
            outputs = p
        else:
            outputs = _as_list(outputs) + _as_list(p)
    if outputs is None:
        outputs = []
    outputs = [as_tensor_variable(o) for o in _as_list(outputs)]
    if len(outputs) != len(outs_info) and outs_info:
        if len(outs_info) < len(outputs):
            outs_info = outs_info + [None] * (len(outputs) - len(outs_info))
        else:
            raise ValueError(
                "scan: fn returned %d outputs but outputs_info has %d entries" % (len(outputs), len(outs_info))
            )
    if not outs_info:
        outs_info = [None] * len(outputs)

    # shared variables with a default update read inside the loop (e.g. random generators) advance per step
    inner_graph = outputs + list(updates.values()) + ([cond] if cond is not None else [])
    changed = True
    while changed:
        changed = False
        for v in ancestors(inner_graph):
            if isinstance(v, SharedVariable) and v.default_update is not None and v not in updates:
                updates[v] = v.default_update
                inner_graph.append(v.default_update)
                changed = True

    # ---- free variables of the step: shared variables and outer variables used directly
    placeholders = set(seq_args + state_args + nonseq_args)
    free = []
    for v in ancestors(inner_graph):
        if v in placeholders or isinstance(v, Constant) or v in free:
            continue
        if v.owner is None:
            free.append(v)
    shared_updated = [k for k in updates if isinstance(k, SharedVariable)]
    for k in updates:
        if not isinstance(k, SharedVariable):
            raise TypeError("scan: updates may only target shared variables, got %r" % (k,))
    implicit = [v for v in free if v not in shared_updated]
    implicit_args = []
    for v in implicit:
        a = v.type()
        a.name = v.name
        implicit_args.append(a)
    shared_args = []
    for v in shared_updated:
        a = v.type() if not isinstance(v.type, TensorType) else _loose(v.type)()
        a.name = v.name
        shared_args.append(a)
    repl = dict(zip(implicit, implicit_args))
    repl.update(zip(shared_updated, shared_args))

    # ---- states: fed-back outputs first, then not-fed-back, then shared updates
    fed = [k for k, o in enumerate(outs_info) if o is not None]
    nit = [k for k, o in enumerate(outs_info) if o is None]
    state_outs = []
    for k in fed:
        init, taps = outs_info[k]
        o = outputs[k]
        st = _step_type(init, taps)
        if o.type.ndim != st.ndim:
            raise TypeError(
                "scan: output %d has %d dimensions per step but its initial value gives %d (%s); they must agree"
                % (k, o.type.ndim, st.ndim, init.type)
            )
        if o.type.dtype != st.dtype:
            if not np.can_cast(o.type.dtype, st.dtype, casting="same_kind"):
                raise TypeError(
                    "scan: output %d of the step has dtype %s but its initial value (outputs_info[%d]) has dtype "
                    "%s: the state would be truncated to %s at every step. Give an initial value of dtype %s "
                    "(e.g. T.cast(init, '%s')) or cast the step's output to %s explicitly"
                    % (k, o.type.dtype, k, st.dtype, st.dtype, o.type.dtype, o.type.dtype, st.dtype)
                )
            o = cast(o, st.dtype)  # same kind: the state keeps its initial value's dtype (no float64 surprise)
        state_outs.append(o)
    upd_outs = []
    for v in shared_updated:
        u = updates[v]
        if isinstance(v.type, TensorType):
            u = as_tensor_variable(u)
            if u.type.dtype != v.type.dtype:
                raise TypeError("scan: update of %s has dtype %s, expected %s" % (v, u.type.dtype, v.type.dtype))
        upd_outs.append(u)
    inner_outs = state_outs + [outputs[k] for k in nit] + upd_outs + ([cond] if cond is not None else [])
    inner_outs = clone_replace(inner_outs, repl, strict=False) if repl else inner_outs
    n_fed, n_upd = len(state_outs), len(upd_outs)
    inner_inputs = seq_args + state_args + [a for a in shared_args] + nonseq_args + implicit_args
    # reorder outputs: fed states, shared states, then not-fed-back outputs, then the condition
    ordered_outs = (
        inner_outs[:n_fed]
        + inner_outs[n_fed + len(nit) : n_fed + len(nit) + n_upd]
        + inner_outs[n_fed : n_fed + len(nit)]
        + inner_outs[n_fed + len(nit) + n_upd :]
    )

    state_taps = [outs_info[k][1] for k in fed] + [[-1]] * n_upd
    single = [outs_info[k][1] == [-1] for k in fed] + [True] * n_upd
    info = ScanInfo(
        seq_taps=[t for _, t in seqs],
        state_taps=state_taps,
        n_nit=len(nit),
        n_nonseq=len(nonseqs) + len(implicit),
        n_shared=n_upd,
        go_backwards=go_backwards,
        truncate_gradient=truncate_gradient,
        has_until=cond is not None,
        name=name,
        single_init=single,
    )
    op = Scan(inner_inputs, ordered_outs, info, mode=mode)

    # ---- number of steps
    if n_steps is None:
        if not seqs:
            raise ValueError("scan: give n_steps when there are no sequences")
    lengths = []
    from ..tensor.shape import shape_i

    for x, taps in seqs:
        lengths.append(shape_i(x, 0) - (max(taps) - min(taps)))
    if n_steps is not None:
        steps = as_tensor_variable(n_steps)
        if not steps.type.dtype.startswith(("int", "uint")):
            raise TypeError("scan: n_steps must be an integer, got %s" % steps.type)
    else:
        steps = lengths[0]
        for ln in lengths[1:]:
            from ..tensor.math import minimum

            steps = minimum(steps, ln)
    outer = [x for x, _ in seqs] + [outs_info[k][0] for k in fed] + list(shared_updated) + nonseqs + implicit
    node_outs = op(steps, *outer)
    node_outs = node_outs if isinstance(node_outs, list) else [node_outs]
    n_traj = n_fed
    traj = node_outs[:n_traj]
    nit_outs = node_outs[n_traj : n_traj + len(nit)]
    finals = node_outs[n_traj + len(nit) :]
    result = [None] * len(outputs)
    for j, k in enumerate(fed):
        result[k] = traj[j]
    for j, k in enumerate(nit):
        result[k] = nit_outs[j]
    for r, k in zip(result, range(len(result))):
        if r is not None and outputs[k].name:
            r.name = "%s.scan" % outputs[k].name
    upd = dict(zip(shared_updated, finals))
    if return_list:
        return result, upd
    # Theano's rule: one output is returned alone, however fn returned it (x or [x]); none is None
    return (result[0] if len(result) == 1 else result or None), upd


__all__ = ["scan", "until"]
