"""Indexing on the device: basic views, inc/set_subtensor, row gathers and row scatters.

* ``Subtensor`` is a view (new shape, byte strides and offset over the same
  memory); its integer indices are read on the host.
* ``IncSubtensor`` copies ``x`` into a new array and adds (or copies) ``y``
  into the view of the copy: one strided kernel, no host round trip.
* ``AdvancedSubtensor1`` gathers rows ``x[idx]``.  Indices computed on the
  host (a minibatch, the usual case) are bounds-checked there, with
  ``perform``'s message, and uploaded; indices computed on the device are
  checked by the kernel, which records the first bad position in an 8-byte
  flag that is the only thing downloaded.
* ``AdvancedIncSubtensor1`` (``inc/set_subtensor(x[idx], y)``, the gradient
  of a gather).  With host indices it is deterministic and bit-identical to
  ``numpy.add.at``: the host sorts the positions by target row (a stable
  sort), and one thread per target element adds that row's increments in
  their original order.  With device indices an increment uses ``atomicAdd``
  (float32/float64/int32/int64; the float sums' order, and so their last
  bits, may vary between runs) and a set lets the last position win through
  an ``atomicMax`` pass, as NumPy's assignment does.
* ``AdvancedSubtensor`` / ``AdvancedIncSubtensor`` (general integer-array
  indexing) are in :mod:`.adv_indexing`.
"""

import math

import numpy as np

from ...configdefaults import config
from ...graph.basic import Constant
from ...tensor.advanced_subtensor import (
    AdvancedIncSubtensor1,
    AdvancedSubtensor1,
)
from ...tensor.subtensor import IncSubtensor, Subtensor, _check_bounds, _check_y_runtime, _decode
from ..c.table import C_TYPES
from .darray import DeviceArray, is_device
from .memory_ops import UINT, copy_to_new, on_device, scopy_source, strided_copy
from .registry import NAME, CudaKernel, cuda_kernel, grid_for
from .runtime import to_host

BLOCK = 256
#: "no bad index" in the flag buffer: every byte 0x7f, so a memset writes it (no upload)
_NO_BAD = 0x7F7F7F7F7F7F7F7F
#: types atomicAdd takes, by dtype (the 64-bit integers add as unsigned long long: same bits)
_ATOMIC = {"float32": "float", "float64": "double", "int32": "int", "uint32": "unsigned int",
           "int64": "unsigned long long", "uint64": "unsigned long long"}  # fmt: skip


def _params(*groups):
    return ", ".join(p for g in groups for p in g)


def _host(v):
    return np.asarray(to_host(v))


# ------------------------------------------------------------------ basic views
def basic_view(idx_list, x, values):
    """``x[idx]`` of the device array ``x`` as a view (``Subtensor.perform``'s checks and errors)."""
    idx = _decode(idx_list, values)
    _check_bounds(idx, x.shape)
    shape, strides, offset = [], [], 0
    for axis, e in enumerate(idx):
        n, st = x.shape[axis], x.strides[axis]
        if isinstance(e, slice):
            start, stop, step = e.indices(n)  # NumPy's clipping; raises for a zero step
            length = len(range(start, stop, step))
            if length:
                offset += start * st
            shape.append(length)
            strides.append(st * step)
        else:
            offset += (e + n if e < 0 else e) * st
    shape += x.shape[len(idx) :]
    strides += x.strides[len(idx) :]
    return x.view(shape, strides, offset)


@cuda_kernel.register(Subtensor)
def subtensor_kernel(op, node):
    """A view: no data moves; the (scalar) indices are read on the host."""

    def bind(get, rt):
        def run(node, args, outs):
            x, vals = args[0], [_host(a) for a in args[1:]]
            if is_device(x):
                outs[0][0] = basic_view(op.idx_list, x, vals)
            else:
                op.perform(node, [x] + vals, outs)

        return run

    return CudaKernel("", bind)


def _decompose(nd, first, offsets):
    """C lines splitting ``r`` over dimensions ``nd-1 .. first`` of ``s<d>`` (adding ``c * <prefix><d>`` to offsets)."""
    lines = []
    for d in reversed(range(first, nd)):
        adds = "".join(" %s += c * %s%d;" % (o, p, d) for o, p in offsets)
        lines.append("    c = r %% s%d; r /= s%d;%s" % (d, d, adds))
    return lines


