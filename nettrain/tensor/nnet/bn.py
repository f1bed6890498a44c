"""Batch normalization (``T.nnet.bn``): training and inference ops with their gradients.

``batch_normalization_train`` normalizes with the statistics of the batch
and optionally updates running averages; ``batch_normalization_test`` uses
given statistics; ``batch_normalization`` is the plain elementwise formula.

Differences from Theano (documented traps):

* any ``epsilon > 0`` is accepted (Theano required ``epsilon >= 1e-5``, a cuDNN limit);
* the gradient of ``AbstractBatchNormTrain`` also flows through its ``mean``,
  ``invstd`` and running-average outputs (Theano's only followed ``out``).
"""

import numpy as np

from ...graph.basic import Apply, Constant
from ...graph.grad import disconnected_type
from ...graph.op import Op
from ..type import TensorType


def _prepare_axes(axes, ndim):
    """Theano's axes: 'per-activation' = (0,), 'spatial' = (0, 2, 3, ...), or a tuple; returns (axes, others)."""
    if isinstance(axes, str) and axes == "per-activation":
        axes = (0,)
    elif isinstance(axes, str) and axes == "spatial":
        axes = (0,) + tuple(range(2, ndim))
    elif isinstance(axes, (tuple, list, np.ndarray)):
        axes = tuple(int(a) for a in axes)
    else:
        raise ValueError("invalid axes: %r (use 'per-activation', 'spatial' or a tuple of ints)" % (axes,))
    axes = tuple(sorted(set(axes)))
    if len(axes) == 0:
        raise ValueError("there should be at least one normalization axis")
    if min(axes) < 0 or max(axes) >= ndim:
        raise ValueError("axes should be less than ndim (<%d), but %s given" % (ndim, axes))
    return axes, tuple(i for i in range(ndim) if i not in axes)


def _is_zero(g):
    """``g`` is the ``zeros_like`` that ``grad`` passes for an unused output."""
    from ..elemwise import Elemwise
    from ..scalar_op import Second

    node = g.owner
    if node is None or not isinstance(node.op, Elemwise) or not isinstance(node.op.scalar_op, Second):
        return False
    c = node.inputs[1]
    while c.owner is not None and type(c.owner.op).__name__ == "DimShuffle":
        c = c.owner.inputs[0]
    return isinstance(c, Constant) and not np.any(c.data)


def _sum_to(v, g):
    """Sum ``g`` over the dimensions along which ``v`` (static length 1) was broadcast."""
    from ..reduction import sum as _sum

    axes = tuple(d for d in range(v.type.ndim) if v.type.shape[d] == 1 and g.type.shape[d] != 1)
    return _sum(g, axis=axes, keepdims=True) if axes else g


class _BatchNormBase(Op):
    __props__ = ("axes",)

    def __init__(self, axes="per-activation"):
        self.axes = tuple(sorted(int(a) for a in ((0,) if axes == "per-activation" else axes)))

    def _inputs(self, x, params, scalars):
        """Check and cast: ``params`` broadcastable along ``axes``, ``scalars`` 0-d; all in ``x``'s float dtype."""
        from ..basic import as_tensor_variable, cast

        x = as_tensor_variable(x)
        if not x.type.dtype.startswith("float"):
            raise TypeError("%s: inputs must be float, got %s" % (self, x.type))
        if self.axes and max(self.axes) >= x.type.ndim:
            raise ValueError("%s: axes %s out of range for %s" % (self, self.axes, x.type))
        out = []
        for name, p in params:
            p = as_tensor_variable(p)
            if p.type.ndim != x.type.ndim or any(p.type.shape[a] != 1 for a in self.axes):
                raise TypeError("%s: %s must have %d dims and static length 1 along axes %s, got %s"
                                % (self, name, x.type.ndim, self.axes, p.type))  # fmt: skip
            out.append(cast(p, x.type.dtype))
        for name, s in scalars:
            s = as_tensor_variable(s)
            if s.type.ndim != 0:
                raise TypeError("%s: %s must be a scalar, got %s" % (self, name, s.type))
            out.append(cast(s, x.type.dtype))
        return x, out

    def _stat_type(self, x):
        return TensorType(x.type.dtype, tuple(1 if d in self.axes else s for d, s in enumerate(x.type.shape)))()


