"""nettrain: an optimizing compiler for NumPy-style tensor expressions,
with a neural-network training framework on top.

Classic Theano programs run after ``import nettrain as theano``::

    >>> import nettrain as theano
    >>> from nettrain import tensor
    >>> a, b = tensor.dscalar(), tensor.dscalar()
    >>> f = theano.function([a, b], a + b)
    >>> float(f(1.5, 2.5))
    4.0
"""

__version__ = "0.1.0"

from .configdefaults import config, change_flags  # noqa: E402,F401
from . import graph  # noqa: E402,F401
from . import tensor  # noqa: E402,F401
from . import ifelse, sandbox  # noqa: E402,F401  (Theano paths theano.ifelse, theano.sandbox.rng_mrg)
from .compile import (  # noqa: E402,F401
    FAST_COMPILE,
    FAST_RUN,
    Function,
    In,
    Mode,
    Out,
    SharedVariable,
    function,
    shared,
)
from .graph.basic import Apply, Constant, Variable, clone_replace  # noqa: E402,F401
from .graph.fg import FunctionGraph  # noqa: E402,F401
from .graph.op import Op  # noqa: E402,F401
from .tensor.gradient import Lop, Rop, grad  # noqa: E402,F401
from . import gradient, printing  # noqa: E402,F401
from . import scalar  # noqa: E402,F401  (Theano path theano.scalar)
from .scan_module import foldl, foldr, map, reduce, scan  # noqa: E402,F401
from .printing import pp  # noqa: E402,F401

clone = clone_replace