def _add(t, dtype, target, value):
    """``target += value`` in C; integers wrap like NumPy (the sum is done in uint64_t)."""
    if dtype.startswith("float"):
        return "%s = %s + %s;" % (target, target, value)
    return "%s = (%s)((uint64_t)%s + (uint64_t)%s);" % (target, t, target, value)


def inc_source(nd, dtype):
    """``NAME_inc(n, shape..., dst, dst strides..., y, y strides...)``: dst[i] += y[i], any byte strides."""
    t = C_TYPES[dtype]
    shape = ["int64_t s%d" % d for d in range(nd)]
    lines = ['extern "C" __global__ void %s_inc(%s)\n{' % (NAME, _params(
        ["int64_t n"], shape, ["char *__restrict__ dst"], ["int64_t a%d" % d for d in range(nd)],
        ["const char *__restrict__ y"], ["int64_t b%d" % d for d in range(nd)])),
        "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {", "    int64_t r = i, c, o = 0, yo = 0;"]  # fmt: skip
    lines += _decompose(nd, 1, [("o", "a"), ("yo", "b")])
    if nd:
        lines.append("    o += r * a0; yo += r * b0;")
    lines += ["    %s *p = (%s *)(dst + o);" % (t, t), "    const %s v = *(const %s *)(y + yo);" % (t, t),
              "    " + _add(t, dtype, "*p", "v"), "  }", "}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _y_strides(y):
    """Byte strides of ``y`` with 0 along its broadcast (length-1) dimensions."""
    return [0 if n == 1 else st for n, st in zip(y.shape, y.strides)]


@cuda_kernel.register(IncSubtensor)
def inc_subtensor_kernel(op, node):
    """Copy ``x``, then add (or copy) ``y`` into the view of the copy; the indices come from the host."""
    x_t, y_t = node.inputs[0].type, node.inputs[1].type
    itemsize = np.dtype(x_t.dtype).itemsize
    if itemsize not in UINT or not (op.set_instead_of_inc or x_t.dtype in C_TYPES and x_t.dtype != "bool"):
        return None
    nd, ynd = x_t.ndim, y_t.ndim
    src = scopy_source(nd, itemsize)
    if op.set_instead_of_inc:
        if ynd != nd:
            src += scopy_source(ynd, itemsize, suffix="yset")
    else:
        src += inc_source(ynd, x_t.dtype)

    def bind(get, rt):
        def run(node, args, outs):
            x, y, vals = args[0], args[1], [_host(a) for a in args[2:]]
            basic_view(op.idx_list, x, vals)  # the index checks, before any copy
            out = copy_to_new(get, rt, x, nd)
            view = basic_view(op.idx_list, out, vals)
            _check_y_runtime(node.inputs[1], y, view.shape, op)
            n = view.size
            if n and op.set_instead_of_inc:
                kind = "scopy" if ynd == nd else "yset"
                strided_copy(get, ynd, view.shape, y.ptr, _y_strides(y), view.ptr, view.strides, kind)
            elif n:
                i64 = np.int64
                get(NAME + "_inc")(grid_for(n, BLOCK), (BLOCK, 1, 1),
                                   [i64(n)] + [i64(s) for s in view.shape] + [np.uintp(view.ptr)]
                                   + [i64(s) for s in view.strides] + [np.uintp(y.ptr)]
                                   + [i64(s) for s in _y_strides(y)])  # fmt: skip
            outs[0][0] = out

        return run

    return CudaKernel(src, bind, host_inputs=range(2, len(node.inputs)))


def _read_index(idx_dtype, bad):
    """C lines loading row ``r``'s index into ``j`` (negative ones wrapped); a bad one skips the element
    and, when ``bad`` names a flag pointer, records the lowest bad position there."""
    it = C_TYPES[idx_dtype]
    lines = ["    const %s raw = *(const %s *)(idx + r * ist);" % (it, it)]
    if idx_dtype.startswith("u"):
        lines.append("    const int64_t j = (int64_t)raw; const bool ok = (uint64_t)raw < (uint64_t)rows;")
    else:
        lines.append("    const int64_t j = raw < 0 ? (int64_t)raw + rows : (int64_t)raw;")
        lines.append("    const bool ok = j >= 0 && j < rows;")
    flag = "if (%s) atomicMin((long long *)%s, (long long)r); " % (bad, bad) if bad else ""
    lines.append("    if (!ok) { %scontinue; }" % flag)
    return lines


def _index_error(i, n, shape, fmt):
    """Raise ``fmt``'s IndexError for the first index of the host array ``i`` outside ``[-n, n)``, if any."""
    if not i.size:
        return
    bad = i >= n if i.dtype.kind == "u" else (i < -n) | (i >= n)
    if bad.any():
        raise IndexError(fmt % (int(i[bad][0]), n, shape))


def _check_flag(rt, flag, idx, rows, shape, fmt):
    """Download the flag (8 bytes); if a kernel recorded a bad position, raise ``fmt``'s IndexError for it."""
    pos = np.empty(1, np.int64)
    rt.dtoh(pos, flag.ptr)
    if pos[0] != np.int64(_NO_BAD):
        value = idx.view((1,), (idx.itemsize,), int(pos[0]) * idx.strides[0]).get()[0]  # that one index only
        raise IndexError(fmt % (int(value), rows, shape))


def _new_flag(rt):
    flag = DeviceArray.empty(rt, (1,), np.int64)
    rt.memset(flag.ptr, 0x7F, 8)
    return flag


_TAKE_ERR = "index %d is out of bounds for axis 0 with size %d (indexing a tensor of shape %s)"
_INC_ERR = "index %d is out of bounds for axis 0 with size %d (tensor of shape %s)"


def _upload_checked(rt, i, rows, shape, fmt, const, cache):
    """The host index vector ``i`` checked (``fmt``'s IndexError) and uploaded; a constant only once."""
    _index_error(i, rows, shape, fmt)
    if const is not None and i is const and cache:
        return cache[0]
    d = DeviceArray.from_host(rt, i)
    if const is not None and i is const:
        cache[:] = [d]
    return d


# ------------------------------------------------------------------ AdvancedSubtensor1
def take_source(nd, itemsize, idx_dtype):
    """``NAME_take(n, rows, s1.., src, src strides.., idx, idx stride, dst, bad)``: dst = src[idx] (rows)."""
    t = UINT[itemsize]
    lines = ['extern "C" __global__ void %s_take(%s)\n{' % (NAME, _params(
        ["int64_t n", "int64_t rows"], ["int64_t s%d" % d for d in range(1, nd)], ["const char *__restrict__ src"],
        ["int64_t a%d" % d for d in range(nd)], ["const char *__restrict__ idx", "int64_t ist"],
        ["char *__restrict__ dst", "int64_t *bad"])),
        "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {", "    int64_t r = i, c, so = 0;"]  # fmt: skip
    lines += _decompose(nd, 1, [("so", "a")])
    lines += _read_index(idx_dtype, "bad")
    lines += ["    ((%s *)dst)[i] = *(const %s *)(src + so + j * a0);" % (t, t), "  }", "}"]
    return "\n".join(lines) + "\n"


@cuda_kernel.register(AdvancedSubtensor1)
def advanced_subtensor1_kernel(op, node):
    """Gather rows; host indices are checked on the host, device indices by the kernel (a flag)."""
    x_t, i_t = node.inputs[0].type, node.inputs[1].type
    itemsize = np.dtype(x_t.dtype).itemsize
    if itemsize not in UINT:
        return None
    nd = x_t.ndim
    dev_idx = on_device(node.inputs[1])
    const = node.inputs[1].data if isinstance(node.inputs[1], Constant) else None

    def bind(get, rt):
        take = get(NAME + "_take")
        cached = []

        def run(node, args, outs):
            x, i = args
            rows, m = x.shape[0], i.shape[0]
            out = DeviceArray.empty(rt, (m,) + x.shape[1:], x.dtype)
            flag = None
            if not is_device(i):
                i = _upload_checked(rt, i, rows, x.shape, _TAKE_ERR, const, cached)
            elif out.size:
                flag = _new_flag(rt)
            elif m:  # rows of length 0: nothing to copy, but the indices must still be valid
                _index_error(i.get(), rows, x.shape, _TAKE_ERR)
            n = out.size
            if n:
                i64 = np.int64
                take(grid_for(n, BLOCK), (BLOCK, 1, 1),
                     [i64(n), i64(rows)] + [i64(s) for s in x.shape[1:]] + [np.uintp(x.ptr)]
                     + [i64(s) for s in x.strides] + [np.uintp(i.ptr), i64(i.strides[0]), np.uintp(out.ptr),
                                                      np.uintp(flag.ptr if flag is not None else 0)])  # fmt: skip
                if flag is not None:
                    _check_flag(rt, flag, i, rows, x.shape, _TAKE_ERR)
            outs[0][0] = out

        return run

    return CudaKernel(take_source(nd, itemsize, i_t.dtype), bind, host_inputs=() if dev_idx else (1,))


# ------------------------------------------------------------------ AdvancedIncSubtensor1
def _scatter_head(kind, nd, tail):
    return ['extern "C" __global__ void %s_%s(%s)\n{' % (NAME, kind, _params(
        ["int64_t n", "int64_t rows", "int64_t rowsize"], ["int64_t s%d" % d for d in range(1, nd)],
        ["char *__restrict__ out", "const char *__restrict__ y"], ["int64_t b%d" % d for d in range(nd)], tail)),
        "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {", "    int64_t r = i, c, yo = 0;"]  # fmt: skip


def seg_source(nd, dtype, set_instead_of_inc):
    """``NAME_seg``: one thread per target element applies its row's updates in their original order.

    ``tbl`` (int64) holds the ``u`` target rows, then for a set the position whose
    value wins for each, for an increment the ``u + 1`` segment starts and the
    positions sorted by target (``rows`` is ``u`` here).
    """
    t = UINT[np.dtype(dtype).itemsize] if set_instead_of_inc else C_TYPES[dtype]
    lines = _scatter_head("seg", nd, ["const int64_t *__restrict__ tbl"])
    lines += _decompose(nd, 1, [("yo", "b")])
    lines += ["    const int64_t k = i - r * rowsize;", "    %s *p = (%s *)out + tbl[r] * rowsize + k;" % (t, t)]
    lines += seg_update(t, dtype, set_instead_of_inc, "rows", "y + tbl[%s] * b0 + yo")
    return "\n".join(lines + ["  }", "}"]) + "\n"


def seg_update(t, dtype, set_instead_of_inc, n, y_at):
    """C lines storing into ``*p`` the values of segment ``r`` of the table ``tbl`` (``n`` segments).

    ``tbl[n + r]`` (set: the last value's row) and ``tbl[n + r] .. tbl[n + r + 1]`` (increment: the
    positions of the values, summed in that order) index ``tbl[2 n + 1 + q]``; ``y_at % expr`` is the C
    address of the value whose table entry is ``tbl[expr]``.
    """
    if set_instead_of_inc:
        return ["    *p = *(const %s *)(%s);" % (t, y_at % (n + " + r"))]
    return ["    %s acc = *p;" % t, "    const int64_t e = tbl[%s + r + 1];" % n,
            "    for (int64_t q = tbl[%s + r]; q < e; q++) {" % n,
            "      const %s v = *(const %s *)(%s);" % (t, t, y_at % ("2 * %s + 1 + q" % n)),
            "      " + _add(t, dtype, "acc", "v"), "    }", "    *p = acc;"]  # fmt: skip


def atomic_sources(nd, dtype, idx_dtype, set_instead_of_inc):
    """Kernels for device indices: ``NAME_scatter`` (atomicAdd), or ``NAME_win`` + ``NAME_wset`` (last wins)."""
    t = C_TYPES[dtype]
    tail = ["const char *__restrict__ idx", "int64_t ist"]
    if not set_instead_of_inc:
        lines = _scatter_head("scatter", nd, tail + ["int64_t *bad"]) + _decompose(nd, 1, [("yo", "b")])
        lines += ["    const int64_t k = i - r * rowsize;"] + _read_index(idx_dtype, "bad")
        at = _ATOMIC[dtype]
        lines.append("    atomicAdd((%s *)((%s *)out + j * rowsize + k), (%s)*(const %s *)(y + r * b0 + yo));"
                     % (at, t, at, t))  # fmt: skip
        return "\n".join(lines + ["  }", "}"]) + "\n"
    u = UINT[np.dtype(dtype).itemsize]
    win = ['extern "C" __global__ void %s_win(int64_t n, int64_t rows, const char *__restrict__ idx, int64_t ist, '
           "int64_t *win, int64_t *bad)\n{" % NAME, "  for (int64_t i = NT_TID; i < n; i += NT_STEP) {",
           "    const int64_t r = i;"] + _read_index(idx_dtype, "bad")  # fmt: skip
    win += ["    atomicMax((long long *)win + j, (long long)r);", "  }", "}"]
    lines = _scatter_head("wset", nd, tail + ["const int64_t *__restrict__ win"]) + _decompose(nd, 1, [("yo", "b")])
    lines += ["    const int64_t k = i - r * rowsize;"] + _read_index(idx_dtype, None)
    lines.append("    if (win[j] == r) ((%s *)out)[j * rowsize + k] = *(const %s *)(y + r * b0 + yo);" % (u, u))
    lines += ["  }", "}"]
    return "\n".join(win) + "\n" + "\n".join(lines) + "\n"


def _segments(i, rows, set_instead_of_inc):
    """``(u, tbl)`` for ``NAME_seg`` from the host index vector ``i`` (already checked)."""
    j = i.astype(np.int64)
    j[j < 0] += rows
    order = np.argsort(j, kind="stable")  # stable: a row's updates keep their order, as in numpy.add.at
    sj = j[order]
    starts = np.flatnonzero(np.r_[True, sj[1:] != sj[:-1]])
    if set_instead_of_inc:
        tbl = [sj[starts], order[np.r_[starts[1:], len(j)] - 1]]  # the last position of each row wins
    else:
        tbl = [sj[starts], starts, [len(j)], order]
    return len(starts), np.concatenate(tbl).astype(np.int64)


@cuda_kernel.register(AdvancedIncSubtensor1)
def advanced_inc_subtensor1_kernel(op, node):
    """Scatter rows into a copy of ``x`` (see the module docstring for host and device indices)."""
    x_t, i_t = node.inputs[0].type, node.inputs[2].type
    dtype, nd, setting = x_t.dtype, x_t.ndim, op.set_instead_of_inc
    itemsize = np.dtype(dtype).itemsize
    # config.deterministic='more': no atomicAdd (whose float sums vary in their last bits); the indices go to
    # the host for the sorted, deterministic segment kernel
    dev_idx = on_device(node.inputs[2]) and config.deterministic != "more"
    if itemsize not in UINT or not (setting or dtype in C_TYPES and dtype != "bool"):
        return None
    if dev_idx and not setting and dtype not in _ATOMIC:
        return None
    src = scopy_source(nd, itemsize)
    src += atomic_sources(nd, dtype, i_t.dtype, setting) if dev_idx else seg_source(nd, dtype, setting)

    def bind(get, rt):
        i64, ptr = np.int64, np.uintp

        def launch(kind, n, head, tail):
            get(NAME + "_" + kind)(grid_for(n, BLOCK), (BLOCK, 1, 1), [i64(n)] + head + tail)

        def run(node, args, outs):
            x, y, i = args
            rows, m = x.shape[0], i.shape[0]
            host = not is_device(i)
            if host:
                _index_error(i, rows, x.shape, _INC_ERR)
            _check_y_runtime(node.inputs[1], y, (m,) + x.shape[1:], op)
            out = copy_to_new(get, rt, x, nd)
            rowsize = math.prod(map(int, x.shape[1:]))
            ys = [i64(s) for s in _y_strides(y)]
            trail = [i64(s) for s in x.shape[1:]]
            if host and m and rowsize:
                u, tbl = _segments(i, rows, setting)
                tbl = DeviceArray.from_host(rt, tbl)
                launch("seg", u * rowsize, [i64(u), i64(rowsize)] + trail + [ptr(out.ptr), ptr(y.ptr)] + ys,
                       [ptr(tbl.ptr)])  # fmt: skip
            elif not host and m and (rowsize or setting):
                flag = _new_flag(rt)
                head = [i64(rows), i64(rowsize)] + trail + [ptr(out.ptr), ptr(y.ptr)] + ys
                idx = [ptr(i.ptr), i64(i.strides[0])]
                if setting:
                    win = DeviceArray.empty(rt, (max(rows, 1),), np.int64)
                    rt.memset(win.ptr, 0xFF, win.nbytes)  # -1: no position yet
                    launch("win", m, [i64(rows)] + idx, [ptr(win.ptr), ptr(flag.ptr)])
                    _check_flag(rt, flag, i, rows, x.shape, _INC_ERR)
                    if rowsize:
                        launch("wset", m * rowsize, head, idx + [ptr(win.ptr)])
                else:
                    launch("scatter", m * rowsize, head, idx + [ptr(flag.ptr)])
                    _check_flag(rt, flag, i, rows, x.shape, _INC_ERR)
            elif not host and m:  # rows of length 0: nothing moves, but the indices must still be valid
                _index_error(i.get(), rows, x.shape, _INC_ERR)
            outs[0][0] = out

        return run

    return CudaKernel(src, bind, host_inputs=() if dev_idx else (2,))


__all__ = ["basic_view", "subtensor_kernel", "inc_subtensor_kernel", "advanced_subtensor1_kernel",
           "advanced_inc_subtensor1_kernel", "on_device", "inc_source", "take_source", "seg_source", "seg_update",
           "atomic_sources"]
