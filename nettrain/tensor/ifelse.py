"""Lazy ``ifelse``: only the branch that the condition selects is computed.

Laziness without a lazy linker: the ``IfElse`` op holds the two branch graphs
as inner graphs and, in ``perform``, runs only the chosen one (compiled with
``nettrain.function`` on first use).  It therefore works with every backend.

Where the graph is cut: a variable that both branches use, or that the
condition uses, is computed anyway, so it stays outside and becomes an input
of the op, as do the graph inputs (including shared variables) of the
branches.  Everything a single branch needs goes inside the op and only runs
when that branch is taken.

Limitations (different from Theano, whose IfElse takes the branch results as
inputs and relies on a lazy virtual machine):

* ``grad`` with respect to a variable computed *inside* one branch only is
  disconnected (gradients with respect to the op's inputs, e.g. parameters,
  are right);
* ``givens`` that replace an intermediate variable inside one branch do not
  reach it (graph inputs and shared variables are always replaced);
* a random variable drawn inside a branch still advances its generator on
  every call (its default update is computed outside the op).
"""

import numpy as np

from ..graph.basic import Apply, Constant, Variable, ancestors, clone_get_equiv
from ..graph.grad import DisconnectedType, NullType
from ..graph.op import Op
from ..graph.rewriting import node_rewriter
from .type import TensorType


class IfElse(Op):
    """``outputs = then_outputs if condition else else_outputs``, computing only one branch.

    Inputs are ``[condition, *free]``; ``inner_inputs`` stand for ``free`` in
    the inner graphs ``then_outputs`` and ``else_outputs``.  Ops compare by
    identity (their inner graphs differ).
    """

    def __init__(self, inner_inputs, then_outputs, else_outputs, out_types, name=None):
        self.inner_inputs = list(inner_inputs)
        self.then_outputs = list(then_outputs)
        self.else_outputs = list(else_outputs)
        self.out_types = list(out_types)
        self.name = name
        self._used = [_used_inputs(self.inner_inputs, outs) for outs in (self.then_outputs, self.else_outputs)]
        self._fns = [None, None]

    n_outs = property(lambda self: len(self.out_types))

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return "IfElse{%s}" % self.name if self.name else "IfElse"

    __repr__ = __str__

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_fns"] = [None, None]  # compiled functions are rebuilt on first use
        return d

    def make_node(self, condition, *free):
        from .basic import as_tensor_variable

        cond = as_tensor_variable(condition)
        if cond.type.ndim != 0:
            raise TypeError("ifelse: the condition must be a scalar, got %s" % cond.type)
        if len(free) != len(self.inner_inputs):
            raise TypeError(
                "%s takes %d inputs after the condition, got %d" % (self, len(self.inner_inputs), len(free))
            )
        for v, inner in zip(free, self.inner_inputs):
            if not isinstance(v, Variable) or not _compatible(inner.type, v.type):
                raise TypeError("%s: input %s has type %s, expected %s"
                                % (self, v, getattr(v, "type", type(v).__name__), inner.type))  # fmt: skip
        return Apply(self, [cond, *free], [t() for t in self.out_types])

    def branch_function(self, which):
        """The compiled inner function of branch ``which`` (0 = then, 1 = else)."""
        if self._fns[which] is None:
            from ..compile.function import function

            outs = self.then_outputs if which == 0 else self.else_outputs
            ins = [self.inner_inputs[i] for i in self._used[which]]
            self._fns[which] = function(ins, list(outs), on_unused_input="ignore", name="ifelse branch")
        return self._fns[which]

    def perform(self, node, inputs, output_storage):
        which = 0 if inputs[0] else 1
        args = [inputs[1 + i] for i in self._used[which]]
        for cell, value in zip(output_storage, self.branch_function(which)(*args)):
            cell[0] = value

    def branches_on(self, free):
        """The two branches' outputs rebuilt on the outer variables ``free``."""
        # a full copy: the op's inner graph must never become part of a graph that rewrites mutate
        outs = self.then_outputs + self.else_outputs
        memo = clone_get_equiv(self.inner_inputs, outs, copy_inputs=False, memo=dict(zip(self.inner_inputs, free)))
        new = [memo[v] for v in outs]
        return new[: self.n_outs], new[self.n_outs :]

    def L_op(self, inputs, outputs, output_grads):
        cond, free = inputs[0], list(inputs[1:])
        wrt = [v for v in free if _is_float(v)]
        res = [None] + [None] * len(free)
        if not wrt:
            return res
        branch_grads = [_branch_grads(outs, output_grads, wrt) for outs in self.branches_on(free)]
        nulls = {}
        pairs = []
        for k, (gt, ge) in enumerate(zip(*branch_grads)):
            null = gt if isinstance(gt.type, NullType) else ge if isinstance(ge.type, NullType) else None
            if null is not None:
                nulls[k] = null
            else:
                pairs.append((k, gt, ge))
        joined = ifelse(cond, [p[1] for p in pairs], [p[2] for p in pairs]) if pairs else []
        by_wrt = dict(nulls)
        by_wrt.update((k, g) for (k, _, _), g in zip(pairs, joined))
        pos = {id(v): k for k, v in enumerate(wrt)}
        for i, v in enumerate(free):
            if id(v) in pos:
                res[1 + i] = by_wrt[pos[id(v)]]
        return res


