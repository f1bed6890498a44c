"""Shape queries and views on the device, and the strided-to-contiguous copy kernel.

``Shape``, ``Shape_i``, ``SpecifyShape`` and ``Unbroadcast`` read only metadata:
they run on the host without moving their operand.  ``DimShuffle`` is a view
(new shape and strides over the same memory).  ``Reshape`` is a view of
contiguous data and a copy kernel otherwise.
"""

import math

import numpy as np

from ...tensor.elemwise import DimShuffle
from ...tensor.shape import Reshape, Shape, Shape_i, SpecifyShape, Unbroadcast
from .darray import DeviceArray, c_strides, is_device
from .memory_ops import scopy_source, strided_copy
from .registry import NAME, CudaKernel, cuda_kernel
from .runtime import to_device

BLOCK = 256
#: element-copy types by item size (bytes are copied, whatever the dtype)
_UINT = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t", 8: "uint64_t"}


def _metadata_kernel(op, node):
    """Ops whose ``perform`` reads only shapes: run it as is, operands stay where they are."""

    def bind(get, rt):
        return op.perform

    return CudaKernel("", bind)


for _cls in (Shape, Shape_i, SpecifyShape, Unbroadcast):
    cuda_kernel.register(_cls)(_metadata_kernel)


def dimshuffle_view(op, x):
    """The DimShuffle of the device array ``x`` as a view."""
    for d in op.drop:
        if x.shape[d] != 1:
            raise ValueError("DimShuffle: cannot drop dimension %d of length %d (shape %s)" % (d, x.shape[d], x.shape))
    shape = [1 if d == "x" else x.shape[d] for d in op.new_order]
    strides = [0 if d == "x" else x.strides[d] for d in op.new_order]
    return x.view(shape, strides)


@cuda_kernel.register(DimShuffle)
def dimshuffle_kernel(op, node):
    """A view: no data moves (a float array from the host is uploaded first, once per call).

    Float arrays are what device kernels read, so the view of a host minibatch
    (e.g. ``x.T`` in a weight gradient) shares the upload of ``x`` itself.
    """
    t = node.inputs[0].type
    upload = t.ndim >= 1 and t.dtype in ("float32", "float64")

    def bind(get, rt):
        def run(node, args, outs):
            x = args[0]
            if upload and not is_device(x):
                x = to_device(rt, x)
            if is_device(x):
                outs[0][0] = dimshuffle_view(op, x)
            else:
                op.perform(node, args, outs)

        return run

    return CudaKernel("", bind)


def copy_source(nd, itemsize):
    """``NAME_copy(n, shape..., src, src strides..., dst, dst strides...)``: :func:`~.memory_ops.scopy_source`
    under the name :func:`contiguous` launches."""
    return scopy_source(nd, itemsize, suffix="copy")


def contiguous(get, rt, x, kernel=NAME + "_copy"):
    """``x`` itself when C-contiguous, else a contiguous device copy made by ``kernel`` (a :func:`copy_source`)."""
    if x.c_contiguous:
        return x
    out = DeviceArray.empty(rt, x.shape, x.dtype)
    strided_copy(get, x.ndim, x.shape, x.ptr, x.strides, out.ptr, out.strides, suffix=kernel[len(NAME) + 1:])
    return out


@cuda_kernel.register(Reshape)
def reshape_kernel(op, node):
    """A view of contiguous data; a copy kernel first otherwise.  The shape comes from the host."""
    x = node.inputs[0]
    nd = x.type.ndim
    itemsize = np.dtype(x.type.dtype).itemsize
    if itemsize not in _UINT or nd == 0:
        return None

    def bind(get, rt):
        def run(node, args, outs):
            x, shp = args
            if len(shp) != op.ndim:
                raise ValueError("shape %s has %d entries, expected %d" % (tuple(shp), len(shp), op.ndim))
            shp = [int(s) for s in shp]
            if -1 in shp:
                k = shp.index(-1)
                rest = math.prod(map(int, [s for i, s in enumerate(shp) if i != k]))
                shp[k] = x.size // rest if rest and x.size % rest == 0 else -1
            if math.prod(map(int, shp)) != x.size or any(s < 0 for s in shp):
                raise ValueError("cannot reshape an array of shape %s into shape %s" % (x.shape, tuple(shp)))
            x = contiguous(get, rt, x)
            outs[0][0] = x.view(shp, c_strides(shp, x.itemsize))

        return run

    return CudaKernel(copy_source(nd, itemsize), bind, host_inputs=(1,))


__all__ = ["dimshuffle_kernel", "reshape_kernel", "copy_source", "contiguous", "dimshuffle_view"]
