"""ONNX for Conv2D, MaxPool2D, AvgPool2D and GlobalAvgPool (NCHW, cross-correlation like nettrain's layers)."""

from ..layers.conv import _out_len
from .activations import activation

__all__ = ["CONVERTERS"]


def conv2d(g, layer, x, shape):
    inputs = [x, g.weight(layer.path() + ".W", layer.W.get_value(borrow=True))]
    if layer.b is not None:
        inputs.append(g.weight(layer.path() + ".b", layer.b.get_value(borrow=True)))
    ph, pw = layer.pad
    y = g.node("Conv", inputs, layer.path(), kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
               pads=[ph, pw, ph, pw], dilations=list(layer.dilation), group=layer.groups)
    out = layer.output_shape(shape)
    return activation(g, y, layer.activation, "Conv2D %r" % layer.path()), out


def pool2d(g, layer, x, shape):
    ph, pw = layer.padding
    attrs = dict(kernel_shape=list(layer.pool_size), strides=list(layer.stride), pads=[ph, pw, ph, pw])
    if layer.mode == "max":
        y = g.node("MaxPool", [x], layer.path(), **attrs)
    else:
        y = g.node("AveragePool", [x], layer.path(), count_include_pad=int(layer.mode == "average_inc_pad"), **attrs)
    out = tuple(shape[:2]) + tuple(None if n is None else _out_len(n, k, s, p) for n, k, s, p in
                                   zip(shape[2:], layer.pool_size, layer.stride, layer.padding))
    return y, out


def global_avg_pool(g, layer, x, shape):
    axes = list(range(2, len(shape)))
    if g.opset >= 18:
        y = g.node("ReduceMean", [x, g.const(layer.path() + ".axes", axes)], layer.path(), keepdims=0)
    else:
        y = g.node("ReduceMean", [x], layer.path(), axes=axes, keepdims=0)
    return y, tuple(shape[:2])


def CONVERTERS():
    from ..layers import conv as C

    return {C.Conv2D: conv2d, C.MaxPool2D: pool2d, C.AvgPool2D: pool2d, C.GlobalAvgPool: global_avg_pool}
