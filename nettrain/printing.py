"""Theano path ``nettrain.printing``: debugprint, pp, pydotprint and the Print op."""

from .graph.pictures import GraphvizNotFound, pydotprint  # noqa: F401
from .graph.printing import Print, debugprint, pp  # noqa: F401
