"""Theano path ``nettrain.printing``: debugprint, pp and the Print op."""

from .graph.printing import Print, debugprint, pp  # noqa: F401
