"""Runners for indexing, shape and copy ops, where a call to ``perform`` costs more than the work.

Two C kernels do element work that NumPy does slowly: the gather of
``x[ivec]`` (:class:`AdvancedSubtensor1`) and the scatter of
``inc_subtensor(x[ivec], y)`` / ``set_subtensor`` (:class:`AdvancedIncSubtensor1`,
the gradient of an embedding lookup; ``numpy.add.at`` is slow).  Both check
every index before writing anything.

The other ops are views or single NumPy calls; their cost is Python overhead
(parsing ``idx_list``, ``np.reshape`` of an index array, lists of axes), so
they get lean Python runners (kernels with empty source, see
:class:`~nettrain.backends.c.registry.Kernel`) that precompute per node what
``perform`` recomputes per call.

Bad input takes the reference path: a runner that detects a problem (or meets
an unexpected argument type) calls the op's ``perform``, which raises the
reference's error, so both linkers report the same message.
"""

import math
import operator

import numpy as np

from ...tensor.advanced_subtensor import AdvancedIncSubtensor1, AdvancedSubtensor1
from ...tensor.alloc import Alloc
from ...tensor.elemwise import DimShuffle
from ...tensor.join import Join, Split
from ...tensor.shape import Reshape, Shape, Shape_i
from ...tensor.subtensor import IncSubtensor, SliceLength, Subtensor, _check_bounds, _check_y_runtime
from .buffers import MIN_BYTES, OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES

_ndarray = np.ndarray
_index = operator.index


def _python(make_run):
    """A kernel without C code whose runner is ``make_run()``."""
    return Kernel("", "", lambda fn, ffi: make_run())


# ---------------------------------------------------------------- views
@c_kernel.register(DimShuffle)
def dimshuffle_kernel(op, node):
    """Drop (index 0), transpose, insert axes (index None): three views, each only if needed."""
    keep = [d for d in range(op.input_ndim) if d not in op.drop]
    drop_idx = None
    if op.drop:  # the trailing Ellipsis keeps a 0-d result an array
        drop_idx = tuple(0 if d in op.drop else slice(None) for d in range(op.input_ndim)) + (Ellipsis,)
    perm = tuple(keep.index(d) for d in op.shuffle)
    perm = perm if perm != tuple(range(len(perm))) else None
    new_idx = tuple(None if d == "x" else slice(None) for d in op.new_order) if op.augment else None
    drop, perform = op.drop, op.perform

    def make_run():
        def run(node, args, outs):
            x = args[0]
            if type(x) is not _ndarray:
                return perform(node, args, outs)
            if drop_idx is not None:
                shape = x.shape
                for d in drop:
                    if shape[d] != 1:  # the reference's reshape error
                        return perform(node, args, outs)
                x = x[drop_idx]
            if perm is not None:
                x = x.transpose(perm)
            outs[0][0] = x[new_idx] if new_idx is not None else x

        return run

    return _python(make_run)


def _index_builder(idx_list):
    """``(build(values), int axes)``: the NumPy index (with a trailing Ellipsis) of ``idx_list``.

    ``int axes`` are the dimensions indexed by an integer, whose bounds are
    checked before indexing (NumPy's message does not name the tensor).
    """
    int_axes = tuple(axis for axis, e in enumerate(idx_list) if not isinstance(e, tuple))
    if not any(isinstance(c, str) for e in idx_list for c in (e if isinstance(e, tuple) else (e,))):
        const = tuple(slice(*e) if isinstance(e, tuple) else e for e in idx_list) + (Ellipsis,)
        return (lambda values: const), int_axes
    # per entry: True/False (a symbolic/constant integer) or, for a slice, one such flag per part
    plan = tuple(tuple(isinstance(c, str) for c in e) if isinstance(e, tuple) else isinstance(e, str)
                 for e in idx_list)  # fmt: skip

    def build(values):
        it = iter(values)
        out = []
        for p, e in zip(plan, idx_list):
            if p is True:
                out.append(_index(next(it)))
            elif p is False:
                out.append(e)
            else:
                out.append(slice(*[_index(next(it)) if s else c for s, c in zip(p, e)]))
        out.append(Ellipsis)
        return tuple(out)

    return build, int_axes


def _bounds_ok(idx, shape, int_axes):
    for axis in int_axes:
        n, v = shape[axis], idx[axis]
        if not -n <= v < n:
            return False
    return True


