"""Theano path ``theano.tensor.nnet.nnet``: the activations, softmaxes and crossentropies (real code beside it)."""

from ..math import sigmoid, softplus  # noqa: F401
from .activations import *  # noqa: F401,F403
from .crossentropy import *  # noqa: F401,F403
from .softmax_ops import *  # noqa: F401,F403
