"""CUDA kernels for Elemwise and Elemwise{Composite} nodes.

Two kernels per node, both grid-stride loops over the output's elements:

* ``NAME_c(n, p0, ..., pk)``: every operand C-contiguous with the output's shape
  (inputs of static shape (1, ..., 1) are read once): coalesced loads, nothing
  but the scalar program per element;
* ``NAME_s(n, shape..., p0, ..., pk, strides...)``: any strides (byte strides,
  0 along broadcast dimensions), at the node's rank; adjacent dimensions that are
  contiguous for every operand are merged in Python first, so the index
  arithmetic is usually one or two divisions.

The per-element program is the C backend's (``c.elemwise.body`` with the CUDA
expression table), so both backends compute the same values.
"""

import math

import numpy as np

from ...tensor.elemwise import Elemwise
from ..c.elemwise import body as c_body
from ..c.table import C_TYPES
from .darray import DeviceArray, c_strides
from .registry import NAME, CudaKernel, cuda_kernel, grid_for
from .table import CUDA_TABLE

BLOCK = 256


def body(node):
    """``(lines, outputs)``: CUDA statements computing one element from ``v<i>``; None without code."""
    return c_body(node, CUDA_TABLE)


def _scalar_inputs(node):
    return [all(s == 1 for s in v.type.shape) for v in node.inputs]


def source(node, lines, outs, byval=()):
    """The kernels of ``node`` (see the module docstring); inputs in ``byval`` are scalar parameters."""
    in_t = [C_TYPES[v.type.dtype] for v in node.inputs]
    out_t = [C_TYPES[v.type.dtype] for v in node.outputs]
    types = in_t + out_t
    nin, nops, nd = len(in_t), len(in_t) + len(out_t), node.outputs[0].type.ndim
    scalar = _scalar_inputs(node)
    ptrs = ", ".join("%s v%d" % (in_t[k], k) if k in byval else "char *__restrict__ p%d" % k for k in range(nops))
    src = ['extern "C" __global__ void %s_c(int64_t n, %s)\n{' % (NAME, ptrs)]
    src += ["  const %s v%d = *(const %s *)p%d;" % (in_t[i], i, in_t[i], i) for i in range(nin)
            if scalar[i] and i not in byval]  # fmt: skip
    src.append("  for (int64_t i = NT_TID; i < n; i += NT_STEP) {")
    src += ["    const %s v%d = ((const %s *)p%d)[i];" % (in_t[i], i, in_t[i], i) for i in range(nin)
            if not scalar[i]]  # fmt: skip
    src += ["    " + ln for ln in lines]
    src += ["    ((%s *)p%d)[i] = %s;" % (out_t[k], nin + k, o) for k, o in enumerate(outs)]
    src += ["  }", "}"]
    src += _vector_source(node, lines, outs, in_t, out_t, scalar, ptrs, byval)
    if nd == 0:
        return "\n".join(src) + "\n"
    shape = ", ".join("int64_t s%d" % d for d in range(nd))
    strides = ", ".join("int64_t st%d_%d" % (k, d) for k in range(nops) for d in range(nd))
    src.append('extern "C" __global__ void %s_s(int64_t n, %s, %s, %s)\n{' % (NAME, shape, ptrs, strides))
    walked = [k for k in range(nops) if k >= nin or not scalar[k]]  # operands addressed by offsets
    src += ["  const %s v%d = *(const %s *)p%d;" % (in_t[i], i, in_t[i], i) for i in range(nin)
            if scalar[i] and i not in byval]  # fmt: skip
    src.append("  for (int64_t i = NT_TID; i < n; i += NT_STEP) {")
    src.append("    int64_t r = i, c;")
    src += ["    int64_t o%d = 0;" % k for k in walked]
    for d in reversed(range(nd)):
        src.append("    c = r %% s%d; r /= s%d;" % (d, d) if d else "    c = r;")
        src += ["    o%d += c * st%d_%d;" % (k, k, d) for k in walked]
    src += ["    const %s v%d = *(const %s *)(p%d + o%d);" % (in_t[i], i, in_t[i], i, i) for i in range(nin)
            if not scalar[i]]  # fmt: skip
    src += ["    " + ln for ln in lines]
    src += ["    *(%s *)(p%d + o%d) = %s;" % (types[nin + k], nin + k, nin + k, o) for k, o in enumerate(outs)]
    src += ["  }", "}"]
    return "\n".join(src) + "\n"


