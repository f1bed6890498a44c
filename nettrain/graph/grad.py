"""Reverse-mode differentiation that produces a graph.

Like micrograd's ``backward()``: order the nodes topologically, walk them in
reverse, ask each op for the gradients of its inputs given its outputs'
gradients, and accumulate.  The difference: values are symbolic variables.

The walk is type-agnostic.  It relies on three methods of variables:
``zeros_like()``, ``ones_like()`` and ``+``, and on the optional type hook
``type.filter_gradient(var, grad)`` that casts/reshapes a gradient to fit.

An op's ``grad`` returns, per input, a Variable, a ``NullType`` variable
(undefined), a ``DisconnectedType`` variable (no dependence) or None.  None
means "no gradient flows" (integer inputs, discrete outputs): the input still
counts as connected, with a zero gradient, wherever ``connection_pattern``
says the outputs depend on it, as in Theano.
"""

import warnings

from .basic import Constant, Type, Variable, clone_replace, io_toposort


class DisconnectedType(Type):
    """Type of the 'gradient' of an output that does not depend on an input."""

    def filter(self, value, strict=False, allow_downcast=None):
        raise TypeError("a disconnected gradient has no value")

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __str__(self):
        return "Disconnected"


class NullType(Type):
    """Type of an undefined gradient; ``why`` says why it is undefined."""

    def __init__(self, why="gradient undefined"):
        self.why = why

    def filter(self, value, strict=False, allow_downcast=None):
        raise TypeError("no value for a null gradient: %s" % self.why)

    def __eq__(self, other):
        return type(self) is type(other) and self.why == other.why

    def __hash__(self):
        return hash((type(self), self.why))

    def __str__(self):
        return "NullType"


class DisconnectedInputError(ValueError):
    """``wrt`` is not part of the cost's graph."""


class NullTypeGradError(TypeError):
    """A gradient was requested through an op whose gradient is undefined."""


def disconnected_type():
    return DisconnectedType()()


def grad_undefined(op, x_pos, x, comment=""):
    """The gradient of ``op`` with respect to input ``x_pos`` is mathematically undefined."""
    return NullType("the gradient of %s with respect to its input %d is undefined. %s" % (op, x_pos, comment))()


def grad_not_implemented(op, x_pos, x, comment=""):
    """The gradient exists but ``op`` does not implement it."""
    return NullType("the gradient of %s with respect to its input %d is not implemented. %s" % (op, x_pos, comment))()


def _is_null(g):
    return isinstance(g, Variable) and isinstance(g.type, NullType)


def _is_disconnected(g):
    return g is None or (isinstance(g, Variable) and isinstance(g.type, DisconnectedType))


def _differentiable(v):
    dt = getattr(v.type, "dtype", None)
    return dt is None or dt.startswith(("float", "complex"))


