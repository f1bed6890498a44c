"""Theano path ``theano.gof.op``: the Op base class (real code in :mod:`nettrain.graph.op`)."""

from ..graph.op import Op  # noqa: F401
