"""Convolution and pooling layers for NCHW images: Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool.

Images are ``(batch, channels, rows, cols)``. ``Conv2D`` computes a
cross-correlation (no filter flip), like Keras and PyTorch, so weights can be
exchanged with them; its filters have shape ``(filters, in_channels // groups,
kh, kw)``. Every layer states its output's static shape, so a following
``Flatten`` + ``Dense`` can infer its input size.
"""

import numpy as np

from ..tensor.basic import as_tensor_variable
from ..tensor.nnet.conv import conv2d
from ..tensor.reduction import mean
from ..tensor.shape import specify_shape
from ..tensor.signal.pool import pool_2d
from . import init as _init
from .base import Layer
from .dense import static_dim
from .misc import get_activation

_RELU_LIKE = ("relu", "leaky_relu", "elu", "selu")


def _pair(value, what, minimum=1):
    """``(a, b)`` from an int or a pair of ints, each at least ``minimum``."""
    def ok(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum

    pair = (value, value) if ok(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(ok(v) for v in pair):
        raise ValueError("%s must be an int >= %d or a pair of them, got %r" % (what, minimum, value))
    return tuple(int(v) for v in pair)


def _out_len(n, k, stride, pad, dilation=1):
    """Output length of a window of ``k`` taps (``dilation`` apart) sliding over ``n`` + 2 ``pad`` entries."""
    if n is None:
        return None
    return (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def _check_image(x, what):
    x = as_tensor_variable(x)
    if x.type.ndim != 4:
        raise ValueError("%s expects a 4-d (batch, channels, rows, cols) input, got %s" % (what, x.type))
    return x


class Conv2D(Layer):
    """2-d convolution ``activation(conv(x, W) + b)`` over NCHW images.

    Parameters
    ----------
    filters : int
        Output channels.
    kernel_size : int or (int, int)
    stride : int or (int, int)
    padding : 'valid', 'same', 'full', int or (int, int)
        ``'same'`` keeps ``rows, cols`` (divided by the stride, rounded up); it needs an odd
        effective kernel ``dilation * (k - 1) + 1``. ``'full'`` pads ``dilation * (k - 1)``.
    dilation : int or (int, int)
    groups : int
        Channels are split into ``groups`` independent convolutions (both ``in_channels``
        and ``filters`` must be divisible by it).
    activation : str or callable, optional
    W_init : initializer, optional
        Default: ``HeUniform`` for ReLU-like activations, else ``GlorotUniform``.
    b_init : initializer or number
    use_bias : bool
    in_channels : int, optional
        Read from the input's static shape when omitted.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Conv2D
    >>> conv = Conv2D(4, 3, padding='same', activation='relu', seed=0)
    >>> x = T.tensor('float32', shape=(None, 2, 8, 8), name='x')
    >>> y = conv(x)
    >>> y.type.shape, sorted(conv.named_params())
    ((None, 4, 8, 8), ['W', 'b'])
    >>> theano.function([x], y)(np.zeros((1, 2, 8, 8), 'float32')).shape
    (1, 4, 8, 8)
    """

    def __init__(self, filters, kernel_size, stride=1, padding="valid", dilation=1, groups=1, activation=None,
                 W_init=None, b_init=0.0, use_bias=True, in_channels=None, name=None, seed=None,
                 dtype=None):  # fmt: skip
        super().__init__(name=name, seed=seed, dtype=dtype)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError("Conv2D: filters must be a positive int, got %r" % (filters,))
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0 or filters % groups:
            raise ValueError("Conv2D: groups must be a positive int dividing filters=%d, got %r" % (filters, groups))
        self.filters, self.groups = int(filters), int(groups)
        self.kernel_size = _pair(kernel_size, "Conv2D kernel_size")
        self.stride = _pair(stride, "Conv2D stride")
        self.dilation = _pair(dilation, "Conv2D dilation")
        self.padding = padding
        self.pad = self._resolve_padding(padding)
        self.activation = activation
        self._act = get_activation(activation)
        if W_init is None:
            relu_like = isinstance(activation, str) and activation.lower() in _RELU_LIKE
            W_init = _init.HeUniform() if relu_like else _init.GlorotUniform()
        self.W_init, self.b_init, self.use_bias = W_init, b_init, bool(use_bias)
        self.in_channels = None
        self.W = self.b = None
        if in_channels is not None:
            self.build(int(in_channels))

    def _resolve_padding(self, padding):
        """Zero padding ``(rows, cols)`` added on each side."""
        effective = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation)]
        if padding == "valid":
            return (0, 0)
        if padding == "full":
            return tuple(e - 1 for e in effective)
        if padding == "same":
            if any(e % 2 == 0 for e in effective):
                raise ValueError("Conv2D: padding='same' needs an odd effective kernel size (dilation * (k - 1) + 1), "
                                 "got %s; pad explicitly with an int instead" % (tuple(effective),))
            return tuple(e // 2 for e in effective)
        if isinstance(padding, str):
            raise ValueError("Conv2D: padding must be 'valid', 'same', 'full', an int or a pair, got %r" % (padding,))
        return _pair(padding, "Conv2D padding", minimum=0)

    def build(self, in_channels, dtype=None):
        """Create ``W`` (``(filters, in_channels // groups, kh, kw)``) and ``b`` for ``in_channels`` inputs."""
        if in_channels <= 0 or in_channels % self.groups:
            raise ValueError("Conv2D: in_channels=%d must be positive and divisible by groups=%d"
                             % (in_channels, self.groups))  # fmt: skip
        if self.dtype is None and dtype is not None:
            self.dtype = dtype
        self.in_channels = in_channels
        self.W = self.add_param("W", self.W_init, (self.filters, in_channels // self.groups) + self.kernel_size)
        if self.use_bias:
            self.b = self.add_param("b", self.b_init, (self.filters,), regularizable=False)

    def output_shape(self, input_shape):
        """The static output shape for an input of static shape ``input_shape`` (None = unknown)."""
        rows, cols = (_out_len(n, k, s, p, d) for n, k, s, p, d in
                      zip(input_shape[2:], self.kernel_size, self.stride, self.pad, self.dilation))  # fmt: skip
        return (input_shape[0], self.filters, rows, cols)

    def forward(self, x, training=False):
        x = _check_image(x, "Conv2D")
        if self.W is None:
            self.build(static_dim(x, 1, "Conv2D"), self._param_dtype(x))
        self.warn_if_upcast(x)
        c = x.type.shape[1]
        if c is not None and c != self.in_channels:
            raise ValueError("Conv2D %r expects %d input channels, got %s" % (self.path(), self.in_channels, x.type))
        out_shape = self.output_shape(x.type.shape)
        if any(n is not None and n < 1 for n in out_shape[2:]):
            raise ValueError("Conv2D %r: kernel %s does not fit the input %s" % (self.path(), self.kernel_size, x.type))
        y = conv2d(x, self.W, input_shape=x.type.shape, filter_shape=self.W.type.shape,
                   border_mode="valid" if self.pad == (0, 0) else self.pad, subsample=self.stride,
                   filter_flip=False, filter_dilation=self.dilation, num_groups=self.groups)  # fmt: skip
        y = specify_shape(y, out_shape)  # a no-op when the op already knows it
        if self.b is not None:
            y = y + self.b.dimshuffle("x", 0, "x", "x")
        return self._act(y), {}


class _Pool2D(Layer):
    """Shared code of the pooling layers: windows of ``pool_size`` every ``stride``, ``padding`` zeros each side."""

    mode = None

    def __init__(self, pool_size, stride=None, padding=0, name=None):
        super().__init__(name=name)
        what = type(self).__name__
        self.pool_size = _pair(pool_size, what + " pool_size")
        self.stride = self.pool_size if stride is None else _pair(stride, what + " stride")
        self.padding = _pair(padding, what + " padding", minimum=0)
        if any(p >= k for p, k in zip(self.padding, self.pool_size)):
            raise ValueError("%s: padding %s must be smaller than pool_size %s" % (what, self.padding,
                                                                                 self.pool_size))  # fmt: skip

    def forward(self, x, training=False):
        x = _check_image(x, type(self).__name__)
        out_shape = x.type.shape[:2] + tuple(_out_len(n, k, s, p) for n, k, s, p in
                                             zip(x.type.shape[2:], self.pool_size, self.stride, self.padding))
        if any(n is not None and n < 1 for n in out_shape[2:]):
            raise ValueError("%s: pool_size %s does not fit the input %s" % (type(self).__name__, self.pool_size,
                                                                            x.type))  # fmt: skip
        y = pool_2d(x, self.pool_size, ignore_border=True, stride=self.stride, pad=self.padding, mode=self.mode)
        return specify_shape(y, out_shape), {}


class MaxPool2D(_Pool2D):
    """Maximum over ``pool_size`` windows (stride defaults to ``pool_size``; partial windows are dropped).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import MaxPool2D
    >>> x = T.tensor4('x')
    >>> MaxPool2D(2)(x).eval({x: np.arange(16.).reshape(1, 1, 4, 4)})
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    mode = "max"


class AvgPool2D(_Pool2D):
    """Mean over ``pool_size`` windows; with ``include_padding=False`` padded zeros are not counted.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import AvgPool2D
    >>> x = T.tensor4('x')
    >>> AvgPool2D(2)(x).eval({x: np.arange(16.).reshape(1, 1, 4, 4)})
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """

    def __init__(self, pool_size, stride=None, padding=0, include_padding=False, name=None):
        super().__init__(pool_size, stride=stride, padding=padding, name=name)
        self.include_padding = bool(include_padding)
        self.mode = "average_inc_pad" if include_padding else "average_exc_pad"


class GlobalAvgPool(Layer):
    """Mean over the spatial axes: ``(batch, channels, *spatial) -> (batch, channels)``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import GlobalAvgPool
    >>> x = T.tensor4('x')
    >>> GlobalAvgPool()(x).eval({x: np.arange(8.).reshape(1, 2, 2, 2)})
    array([[1.5, 5.5]])
    """

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        if x.type.ndim < 3:
            raise ValueError("GlobalAvgPool expects (batch, channels, *spatial) input, got %s" % x.type)
        return mean(x, axis=tuple(range(2, x.type.ndim))), {}


__all__ = ["Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool"]