#: 16-byte vector types of the 4-byte element types (one load or store moves 4 elements)
_VEC4 = {"float": "float4", "int32_t": "int4", "uint32_t": "uint4"}


def vectorizable(node):
    """True when every operand has a 4-byte type with a 16-byte vector type (float32, int32, uint32)."""
    types = [C_TYPES[v.type.dtype] for v in node.inputs + node.outputs]
    return all(t in _VEC4 for t in types)


def _vector_source(node, lines, outs, in_t, out_t, scalar, ptrs, byval):
    """``NAME_v(nvec, ...)``: the contiguous kernel moving 4 elements per 16-byte load and store.

    Used when every pointer is 16-byte aligned; the host runs the last ``n % 4``
    elements through ``NAME_c`` on offset pointers.
    """
    if not vectorizable(node):
        return []
    nin = len(in_t)
    src = ['extern "C" __global__ void %s_v(int64_t nv, %s)\n{' % (NAME, ptrs)]
    src += ["  const %s v%d = *(const %s *)p%d;" % (in_t[i], i, in_t[i], i) for i in range(nin)
            if scalar[i] and i not in byval]  # fmt: skip
    src.append("  for (int64_t i = NT_TID; i < nv; i += NT_STEP) {")
    src += ["    const %s w%d = ((const %s *)p%d)[i];" % (_VEC4[in_t[i]], i, _VEC4[in_t[i]], i) for i in range(nin)
            if not scalar[i]]  # fmt: skip
    src += ["    %s r%d;" % (_VEC4[t], k) for k, t in enumerate(out_t)]
    for lane in "xyzw":
        src.append("    {")
        src += ["      const %s v%d = w%d.%s;" % (in_t[i], i, i, lane) for i in range(nin) if not scalar[i]]
        src += ["      " + ln for ln in lines]
        src += ["      r%d.%s = %s;" % (k, lane, o) for k, o in enumerate(outs)]
        src.append("    }")
    src += ["    ((%s *)p%d)[i] = r%d;" % (_VEC4[t], nin + k, k) for k, t in enumerate(out_t)]
    src += ["  }", "}"]
    return src


def out_shape(node, args):
    """The broadcast output shape; bad shapes raise the reference's error (``Elemwise._check_shapes``).

    As in Theano, only dimensions whose static length is 1 broadcast: a run-time
    length of 1 elsewhere must match the other inputs.
    """
    nd = node.outputs[0].type.ndim
    shapes = [a.shape for a in args]
    static = [v.type.shape for v in node.inputs]
    out = []
    for d in range(nd):
        lens = set()
        for s, st in zip(shapes, static):
            if st[d] != 1:
                lens.add(s[d])
            elif s[d] != 1:
                lens.add(-1)  # a declared length 1 that is not: an error
        if len(lens) > 1 or -1 in lens:
            node.op._check_shapes(node, args)
            raise ValueError("shape mismatch: inputs of shapes %s cannot be broadcast together"
                             % ", ".join(str(tuple(s)) for s in shapes))  # fmt: skip
        out.append(lens.pop() if lens else 1)
    return tuple(out)


def merged_layout(shape, operand_strides):
    """Merge adjacent dimensions contiguous for every operand: ``(shape, strides per operand)``.

    Strides are in bytes (0 along broadcast dimensions); dimensions of length 1 are dropped.
    """
    keep = [d for d, n in enumerate(shape) if n != 1]
    shp = [shape[d] for d in keep]
    sts = [[st[d] for d in keep] for st in operand_strides]
    i = len(shp) - 1
    while i > 0:
        if all(st[i - 1] == st[i] * shp[i] for st in sts):
            shp[i - 1] *= shp[i]
            del shp[i]
            for st in sts:
                st[i - 1] = st[i]
                del st[i]
        i -= 1
    return shp, sts