@c_kernel.register(Subtensor)
def subtensor_kernel(op, node):
    """``x[idx]`` with the index built from precomputed parts."""
    build, int_axes = _index_builder(op.idx_list)
    perform = op.perform

    def make_run():
        def run(node, args, outs):
            x = args[0]
            try:
                idx = build(args[1:])
            except TypeError:  # a value that is not an integer: the reference's path
                return perform(node, args, outs)
            if int_axes and not _bounds_ok(idx, x.shape, int_axes):
                _check_bounds(idx[:-1], x.shape)
            outs[0][0] = x[idx]

        return run

    return _python(make_run)


def _strided_source(dtype):
    """C of ``dst (op)= src`` over an nd strided box: ``meta`` = shape, dst strides, src strides (bytes)."""
    t = C_TYPES[dtype]
    return ("NT_EXPORT void %s(int64_t nd, const int64_t *meta, char *dst, const char *src, int64_t add)\n{\n"
            "  int64_t one[3] = {1, 0, 0}, idx[32] = {0}, total = 1;\n"
            "  if (nd == 0) { nd = 1; meta = one; }\n"
            "  const int64_t *shape = meta, *ds = meta + nd, *ss = meta + 2 * nd;\n"
            "  for (int64_t d = 0; d < nd; d++) total *= shape[d];\n"
            "  if (total == 0) return;\n"
            "  const int64_t n = shape[nd - 1], dsi = ds[nd - 1], ssi = ss[nd - 1];\n"
            "  for (int64_t o = 0; o < total / n; o++) {\n"
            "    char *d = dst; const char *s = src;\n"
            "    for (int64_t k = 0; k < nd - 1; k++) { d += idx[k] * ds[k]; s += idx[k] * ss[k]; }\n"
            "    if (dsi == sizeof(%s) && ssi == sizeof(%s)) {  /* rows of both: unit strides, vectorized */\n"
            "      %s *restrict dd = (%s *)d; const %s *restrict sd = (const %s *)s;\n"
            "      if (add) for (int64_t j = 0; j < n; j++) dd[j] += sd[j];\n"
            "      else for (int64_t j = 0; j < n; j++) dd[j] = sd[j];\n"
            "    } else if (add) for (int64_t j = 0; j < n; j++) *(%s *)(d + j * dsi) += *(const %s *)(s + j * ssi);\n"
            "    else for (int64_t j = 0; j < n; j++) *(%s *)(d + j * dsi) = *(const %s *)(s + j * ssi);\n"
            "    for (int64_t k = nd - 2; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }\n"
            "  }\n}\n" % ((NAME,) + (t,) * 10))  # fmt: skip


@c_kernel.register(IncSubtensor)
def inc_subtensor_kernel(op, node):
    """A copy of ``x`` (from a reused buffer when large) with the indexed part set or incremented.

    Both writes are one strided C loop each when ``x`` and ``y`` have the
    output's dtype (so a compiled scan loop can replay them); NumPy otherwise.
    """
    build, int_axes = _index_builder(op.idx_list)
    perform, set_ = op.perform, op.set_instead_of_inc
    yvar, dtype = node.inputs[1], node.outputs[0].type.numpy_dtype
    c_ok = (dtype.name in C_TYPES and yvar.type.dtype == dtype.name and node.inputs[0].type.ndim <= 32)

    def bind(fn, ffi):
        pool = OutputPool(dtype)
        new = ffi.new if fn is not None else None

        def strided(dst, src, add):
            src = np.broadcast_to(src, dst.shape)  # length-1 dimensions of y repeat: stride 0
            meta = list(dst.shape) + list(dst.strides) + list(src.strides)
            fn(dst.ndim, new("int64_t[]", meta), ffi.cast("char *", dst.__array_interface__["data"][0]),
               ffi.cast("char *", src.__array_interface__["data"][0]), add)  # fmt: skip

        def run(node, args, outs):
            x, y = args[0], args[1]
            if type(x) is not _ndarray or type(y) is not _ndarray or x.dtype != dtype:
                return perform(node, args, outs)
            try:
                idx = build(args[2:])
            except TypeError:
                return perform(node, args, outs)
            if int_axes and not _bounds_ok(idx, x.shape, int_axes):
                _check_bounds(idx[:-1], x.shape)
            out = pool.empty(x.shape) if x.nbytes >= MIN_BYTES else np.empty(x.shape, dtype)
            view = out[idx]
            if y.shape != view.shape:
                _check_y_runtime(yvar, y, view.shape, op)
            if fn is not None and y.dtype == dtype and out.size:
                strided(out, x, 0)
                if view.size:
                    strided(view, y, 0 if set_ else 1)
            else:
                np.copyto(out, x)
                if set_:
                    view[...] = y
                else:
                    view += y
            outs[0][0] = out

        return run

    if not c_ok:
        return Kernel("", "", bind)
    return Kernel(_strided_source(dtype.name), "void %s(int64_t, const int64_t *, char *, const char *, int64_t);"
                  % NAME, bind)  # fmt: skip


