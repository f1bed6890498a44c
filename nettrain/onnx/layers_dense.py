"""ONNX for Dense, Embedding, Dropout, Flatten, Reshape and Activation layers."""

import numpy as np

from .activations import activation

__all__ = ["CONVERTERS"]


def _w(layer, p):
    return p.get_value(borrow=True)


def dense(g, layer, x, shape):
    W = g.weight(layer.path() + ".W", _w(layer, layer.W))
    y = g.node("MatMul", [x, W], layer.path())  # (..., in) @ (in, units): MatMul broadcasts the leading axes
    if layer.b is not None:
        y = g.node("Add", [y, g.weight(layer.path() + ".b", _w(layer, layer.b))], layer.path())
    return activation(g, y, layer.activation, "Dense %r" % layer.path()), tuple(shape[:-1]) + (layer.units,)


def embedding(g, layer, x, shape):
    W = g.weight(layer.path() + ".W", _w(layer, layer.W))
    idx = g.node("Cast", [x], layer.path(), to=7)  # int64 indices
    return g.node("Gather", [W, idx], layer.path(), axis=0), tuple(shape) + (layer.dim,)


def identity(g, layer, x, shape):
    return x, shape  # Dropout in inference mode


def flatten(g, layer, x, shape):
    keep = layer.outdim - 1
    rest = shape[keep:]
    n = int(np.prod(rest)) if all(d is not None for d in rest) else -1
    target = [0] * keep + [n]  # 0: copy that axis from the input
    y = g.node("Reshape", [x, g.const(layer.path() + ".shape", target)], layer.path())
    return y, tuple(shape[:keep]) + (None if n < 0 else n,)


def reshape(g, layer, x, shape):
    target = [0] + list(layer.target_shape)
    y = g.node("Reshape", [x, g.const(layer.path() + ".shape", target)], layer.path())
    return y, (shape[0],) + tuple(None if d == -1 else d for d in layer.target_shape)


def activation_layer(g, layer, x, shape):
    return activation(g, x, layer.activation, "%s %r" % (type(layer).__name__, layer.path())), shape


def _converters():
    from ..layers import dense as D
    from ..layers import misc as M

    return {D.Dense: dense, D.Embedding: embedding, M.Dropout: identity, M.Flatten: flatten, M.Reshape: reshape,
            M.Activation: activation_layer}


CONVERTERS = _converters
