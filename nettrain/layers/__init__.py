"""Layers: parameters as tagged shared variables with dotted names, explicit updates.

Use them the Lasagne way (build expressions, collect ``params()``, call
``nettrain.function``) or through the Trainer::

    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain import layers as L
    >>> model = L.Sequential([L.Dense(8, in_units=4, activation='relu'), L.Dense(3)], seed=0)
    >>> x = T.dmatrix('x')
    >>> f = theano.function([x], model(x))
    >>> f(np.zeros((2, 4))).shape
    (2, 3)
    >>> list(model.named_params())
    ['dense0.W', 'dense0.b', 'dense1.W', 'dense1.b']
"""

from . import init  # noqa: F401
from .base import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .misc import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .base import __all__ as _base_all
from .dense import __all__ as _dense_all
from .misc import __all__ as _misc_all
from .normalization import __all__ as _norm_all
from .recurrent import __all__ as _rec_all
from .conv import __all__ as _conv_all

__all__ = ["init"] + _base_all + _dense_all + _misc_all + _norm_all + _rec_all + _conv_all
