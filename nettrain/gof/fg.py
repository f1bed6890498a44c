"""Theano path ``theano.gof.fg``: the function graph (real code in :mod:`nettrain.graph.fg`)."""

from ..graph.fg import FunctionGraph, InconsistencyError, MissingInputError  # noqa: F401
