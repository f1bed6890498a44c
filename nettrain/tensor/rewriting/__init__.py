"""Tensor rewrites, registered by phase (see ``nettrain/graph/rewriting.py``)."""

from . import basic, canonicalize, fusion, nnet, shape, specialize, stabilize  # noqa: F401