class AbstractBatchNormTrain(_BatchNormBase):
    """``(out, mean, invstd[, new_running_mean, new_running_var])`` from the batch statistics over ``axes``."""

    def make_node(self, x, scale, bias, epsilon=1e-4, running_average_factor=0.1, running_mean=None,
                  running_var=None):  # fmt: skip
        if (running_mean is None) != (running_var is None):
            raise ValueError("running_mean and running_var must either both be given or both be None")
        params = [("scale", scale), ("bias", bias)]
        if running_mean is not None:
            params += [("running_mean", running_mean), ("running_var", running_var)]
        x, rest = self._inputs(x, params, [("epsilon", epsilon), ("running_average_factor", running_average_factor)])
        rest = rest[:2] + rest[-2:] + rest[2:-2]  # x, scale, bias, epsilon, factor[, running_mean, running_var]
        outs = [x.type.clone()(), self._stat_type(x), self._stat_type(x)]
        outs += [r.type.clone()() for r in rest[4:]]
        return Apply(self, [x] + rest, outs)

    def perform(self, node, inputs, output_storage):
        x, scale, bias, eps, factor = inputs[:5]
        dtype = x.dtype
        mean = x.mean(self.axes, keepdims=True)
        var = x.var(self.axes, keepdims=True)
        invstd = 1.0 / np.sqrt(var + eps)
        res = [(x - mean) * (scale * invstd) + bias, mean, invstd]
        if len(inputs) > 5:
            m = x.size // max(mean.size, 1)  # elements per normalization group
            with np.errstate(divide="ignore", invalid="ignore"):  # m == 1: the unbiased variance is undefined
                unbiased = var * (m / (m - 1.0)) if m > 1 else var * np.inf
            res.append(inputs[5] * (1 - factor) + mean * factor)
            res.append(inputs[6] * (1 - factor) + unbiased * factor)
        for store, r in zip(output_storage, res):
            store[0] = np.asarray(r, dtype=dtype)

    def infer_shape(self, node, input_shapes):
        x = input_shapes[0]
        stat = tuple(1 if d in self.axes else s for d, s in enumerate(x))
        return [x, stat, stat] + [input_shapes[5 + i] for i in range(len(node.outputs) - 3)]

    def connection_pattern(self, node):
        #            out   mean   invstd  new_rm new_rv
        pattern = [[True, True, True],  # x
                   [True, False, False],  # scale
                   [True, False, False],  # bias
                   [True, False, True],  # epsilon
                   [False, False, False]]  # running_average_factor  # fmt: skip
        if len(node.inputs) > 5:
            for row, extra in zip(pattern, ([True, True], [False, False], [False, False], [False, True],
                                            [True, True])):  # fmt: skip
                row.extend(extra)
            pattern += [[False, False, False, True, False], [False, False, False, False, True]]
        return pattern

    def L_op(self, inputs, outputs, output_grads):
        from ..basic import cast
        from ..reduction import sum as _sum
        from ..shape import shape_i

        x, scale, bias, eps, factor = inputs[:5]
        _, mean, invstd = outputs[:3]
        dy, dmean, dinvstd = output_grads[:3]
        gx, gscale, gbias = AbstractBatchNormTrainGrad(self.axes)(x, dy, scale, mean, invstd)
        # d invstd / d var = d invstd / d eps = -invstd^3 / 2; out depends on eps through invstd.
        dinv_total = scale * gscale / invstd if _is_zero(dinvstd) else dinvstd + scale * gscale / invstd
        g_eps = _sum(-0.5 * invstd ** 3 * dinv_total)
        dmean_tot = None if _is_zero(dmean) else dmean
        dvar_tot = None if _is_zero(dinvstd) else -0.5 * invstd ** 3 * dinvstd
        grads_running = []
        m = cast(_prod([shape_i(x, a) for a in self.axes]), x.type.dtype)  # elements per normalization group
        if len(inputs) > 5:
            rm, rv = inputs[5:]
            drm, drv = output_grads[3:]
            var = invstd ** -2 - eps
            if not _is_zero(drm):
                dmean_tot = factor * drm if dmean_tot is None else dmean_tot + factor * drm
            if not _is_zero(drv):
                dv = factor * m / (m - 1) * drv
                dvar_tot = dv if dvar_tot is None else dvar_tot + dv
            g_factor = _sum(drm * (mean - rm)) + _sum(drv * (m / (m - 1) * var - rv))
            grads_running = [_sum_to(rm, (1 - factor) * drm), _sum_to(rv, (1 - factor) * drv)]
        else:
            g_factor = disconnected_type()
        if dmean_tot is not None:
            gx = gx + dmean_tot / m
        if dvar_tot is not None:  # d var / d x = 2 (x - mean) / m (the mean's own term sums to zero)
            gx = gx + dvar_tot * 2 * (x - mean) / m
        return [gx, _sum_to(scale, gscale), _sum_to(bias, gbias), g_eps, g_factor] + grads_running


