"""Gradient entry points under the tensor namespace and gradient helper ops.

``grad``, ``Lop`` and ``Rop`` live in :mod:`nettrain.graph.grad` and are
re-exported here.  This module adds Theano's ``jacobian`` and ``hessian``
and the ops that are the identity going forward but change the gradient
going back: ``zero_grad``, ``disconnected_grad``, ``consider_constant``,
``grad_clip``, ``grad_scale`` and ``undefined_grad``.

``jacobian`` needs a loop over the rows of the Jacobian.  Until ``scan``
exists, a small op (``SeedMap``) does it: it holds the graph of the
vector-Jacobian product ``e^T J`` as a function of a seed ``e`` and, at run
time, evaluates that inner graph once per one-hot seed ``e_i`` by calling its
nodes' ``perform`` in topological order, then stacks the rows.
"""

import numpy as np

from ..configdefaults import config
from ..graph.basic import Apply, Constant, clone_get_equiv, io_toposort
from ..graph.grad import Lop, Rop, disconnected_type, grad, grad_not_implemented, grad_undefined
from ..graph.op import Op
from .basic import NotScalarConstantError, as_tensor_variable, cast, get_scalar_constant_value
from .type import TensorType

__all__ = [
    "grad", "Lop", "Rop", "jacobian", "hessian", "zero_grad", "disconnected_grad", "consider_constant",
    "grad_clip", "grad_scale", "undefined_grad", "SeedMap", "ZeroGrad", "DisconnectedGrad", "ConsiderConstant",
    "GradClip", "GradScale", "UndefinedGrad",
]  # fmt: skip


# ------------------------------------------------------------ inner graphs
def evaluate_graph(nodes, inner_inputs, inner_outputs, values):
    """Values of ``inner_outputs`` given ``values`` of ``inner_inputs``.

    ``nodes`` is the topologically sorted list of Apply nodes between them.
    Each node runs its ``perform``; a loop, so graph depth never matters.
    """
    env = dict(zip(inner_inputs, values))
    for node in nodes:
        args = [v.data if isinstance(v, Constant) and v not in env else env[v] for v in node.inputs]
        storage = [[None] for _ in node.outputs]
        node.op.perform(node, args, storage)
        for out, cell in zip(node.outputs, storage):
            env[out] = cell[0]
    return [o.data if isinstance(o, Constant) and o not in env else env[o] for o in inner_outputs]


class SeedMap(Op):
    """Stack an inner graph evaluated at every one-hot seed (Jacobian rows).

    Inputs of the Apply: ``expression`` (its value gives the seeds' shape),
    the ``wrt`` variables (their values give each row's shape, even when
    there are no rows) and the loop-invariant variables the inner graph
    reads (``inner_inputs[1:]``).  ``inner_inputs[0]`` is the seed.  Output
    ``k`` has shape ``expression.shape + wrt[k].shape``.
    """

    __props__ = ("inner_inputs", "inner_outputs", "n_wrt")

    def __init__(self, inner_inputs, inner_outputs, n_wrt):
        self.inner_inputs = tuple(inner_inputs)
        self.inner_outputs = tuple(inner_outputs)
        self.n_wrt = n_wrt
        self.nodes = io_toposort(list(self.inner_inputs), list(self.inner_outputs))

    def __str__(self):
        return "SeedMap{%d nodes}" % len(self.nodes)

    def make_node(self, expression, *others):
        expression = as_tensor_variable(expression)
        others = [as_tensor_variable(o) for o in others]
        wrt, invariants = others[: self.n_wrt], others[self.n_wrt:]
        if len(invariants) != len(self.inner_inputs) - 1:
            raise TypeError("%s expects %d loop-invariant inputs, got %d"
                            % (self, len(self.inner_inputs) - 1, len(invariants)))  # fmt: skip
        outs = [
            TensorType(o.type.dtype, expression.type.shape + w.type.shape)()
            for o, w in zip(self.inner_outputs, wrt)
        ]
        return Apply(self, [expression] + others, outs)

    def perform(self, node, inputs, output_storage):
        expr_val = inputs[0]
        wrt_vals = inputs[1: 1 + self.n_wrt]
        invariants = list(inputs[1 + self.n_wrt:])
        seed_dtype = self.inner_inputs[0].type.numpy_dtype
        rows = [[] for _ in self.inner_outputs]
        for i in range(expr_val.size):
            seed = np.zeros(expr_val.shape, dtype=seed_dtype)
            seed.flat[i] = 1
            for acc, r in zip(rows, evaluate_graph(self.nodes, self.inner_inputs, self.inner_outputs,
                                                   [seed] + invariants)):  # fmt: skip
                acc.append(r)
        for k, (out, w, acc) in enumerate(zip(node.outputs, wrt_vals, rows)):
            dt = out.type.numpy_dtype
            row_shape = acc[0].shape if acc else np.shape(w)
            res = np.empty((len(acc),) + row_shape, dtype=dt)
            for i, r in enumerate(acc):
                res[i] = r  # also broadcasts a row the inner graph left unexpanded
            output_storage[k][0] = res.reshape(expr_val.shape + row_shape)

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0]) + tuple(input_shapes[1 + k]) for k in range(self.n_wrt)]

    def grad(self, inputs, output_grads):
        return [grad_not_implemented(self, i, x, "(the gradient of a jacobian/hessian)") for i, x in enumerate(inputs)]


