"""Tensor rewrites, registered by phase (see ``nettrain/graph/rewriting.py``)."""

from . import basic, canonicalize, fusion, shape, specialize, stabilize  # noqa: F401
