"""Theano path ``theano.gpuarray.dnn``: nettrain has no cuDNN ops (see :mod:`nettrain.gpuarray`)."""

__all__ = ["dnn_present", "dnn_available"]


def dnn_present():
    """False: nettrain has no cuDNN ops; the reason is in ``dnn_present.msg``."""
    return False


dnn_present.msg = (
    "nettrain has no cuDNN ops: with config.device='cuda' it runs the ordinary conv2d/pool_2d "
    "graph on the GPU with its own kernels"
)

dnn_available = dnn_present
