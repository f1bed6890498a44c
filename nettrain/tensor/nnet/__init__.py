"""``T.nnet``: neural-network ops (sigmoid, softmax, crossentropies, ...)."""

from ..math import sigmoid, softplus  # noqa: F401
