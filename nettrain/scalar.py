"""Theano path ``nettrain.scalar``: the scalar ops that Elemwise maps."""

from .tensor.scalar_op import *  # noqa: F401,F403
