"""Fills and copies on the device: ``Alloc`` (zeros, ones, broadcasts), ``Join`` and ``Split``.

All three are one strided copy kernel, ``NAME_scopy``, launched with the right
views: an ``Alloc`` reads its value with zero strides along the broadcast
dimensions (a constant all-zero value is a ``memset`` instead), a ``Join``
copies each input into its slice of the output, a ``Split`` copies each slice
of the input into a fresh output.  Elements are moved as unsigned integers of
the item size, so every dtype shares one kernel per rank and item size.
Adjacent dimensions that are contiguous for both sides are merged first.
"""

import math

import numpy as np

from ...graph.basic import Constant
from ...tensor.alloc import Alloc, ARange
from ...tensor.join import Join, Split
from ...tensor.shape import Shape, Shape_i
from .darray import DeviceArray
from ..c.table import C_TYPES, convert
from .elemwise import merged_layout
from .registry import NAME, CudaKernel, cuda_kernel, grid_for
from .runtime import to_host

BLOCK = 256
#: element-copy types by item size (bytes are copied, whatever the dtype)
UINT = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t", 8: "uint64_t"}


def _params(*groups):
    return ", ".join(p for g in groups for p in g)


def scopy_source(nd, itemsize, convert_from=None, suffix="scopy"):
    """``NAME_scopy(n, shape..., src, src strides..., dst, dst strides...)``: dst[i] = src[i], any byte strides.

    With ``convert_from=(in dtype, out dtype)`` the kernel (``NAME_<suffix>``)
    converts each element as NumPy's ``astype`` does instead of copying bytes.
    """
    if convert_from is None:
        t = UINT[itemsize]
        load, store_t = "*(const %s *)(src + so)" % t, t
    else:
        src_dt, dst_dt = convert_from
        load, store_t = convert("*(const %s *)(src + so)" % C_TYPES[src_dt], dst_dt), C_TYPES[dst_dt]
    shape = ["int64_t s%d" % d for d in range(nd)]
    ast = ["int64_t a%d" % d for d in range(nd)]
    bst = ["int64_t b%d" % d for d in range(nd)]
    lines = ['extern "C" __global__ void %s_%s(%s)\n{' % (NAME, suffix, _params(["int64_t n"], shape,
             ["const char *__restrict__ src"], ast, ["char *__restrict__ dst"], bst)),  # fmt: skip
             "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {", "    int64_t r = i, c, so = 0, do_ = 0;"]
    for d in reversed(range(nd)):
        lines.append("    c = r %% s%d; r /= s%d; so += c * a%d; do_ += c * b%d;" % (d, d, d, d) if d
                     else "    so += r * a0; do_ += r * b0;")  # fmt: skip
    lines += ["    *(%s *)(dst + do_) = %s;" % (store_t, load), "  }", "}"]
    return "\n".join(lines) + "\n"


def strided_copy(get, nd, shape, src, src_strides, dst, dst_strides, suffix="scopy"):
    """Launch ``NAME_<suffix>`` (built for rank ``nd``) copying ``shape`` elements between byte-strided pointers."""
    n = math.prod(map(int, shape))
    if n == 0:
        return
    shp, (a, b) = merged_layout(tuple(shape), [list(src_strides), list(dst_strides)])
    pad = nd - len(shp)
    shp, a, b = [1] * pad + shp, [0] * pad + a, [0] * pad + b
    i64 = np.int64
    get(NAME + "_" + suffix)(grid_for(n, BLOCK), (BLOCK, 1, 1),
                             [i64(n)] + [i64(s) for s in shp] + [np.uintp(src)] + [i64(s) for s in a]
                             + [np.uintp(dst)] + [i64(s) for s in b])  # fmt: skip


def copy_to_new(get, rt, x, nd):
    """A fresh C-contiguous device copy of the device array ``x`` (one device-to-device copy or one kernel)."""
    out = DeviceArray.empty(rt, x.shape, x.dtype)
    if x.size == 0:
        return out
    if x.c_contiguous:
        rt.dtod(out.ptr, x.ptr, x.nbytes)
    else:
        strided_copy(get, nd, x.shape, x.ptr, x.strides, out.ptr, out.strides)
    return out


# ------------------------------------------------------------------ where values live
def on_device(v, depth=0):
    """Whether ``v`` will be a device array when the CUDA linker runs its graph (a static guess).

    Only a performance hint: a kernel gets its operands where it asked for
    them either way (the linker moves them), so a wrong guess costs a copy.
    """
    node = v.owner
    if node is None or depth > 50:
        return False
    try:
        k = cuda_kernel(node.op, node)
    except NotImplementedError:
        return False
    if k is None or isinstance(node.op, (Shape, Shape_i)):
        return False
    return True if k.source else bool(node.inputs) and on_device(node.inputs[0], depth + 1)


# ------------------------------------------------------------------ Alloc
def _is_zero_constant(v):
    return isinstance(v, Constant) and not np.ascontiguousarray(v.data).reshape(-1).view(np.uint8).any()


