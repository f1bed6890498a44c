"""Gradient entry points under the tensor namespace (``T.grad``, ``T.Lop``, ``T.Rop``)."""

from ..graph.grad import Lop, Rop, grad  # noqa: F401

__all__ = ["grad", "Lop", "Rop"]
