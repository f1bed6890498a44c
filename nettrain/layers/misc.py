"""Parameter-free layers: activations, Dropout, Flatten, Reshape, Lambda."""

from ..tensor import math as _m
from ..tensor import nnet as _nnet
from ..tensor.basic import as_tensor_variable, cast
from ..tensor.shape import flatten, reshape
from .base import Layer


def _identity(x):
    return x


_ACTIVATIONS = {
    "linear": _identity,
    "relu": _nnet.relu,
    "tanh": _m.tanh,
    "sigmoid": _m.sigmoid,
    "softmax": lambda x: _nnet.softmax(x, axis=-1),
    "log_softmax": lambda x: _nnet.log_softmax(x, axis=-1),
    "elu": _nnet.elu,
    "selu": _nnet.selu,
    "softplus": _m.softplus,
    "softsign": _nnet.softsign,
    "hard_sigmoid": _nnet.hard_sigmoid,
    "leaky_relu": lambda x: _nnet.relu(x, alpha=0.01),
    "exp": _m.exp,
}


def get_activation(spec):
    """The function for an activation name (``'relu'``, ``'tanh'``, ...), a callable, or None (identity)."""
    if spec is None:
        return _identity
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec.lower() in _ACTIVATIONS:
        return _ACTIVATIONS[spec.lower()]
    raise ValueError("unknown activation %r; known: %s (or pass a callable)" % (spec, ", ".join(sorted(_ACTIVATIONS))))


class Activation(Layer):
    """Apply an activation by name or callable.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Activation
    >>> x = T.dvector('x')
    >>> Activation('relu')(x).eval({x: [-1., 2.]})
    array([0., 2.])
    """

    def __init__(self, activation, name=None):
        super().__init__(name=name)
        self.activation = activation
        self._fn = get_activation(activation)

    def forward(self, x, training=False):
        return self._fn(as_tensor_variable(x)), {}


def _named(act, doc):
    cls = type(
        "".join(p.capitalize() for p in act.split("_")).replace("Relu", "ReLU").replace("Elu", "ELU"),
        (Activation,),
        {"__init__": lambda self, name=None: Activation.__init__(self, act, name=name), "__doc__": doc},
    )
    cls.__module__ = __name__
    return cls


ReLU = _named("relu", "``max(x, 0)``.")
LeakyReLU = _named("leaky_relu", "``x if x > 0 else 0.01 * x``.")
Tanh = _named("tanh", "Hyperbolic tangent.")
Sigmoid = _named("sigmoid", "Logistic sigmoid.")
Softmax = _named("softmax", "Softmax over the last axis.")
LogSoftmax = _named("log_softmax", "Log-softmax over the last axis.")
ELU = _named("elu", "Exponential linear unit.")
SELU = _named("selu", "Scaled exponential linear unit.")
Softplus = _named("softplus", "``log(1 + exp(x))``.")


class Dropout(Layer):
    """Zero each entry with probability ``rate`` in training, scaling the rest by ``1 / (1 - rate)``.

    Identity when ``training=False``. The mask comes from a ``RandomStreams``
    generator whose state is a shared variable named ``rng.<layer path>`` with a
    default update, so each call of a compiled training function draws a new mask.

    Parameters
    ----------
    rate : float
        Drop probability in ``[0, 1)``.
    seed : int, optional
        Seeds the mask generator (else derived from a seeded container, else the global initializer generator).
    rng : RandomStreams, optional
        Draw from this stream instead.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Dropout
    >>> x = T.dmatrix('x')
    >>> drop = Dropout(0.5, seed=1)
    >>> f = theano.function([x], drop(x, training=True))
    >>> sorted(set(f(np.ones((4, 4))).ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    """

    def __init__(self, rate, seed=None, rng=None, name=None):
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError("Dropout rate must be in [0, 1), got %r" % (rate,))
        super().__init__(name=name)
        self.rate = float(rate)
        self._stream_seed = seed
        self._srng = rng
        self._calls = 0

    def _streams(self):
        if self._srng is None:
            from ..tensor.random import RandomStreams

            seed = self._stream_seed
            if seed is None:  # follow a seeded container; else the global generator decides
                seed = int(self._rng_for("mask").integers(2**63))
            self._srng = RandomStreams(seed)
        return self._srng

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        if not training or self.rate == 0.0:
            return x, {}
        keep = 1.0 - self.rate
        label = self.path() or self.name or "dropout"
        if self._calls:  # each graph built gets its own generator state
            label = "%s_%d" % (label, self._calls)
        self._calls += 1
        mask = self._streams().binomial(size=x.shape, p=keep, dtype=x.dtype, name=label)
        # Scale by a constant of x's dtype so float32 graphs stay float32.
        return x * mask * cast(1.0 / keep, x.dtype), {}


class Flatten(Layer):
    """Keep the first ``outdim - 1`` axes and flatten the rest (default: to a matrix ``(batch, -1)``)."""

    def __init__(self, outdim=2, name=None):
        super().__init__(name=name)
        self.outdim = int(outdim)

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        if x.type.ndim < self.outdim:
            raise ValueError("Flatten(outdim=%d) needs at least %d dimensions, got %s" % (self.outdim, self.outdim,
                                                                                         x.type))  # fmt: skip
        return flatten(x, self.outdim), {}


class Reshape(Layer):
    """Reshape each example to ``target_shape`` (the batch axis is kept; one entry may be -1).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Reshape
    >>> x = T.dmatrix('x')
    >>> Reshape((2, 3))(x).eval({x: np.zeros((5, 6))}).shape
    (5, 2, 3)
    """

    def __init__(self, target_shape, name=None):
        super().__init__(name=name)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(1 for s in self.target_shape if s == -1) > 1:
            raise ValueError("Reshape: at most one -1 in target_shape, got %s" % (self.target_shape,))

    def forward(self, x, training=False):
        x = as_tensor_variable(x)
        return reshape(x, (x.shape[0],) + self.target_shape, ndim=len(self.target_shape) + 1), {}


class Lambda(Layer):
    """Wrap a function of the input (functional composition inside a ``Sequential``)."""

    def __init__(self, fn, name=None):
        super().__init__(name=name)
        self.fn = fn

    def forward(self, x, training=False):
        return self.fn(x), {}


__all__ = [
    "get_activation", "Activation", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "ELU", "SELU",
    "Softplus", "Dropout", "Flatten", "Reshape", "Lambda",
]  # fmt: skip
