"""General integer-array indexing on the device: ``AdvancedSubtensor`` and ``AdvancedIncSubtensor``.

Integer arrays mixed with ints, slices and newaxis (e.g. ``log(p)[arange(n), y]``):
the host turns the indices into one byte offset per broadcast index position
(NumPy's bounds and broadcast errors included) and NumPy's placement of the
indexed dimensions; a gather kernel, or a deterministic segment kernel like
:func:`.subtensor.seg_source`'s, does the rest.  Their indices are always read
on the host; boolean masks run ``perform`` on the host.
"""

import math

import numpy as np

from ...tensor.advanced_subtensor import AdvancedIncSubtensor, AdvancedSubtensor, _layout, _wrap_index_error
from ...tensor.subtensor import _check_y_runtime, _decode
from ..c.table import C_TYPES
from .darray import DeviceArray, c_strides
from .memory_ops import UINT, copy_to_new, scopy_source
from .registry import NAME, CudaKernel, cuda_kernel, grid_for
from .subtensor import BLOCK, _decompose, _host, _params, _y_strides, seg_update


def adv_plan(idx_list, x_shape, strides, values, x_for_errors):
    """Host-side plan of ``x[idx]`` for integer-array indices (with ints, slices and newaxis).

    Returns ``(base, off, B, basic, at)``: the byte offset of the slices'
    starts, the byte offset of each of the ``prod(B)`` broadcast index positions
    (int64, C order), their broadcast shape ``B``, the other output dimensions
    as ``(length, byte stride)`` and where ``B`` goes among them (NumPy's rule).
    Bad indices raise NumPy's own IndexError, as ``perform`` does.
    """
    idx = _decode(idx_list, values)
    base, axis, basic, adv, positions, at = 0, 0, [], [], [], None
    for k, e in enumerate(idx):
        if e is None:
            basic.append((1, 0))
        elif isinstance(e, slice):
            start, stop, step = e.indices(x_shape[axis])
            length = len(range(start, stop, step))
            base += start * strides[axis] if length else 0
            basic.append((length, strides[axis] * step))
            axis += 1
        else:
            at = len(basic) if at is None else at
            positions.append(k)
            adv.append((np.asarray(e), axis))
            axis += 1
    basic += [(x_shape[a], strides[a]) for a in range(axis, len(x_shape))]
    if positions and positions != list(range(positions[0], positions[-1] + 1)):
        at = 0  # separated advanced indices: NumPy puts their dimensions first
    try:
        B = np.broadcast_shapes(*[a.shape for a, _ in adv])
        ok = all(not ((a >= x_shape[ax]) | (a < -x_shape[ax])).any() for a, ax in adv)
    except ValueError:
        ok = False
    if not ok:  # NumPy's message, from indexing a zero-stride stand-in (nothing is copied)
        try:
            np.broadcast_to(np.zeros((), np.int8), x_shape)[idx]
        except IndexError as e:
            raise _wrap_index_error(e, x_for_errors) from None
    off = np.zeros((), np.int64)
    for a, ax in adv:
        a = a.astype(np.int64)
        off = off + np.where(a < 0, a + x_shape[ax], a) * strides[ax]
    return base, np.broadcast_to(off, B).reshape(-1).astype(np.int64), B, basic, at or 0


def _adv_out(basic, B, at, itemsize):
    """The output shape, the byte stride of the flattened ``B`` dimension and the other dimensions' strides."""
    lens = [n for n, _ in basic]
    shape = tuple(lens[:at]) + tuple(B) + tuple(lens[at:])
    cst = c_strides(shape, itemsize)
    return shape, (cst[at + len(B) - 1] if B else 0), list(cst[:at]) + list(cst[at + len(B) :])


def gather_source(rank, itemsize):
    """``NAME_gather``: element ``(b, k...)`` from ``src + off[b] + sum(k * a)`` to ``dst + b * b0 + sum(k * b)``."""
    t = UINT[itemsize]
    dims = range(1, rank)
    lines = ['extern "C" __global__ void %s_gather(%s)\n{' % (NAME, _params(
        ["int64_t n"], ["int64_t s%d" % d for d in dims], ["const char *__restrict__ src"],
        ["int64_t a%d" % d for d in dims], ["const int64_t *__restrict__ off", "char *__restrict__ dst"],
        ["int64_t b%d" % d for d in range(rank)])),
        "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {", "    int64_t r = i, c, so = 0, do_ = 0;"]  # fmt: skip
    lines += _decompose(rank, 1, [("so", "a"), ("do_", "b")])
    lines += ["    *(%s *)(dst + do_ + r * b0) = *(const %s *)(src + so + off[r]);" % (t, t), "  }", "}"]
    return "\n".join(lines) + "\n"


def _adv_rank(op, node, n_value_inputs):
    """Output rank with ``B`` flattened, or None when an index is boolean (those run on the host)."""
    idx_inputs = node.inputs[n_value_inputs:]
    if any(v.type.dtype == "bool" for v in idx_inputs):
        return None
    basic, _, _ = _layout(op.idx_list, idx_inputs, node.inputs[0].type.ndim)
    return 1 + len(basic)