@c_kernel.register(Reshape)
def reshape_kernel(op, node):
    """``x.reshape(list)``: ``np.reshape`` with an index array as the shape is much slower."""
    ndim, perform = op.ndim, op.perform

    def make_run():
        def run(node, args, outs):
            x, shp = args
            try:
                if len(shp) == ndim:
                    outs[0][0] = x.reshape(shp.tolist())
                    return
            except (ValueError, TypeError, AttributeError):
                pass
            perform(node, args, outs)  # raises the reference's error

        return run

    return _python(make_run)


@c_kernel.register(Shape)
def shape_kernel(op, node):
    """The shape as an int64 vector."""

    def make_run():
        asarray, i64 = np.asarray, np.int64

        def run(node, args, outs):
            outs[0][0] = asarray(args[0].shape, dtype=i64)

        return run

    return _python(make_run)


@c_kernel.register(Shape_i)
def shape_i_kernel(op, node):
    """One length as an int64 scalar."""
    i = op.i

    def make_run():
        asarray, i64 = np.asarray, np.int64

        def run(node, args, outs):
            outs[0][0] = asarray(args[0].shape[i], dtype=i64)

        return run

    return _python(make_run)


@c_kernel.register(SliceLength)
def slice_length_kernel(op, node):
    """``len(range(*slice.indices(n)))`` with the slice built from precomputed parts."""
    build, _ = _index_builder((op.pattern,))
    perform = op.perform

    def make_run():
        asarray, i64 = np.asarray, np.int64

        def run(node, args, outs):
            try:
                comps = build(args[1:])[0]
                outs[0][0] = asarray(len(range(*comps.indices(_index(args[0])))), dtype=i64)
            except (TypeError, ValueError):
                perform(node, args, outs)

        return run

    return _python(make_run)


# ---------------------------------------------------------------- copies
@c_kernel.register(Alloc)
def alloc_kernel(op, node):
    """A fresh array (from a reused buffer when large) filled with the value."""
    dtype, perform = node.outputs[0].type.numpy_dtype, op.perform

    def make_run():
        pool, empty = OutputPool(dtype), np.empty

        def run(node, args, outs):
            v = args[0]
            try:
                shape = tuple([_index(d) for d in args[1:]])
            except TypeError:
                return perform(node, args, outs)
            if type(v) is not _ndarray or v.ndim or min(shape, default=0) < 0:
                return perform(node, args, outs)  # broadcast values keep the reference's checks
            out = pool.empty(shape) if v.itemsize * math.prod(shape) >= MIN_BYTES else empty(shape, dtype)
            out.fill(v)
            outs[0][0] = out

        return run

    return _python(make_run)


@c_kernel.register(Join)
def join_kernel(op, node):
    """``np.concatenate``, into a reused buffer when large."""
    axis, perform = op.axis, op.perform
    dtype = node.outputs[0].type.numpy_dtype
    if any(v.type.numpy_dtype != dtype for v in node.inputs):
        return None  # mixed dtypes: perform's conversion
    nin = len(node.inputs)

    def make_run():
        pool, concatenate = OutputPool(dtype), np.concatenate

        def run(node, args, outs):
            try:
                if args[0].nbytes * nin < MIN_BYTES:  # small: a fresh array (no page faults)
                    r = concatenate(args, axis=axis)
                    outs[0][0] = r if r.dtype == dtype else r.astype(dtype)
                    return
                shape = list(args[0].shape)
                shape[axis] = sum([a.shape[axis] for a in args])
                outs[0][0] = concatenate(args, axis=axis, out=pool.empty(tuple(shape)))
                return
            except (ValueError, TypeError, AttributeError, IndexError):
                pass
            perform(node, args, outs)  # raises the reference's error

        return run

    return _python(make_run)


@c_kernel.register(Split)
def split_kernel(op, node):
    """Copies of consecutive slices along the axis."""
    n, axis, perform = op.len_splits, op.axis, op.perform
    pre = (slice(None),) * axis

    def make_run():
        def run(node, args, outs):
            x, splits = args
            try:
                sizes = splits.tolist()
                if len(sizes) != n or sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
                    return perform(node, args, outs)  # raises the reference's error
            except (AttributeError, TypeError, IndexError):
                return perform(node, args, outs)
            start = 0
            for cell, s in zip(outs, sizes):
                cell[0] = x[pre + (slice(start, start + s),)].copy()
                start += s

        return run

    return _python(make_run)


