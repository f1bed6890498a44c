"""Theano path ``theano.scan_module.scan_utils``: the graph helpers scan code used (real code elsewhere)."""

from ..graph.basic import clone_replace as clone  # noqa: F401
from ..graph.compare import equal_computations  # noqa: F401
from .scan import until  # noqa: F401