def _seed_map(expression, wrt, consider_constant, disconnected_inputs):
    """Jacobians of ``expression`` (any ndim) w.r.t. each of ``wrt``, via SeedMap."""
    # Integer expressions still get float seeds: a gradient is never integer.
    dtype = expression.type.dtype if expression.type.dtype.startswith(("float", "complex")) else config.floatX
    seed = TensorType(dtype, expression.type.shape)()
    seed.name = "jacobian_seed"
    grads = grad(None, wrt, consider_constant=consider_constant, known_grads={expression: seed},
                 disconnected_inputs=disconnected_inputs, return_disconnected="zero")  # fmt: skip
    # Only nodes that depend on the seed run in the loop; everything else they
    # read is computed once, outside, as an input of the SeedMap node.
    depends = {seed}
    loop_nodes = []
    for node in io_toposort([seed], grads):
        if any(i in depends for i in node.inputs):
            depends.update(node.outputs)
            loop_nodes.append(node)
    invariants = {}  # an ordered set
    for v in [i for n in loop_nodes for i in n.inputs] + list(grads):
        if v not in depends and not isinstance(v, Constant):
            invariants[v] = None
    invariants = list(invariants)
    memo = {v: v.type() for v in [seed] + invariants}
    memo = clone_get_equiv([seed] + invariants, grads, copy_inputs=False, memo=memo)
    op = SeedMap([memo[seed]] + [memo[v] for v in invariants], [memo[g] for g in grads], len(wrt))
    outs = op(expression, *wrt, *invariants)
    return outs if isinstance(outs, list) else [outs]


def _as_list(wrt):
    return list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]


