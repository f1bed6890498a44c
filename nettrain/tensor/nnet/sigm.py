"""Theano path ``theano.tensor.nnet.sigm``: sigmoid, its fast approximations and softplus."""

from ..math import sigmoid, softplus  # noqa: F401
from .activations import hard_sigmoid, ultra_fast_sigmoid  # noqa: F401
