"""ONNX for the activation functions of :mod:`nettrain.layers.misc` (by name or by the function itself)."""

from ..tensor.nnet.activations import SELU_ALPHA, SELU_SCALE
from .builder import UnsupportedOpError

__all__ = ["activation", "ACTIVATIONS"]


def _leaky(g, x, base):
    return g.node("LeakyRelu", [x], base, alpha=0.01)


def _selu(g, x, base):
    return g.node("Selu", [x], base, alpha=float(SELU_ALPHA), gamma=float(SELU_SCALE))


def _log_softmax(g, x, base):
    return g.node("LogSoftmax", [x], base, axis=-1)


def _softmax(g, x, base):
    return g.node("Softmax", [x], base, axis=-1)


def _simple(op, **attrs):
    return lambda g, x, base: g.node(op, [x], base, **attrs)


#: activation name -> converter(builder, input name, base name) -> output name
ACTIVATIONS = {
    "linear": lambda g, x, base: x,
    "relu": _simple("Relu"),
    "tanh": _simple("Tanh"),
    "sigmoid": _simple("Sigmoid"),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "elu": _simple("Elu", alpha=1.0),
    "selu": _selu,
    "softplus": _simple("Softplus"),
    "softsign": _simple("Softsign"),
    "hard_sigmoid": _simple("HardSigmoid", alpha=0.2, beta=0.5),
    "leaky_relu": _leaky,
    "exp": _simple("Exp"),
}


def activation(g, x, spec, where):
    """Apply the activation ``spec`` (a name, one of nettrain's activation functions, or None)."""
    from ..layers.misc import _ACTIVATIONS, _identity

    if spec is None or spec is _identity:
        return x
    name = None
    if isinstance(spec, str):
        name = spec.lower()
    else:
        name = next((k for k, fn in _ACTIVATIONS.items() if fn is spec), None)
    if name not in ACTIVATIONS:
        label = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
        raise UnsupportedOpError("cannot export %s: its activation %r has no ONNX mapping; exportable activations: %s"
                                 % (where, label, ", ".join(sorted(ACTIVATIONS))))
    return ACTIVATIONS[name](g, x, where.split()[-1].strip("'"))
