"""Dense (fully connected) and Embedding layers."""

from ..tensor.basic import as_tensor_variable
from ..tensor.shape import reshape
from . import init as _init
from .base import Layer
from .misc import get_activation


def static_dim(x, axis, what):
    """The static length of ``x``'s axis ``axis``, or raise asking for it explicitly."""
    n = x.type.shape[axis]
    if n is None:
        raise ValueError(
            "%s: cannot infer the input size from %s (axis %d has unknown length); pass it explicitly "
            "or give the input a static shape, e.g. T.tensor('float32', shape=(None, 784))" % (what, x.type, axis)
        )
    return int(n)


class Dense(Layer):
    """Fully connected layer ``activation(x @ W + b)``.

    Parameters
    ----------
    units : int
        Number of outputs.
    activation : str or callable, optional
        ``'relu'``, ``'tanh'``, ``'softmax'``, ... (None: linear).
    W_init, b_init : initializer, number or array
        ``W`` has shape ``(in_units, units)``; ``b_init=None`` means no bias.
    in_units : int, optional
        Input size; if omitted it is read from the input's static shape on the first call.

    Inputs with more than two dimensions are multiplied along their last axis.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Dense
    >>> layer = Dense(2, in_units=3, W_init=1.0, b_init=0.5)
    >>> x = T.dmatrix('x')
    >>> theano.function([x], layer(x))(np.ones((1, 3)))
    array([[3.5, 3.5]])
    >>> sorted(layer.named_params())
    ['W', 'b']
    """

    def __init__(self, units, activation=None, W_init=None, b_init=0.0, in_units=None, name=None, seed=None,
                 dtype=None):  # fmt: skip
        super().__init__(name=name, seed=seed, dtype=dtype)
        if int(units) <= 0:
            raise ValueError("Dense: units must be positive, got %r" % (units,))
        self.units = int(units)
        self.activation = activation
        self._act = get_activation(activation)
        self.W_init = _init.GlorotUniform() if W_init is None else W_init
        self.b_init = b_init
        self.in_units = None
        self.W = self.b = None
        if in_units is not None:
            self.build(int(in_units))

    def build(self, in_units, dtype=None):
        """Create ``W`` and ``b`` for ``in_units`` inputs."""
        if self.dtype is None and dtype is not None:
            self.dtype = dtype
        self.in_units = in_units
        self.W = self.add_param("W", self.W_init, (in_units, self.units))
        if self.b_init is not None:
            self.b = self.add_param("b", self.b_init, (self.units,), regularizable=False)

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        if x.type.ndim < 1:
            raise ValueError("Dense: the input must have at least one dimension, got %s" % x.type)
        if self.W is None:
            self.build(static_dim(x, -1, "Dense"), self._param_dtype(x))
        self.warn_if_upcast(x)
        n = x.type.shape[-1]
        if n is not None and n != self.in_units:
            raise ValueError("Dense %r expects %d input features, got %s" % (self.path(), self.in_units, x.type))
        if x.type.ndim <= 2:
            y = x @ self.W
        else:  # (..., in) -> (-1, in) @ W -> (..., units)
            lead = [x.shape[i] for i in range(x.type.ndim - 1)]
            y = reshape(reshape(x, (-1, self.in_units), ndim=2) @ self.W, lead + [self.units], ndim=x.type.ndim)
        if self.b is not None:
            y = y + self.b
        return self._act(y), {}


class Embedding(Layer):
    """Lookup table: integer indices of any shape -> vectors of length ``dim``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Embedding
    >>> emb = Embedding(10, 4, seed=0)
    >>> i = T.imatrix('i')
    >>> emb(i).eval({i: np.zeros((2, 3), dtype='int32')}).shape
    (2, 3, 4)
    """

    def __init__(self, vocab, dim, W_init=None, name=None, seed=None, dtype=None):
        super().__init__(name=name, seed=seed, dtype=dtype)
        self.vocab, self.dim = int(vocab), int(dim)
        self.W = self.add_param("W", _init.Normal(0.05) if W_init is None else W_init, (self.vocab, self.dim))

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        if not x.type.dtype.startswith(("int", "uint")):
            raise TypeError("Embedding: the input must hold integer indices, got %s" % x.type)
        return self.W[x], {}


__all__ = ["Dense", "Embedding"]
