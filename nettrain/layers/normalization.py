"""Batch and layer normalization."""

from ..tensor import math as _m
from ..tensor.basic import as_tensor_variable, cast
from ..tensor.reduction import mean
from .base import Layer
from .dense import static_dim


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy, 2015) over the feature axis.

    Features are along ``axis`` (default 1: the columns of a matrix, the
    channels of an NCHW image); statistics are taken over every other axis.
    In training the batch statistics normalize the input and the returned
    updates move the running statistics:
    ``running = momentum * running + (1 - momentum) * batch`` (the batch
    variance is the biased one, as in Keras). Without training the running
    statistics are used. Nothing is updated behind the user's back: pass the
    updates to ``nettrain.function``.

    Parameters
    ----------
    num_features : int, optional
        Read from the input's static shape when omitted.
    momentum : float
        Weight of the old running value.
    epsilon : float
        Added to the variance.
    center, scale : bool
        Learn ``beta`` / ``gamma``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import BatchNorm
    >>> bn = BatchNorm(num_features=2)
    >>> x = T.dmatrix('x')
    >>> y, updates = bn.forward(x, training=True)
    >>> f = theano.function([x], y, updates=updates)
    >>> f(np.array([[0., 1.], [2., 3.]])).round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> bn.running_mean.get_value()
    array([0.1, 0.2])
    """

    def __init__(self, num_features=None, axis=1, momentum=0.9, epsilon=1e-5, center=True, scale=True, name=None,
                 dtype=None):  # fmt: skip
        super().__init__(name=name, dtype=dtype)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError("BatchNorm: momentum must be in [0, 1], got %r" % (momentum,))
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.gamma = self.beta = self.running_mean = self.running_var = None
        self.num_features = None
        if num_features is not None:
            self.build(int(num_features))

    def build(self, n, dtype=None):
        """Create the parameters and running statistics for ``n`` features."""
        if self.dtype is None and dtype is not None:
            self.dtype = dtype
        self.num_features = n
        if self.scale:
            self.gamma = self.add_param("gamma", 1.0, (n,), regularizable=False)
        if self.center:
            self.beta = self.add_param("beta", 0.0, (n,), regularizable=False)
        self.running_mean = self.add_state("running_mean", 0.0, (n,))
        self.running_var = self.add_state("running_var", 1.0, (n,))

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        ndim = x.type.ndim
        axis = self.axis % ndim if ndim else 0
        if ndim < 2:
            raise ValueError("BatchNorm needs an input with a batch axis and a feature axis, got %s" % x.type)
        if self.running_mean is None:
            self.build(static_dim(x, axis, "BatchNorm"), self._param_dtype(x))
        red = tuple(i for i in range(ndim) if i != axis)
        # (n,) -> broadcastable along every axis but the feature axis
        pattern = ["x"] * ndim
        pattern[axis] = 0

        def bc(v):
            return v.dimshuffle(pattern)

        updates = {}
        if training:
            mu = mean(x, axis=red)
            var = mean(_m.sqr(x - bc(mu)), axis=red)
            m = self.momentum
            dt = self.running_mean.type.dtype
            updates[self.running_mean] = cast(m * self.running_mean + (1.0 - m) * cast(mu, dt), dt)
            updates[self.running_var] = cast(m * self.running_var + (1.0 - m) * cast(var, dt), dt)
        else:
            mu, var = self.running_mean, self.running_var
        y = (x - bc(mu)) / _m.sqrt(bc(var) + self.epsilon)
        if self.gamma is not None:
            y = y * bc(self.gamma)
        if self.beta is not None:
            y = y + bc(self.beta)
        return y, updates


class LayerNorm(Layer):
    """Layer normalization (Ba et al., 2016) over the last axis, with learned ``gamma`` and ``beta``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import LayerNorm
    >>> x = T.dmatrix('x')
    >>> LayerNorm(2)(x).eval({x: np.array([[1., 3.]])}).round(3)
    array([[-1.,  1.]])
    """

    def __init__(self, num_features=None, epsilon=1e-5, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.epsilon = float(epsilon)
        self.gamma = self.beta = None
        if num_features is not None:
            self.build(int(num_features))

    def build(self, n, dtype=None):
        """Create ``gamma`` and ``beta`` for ``n`` features."""
        if self.dtype is None and dtype is not None:
            self.dtype = dtype
        self.gamma = self.add_param("gamma", 1.0, (n,), regularizable=False)
        self.beta = self.add_param("beta", 0.0, (n,), regularizable=False)

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        if x.type.ndim < 1:
            raise ValueError("LayerNorm needs at least one dimension, got %s" % x.type)
        if self.gamma is None:
            self.build(static_dim(x, -1, "LayerNorm"), self._param_dtype(x))
        mu = mean(x, axis=-1, keepdims=True)
        var = mean(_m.sqr(x - mu), axis=-1, keepdims=True)
        return (x - mu) / _m.sqrt(var + self.epsilon) * self.gamma + self.beta, {}


__all__ = ["BatchNorm", "LayerNorm"]