def grad(
    cost,
    wrt,
    consider_constant=None,
    disconnected_inputs="raise",
    add_names=True,
    known_grads=None,
    return_disconnected="zero",
    null_gradients="raise",
):
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt``.

    Parameters
    ----------
    cost : scalar Variable or None
        What to differentiate; may be None when ``known_grads`` is given.
    wrt : Variable or list of Variables
    consider_constant : list of Variables
        Gradients do not flow through these.
    disconnected_inputs : {'raise', 'warn', 'ignore'}
        What to do when an element of ``wrt`` does not influence ``cost``.
    known_grads : dict
        Gradients of intermediate variables, used as extra starting points.
    return_disconnected : {'zero', 'None', 'Disconnected'}
        What to return for a disconnected input.
    null_gradients : {'raise', 'return'}
        Raise for undefined gradients, or return the NullType variable.

    Returns
    -------
    Variable or list of Variables, matching ``wrt``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dscalar('x')
    >>> g = T.grad(x ** 2, x)
    >>> float(g.eval({x: 3.0}))
    6.0
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore', got %r" % (disconnected_inputs,))
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError("return_disconnected must be 'zero', 'None' or 'Disconnected'")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for i, w in enumerate(wrt_list):
        if not isinstance(w, Variable):
            raise TypeError("grad: wrt[%d] is not a symbolic Variable: %r" % (i, w))
    start = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError("grad: cost must be a symbolic Variable, got %r" % (cost,))
        ndim = getattr(cost.type, "ndim", 0)
        if ndim != 0:
            raise TypeError(
                "grad: cost must be a scalar (0-d), but %s has %d dimensions; reduce it first, "
                "e.g. with .sum() or .mean()" % (cost, ndim)
            )
        start[cost] = cost.ones_like(dtype=_float_dtype_of(cost))
    for var, g in (known_grads or {}).items():
        if not isinstance(var, Variable):
            raise TypeError("known_grads keys must be Variables, got %r" % (var,))
        if not isinstance(g, Variable):
            g = var.type.make_constant_like(g) if hasattr(var.type, "make_constant_like") else g
        start[var] = g if var not in start else start[var] + g
    if not start:
        raise ValueError("grad: give a cost or known_grads")

    blocked = set(consider_constant or ())
    roots = list(start)
    all_nodes = io_toposort([], roots)
    dep = set(w for w in wrt_list if w not in blocked)
    for node in all_nodes:
        if any(i in dep for i in node.inputs):
            for o in node.outputs:
                if o not in blocked:
                    dep.add(o)

    terms = {v: [g] for v, g in start.items()}
    nulls = {}
    # Variables the roots depend on only through integers (or ops whose
    # gradient is None): their gradient is zero, not "disconnected" (Theano).
    zero_conn = set()
    for node in reversed(all_nodes):
        live = [j for j, o in enumerate(node.outputs) if (o in terms or o in zero_conn) and o not in blocked]
        if not live or not any(i in dep for i in node.inputs):
            continue
        if any(node.outputs[j] in terms for j in live):
            out_grads = []
            for o in node.outputs:
                ts = terms.get(o) if o not in blocked else None
                out_grads.append(_sum_terms(ts) if ts else o.zeros_like())
            in_grads = node.op.L_op(node.inputs, node.outputs, out_grads)
            if len(in_grads) != len(node.inputs):
                raise ValueError(
                    "%s.grad returned %d gradients for %d inputs" % (node.op, len(in_grads), len(node.inputs))
                )
        else:  # only zero gradients reach this node: no need to build any graph
            in_grads = [None] * len(node.inputs)
        conn = None
        for i, (inp, g) in enumerate(zip(node.inputs, in_grads)):
            if inp not in dep:
                continue
            if not _is_disconnected(g) and _differentiable(inp):
                if _is_null(g):
                    nulls.setdefault(inp, g)
                    continue
                if not isinstance(g, Variable):
                    raise TypeError("%s.grad returned %r, not a Variable" % (node.op, g))
                terms.setdefault(inp, []).append(g)
                continue
            if g is not None and isinstance(g.type, DisconnectedType):
                continue  # explicitly disconnected
            conn = conn if conn is not None else node.op.connection_pattern(node)
            if any(conn[i][j] for j in live):
                zero_conn.add(inp)
    results = []
    for w in wrt_list:
        ts = terms.get(w)
        if not _differentiable(w) and (ts or w in zero_conn) and w not in start:
            # Integers carry no gradient, but the cost does depend on them.
            results.append(w.zeros_like(dtype=_float_dtype_of(w)))
            continue
        if _null_reachable(w, nulls, all_nodes):
            null = nulls.get(w) or next(iter(nulls.values()))
            if null_gradients == "raise":
                raise NullTypeGradError("grad of %s: %s" % (w, null.type.why))
            results.append(null)
            continue
        if not ts:
            if w in start:
                results.append(start[w])
            elif w in zero_conn:
                results.append(w.zeros_like(dtype=_float_dtype_of(w)))
            else:
                results.append(_disconnected(w, disconnected_inputs, return_disconnected))
            continue
        g = _sum_terms(ts)
        filt = getattr(w.type, "filter_gradient", None)
        if filt is not None:
            g = filt(w, g)
        if add_names and g.name is None:
            g.name = "(d%s/d%s)" % (cost if cost is not None and cost.name else "cost", w.name or "wrt")
        results.append(g)
    return results[0] if single else results


