"""Recurrent layers (SimpleRNN, LSTM, GRU) looping with ``nettrain.scan``.

Inputs are ``(time, batch, features)``, or ``(batch, time, features)`` with
``batch_first=True``. The input projection of every step is computed before
the loop as one matrix product; the loop only does the recurrent part.
"""

from ..scan_module import scan
from ..tensor import math as _m
from ..tensor.basic import as_tensor_variable
from ..tensor.alloc import zeros
from ..tensor.shape import reshape
from . import init as _init
from .base import Layer
from .dense import static_dim
from .misc import get_activation


class _Recurrent(Layer):
    """Shared machinery: parameters ``W`` (in, k*units), ``U`` (units, k*units), ``b`` (k*units,)."""

    n_gates = 1

    def __init__(self, units, in_units=None, return_sequences=False, batch_first=False, W_init=None, U_init=None,
                 b_init=0.0, name=None, seed=None, dtype=None):  # fmt: skip
        super().__init__(name=name, seed=seed, dtype=dtype)
        self.units = int(units)
        self.return_sequences, self.batch_first = return_sequences, batch_first
        self.W_init = _init.GlorotUniform() if W_init is None else W_init
        self.U_init = _init.Orthogonal() if U_init is None else U_init
        self.b_init = b_init
        self.W = self.U = self.b = None
        self.in_units = None
        if in_units is not None:
            self.build(int(in_units))

    def build(self, in_units, dtype=None):
        """Create the weights for ``in_units`` input features."""
        if self.dtype is None and dtype is not None:
            self.dtype = dtype
        k = self.n_gates * self.units
        self.in_units = in_units
        self.W = self.add_param("W", self.W_init, (in_units, k))
        self.U = self.add_param("U", self.U_init, (self.units, k))
        self.b = self.add_param("b", self._bias_init(), (k,), regularizable=False)

    def _bias_init(self):
        return self.b_init

    def forward(self, x, training=False, initial_state=None):
        """``(outputs, {})``: the last state ``(batch, units)``, or every state ``(time, batch, units)``
        (``(batch, time, units)`` with ``batch_first``) when ``return_sequences``."""
        x = as_tensor_variable(x)
        if x.type.ndim != 3:
            raise ValueError("%s expects a 3-d input (time, batch, features), got %s" % (type(self).__name__, x.type))
        if self.batch_first:
            x = x.dimshuffle(1, 0, 2)
        if self.W is None:
            self.build(static_dim(x, 2, type(self).__name__), self._param_dtype(x))
        steps, batch = x.shape[0], x.shape[1]
        k = self.n_gates * self.units
        # Input projections for all steps at once: (time * batch, in) @ W.
        xw = reshape(reshape(x, (-1, self.in_units), ndim=2) @ self.W + self.b, (steps, batch, k), ndim=3)
        init = self._initial(batch, initial_state)
        outs, _ = scan(self._step, sequences=[xw], outputs_info=init, non_sequences=[self.U],
                       name=self.path() or type(self).__name__.lower())  # fmt: skip
        h = outs[0] if isinstance(outs, (list, tuple)) else outs
        if not self.return_sequences:
            return h[-1], {}
        return (h.dimshuffle(1, 0, 2) if self.batch_first else h), {}

    def _initial(self, batch, initial_state):
        if initial_state is None:
            return [zeros((batch, self.units), dtype=self.W.type.dtype)]
        return [as_tensor_variable(initial_state)]


class _ForgetBias(_init.Initializer):
    """``base`` plus 1 on the forget-gate slice (kept by ``Layer.initialize``)."""

    def __init__(self, base, units):
        super().__init__()
        self.base, self.units = base, units

    def sample(self, shape, rng):
        b = Layer._sample(self.base, shape, "float64", rng)
        b[self.units : 2 * self.units] += 1.0
        return b


class SimpleRNN(_Recurrent):
    """``h_t = activation(x_t @ W + h_{t-1} @ U + b)``, starting from ``h_0 = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import SimpleRNN
    >>> rnn = SimpleRNN(4, in_units=3, seed=0, return_sequences=True)
    >>> x = T.tensor3('x')
    >>> rnn(x).eval({x: np.zeros((5, 2, 3))}).shape
    (5, 2, 4)
    """

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = activation
        self._act = get_activation(activation)

    def _step(self, xw_t, h, U):
        return self._act(xw_t + h @ U)


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), gates in the order input, forget, cell, output::

        i, f, g, o = sigmoid(.), sigmoid(.), tanh(.), sigmoid(.)   of  x_t @ W + h_{t-1} @ U + b
        c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

    ``unit_forget_bias=True`` starts the forget-gate bias at 1. ``initial_state`` is ``(h0, c0)``.
    """

    n_gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = unit_forget_bias
        super().__init__(units, **kwargs)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.b_init
        return _ForgetBias(_init.resolve(self.b_init), self.units)

    def _initial(self, batch, initial_state):
        if initial_state is None:
            z = zeros((batch, self.units), dtype=self.W.type.dtype)
            return [z, z]
        return [as_tensor_variable(s) for s in initial_state]

    def _step(self, xw_t, h, c, U):
        n = self.units
        z = xw_t + h @ U
        i, f = _m.sigmoid(z[:, :n]), _m.sigmoid(z[:, n : 2 * n])
        g, o = _m.tanh(z[:, 2 * n : 3 * n]), _m.sigmoid(z[:, 3 * n :])
        c_new = f * c + i * g
        return [o * _m.tanh(c_new), c_new]


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014), gates in the order update, reset, candidate::

        z = sigmoid(x W_z + h U_z + b_z);  r = sigmoid(x W_r + h U_r + b_r)
        n = tanh(x W_n + (r * h) U_n + b_n);  h_t = z * h_{t-1} + (1 - z) * n

    (the reset gate applies before ``U_n``, Keras' ``reset_after=False``).
    """

    n_gates = 3

    def _step(self, xw_t, h, U):
        n = self.units
        zr = xw_t[:, : 2 * n] + h @ U[:, : 2 * n]
        z, r = _m.sigmoid(zr[:, :n]), _m.sigmoid(zr[:, n:])
        cand = _m.tanh(xw_t[:, 2 * n :] + (r * h) @ U[:, 2 * n :])
        return z * h + (1.0 - z) * cand


__all__ = ["SimpleRNN", "LSTM", "GRU"]
