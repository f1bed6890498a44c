"""Theano path ``nettrain.printing``: debugprint and pp."""

from .graph.printing import debugprint, pp  # noqa: F401