@cuda_kernel.register(Alloc)
def alloc_kernel(op, node):
    """Broadcast the (device) value into a new array; shape entries come from the host."""
    out_t = node.outputs[0].type
    itemsize = np.dtype(out_t.dtype).itemsize
    if itemsize not in UINT:
        return None
    nd = out_t.ndim
    vnd = node.inputs[0].type.ndim
    static = node.inputs[0].type.shape
    zero = _is_zero_constant(node.inputs[0])

    def bind(get, rt):
        def run(node, args, outs):
            v, dims = args[0], args[1:]
            shape = tuple(int(d) for d in dims)
            if any(d < 0 for d in shape):
                raise ValueError("Alloc: negative dimension in shape %s" % (shape,))
            offset = nd - vnd
            for j, (vs, st) in enumerate(zip(v.shape, static)):
                if st != 1 and vs != shape[offset + j]:
                    raise ValueError(
                        "Alloc: cannot fill shape %s with a value of shape %s: dimension %d of the value has length "
                        "%d and is not broadcastable (only dimensions of static length 1 broadcast)"
                        % (shape, v.shape, j, vs))  # fmt: skip
            out = DeviceArray.empty(rt, shape, out_t.dtype)
            if out.size:
                if zero:
                    rt.memset(out.ptr, 0, out.nbytes)
                else:
                    src = [0] * offset + [0 if vs == 1 else st for vs, st in zip(v.shape, v.strides)]
                    strided_copy(get, nd, shape, v.ptr, src, out.ptr, out.strides)
            outs[0][0] = out

        return run

    return CudaKernel(scopy_source(nd, itemsize), bind, host_inputs=range(1, len(node.inputs)))


@cuda_kernel.register(ARange)
def arange_kernel(op, node):
    """On the host: index vectors such as ``arange(n)`` in ``p[arange(n), y]`` stay there, where the
    indexing kernels read their indices (and NumPy's arange values are kept exactly)."""
    return _on_host(op)


# ------------------------------------------------------------------ Join, Split
def _host_integers(node):
    """Integers made on the host (``stack([x.shape[0], 16])``, a shape for a Reshape): joined there, not uploaded."""
    return not node.outputs[0].type.dtype.startswith("float") and not any(on_device(v) for v in node.inputs)


def _on_host(op):
    """A deliberate host placement: ``perform`` on the operands where they are (downloaded if on the device)."""

    def bind(get, rt):
        def run(node, args, outs):
            op.perform(node, [to_host(a) for a in args], outs)

        return run

    return CudaKernel("", bind)


@cuda_kernel.register(Join)
def join_kernel(op, node):
    """Each input copied into its slice of the output (inputs of the output's dtype only)."""
    out_t = node.outputs[0].type
    if _host_integers(node):
        return _on_host(op)
    itemsize = np.dtype(out_t.dtype).itemsize
    in_dtypes = sorted({v.type.dtype for v in node.inputs} - {out_t.dtype})
    if itemsize not in UINT or any(dt not in C_TYPES for dt in in_dtypes + [out_t.dtype]):
        return None
    nd, axis = out_t.ndim, op.axis
    src = "" if len(in_dtypes) == len(node.inputs) else scopy_source(nd, itemsize)
    # inputs of other dtypes are converted while copied (NumPy's result type never loses values here)
    src += "".join(scopy_source(nd, 0, (dt, out_t.dtype), "cvt_" + dt) for dt in in_dtypes)

    def bind(get, rt):
        def run(node, args, outs):
            shapes = [a.shape for a in args]
            first = shapes[0]
            if any(len(s) != nd or any(s[d] != first[d] for d in range(nd) if d != axis) for s in shapes):
                _raise_join_error(shapes, out_t.dtype, axis)
            shape = list(first)
            shape[axis] = sum(s[axis] for s in shapes)
            out = DeviceArray.empty(rt, shape, out_t.dtype)
            at = 0
            for a in args:
                if a.size:
                    dst = out.ptr + at * out.strides[axis]
                    kind = "scopy" if a.dtype == out.dtype else "cvt_" + a.dtype.name
                    strided_copy(get, nd, a.shape, a.ptr, a.strides, dst, out.strides, kind)
                at += a.shape[axis]
            outs[0][0] = out

        return run

    return CudaKernel(src, bind)


def _raise_join_error(shapes, dtype, axis):
    """``Join.perform``'s error, with NumPy's own message (zero-stride stand-ins: nothing is copied)."""
    dummies = [np.broadcast_to(np.zeros((), dtype), s) for s in shapes]
    try:
        np.concatenate(dummies, axis=axis)
    except ValueError as e:
        raise ValueError("cannot join arrays of shapes %s along axis %d: %s" % (shapes, axis, e)) from None
    raise ValueError("cannot join arrays of shapes %s along axis %d" % (shapes, axis))


@cuda_kernel.register(Split)
def split_kernel(op, node):
    """Each slice of the input copied into a new array; the sizes come from the host."""
    x_t = node.inputs[0].type
    itemsize = np.dtype(x_t.dtype).itemsize
    if itemsize not in UINT:
        return None
    if _host_integers(node):
        return _on_host(op)
    nd, axis = x_t.ndim, op.axis

    def bind(get, rt):
        def run(node, args, outs):
            x, splits = args
            if len(splits) != op.len_splits:
                raise ValueError("split: %d sizes given, expected %d" % (len(splits), op.len_splits))
            if int(np.sum(splits)) != x.shape[axis] or np.any(splits < 0):
                raise ValueError("split: sizes %s do not add up to the length %d of axis %d"
                                 % ([int(v) for v in splits], x.shape[axis], axis))  # fmt: skip
            at = 0
            for cell, k in zip(outs, splits):
                shape = list(x.shape)
                shape[axis] = int(k)
                out = DeviceArray.empty(rt, shape, x.dtype)
                strided_copy(get, nd, shape, x.ptr + at * x.strides[axis], x.strides, out.ptr, out.strides)
                at += int(k)
                cell[0] = out

        return run

    return CudaKernel(scopy_source(nd, itemsize), bind, host_inputs=(1,))


__all__ = ["scopy_source", "strided_copy", "copy_to_new", "on_device", "alloc_kernel", "join_kernel", "split_kernel",
           "UINT"]  # fmt: skip
