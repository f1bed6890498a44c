"""Theano path ``theano.tensor.nnet.abstract_conv``: the convolution ops under Theano's names.

The real code is in :mod:`nettrain.tensor.nnet.conv` and
:mod:`nettrain.tensor.nnet.conv_grad`.
"""

from .conv import Conv2d as AbstractConv2d, Conv3d as AbstractConv3d, conv2d, conv3d  # noqa: F401
from .conv_grad import (  # noqa: F401
    Conv2dGradInputs as AbstractConv2d_gradInputs,
    Conv2dGradWeights as AbstractConv2d_gradWeights,
    Conv3dGradInputs as AbstractConv3d_gradInputs,
    Conv3dGradWeights as AbstractConv3d_gradWeights,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
)