@cuda_kernel.register(AdvancedSubtensor)
def advanced_subtensor_kernel(op, node):
    """General integer-array indexing: the host turns the indices into byte offsets, the kernel gathers."""
    itemsize = np.dtype(node.inputs[0].type.dtype).itemsize
    rank = _adv_rank(op, node, 1)
    if rank is None or itemsize not in UINT:
        return None

    def bind(get, rt):
        def run(node, args, outs):
            x, vals = args[0], [_host(a) for a in args[1:]]
            base, off, B, basic, at = adv_plan(op.idx_list, x.shape, x.strides, vals, x)
            shape, b0, dst_st = _adv_out(basic, B, at, itemsize)
            out = DeviceArray.empty(rt, shape, x.dtype)
            n = out.size
            if n:
                off = DeviceArray.from_host(rt, off)
                i64 = np.int64
                get(NAME + "_gather")(grid_for(n, BLOCK), (BLOCK, 1, 1),
                                      [i64(n)] + [i64(k) for k, _ in basic] + [np.uintp(x.ptr + base)]
                                      + [i64(st) for _, st in basic] + [np.uintp(off.ptr), np.uintp(out.ptr), i64(b0)]
                                      + [i64(st) for st in dst_st])  # fmt: skip
            outs[0][0] = out

        return run

    return CudaKernel(gather_source(rank, itemsize), bind, host_inputs=range(1, len(node.inputs)))


def gseg_source(rank, dtype, set_instead_of_inc):
    """``NAME_gseg``: ``NAME_seg`` for byte-offset targets (see ``_gseg_table``) and strided ``y``."""
    t = UINT[np.dtype(dtype).itemsize] if set_instead_of_inc else C_TYPES[dtype]
    dims = range(1, rank)
    lines = ['extern "C" __global__ void %s_gseg(%s)\n{' % (NAME, _params(
        ["int64_t n", "int64_t u"], ["int64_t s%d" % d for d in dims], ["char *__restrict__ out"],
        ["int64_t a%d" % d for d in dims], ["const char *__restrict__ y"], ["int64_t w%d" % d for d in dims],
        ["const int64_t *__restrict__ tbl"])),
        "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {", "    int64_t r = i, c, oo = 0, yo = 0;"]  # fmt: skip
    lines += _decompose(rank, 1, [("oo", "a"), ("yo", "w")])
    lines.append("    %s *p = (%s *)(out + tbl[r] + oo);" % (t, t))
    lines += seg_update(t, dtype, set_instead_of_inc, "u", "y + tbl[%s] + yo")
    return "\n".join(lines + ["  }", "}"]) + "\n"


def _gseg_table(off, ytab, set_instead_of_inc):
    """``(u, tbl)``: the distinct target offsets, then (set) the winning y offsets or (inc) the segment
    starts and the y offsets in target order; a stable sort keeps NumPy's order within a target."""
    order = np.argsort(off, kind="stable")
    so = off[order]
    starts = np.flatnonzero(np.r_[True, so[1:] != so[:-1]])
    if set_instead_of_inc:
        tbl = [so[starts], ytab[order[np.r_[starts[1:], len(off)] - 1]]]
    else:
        tbl = [so[starts], starts, [len(off)], ytab[order]]
    return len(starts), np.concatenate(tbl).astype(np.int64)


@cuda_kernel.register(AdvancedIncSubtensor)
def advanced_inc_subtensor_kernel(op, node):
    """General integer-array inc/set: deterministic segments, bit-identical to ``numpy.add.at``."""
    dtype = node.inputs[0].type.dtype
    itemsize = np.dtype(dtype).itemsize
    rank = _adv_rank(op, node, 2)
    setting = op.set_instead_of_inc
    if rank is None or itemsize not in UINT or not (setting or dtype in C_TYPES and dtype != "bool"):
        return None
    nd = node.inputs[0].type.ndim

    def bind(get, rt):
        def run(node, args, outs):
            x, y, vals = args[0], args[1], [_host(a) for a in args[2:]]
            _, _, B, basic, at = adv_plan(op.idx_list, x.shape, x.strides, vals, x)
            shape = _adv_out(basic, B, at, itemsize)[0]
            _check_y_runtime(node.inputs[1], y, shape, op)
            out = copy_to_new(get, rt, x, nd)
            base, off, B, basic, at = adv_plan(op.idx_list, out.shape, out.strides, vals, out)
            per_target = math.prod(map(int, [k for k, _ in basic]))
            if off.size and per_target:
                ys = _y_strides(y)
                yb = ys[at : at + len(B)]
                ytab = np.zeros((), np.int64)
                for d, (k, st) in enumerate(zip(B, yb)):
                    ytab = ytab + (np.arange(k, dtype=np.int64) * st).reshape((k,) + (1,) * (len(B) - d - 1))
                ytab = np.broadcast_to(ytab, B).reshape(-1)
                u, tbl = _gseg_table(off, ytab, setting)
                tbl = DeviceArray.from_host(rt, tbl)
                i64 = np.int64
                y_basic = ys[:at] + ys[at + len(B) :]
                get(NAME + "_gseg")(grid_for(u * per_target, BLOCK), (BLOCK, 1, 1),
                                    [i64(u * per_target), i64(u)] + [i64(k) for k, _ in basic]
                                    + [np.uintp(out.ptr + base)] + [i64(st) for _, st in basic] + [np.uintp(y.ptr)]
                                    + [i64(st) for st in y_basic] + [np.uintp(tbl.ptr)])  # fmt: skip
            outs[0][0] = out

        return run

    return CudaKernel(scopy_source(nd, itemsize) + gseg_source(rank, dtype, setting), bind,
                      host_inputs=range(2, len(node.inputs)))  # fmt: skip


__all__ = ["adv_plan", "gather_source", "gseg_source", "advanced_subtensor_kernel", "advanced_inc_subtensor_kernel"]
