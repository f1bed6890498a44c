"""Tensors: types, constructors and every op family, under Theano's names.

``from nettrain import tensor as T`` gives ``T.dmatrix``, ``T.dot``,
``T.grad``, ``T.nnet.softmax`` and the rest.
"""

from . import elemwise, scalar_op  # noqa: F401
from . import sort, var  # noqa: F401  (modules first: the functions T.sort, T.var imported below take the names)
from .alloc import *  # noqa: F401,F403
from .basic import *  # noqa: F401,F403
from .elemwise import DimShuffle, Elemwise, transpose  # noqa: F401
from .extra_ops import *  # noqa: F401,F403
from .gradient import *  # noqa: F401,F403
from .join import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .math import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .sort import *  # noqa: F401,F403
from .subtensor import *  # noqa: F401,F403
from .type import TensorType  # noqa: F401
from .variable import TensorConstant, TensorSharedVariable, TensorVariable  # noqa: F401
from ..graph.basic import Apply, Constant, Variable  # noqa: F401  (Theano's T.Variable, T.Constant)

from . import nnet  # noqa: E402,F401  (T.nnet.sigmoid, ...)
from . import signal  # noqa: E402,F401
from . import xlogx  # noqa: E402,F401  (Theano's T.xlogx.xlogx / xlogy0)
from . import rewriting  # noqa: E402,F401  (registers the rewrites)
from . import random, shared_randomstreams  # noqa: E402,F401  (registers the shared Generator constructor)
