"""The CUDA backend: generated CUDA kernels launched through pycuda (or the emulator).

Importing this package registers ``CudaLinker`` as ``Mode(linker='cuda')``; it
imports neither pycuda nor anything else that a CPU-only install lacks.  With
``config.device = 'cuda'`` every linker becomes a ``CudaLinker`` whose host
nodes use the requested linker.  Without a usable GPU it warns once and runs on
the CPU.  ``python -m nettrain.cuda`` reports what is installed and what is missing.
"""

from ...tensor.variable import DEVICE_PLACER
from .. import register_linker
from .linker import CudaLinker
from .placement import place_value

register_linker("cuda", CudaLinker)
DEVICE_PLACER[0] = place_value

__all__ = ["CudaLinker"]