# ---------------------------------------------------------------- gather / scatter (C)
def _rows_contiguous(x):
    """True when each ``x[k]`` is C-contiguous (``x`` itself may be sliced or reversed along axis 0)."""
    if x.flags.c_contiguous or x.ndim == 1:
        return True
    step = x.itemsize
    for n, s in zip(reversed(x.shape[1:]), reversed(x.strides[1:])):
        if n != 1 and s != step:
            return False
        step *= n
    return True


def _row_index(it, as_signed=False):
    """C statements setting ``int64_t i`` from ``idx[k]``: negative indices wrap; out of range returns ``k``.

    ``as_signed`` reads uint64 indices as NumPy's fancy indexing does (converted
    to int64, so 2**64 - 1 is -1); otherwise an unsigned index never wraps.
    """
    if it.startswith("u") and not as_signed:
        return ["uint64_t u = (uint64_t)idx[k];", "if (u >= (uint64_t)n0) return k;", "int64_t i = (int64_t)u;"]
    return ["int64_t i = (int64_t)idx[k];", "if (i < 0) i += n0;", "if (i < 0 || i >= n0) return k;"]


def _pointer(fb, cast):
    def ptr(a):
        if a.flags.c_contiguous:
            return fb(a)
        return cast("char *", a.__array_interface__["data"][0])

    return ptr


def _take_1d(perform):
    """``x[ivec]`` of a vector: NumPy's own loop is as fast as a kernel, so only the wrapper goes."""

    def run(node, args, outs):
        try:
            outs[0][0] = args[0][args[1]]
        except IndexError:
            perform(node, args, outs)  # raises the reference's IndexError

    return run


@c_kernel.register(AdvancedSubtensor1)
def advanced_subtensor1_kernel(op, node):
    """``x[ivec]`` of a tensor of rows: one row copy per index, each index checked as it is read.

    Faster than NumPy's fancy indexing for narrow rows (e.g. embeddings of 16
    floats: 3x); a vector is indexed by NumPy, whose loop is as fast.
    """
    xt, it = node.inputs[0].type, node.inputs[1].type
    if xt.ndim == 1:
        return _python(lambda: _take_1d(op.perform))
    if it.dtype not in C_TYPES:
        return None
    size, ic = xt.numpy_dtype.itemsize, C_TYPES[it.dtype]  # the source depends on the index type only
    get = ["    " + ln for ln in _row_index(it.dtype, as_signed=True)]
    src = ["#include <string.h>",
           "NT_EXPORT int64_t %s(const char *x, int64_t n0, int64_t xs0, int64_t row, const char *pidx, int64_t m, "
           "char *out)" % NAME, "{", "  const %s *idx = (const %s *)pidx;" % (ic, ic)]  # fmt: skip
    src += ["  for (int64_t k = 0; k < m; k++) {"] + get
    src += ["    memcpy(out + k * row, x + i * xs0, (size_t)row);", "  }", "  return -1;", "}", ""]
    cdef = "int64_t %s(const char *, int64_t, int64_t, int64_t, const char *, int64_t, char *);" % NAME
    xdt, idt, perform = xt.numpy_dtype, it.numpy_dtype, op.perform

    def bind(fn, ffi):
        fb, pool, empty = fast_from_buffer(ffi), OutputPool(xdt), np.empty
        ptr = _pointer(fb, ffi.cast)

        def run(node, args, outs):
            x, i = args
            if (type(x) is not _ndarray or type(i) is not _ndarray or (x.dtype is not xdt and x.dtype != xdt)
                    or (i.dtype is not idt and i.dtype != idt) or i.ndim != 1):
                return perform(node, args, outs)  # fmt: skip
            if x.flags.c_contiguous:
                px = fb(x)
            elif _rows_contiguous(x):
                px = ptr(x)
            else:
                x = np.ascontiguousarray(x)
                px = fb(x)
            try:
                pi = fb(i)
            except ValueError:  # a strided index vector
                i = np.ascontiguousarray(i)
                pi = fb(i)
            shape = x.shape
            m, row = i.shape[0], size * math.prod(shape[1:])
            shape = (m,) + shape[1:]
            out = empty(shape, xdt) if m * row < MIN_BYTES else pool.empty(shape)
            if m and fn(px, x.shape[0], x.strides[0], row, pi, m, fb(out)) >= 0:
                return perform(node, args, outs)  # raises the reference's IndexError
            outs[0][0] = out

        return run

    return Kernel("\n".join(src), cdef, bind)


