"""Theano path ``nettrain.tensor.shared_randomstreams``: the real code is in :mod:`nettrain.tensor.random`."""

from .random.streams import RandomStreams

__all__ = ["RandomStreams"]
