"""Tensor rewrites, registered by phase (see ``nettrain/graph/rewriting.py``)."""

from . import basic, blas, canonicalize, fusion, nnet, shape, sigmoid, specialize, stabilize  # noqa: F401