def _format_as(like, results):
    if isinstance(like, list):
        return list(results)
    if isinstance(like, tuple):
        return tuple(results)
    return results[0]


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Jacobian of ``expression`` with respect to ``wrt``.

    Parameters
    ----------
    expression : tensor Variable
        A vector (Theano's case), a scalar (then this is ``grad``) or any
        tensor.
    wrt : Variable or list/tuple of Variables
    consider_constant : list of Variables, optional
        Gradients do not flow through these.
    disconnected_inputs : {'raise', 'warn', 'ignore'}

    Returns
    -------
    Variable or list/tuple of Variables (matching ``wrt``); the Jacobian
    w.r.t. ``w`` has shape ``expression.shape + w.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> J = T.jacobian(x ** 2, x)
    >>> J.eval({x: np.array([1.0, 2.0])})
    array([[2., 0.],
           [0., 4.]])
    """
    expression = as_tensor_variable(expression)
    wrt_list = _as_list(wrt)
    if expression.type.ndim == 0:
        return _format_as(wrt, _as_list(grad(expression, wrt_list, consider_constant=consider_constant,
                                             disconnected_inputs=disconnected_inputs)))  # fmt: skip
    return _format_as(wrt, _seed_map(expression, wrt_list, consider_constant, disconnected_inputs))


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Hessian of the scalar ``cost`` with respect to ``wrt``.

    The Hessian w.r.t. ``w`` is the Jacobian of ``grad(cost, w)`` w.r.t.
    ``w``, of shape ``w.shape + w.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> H = T.hessian((x ** 3).sum(), x)
    >>> H.eval({x: np.array([1.0, 2.0])})
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    cost = as_tensor_variable(cost)
    if cost.type.ndim != 0:
        raise TypeError("hessian: cost must be a scalar, but %s has %d dimensions" % (cost, cost.type.ndim))
    res = []
    for w in _as_list(wrt):
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        # g may be a constant zero when w only reaches cost linearly; the
        # second derivative is then zero, not a disconnection error.
        res.append(jacobian(g, w, consider_constant=consider_constant, disconnected_inputs="ignore"))
    return _format_as(wrt, res)


# ------------------------------------------------ identity-forward helper ops
class _IdentityForward(Op):
    """The identity on input 0 (a view); subclasses define the gradient."""

    view_map = {0: [0]}

    def make_node(self, x, *extra):
        x = as_tensor_variable(x)
        return Apply(self, [x] + [as_tensor_variable(e) for e in extra], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)


class ZeroGrad(_IdentityForward):
    """Identity forward; the gradient is zero (still connected)."""

    def grad(self, inputs, output_grads):
        return [output_grads[0].zeros_like()]


class ConsiderConstant(ZeroGrad):
    """Theano's ``consider_constant``: the gradient does not flow back (zero)."""


class DisconnectedGrad(_IdentityForward):
    """Identity forward; inputs are disconnected from whatever uses the output."""

    def grad(self, inputs, output_grads):
        return [disconnected_type()]

    def connection_pattern(self, node):
        return [[False]]


class UndefinedGrad(_IdentityForward):
    """Identity forward; asking for a gradient through it is an error."""

    def grad(self, inputs, output_grads):
        return [grad_undefined(self, 0, inputs[0], "(marked with undefined_grad)")]


class GradClip(_IdentityForward):
    """Identity forward on ``x``; the gradient is clipped to ``[lower, upper]``."""

    def grad(self, inputs, output_grads):
        from .math import clip

        _, lower, upper = inputs
        g = output_grads[0]
        return [cast(clip(g, lower, upper), g.type.dtype), disconnected_type(), disconnected_type()]


class GradScale(_IdentityForward):
    """Identity forward on ``x``; the gradient is multiplied by ``multiplier``."""

    def grad(self, inputs, output_grads):
        g = output_grads[0]
        return [cast(g * inputs[1], g.type.dtype), disconnected_type()]


_zero_grad = ZeroGrad()
_consider_constant = ConsiderConstant()
_disconnected_grad = DisconnectedGrad()
_undefined_grad = UndefinedGrad()
_grad_clip = GradClip()
_grad_scale = GradScale()


def zero_grad(x):
    """``x`` going forward; a zero gradient going back.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.gradient import zero_grad
    >>> x = T.dscalar('x')
    >>> float(T.grad(x * zero_grad(x), x).eval({x: 3.0}))
    3.0
    """
    return _zero_grad(x)


def consider_constant(x):
    """``x`` treated as a constant by ``grad`` (its gradient is zero).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.gradient import consider_constant
    >>> x = T.dscalar('x')
    >>> float(T.grad(consider_constant(x ** 2) * x, x).eval({x: 3.0}))
    9.0
    """
    return _consider_constant(x)


def disconnected_grad(x):
    """``x`` going forward; no gradient path back through it.

    Unlike :func:`zero_grad`, an input reached only through it is
    *disconnected*: ``grad`` raises unless ``disconnected_inputs`` says otherwise.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.gradient import disconnected_grad
    >>> x = T.dscalar('x')
    >>> float(T.grad(disconnected_grad(x) * x, x).eval({x: 3.0}))
    3.0
    """
    return _disconnected_grad(x)


def undefined_grad(x):
    """``x`` going forward; ``grad`` through it raises ``NullTypeGradError``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.gradient import undefined_grad
    >>> x = T.dscalar('x')
    >>> y = undefined_grad(x) * 2
    >>> float(y.eval({x: 3.0}))
    6.0
    """
    return _undefined_grad(x)


def grad_clip(x, lower_bound, upper_bound):
    """``x`` going forward; its gradient clipped to ``[lower_bound, upper_bound]``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.gradient import grad_clip
    >>> x = T.dscalar('x')
    >>> float(T.grad(grad_clip(x, -1.0, 1.0) * 5, x).eval({x: 3.0}))
    1.0
    """
    try:
        lo, hi = get_scalar_constant_value(lower_bound), get_scalar_constant_value(upper_bound)
    except NotScalarConstantError:
        pass  # symbolic bounds are checked by nobody; clip(g, lo, hi) follows NumPy then
    else:
        if lo > hi:
            raise ValueError("grad_clip: lower_bound %r is greater than upper_bound %r" % (lo, hi))
    return _grad_clip(x, lower_bound, upper_bound)


def grad_scale(x, multiplier):
    """``x`` going forward; its gradient multiplied by ``multiplier``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.gradient import grad_scale
    >>> x = T.dscalar('x')
    >>> float(T.grad(grad_scale(x ** 2, 0.5), x).eval({x: 3.0}))
    3.0
    """
    m = as_tensor_variable(multiplier)
    if m.type.ndim != 0:
        raise TypeError("grad_scale: multiplier must be a scalar, got %s" % m.type)
    return _grad_scale(x, m)
