"""ONNX for LSTM, GRU and SimpleRNN through ONNX's own recurrent operators.

nettrain keeps ``W`` (in, k*units), ``U`` (units, k*units) and one bias ``b``; ONNX wants
``W`` (1, k*units, in), ``R`` (1, k*units, units) and ``B`` (1, 2*k*units) = input bias then
recurrent bias (here zero).  The gate order differs for the LSTM: nettrain's i, f, g, o is ONNX's
i, o, f, c.  The GRU's (z, r, candidate with the reset before ``U``) is ONNX's ``linear_before_reset=0``.
"""

import numpy as np

from .builder import UnsupportedOpError

__all__ = ["CONVERTERS"]

_RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}


def _gates(a, units, order):
    """Reorder the gate blocks of the last axis of ``a``."""
    return np.concatenate([a[..., i * units:(i + 1) * units] for i in order], axis=-1)


def recurrent(g, layer, x, shape):
    from ..layers.misc import _ACTIVATIONS
    from ..layers.recurrent import GRU, LSTM

    base, n = layer.path(), layer.units
    W, U, b = (p.get_value() for p in (layer.W, layer.U, layer.b))
    if (g.float_dtype or W.dtype) != np.float32:
        raise UnsupportedOpError("cannot export %s %r in %s: ONNX Runtime's %s operator runs float32 only; export "
                                 "with dtype='float32' (nettrain export --dtype float32)"
                                 % (type(layer).__name__, base, g.float_dtype or W.dtype, type(layer).__name__))
    attrs = {}
    if isinstance(layer, LSTM):
        op, order = "LSTM", [0, 3, 1, 2]
    elif isinstance(layer, GRU):
        op, order = "GRU", [0, 1, 2]
        attrs["linear_before_reset"] = 0
    else:
        op, order = "RNN", [0]
        act = layer.activation if isinstance(layer.activation, str) else next(
            (k for k, fn in _ACTIVATIONS.items() if fn is layer.activation), None)
        if act not in _RNN_ACTIVATIONS:
            raise UnsupportedOpError("cannot export SimpleRNN %r: activation %r has no ONNX RNN mapping; exportable: %s"
                                     % (base, act, ", ".join(_RNN_ACTIVATIONS)))
        attrs["activations"] = [_RNN_ACTIVATIONS[act]]
    Wo = g.weight(base + ".W", _gates(W, n, order).T[None])
    Ro = g.weight(base + ".U", _gates(U, n, order).T[None])
    Bo = g.weight(base + ".b", np.concatenate([_gates(b, n, order), np.zeros_like(b)])[None])
    if layer.batch_first:
        x = g.node("Transpose", [x], base, perm=[1, 0, 2])
    Y, Y_h = g.node(op, [x, Wo, Ro, Bo], base, outputs=2 if op != "LSTM" else 3, hidden_size=n, **attrs)[:2]
    time, batch = (shape[1], shape[0]) if layer.batch_first else (shape[0], shape[1])
    if not layer.return_sequences:
        return g.node("Squeeze", [Y_h, g.const(base + ".axes", [0])], base), (batch, n)
    y = g.node("Squeeze", [Y, g.const(base + ".axes", [1])], base)  # (time, 1, batch, n) -> (time, batch, n)
    if layer.batch_first:
        return g.node("Transpose", [y], base, perm=[1, 0, 2]), (batch, time, n)
    return y, (time, batch, n)


def CONVERTERS():
    from ..layers import recurrent as R

    return {R.LSTM: recurrent, R.GRU: recurrent, R.SimpleRNN: recurrent}
