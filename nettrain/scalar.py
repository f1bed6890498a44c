"""Theano path ``nettrain.scalar``: the scalar ops that Elemwise maps, and ``upcast``.

>>> import nettrain as theano
>>> theano.scalar.upcast("float32", "float64")
'float64'
"""

from .tensor.scalar_op import *  # noqa: F401,F403
from .tensor.scalar_op import ScalarOp, upcast  # noqa: F401
