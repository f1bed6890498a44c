"""Theano path ``nettrain.gradient``: gradient functions and helper ops."""

from .graph.grad import (  # noqa: F401
    DisconnectedInputError,
    DisconnectedType,
    Lop,
    NullType,
    NullTypeGradError,
    Rop,
    grad,
    grad_not_implemented,
    grad_undefined,
)
from .tensor.gradient import *  # noqa: F401,F403
from .testing import verify_grad  # noqa: F401,E402  (theano.gradient.verify_grad)
