"""Theano path ``theano.tensor.var``: the tensor variable classes (real code in :mod:`nettrain.tensor.variable`)."""

from .variable import TensorConstant, TensorSharedVariable, TensorVariable  # noqa: F401