@cuda_kernel.register(Elemwise)
def elemwise_kernel(op, node):
    """A fused elementwise kernel for ``node`` (None when a step has no CUDA code)."""
    if node.outputs[0].type.ndim == 0:
        from .memory_ops import _on_host, on_device

        if not any(on_device(v) for v in node.inputs):
            return _on_host(op)  # arithmetic on host scalars (shapes, learning rates): a device trip costs copies
    res = body(node)
    if res is None:
        return None
    from .memory_ops import on_device

    scalar = _scalar_inputs(node)
    # one-element inputs made on the host (learning rates, 1/batch) travel as kernel parameters, not copies
    byval = tuple(i for i, v in enumerate(node.inputs) if scalar[i] and not on_device(v))
    src = source(node, *res, byval=byval)
    nd = node.outputs[0].type.ndim
    out_dt = [np.dtype(v.type.dtype) for v in node.outputs]
    in_dt = [np.dtype(v.type.dtype) for v in node.inputs]
    vec = vectorizable(node)

    def bind(get, rt):
        kc = get(NAME + "_c")
        ks = get(NAME + "_s") if nd else None
        kv = get(NAME + "_v") if vec else None
        i64 = np.int64
        block = (BLOCK, 1, 1)
        # by-value scalars in their parameter's type; a bool travels as a byte (NumPy bools have no __index__)
        cast = {k: np.uint8 if in_dt[k] == np.bool_ else in_dt[k].type for k in byval}
        plans = {}  # (shapes, strides) -> what a launch needs besides the pointers: one dict probe per call

        def plan(args):
            shape = out_shape(node, args)  # raises the reference's error on bad shapes (never cached)
            n = math.prod(shape)
            contiguous = all(s or (a.shape == shape and a.c_contiguous) for a, s in zip(args, scalar))
            if n == 0:
                p = (shape, None, None, None)
            elif contiguous:
                nv = n // 4 if kv is not None else 0
                p = (shape, "c", (grid_for(n, BLOCK), [i64(n)]),
                     (grid_for(nv, BLOCK), [i64(nv)], n % 4, [i64(n % 4)], 16 * nv) if nv or kv else None)
            else:
                strides = [[0 if a.shape[d] == 1 else a.strides[d] for d in range(nd)] for a in args]
                strides += [list(c_strides(shape, dt.itemsize)) for dt in out_dt]
                shp, sts = merged_layout(shape, strides)
                pad = nd - len(shp)
                head = [i64(n)] + [i64(x) for x in [1] * pad + shp]
                p = (shape, "s", (grid_for(n, BLOCK), head, [i64(x) for st in sts for x in [0] * pad + st]), None)
            if len(plans) > 64:
                plans.clear()
            plans[key_of(args)] = p
            return p

        def key_of(args):
            return tuple([a.shape for a in args] + [a.strides for a in args])

        def run(node, args, outs):
            p = plans.get(key_of(args)) or plan(args)
            shape, kind, main, vplan = p
            res = [DeviceArray.empty(rt, shape, dt) for dt in out_dt]
            if kind is not None:
                # pointers as Python ints: every runtime packs arguments by the kernel's signature
                ptrs = [cast[k](a.reshape(-1)[0]) if k in byval else a.ptr for k, a in enumerate(args)]
                ptrs += [o.ptr for o in res]
                if kind == "s":
                    ks(main[0], block, main[1] + ptrs + main[2])
                elif vplan is not None and not any(q & 15 for k, q in enumerate(ptrs) if k not in byval):
                    vgrid, vhead, ntail, thead, skip = vplan
                    if vhead[0]:
                        kv(vgrid, block, vhead + ptrs)
                    if ntail:  # the tail, element by element; inputs read once keep their pointer
                        tail = [q if k < len(args) and scalar[k] else q + skip for k, q in enumerate(ptrs)]
                        kc((1, 1, 1), block, thead + tail)
                else:
                    kc(main[0], block, main[1] + ptrs)
            for cell, r in zip(outs, res):
                cell[0] = r

        return run

    return CudaKernel(src, bind, host_inputs=byval)


__all__ = ["elemwise_kernel", "body", "source", "merged_layout", "out_shape"]