def _prod(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out * t
    return out


class AbstractBatchNormTrainGrad(_BatchNormBase):
    """``(d x, d scale, d bias)`` of ``AbstractBatchNormTrain``'s ``out`` for the output gradient ``dy``."""

    def make_node(self, x, dy, scale, x_mean, x_invstd):
        from ..basic import as_tensor_variable, cast

        x, rest = self._inputs(x, [("scale", scale), ("x_mean", x_mean), ("x_invstd", x_invstd)], [])
        dy = cast(as_tensor_variable(dy), x.type.dtype)
        if dy.type.ndim != x.type.ndim:
            raise TypeError("%s: dy %s and x %s need the same ndim" % (self, dy.type, x.type))
        return Apply(self, [x, dy] + rest, [x.type.clone()(), self._stat_type(x), self._stat_type(x)])

    def perform(self, node, inputs, output_storage):
        x, dy, scale, mean, invstd = inputs
        ax = self.axes
        x_diff = x - mean
        mean_dy_x_diff = np.mean(dy * x_diff, axis=ax, keepdims=True)
        c = dy * invstd - x_diff * mean_dy_x_diff * invstd ** 3
        res = [scale * (c - np.mean(c, axis=ax, keepdims=True)),
               np.sum(dy * invstd * x_diff, axis=ax, keepdims=True),
               np.sum(dy, axis=ax, keepdims=True)]  # fmt: skip
        for store, r in zip(output_storage, res):
            store[0] = np.asarray(r, dtype=x.dtype)

    def infer_shape(self, node, input_shapes):
        x = input_shapes[0]
        stat = tuple(1 if d in self.axes else s for d, s in enumerate(x))
        return [x, stat, stat]

    def L_op(self, inputs, outputs, output_grads):
        from ...graph.grad import grad
        from ..reduction import mean as _mean
        from ..reduction import sum as _sum

        from ...graph.basic import clone_replace

        # The same formulas written symbolically on stand-ins for the inputs (so that grad takes partial
        # derivatives: mean and invstd themselves depend on x), then the stand-ins are swapped back.
        dummies = [v.type() for v in inputs]
        x, dy, scale, mean, invstd = dummies
        ax = self.axes
        x_diff = x - mean
        c = dy * invstd - x_diff * _mean(dy * x_diff, axis=ax, keepdims=True) * invstd ** 3
        exprs = [scale * (c - _mean(c, axis=ax, keepdims=True)), _sum(dy * invstd * x_diff, axis=ax, keepdims=True),
                 _sum(dy, axis=ax, keepdims=True)]  # fmt: skip
        known = {e: g for e, g in zip(exprs, output_grads) if not _is_zero(g)}
        if not known:
            return [disconnected_type() for _ in inputs]
        grads = grad(None, dummies, known_grads=known, disconnected_inputs="ignore", return_disconnected="zero")
        return clone_replace(grads, dict(zip(dummies, inputs)))


class AbstractBatchNormInference(_BatchNormBase):
    """``(x - estimated_mean) * scale / sqrt(estimated_variance + epsilon) + bias``."""

    def make_node(self, x, scale, bias, estimated_mean, estimated_variance, epsilon=1e-4):
        params = [("scale", scale), ("bias", bias), ("estimated_mean", estimated_mean),
                  ("estimated_variance", estimated_variance)]  # fmt: skip
        x, rest = self._inputs(x, params, [("epsilon", epsilon)])
        return Apply(self, [x] + rest, [x.type.clone()()])

    def perform(self, node, inputs, output_storage):
        x, scale, bias, mean, var, eps = inputs
        out = (x - mean) * (scale / np.sqrt(var + eps)) + bias
        output_storage[0][0] = np.asarray(out, dtype=x.dtype)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        from ..math import sqrt
        from ..reduction import sum as _sum

        x, scale, bias, mean, var, eps = inputs
        (dy,) = output_grads
        ax = self.axes
        var_eps = var + eps
        std = sqrt(var_eps)
        dy_sum = _sum(dy, axis=ax, keepdims=True)
        dy_xc = _sum(dy * (x - mean), axis=ax, keepdims=True)
        dvar = -dy_xc * scale / (2 * var_eps * std)
        return [dy * (scale / std), _sum_to(scale, dy_xc / std), _sum_to(bias, dy_sum),
                _sum_to(mean, -dy_sum * (scale / std)), _sum_to(var, dvar), _sum(dvar)]  # fmt: skip


def _params(name, p, ndim, axes, non_bc_axes, params_ndim):
    """Broadcast a parameter to ``ndim`` dims (length 1 along ``axes``)."""
    from ..basic import as_tensor_variable
    from ..shape import addbroadcast

    p = as_tensor_variable(p)
    if p.type.ndim != params_ndim:
        raise ValueError("%s must have %d dimensions (the non-normalized axes) or %d (like the inputs); got %d"
                         % (name, len(non_bc_axes), ndim, p.type.ndim))  # fmt: skip
    if params_ndim == ndim:
        return addbroadcast(p, *axes)
    pattern = ["x"] * ndim
    for i, a in enumerate(non_bc_axes):
        pattern[a] = i
    return p.dimshuffle(pattern)


def _setup(inputs, gamma, axes, epsilon):
    from ..basic import as_tensor_variable

    inputs = as_tensor_variable(inputs)
    ndim = inputs.type.ndim
    axes, non_bc = _prepare_axes(axes, ndim)
    gamma_ndim = as_tensor_variable(gamma).type.ndim
    params_ndim = ndim if gamma_ndim == ndim else len(non_bc)
    if not hasattr(epsilon, "type") and not float(epsilon) > 0:  # a symbolic epsilon is not checked
        raise ValueError("epsilon must be positive, got %r" % (epsilon,))
    return inputs, ndim, axes, non_bc, params_ndim


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4, running_average_factor=0.1,
                              running_mean=None, running_var=None):  # fmt: skip
    """Batch-normalize ``inputs`` with the mean and variance of the batch over ``axes``.

    Parameters
    ----------
    inputs : tensor
    gamma, beta : tensors
        Scale and shift: either ``inputs.ndim - len(axes)`` dims (the
        non-normalized axes) or ``inputs.ndim`` dims with length 1 along ``axes``.
    axes : 'per-activation', 'spatial' or tuple of ints
        'per-activation' is ``(0,)``; 'spatial' is ``(0, 2, 3, ...)``.
    epsilon : float
        Added to the variance (any positive value; Theano required >= 1e-5).
    running_average_factor : float or scalar tensor
    running_mean, running_var : tensors, optional
        Shaped like ``gamma``; give both or neither.

    Returns
    -------
    out, mean, invstd[, new_running_mean, new_running_var]
        ``mean`` and ``invstd = 1 / sqrt(var + epsilon)`` are shaped like ``gamma``.
        ``new_running_mean = running_mean * (1 - f) + mean * f`` and
        ``new_running_var = running_var * (1 - f) + m / (m - 1) * var * f``
        (the unbiased variance over the ``m`` elements of a group, as cuDNN).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, g, b = T.dmatrix('x'), T.dvector('g'), T.dvector('b')
    >>> out, mean, invstd = T.nnet.bn.batch_normalization_train(x, g, b)
    >>> out.eval({x: [[1., 2.], [3., 6.]], g: [1., 1.], b: [0., 0.]}).round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    inputs, ndim, axes, non_bc, params_ndim = _setup(inputs, gamma, axes, epsilon)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be given or both be None")
    p = [_params(n, v, ndim, axes, non_bc, params_ndim) for n, v in (("gamma", gamma), ("beta", beta))]
    running = []
    if running_mean is not None:
        running = [_params(n, v, ndim, axes, non_bc, params_ndim)
                   for n, v in (("running_mean", running_mean), ("running_var", running_var))]  # fmt: skip
    results = AbstractBatchNormTrain(axes)(inputs, p[0], p[1], epsilon, running_average_factor, *running)
    if params_ndim != ndim:  # drop the broadcast dims again (except from the output)
        results = [results[0]] + [r.dimshuffle(non_bc) for r in results[1:]]
    return tuple(results)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation", epsilon=1e-4):
    """Batch-normalize ``inputs`` with given statistics: ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta``.

    ``gamma``, ``beta``, ``mean`` and ``var`` are shaped as in :func:`batch_normalization_train`.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, g, b, m, v = T.dmatrix('x'), T.dvector('g'), T.dvector('b'), T.dvector('m'), T.dvector('v')
    >>> out = T.nnet.bn.batch_normalization_test(x, g, b, m, v, epsilon=1e-4)
    >>> out.eval({x: [[3.]], g: [2.], b: [1.], m: [1.], v: [4. - 1e-4]})
    array([[3.]])
    """
    inputs, ndim, axes, non_bc, params_ndim = _setup(inputs, gamma, axes, epsilon)
    p = [_params(n, v, ndim, axes, non_bc, params_ndim)
         for n, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]  # fmt: skip
    return AbstractBatchNormInference(axes)(inputs, *p, epsilon)


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """``(inputs - mean) * (gamma / std) + beta``, all broadcast elementwise (Theano's formula).

    ``mode`` ('low_mem' or 'high_mem') only chose Theano's kernel; both give the same graph here.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.bn.batch_normalization(x, 2., 1., 3., 4.).eval({x: [5.]})
    array([2.])
    """
    from ..basic import as_tensor_variable

    if mode not in ("low_mem", "high_mem"):
        raise ValueError('mode must be either "low_mem", "high_mem"')
    inputs, gamma, beta, mean, std = (as_tensor_variable(v) for v in (inputs, gamma, beta, mean, std))
    return (inputs - mean) * (gamma / std) + beta


__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test", "AbstractBatchNormTrain",
           "AbstractBatchNormTrainGrad", "AbstractBatchNormInference"]  # fmt: skip
