"""ONNX for BatchNorm (inference mode: the running statistics) and LayerNorm, written as plain arithmetic.

Both are spelled out as ``(x - mean) / sqrt(var + eps) * gamma + beta`` in nettrain's own order of
operations, so that the exported model matches nettrain's float32 results to rounding.
"""

import numpy as np

__all__ = ["CONVERTERS"]


def _bc(values, ndim, axis):
    """``values`` (n,) reshaped to broadcast along every axis but ``axis``."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.asarray(values).reshape(shape)


def batch_norm(g, layer, x, shape):
    ndim, base = len(shape), layer.path()
    axis = layer.axis % ndim
    mu = g.weight(base + ".running_mean", _bc(layer.running_mean.get_value(), ndim, axis))
    var = layer.running_var.get_value()
    eps = np.asarray(layer.epsilon, dtype=var.dtype)
    std = g.weight(base + ".std", _bc(np.sqrt(var + eps), ndim, axis))  # what nettrain computes per call
    y = g.node("Div", [g.node("Sub", [x, mu], base), std], base)
    if layer.gamma is not None:
        y = g.node("Mul", [y, g.weight(base + ".gamma", _bc(layer.gamma.get_value(), ndim, axis))], base)
    if layer.beta is not None:
        y = g.node("Add", [y, g.weight(base + ".beta", _bc(layer.beta.get_value(), ndim, axis))], base)
    return y, shape


def layer_norm(g, layer, x, shape):
    base = layer.path()
    gamma = layer.gamma.get_value()
    if g.opset >= 18:
        def mean(v):
            return g.node("ReduceMean", [v, g.const(base + ".axes", [-1])], base, keepdims=1)
    else:
        def mean(v):
            return g.node("ReduceMean", [v], base, axes=[-1], keepdims=1)
    mu = mean(x)
    d = g.node("Sub", [x, mu], base)
    var = mean(g.node("Mul", [d, d], base))
    eps = g.weight(base + ".epsilon", np.asarray(layer.epsilon, dtype=gamma.dtype))
    y = g.node("Div", [d, g.node("Sqrt", [g.node("Add", [var, eps], base)], base)], base)
    y = g.node("Mul", [y, g.weight(base + ".gamma", gamma)], base)
    return g.node("Add", [y, g.weight(base + ".beta", layer.beta.get_value())], base), shape


def CONVERTERS():
    from ..layers import normalization as N

    return {N.BatchNorm: batch_norm, N.LayerNorm: layer_norm}