def _null_reachable(w, nulls, nodes):
    """True when the gradient of ``w`` would pass through an undefined one."""
    if not nulls:
        return False
    if w in nulls:
        return True
    # A null gradient on variable v matters for w if w influences v.
    reach = {w}
    for node in nodes:
        if any(i in reach for i in node.inputs):
            reach.update(node.outputs)
    return any(v in reach for v in nulls)


def _float_dtype_of(v):
    dt = getattr(v.type, "dtype", None)
    if dt is None or dt.startswith(("float", "complex")):
        return dt
    from ..configdefaults import config

    return config.floatX


def _sum_terms(ts):
    total = ts[0]
    for t in ts[1:]:
        total = total + t
    return total


def _disconnected(w, policy, ret):
    msg = (
        "grad: the cost does not depend on %s (type %s). Pass disconnected_inputs='ignore' "
        "(or 'warn') to get a zero gradient instead." % (w, w.type)
    )
    if policy == "raise":
        raise DisconnectedInputError(msg)
    if policy == "warn":
        warnings.warn(msg, stacklevel=3)
    if ret == "zero":
        return w.zeros_like(dtype=_float_dtype_of(w))
    if ret == "None":
        return None
    return disconnected_type()


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product: ``eval_points`` times the Jacobian of ``f``."""
    fs = f if isinstance(f, (list, tuple)) else [f]
    evs = eval_points if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(fs) != len(evs):
        raise ValueError("Lop: %d outputs but %d eval_points" % (len(fs), len(evs)))
    known = {}
    for fv, ev in zip(fs, evs):
        if not isinstance(ev, Variable):
            from ..tensor.basic import as_tensor_variable

            ev = as_tensor_variable(ev)
        known[fv] = ev
    return grad(
        None,
        wrt,
        consider_constant=consider_constant,
        known_grads=known,
        disconnected_inputs=disconnected_inputs,
        return_disconnected="zero",
    )


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """Jacobian-vector product: the Jacobian of ``f`` times ``eval_points``.

    Works for every differentiable op through the double-vjp identity
    ``J v = d/du [ (u^T J) v ]``; the dummy ``u`` is replaced by zeros, which
    is exact because ``u^T J`` is linear in ``u``.
    """
    single_f = not isinstance(f, (list, tuple))
    fs = [f] if single_f else list(f)
    ws = wrt if isinstance(wrt, (list, tuple)) else [wrt]
    vs = eval_points if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(ws) != len(vs):
        raise ValueError("Rop: %d wrt but %d eval_points" % (len(ws), len(vs)))
    from ..tensor.basic import as_tensor_variable

    vs = [as_tensor_variable(v) for v in vs]
    for w, v in zip(ws, vs):
        if getattr(w.type, "ndim", None) != getattr(v.type, "ndim", None):
            raise ValueError("Rop: eval point %s has %s dimensions but %s has %s" % (v, v.type.ndim, w, w.type.ndim))
    out = []
    for fv in fs:
        u = fv.type()
        u.name = "rop_dummy"
        gs = grad(None, ws, known_grads={fv: u}, disconnected_inputs="ignore", return_disconnected="zero")
        inner = None
        for g, v in zip(gs, vs):
            t = (g * v).sum()
            inner = t if inner is None else inner + t
        r = grad(None, [u], known_grads={inner: inner.ones_like()}, disconnected_inputs="ignore")[0]
        r = clone_replace(r, {u: fv.zeros_like()}, strict=False)
        out.append(r)
    return out[0] if single_f else out


__all__ = [
    "grad",
    "Lop",
    "Rop",
    "grad_undefined",
    "grad_not_implemented",
    "DisconnectedType",
    "NullType",
    "DisconnectedInputError",
    "NullTypeGradError",
    "Constant",
]