def _branch_grads(outs, output_grads, wrt):
    """Gradients of ``wrt`` given the gradients of ``outs`` (zeros where unconnected)."""
    from ..graph.grad import grad

    known = {}
    for o, g in zip(outs, output_grads):
        if g is None or isinstance(g.type, DisconnectedType) or not _is_float(o) or isinstance(o, Constant):
            continue
        known[o] = known[o] + g if o in known else g
    if not known:
        return [v.zeros_like() for v in wrt]
    gs = grad(None, wrt, known_grads=known, disconnected_inputs="ignore", null_gradients="return")
    return [g if isinstance(g.type, NullType) else v.type.filter_gradient(v, g) for v, g in zip(wrt, gs)]


def _is_float(v):
    return getattr(v.type, "dtype", "").startswith(("float", "complex"))


def _used_inputs(inner_inputs, outs):
    anc = set(ancestors(outs))
    return [i for i, v in enumerate(inner_inputs) if v in anc]


def _compatible(inner, outer):
    if inner == outer:
        return True
    if isinstance(inner, TensorType) and isinstance(outer, TensorType):
        return inner.dtype == outer.dtype and inner.ndim == outer.ndim
    return False


def _as_pair(t, e, i):
    """The i-th then/else outputs as variables of one type, and that (joined) type."""
    from .basic import as_tensor_variable

    if isinstance(t, Variable) and not isinstance(e, Variable):
        e = _constant_like(e, t, i, "else")
    elif isinstance(e, Variable) and not isinstance(t, Variable):
        t = _constant_like(t, e, i, "then")
    elif not isinstance(t, Variable):
        t, e = as_tensor_variable(t), as_tensor_variable(e)
    tt, et = t.type, e.type
    if tt == et:
        return t, e, tt
    if isinstance(tt, TensorType) and isinstance(et, TensorType) and tt.dtype == et.dtype and tt.ndim == et.ndim:
        shape = tuple(a if a == b else None for a, b in zip(tt.shape, et.shape))
        return t, e, TensorType(tt.dtype, shape)
    raise TypeError(
        "ifelse: output %d of the then branch has type %s but the else branch gives %s; both branches must "
        "give the same dtype and number of dimensions (cast one, e.g. T.cast(x, %r))"
        % (i, _describe(tt), _describe(et), getattr(tt, "dtype", "float64"))
    )


def _constant_like(value, other, i, which):
    from .basic import as_tensor_variable, constant

    if not isinstance(other.type, TensorType):
        raise TypeError("ifelse: the %s branch output %d is not a variable: %r" % (which, i, value))
    arr = np.asarray(value)
    conv = arr.astype(other.type.dtype) if arr.dtype != object else None
    if conv is None or not np.array_equal(conv, arr):
        return as_tensor_variable(value)  # reported as a type mismatch by the caller
    return constant(conv)


def _describe(t):
    return t.describe() if hasattr(t, "describe") else str(t)


def ifelse(condition, then_branch, else_branch, name=None):
    """``then_branch`` if ``condition`` is true (non-zero) else ``else_branch``; lazy.

    Only the selected branch is computed at run time.

    Parameters
    ----------
    condition : scalar tensor
        Any dtype; non-zero selects ``then_branch``.
    then_branch, else_branch : Variable or list of Variables
        Lists of equal length whose entries have the same dtype and number of dimensions.
    name : str, optional

    Returns
    -------
    Variable, or a list (tuple) of Variables when the branches are lists (tuples).

    Examples
    --------
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.ifelse import ifelse
    >>> a, b, x = T.dscalars('a', 'b', 'x')
    >>> f = theano.function([a, b, x], ifelse(T.lt(a, b), T.sqrt(x), x ** 2))
    >>> float(f(1, 2, 9.0)), float(f(2, 1, 9.0))
    (3.0, 81.0)
    """
    from .basic import as_tensor_variable

    kind = type(then_branch) if isinstance(then_branch, (list, tuple)) else None
    thens = list(then_branch) if kind else [then_branch]
    elses = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(thens) != len(elses):
        raise ValueError("ifelse: the then branch has %d outputs but the else branch has %d; they must match"
                         % (len(thens), len(elses)))  # fmt: skip
    cond = as_tensor_variable(condition)
    if cond.type.ndim != 0:
        raise TypeError("ifelse: the condition must be a scalar, got %s" % cond.type)
    triples = [_as_pair(t, e, i) for i, (t, e) in enumerate(zip(thens, elses))]
    thens = [t for t, _, _ in triples]
    elses = [e for _, e, _ in triples]
    if not thens:
        return kind() if kind else []

    # cut: what both branches or the condition need is computed outside the op
    anc_t, anc_e = set(ancestors(thens)), set(ancestors(elses))
    outside = (anc_t & anc_e) | set(ancestors([cond]))
    free = [v for v in ancestors(thens + elses, blockers=outside)
            if (v in outside or v.owner is None) and not isinstance(v, Constant)]  # fmt: skip
    inner_inputs = [v.type.make_variable(name=v.name) for v in free]
    memo = clone_get_equiv(free, thens + elses, memo=dict(zip(free, inner_inputs)))
    op = IfElse(inner_inputs, [memo[v] for v in thens], [memo[v] for v in elses], [t for _, _, t in triples], name)
    outs = op.make_node(cond, *free).outputs
    if name is not None:
        for o in outs:
            o.name = name
    if kind is None:
        return outs[0]
    return kind(outs)


@node_rewriter([IfElse], tags=("fast_run", "fast_compile"))
def local_ifelse_constant_condition(fgraph, node):
    """ifelse(constant, a, b) -> a or b"""
    cond = node.inputs[0]
    if not isinstance(cond, Constant):
        return None
    then_outs, else_outs = node.op.branches_on(node.inputs[1:])
    return then_outs if bool(np.asarray(cond.data)) else else_outs


__all__ = ["ifelse", "IfElse"]
