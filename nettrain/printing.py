"""Theano path ``nettrain.printing``: debugprint, pp and pydotprint."""

from .graph.pictures import GraphvizNotFound, pydotprint  # noqa: F401
from .graph.printing import debugprint, pp  # noqa: F401
