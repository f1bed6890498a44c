"""Theano path ``nettrain.ifelse``: the real code is in :mod:`nettrain.tensor.ifelse`."""

from .tensor.ifelse import IfElse, ifelse

__all__ = ["ifelse", "IfElse"]
