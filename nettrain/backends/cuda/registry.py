"""CUDA kernels registered by op class (DESIGN.md §2: backends own the code).

``cuda_kernel(op, node)`` returns a :class:`CudaKernel` for ``node`` or None,
in which case the node runs on the host (its C kernel or ``perform``) and the
linker moves its operands there.  Op families register a generator with
``@cuda_kernel.register(OpClass)``.

Rules every kernel follows (so the emulator can run it on a CPU, one thread
per block, and a real GPU with any block size):

* ``extern "C" __global__`` functions named :data:`NAME` or ``NAME + "_suffix"``;
  the source depends only on op props, dtypes and ranks (shapes, strides and
  constants are arguments), so equal kernels share one build;
* every loop over elements is a grid-stride or block-stride loop, correct for
  any ``gridDim``/``blockDim`` including 1;
* warp-level code uses ``warpSize`` (never 32) and shared memory through
  ``__shared__`` arrays or ``NT_DYNAMIC_SHARED(type, name)``.
"""

import functools

#: placeholder for the function-name prefix in a kernel's source; the linker replaces it
NAME = "NT_KERNEL"


class CudaKernel:
    """CUDA source of one node's kernels and how to launch them.

    ``bind(get, rt)`` returns ``run(node, args, outs)`` (``perform``'s contract)
    where ``get(suffix)`` gives the launcher of ``NAME + suffix`` (call it as
    ``launcher(grid, block, args, shared=0)`` with NumPy scalars and
    ``numpy.uintp`` pointers) and ``rt`` is the runtime (allocation, copies).
    ``args`` are :class:`~nettrain.backends.cuda.darray.DeviceArray` values,
    except the inputs listed in ``host_inputs``, which arrive as NumPy values
    (shapes, indices).  An empty ``source`` is a kernel that runs on the host
    without moving its device operands (shape queries, views).
    """

    __slots__ = ("source", "bind", "host_inputs")

    def __init__(self, source, bind, host_inputs=()):
        self.source = source
        self.bind = bind
        self.host_inputs = tuple(host_inputs)


@functools.singledispatch
def cuda_kernel(op, node):
    """The CUDA kernel of ``node`` (whose op is ``op``), or None to run it on the host."""
    return None


#: threads per block used by elementwise-style kernels
BLOCK = 256
#: most blocks launched for a grid-stride loop (enough to fill an H100 several times)
MAX_BLOCKS = 65535


def grid_for(n, block=BLOCK):
    """Blocks for a grid-stride loop over ``n`` items."""
    return (max(1, min(MAX_BLOCKS, (int(n) + block - 1) // block)), 1, 1)


__all__ = ["CudaKernel", "NAME", "cuda_kernel", "grid_for", "BLOCK", "MAX_BLOCKS"]
