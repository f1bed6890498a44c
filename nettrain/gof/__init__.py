"""Theano path ``theano.gof``: the graph IR under its old names (the real code is in :mod:`nettrain.graph`)."""

from ..graph.basic import Apply, Constant, Type, Variable  # noqa: F401
from ..graph.fg import FunctionGraph, InconsistencyError, MissingInputError  # noqa: F401
from ..graph.op import Op  # noqa: F401
from ..graph.utils import Scratchpad  # noqa: F401
from . import fg, graph, op  # noqa: F401
