"""Theano path ``nettrain.tensor.sharedvar``: shared tensor variables."""

from ..compile.sharedvalue import tensor_constructor  # noqa: F401
from .variable import TensorSharedVariable  # noqa: F401
