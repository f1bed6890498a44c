"""The type-agnostic graph IR: Type, Variable, Apply, Op, FunctionGraph, grad."""

from .basic import Apply, Constant, SharedVariable, Type, Variable, ancestors, clone_replace, graph_inputs, io_toposort  # noqa: F401
from .fg import FunctionGraph, MissingInputError  # noqa: F401
from .op import Op  # noqa: F401