@c_kernel.register(AdvancedIncSubtensor1)
def advanced_inc_subtensor1_kernel(op, node):
    """``inc_subtensor(x[ivec], y)`` (in index order, as ``numpy.add.at``) or ``set_subtensor`` on a copy of ``x``.

    Every index is checked before anything is written.  ``y`` rows are read
    with a row stride (0 when ``y`` broadcasts along the index axis), or as
    one value per row when ``y`` broadcasts along all the others.
    """
    xt, yvar, it = node.inputs[0].type, node.inputs[1], node.inputs[2].type
    set_ = op.set_instead_of_inc
    if xt.dtype not in C_TYPES or it.dtype not in C_TYPES or (xt.dtype == "bool" and not set_):
        return None
    t, ic = C_TYPES[xt.dtype], C_TYPES[it.dtype]
    if set_:
        upd = "o[j] = %s;"
    elif xt.dtype.startswith("float"):
        upd = "o[j] = o[j] + %s;"
    else:  # integers wrap, as NumPy's do (unsigned arithmetic: no undefined overflow)
        upd = "o[j] = (%s)((uint64_t)o[j] + (uint64_t)%%s);" % t
    src = ["NT_EXPORT int64_t %s(char *out, int64_t n0, int64_t rowel, const char *y, int64_t ys0, int yrow, "
           "const char *pidx, int64_t m)" % NAME, "{", "  const %s *idx = (const %s *)pidx;" % (ic, ic),
           "  for (int64_t k = 0; k < m; k++) {"] + ["    " + g for g in _row_index(it.dtype)]  # fmt: skip
    src += ["  }", "  for (int64_t k = 0; k < m; k++) {"] + ["    " + g for g in _row_index(it.dtype)]
    src += ["    %s *restrict o = (%s *)out + i * rowel;" % (t, t),
            "    const %s *restrict v = (const %s *)(y + k * ys0);" % (t, t),
            "    if (yrow) {", "      for (int64_t j = 0; j < rowel; j++) " + upd % "v[j]",
            "    } else {", "      const %s c = v[0];" % t, "      for (int64_t j = 0; j < rowel; j++) " + upd % "c",
            "    }", "  }", "  return -1;", "}", ""]  # fmt: skip
    cdef = "int64_t %s(char *, int64_t, int64_t, const char *, int64_t, int, const char *, int64_t);" % NAME
    xdt, idt, perform = xt.numpy_dtype, it.numpy_dtype, op.perform
    ystatic = yvar.type.shape

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(xdt)
        ptr = _pointer(fb, ffi.cast)

        def run(node, args, outs):
            x, y, i = args
            if (type(x) is not _ndarray or type(y) is not _ndarray or type(i) is not _ndarray or x.dtype != xdt
                    or y.dtype != xdt or i.dtype != idt or i.ndim != 1 or y.ndim != x.ndim or x.ndim == 0):
                return perform(node, args, outs)  # fmt: skip
            m, rshape = i.shape[0], x.shape[1:]
            ys, yrow = y.shape, 1
            if ys[1:] != rshape:
                for d in range(1, len(ys)):
                    if ys[d] != rshape[d - 1] and (ys[d] != 1 or ystatic[d] != 1):
                        return perform(node, args, outs)  # raises the reference's error
                if any(n != 1 for n in ys[1:]):  # broadcast along some of the row's dimensions
                    y = np.ascontiguousarray(np.broadcast_to(y, (ys[0],) + rshape))
                else:
                    yrow = 0
            if ys[0] != m and (ys[0] != 1 or ystatic[0] != 1):
                return perform(node, args, outs)
            if yrow and not _rows_contiguous(y):
                y = np.ascontiguousarray(y)
            if not i.flags.c_contiguous:
                i = np.ascontiguousarray(i)
            if x.nbytes >= MIN_BYTES:
                out = pool.empty(x.shape)
                np.copyto(out, x)
            else:
                out = x.copy()
            if m:
                rowel = math.prod(rshape)
                ys0 = y.strides[0] if ys[0] != 1 else 0
                if fn(fb(out), x.shape[0], rowel, ptr(y), ys0, yrow, fb(i), m) >= 0:
                    return perform(node, args, outs)  # raises the reference's IndexError
            outs[0][0] = out

        return run

    return Kernel("\n".join(src), cdef, bind)


__all__ = ["advanced_inc_subtensor1_kernel", "advanced_subtensor1_kernel", "dimshuffle_kernel", "subtensor_kernel",
           "inc_subtensor_kernel", "reshape_kernel", "shape_kernel", "shape_i_kernel", "alloc_kernel", "join_kernel",
           "split_kernel", "slice_length_kernel"]  # fmt: skip
