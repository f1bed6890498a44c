"""``T.nnet``: neural-network ops (sigmoid, softmax, crossentropies, ...).

``sigmoid`` and ``softplus`` live in :mod:`nettrain.tensor.math` and are
re-exported here under Theano's import path.
"""

from ..math import sigmoid, softplus  # noqa: F401
from .activations import *  # noqa: F401,F403
from .crossentropy import *  # noqa: F401,F403
from .softmax_ops import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from . import abstract_conv, bn, nnet, sigm  # noqa: F401  (Theano's module paths)
