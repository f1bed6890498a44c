"""Everything ``import nettrain`` offers (Theano's top-level names); :mod:`nettrain` re-exports it.

Kept apart from ``nettrain/__init__.py`` so that the ``nettrain`` command can start without
importing the compiler (see ``nettrain._cli_starting``).
"""

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
from . import gof, gradient, printing  # noqa: E402,F401
from . import scalar  # noqa: E402,F401  (Theano path theano.scalar)
from .scan_module import foldl, foldr, map, reduce, scan  # noqa: E402,F401
from .printing import pp  # noqa: E402,F401

clone = clone_replace

__all__ = [n for n in dict(globals()) if not n.startswith('_')]
