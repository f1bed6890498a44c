"""Theano path ``theano.gpuarray``: Theano's pygpu backend, which nettrain does not have.

nettrain runs on a GPU through ``config.device = 'cuda'``: it places the
ordinary ops of a graph on the device itself, so code needs no GPU-specific
ops.  Programs that ask whether Theano's pygpu backend is active (Lasagne's
``dnn`` and ``corrmm`` layers do) get ``pygpu_activated = False`` and take
their generic path; ``dnn.dnn_present()`` says why there is no cuDNN.

Examples
--------
>>> from nettrain import gpuarray
>>> gpuarray.pygpu_activated, gpuarray.dnn.dnn_present()
(False, False)
"""

from . import dnn  # noqa: F401

#: Theano's flag for its pygpu backend; nettrain never uses pygpu
pygpu_activated = False
