"""CUDA kernels for the softmax family and the fused softmax + 1-hot crossentropy.

Softmax, LogSoftmax and SoftmaxGrad work along any axis of inputs with any
strides: the other dims are the rows, and each block takes ``blockDim.x`` rows
whose elements its ``blockDim.y`` threads read (one block per row for long
rows, one thread per row for short ones or when a row dim is innermost in
memory; ``reduction.block_shape``), with block reductions
(``reduction.block_reduce``) for the row maximum and sums.

Each kernel mirrors the C kernel (``backends/c/nnet.py``) and so the op's
``perform``: the row maximum propagates NaN and is replaced by 0 when not
finite, exponentials are taken in the input dtype, sums accumulate in double.
Mixed float dtypes are converted to the output dtype as NumPy does.

Class indices are host inputs: the linker hands them to ``run`` as NumPy
values, where perform's own checks (``_check_rows``, ``_check_indices``) raise
its exact errors before anything runs on the device, and they are then
uploaded.  Labels come from the host in training (integer arrays are never
placed on the device), so this costs no transfer beyond the upload the kernel
needs anyway, and no device-to-host copy (which would stall the pipeline on
every call, as a device-side error flag would).
"""

import math

import numpy as np

from ...tensor.nnet.crossentropy import _check_indices, _check_rows
from ...tensor.nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx
from ...tensor.nnet.softmax_ops import LogSoftmax, Softmax, SoftmaxGrad
from ..c.nnet import _int_dtype, crossentropy_dtypes
from ..c.table import C_TYPES
from .darray import DeviceArray
from .elemwise import merged_layout
from .reduction import Acc, _p2, block_reduce, block_shape, pad_layout, shared_decls
from .registry import MAX_BLOCKS, NAME, CudaKernel, cuda_kernel

_FLOATS = ("float32", "float64")


def _max_acc(t):
    fn = "nt_max_f32" if t == "float" else "nt_max_f64"
    return Acc([(t, "mx", "-INFINITY")], "", lambda a, b: "%s = %s(%s, %s);" % (a["mx"], fn, a["mx"], b["mx"]), "mx")


def _sum_acc(name):
    return Acc([("double", name, "0")], "", lambda a, b: "%s = %s + %s;" % (a[name], a[name], b[name]), name)


def _libm(t, fn):
    return fn + "f" if t == "float" else fn


# ----------------------------------------------------------------- row layout
def rows_layout(shape, axis, strides):
    """The rows of an array along ``axis``: ``(M, k, shape, [strides], [axis strides], col)``.

    ``strides`` has the byte strides of each operand (the first decides the
    layout); the row dims are merged where contiguous for every operand and
    padded in front to ``ndim - 1`` dims.  ``col``: a row dim is innermost in
    memory (neighbouring threads should take neighbouring rows).
    """
    nd = len(shape)
    outer = [d for d in range(nd) if d != axis]
    k = shape[axis]
    ref = strides[0]
    live = [d for d in range(nd) if shape[d] > 1]
    inner = min(live, key=lambda d: abs(ref[d])) if live else None
    col = k > 1 and inner is not None and inner != axis
    if col:
        outer.sort(key=lambda d: -abs(ref[d]))
    shp, sts = merged_layout([shape[d] for d in outer], [[st[d] for d in outer] for st in strides])
    shp, sts = pad_layout(shp, sts, nd - 1)
    M = math.prod(map(int, [shape[d] for d in outer]))
    return M, k, shp, sts, [st[axis] for st in strides], col


def _row_head(names, no, shared):
    """Kernel start: the loop over row tiles and each row's offsets ``<name>o`` for the operands ``names``."""
    src = shared + ["  const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x, by = blockDim.y;",
                    "  for (int64_t base = (int64_t)blockIdx.x * bx; base < M; base += (int64_t)gridDim.x * bx) {",
                    "    const int64_t r = base + tx;",
                    "    const bool live = r < M;",
                    "    int64_t %s;" % ", ".join("%so = 0" % n for n in names)]  # fmt: skip
    if no:
        src += ["    if (live) {", "      int64_t r_ = r, c_;"]
        for d in reversed(range(no)):
            src.append("      " + ("c_ = r_ %% s%d; r_ /= s%d;" % (d, d) if d else "c_ = r_;"))
            src += ["      %so += c_ * %ss%d;" % (n, n, d) for n in names]
        src.append("    }")
    return src


def _row_params(names, no):
    """Parameters: rows, row length, row shape, each operand's row strides, then its axis stride."""
    p = ["int64_t M", "int64_t k"] + ["int64_t s%d" % d for d in range(no)]
    p += ["int64_t %ss%d" % (n, d) for n in names for d in range(no)]
    return p + ["int64_t %sa" % n for n in names]


def _load(ct, n, t):
    """The element ``j`` of operand ``n`` converted to the compute type ``t``."""
    return "(%s)*(const %s *)(p%s + %so + j * %sa)" % (t, ct, n, n, n)


# ----------------------------------------------------------------- sources
def _max_and_sum_exp(t, x, mx_acc, s_acc, broadcast):
    """Lines setting ``mx`` (the row's stabilizing maximum, 0 when not finite) and ``s = sum(exp(x - mx))``."""
    lines = ["    %s mx = -INFINITY;" % t,
             "    if (live) for (int64_t j = ty; j < k; j += by) mx = nt_max_%s(mx, %s);"
             % ("f32" if t == "float" else "f64", x)]  # fmt: skip
    lines += block_reduce(mx_acc, "    ", broadcast=True)
    lines += ["    if (!isfinite(mx)) mx = 0;",
              "    double s = 0;",
              "    if (live) for (int64_t j = ty; j < k; j += by) s += %s(%s - mx);"
              % (_libm(t, "exp"), x)]  # fmt: skip
    return lines + block_reduce(s_acc, "    ", broadcast=broadcast)


def _softmax_source(dtype, no, log):
    t = C_TYPES[dtype]
    mx_acc, s_acc = _max_acc(t), _sum_acc("s")
    params = _row_params("xz", no) + ["const char *__restrict__ px", "char *__restrict__ pz"]
    src = ['extern "C" __global__ void %s(%s)\n{' % (NAME, ", ".join(params))]
    src += _row_head("xz", no, shared_decls(mx_acc) + shared_decls(s_acc))
    x = _load(t, "x", t)
    src += _max_and_sum_exp(t, x, mx_acc, s_acc, broadcast=True)
    if log:
        src += ["    const %s lse = %s((%s)s);" % (t, _libm(t, "log"), t),
                "    if (live) for (int64_t j = ty; j < k; j += by) *(%s *)(pz + zo + j * za) = (%s - mx) - lse;"
                % (t, x)]  # fmt: skip
    else:
        src += ["    const %s st = (%s)s;" % (t, t),
                "    if (live) for (int64_t j = ty; j < k; j += by) *(%s *)(pz + zo + j * za) = %s(%s - mx) / st;"
                % (t, _libm(t, "exp"), x)]  # fmt: skip
    src += ["  }", "}"]
    return "\n".join(src) + "\n"


def _softmax_grad_source(ddt, sdt, odt, no):
    t = C_TYPES[odt]
    acc = _sum_acc("acc")
    params = _row_params("gsz", no) + ["const char *__restrict__ pg", "const char *__restrict__ ps",
                                        "char *__restrict__ pz"]  # fmt: skip
    src = ['extern "C" __global__ void %s(%s)\n{' % (NAME, ", ".join(params))]
    src += _row_head("gsz", no, shared_decls(acc))
    d, s = _load(C_TYPES[ddt], "g", t), _load(C_TYPES[sdt], "s", t)
    src += ["    double acc = 0;",
            "    if (live) for (int64_t j = ty; j < k; j += by) acc += (double)(%s * %s);" % (d, s)]  # fmt: skip
    src += block_reduce(acc, "    ", broadcast=True)
    src += ["    const %s a = (%s)acc;" % (t, t),
            "    if (live) for (int64_t j = ty; j < k; j += by) *(%s *)(pz + zo + j * za) = (%s - a) * %s;"
            % (t, d, s), "  }", "}"]  # fmt: skip
    return "\n".join(src) + "\n"


def _ce_source(dtype, ydtype):
    t, yt = C_TYPES[dtype], C_TYPES[ydtype]
    mx_acc, s_acc = _max_acc(t), _sum_acc("s")
    params = _row_params("x", 1) + ["const char *__restrict__ px", "const char *__restrict__ py",
                                     "char *__restrict__ pz"]  # fmt: skip
    src = ['extern "C" __global__ void %s(%s)\n{' % (NAME, ", ".join(params))]
    src += _row_head("x", 1, shared_decls(mx_acc) + shared_decls(s_acc))
    x = _load(t, "x", t)
    src += _max_and_sum_exp(t, x, mx_acc, s_acc, broadcast=False)
    src += ["    if (live && ty == 0) {",
            "      const int64_t j = (int64_t)((const %s *)py)[r];" % yt,
            "      ((%s *)pz)[r] = -((%s - mx) - %s((%s)s));" % (t, x, _libm(t, "log"), t),
            "    }", "  }", "}"]  # fmt: skip
    return "\n".join(src) + "\n"


def _ce_dx_source(gdt, sdt, odt, ydtype):
    t, yt = C_TYPES[odt], C_TYPES[ydtype]
    return ('extern "C" __global__ void %s(int64_t M, int64_t k, int64_t gst, int64_t ss0, int64_t ssa,'
            " const char *__restrict__ pg, const char *__restrict__ ps, const char *__restrict__ py,"
            " char *__restrict__ pz)\n{\n"
            "  for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < M;"
            " r += (int64_t)gridDim.x * blockDim.y) {\n"
            "    const %s w = (%s)*(const %s *)(pg + r * gst);\n"
            "    const int64_t yi = (int64_t)((const %s *)py)[r];\n"
            "    const char *sr = ps + r * ss0;\n"
            "    %s *zr = (%s *)pz + r * k;\n"
            "    for (int64_t j = threadIdx.x; j < k; j += blockDim.x)\n"
            "      zr[j] = ((%s)*(const %s *)(sr + j * ssa) - (%s)(j == yi)) * w;\n"
            "  }\n}\n" % (NAME, t, t, C_TYPES[gdt], yt, t, t, t, C_TYPES[sdt], t))  # fmt: skip


# ----------------------------------------------------------------- kernels
def rows_launcher(fn, axis):
    """``launch(operands, out)``: run the row kernel ``fn`` over device arrays (``out`` last) along ``axis``.

    Launch plans are kept per shape and strides, so a training loop pays for them once.
    """
    plans = {}
    i64 = np.int64

    def plan(shape, strides):
        M, k, shp, sts, asts, col = rows_layout(shape, axis, strides)
        if M == 0 or k == 0:
            return None
        bx, by = block_shape(k, col)
        grid = (max(1, min(MAX_BLOCKS, -(-M // bx))), 1, 1)
        return grid, (bx, by, 1), [i64(v) for v in [M, k] + shp + [x for st in sts for x in st] + asts]

    def launch(operands, out):
        key = (out.shape, tuple(a.strides for a in operands) + (out.strides,))
        p = plans.get(key, False)
        if p is False:
            if len(plans) >= 64:
                plans.clear()
            p = plans[key] = plan(out.shape, key[1])
        if p is not None:
            grid, block, args = p
            fn(grid, block, args + [np.uintp(a.ptr) for a in operands] + [np.uintp(out.ptr)])

    return launch


@cuda_kernel.register(Softmax)
@cuda_kernel.register(LogSoftmax)
def softmax_kernel(op, node):
    """``softmax`` / ``log_softmax`` along any axis."""
    dtype = node.outputs[0].type.dtype
    if dtype not in _FLOATS or node.inputs[0].type.dtype != dtype:
        return None
    dt = np.dtype(dtype)
    no = node.inputs[0].type.ndim - 1

    def bind(get, rt):
        launch = rows_launcher(get(NAME), op.axis)

        def run(node, args, outs):
            x = args[0]
            out = DeviceArray.empty(rt, x.shape, dt)
            launch([x], out)
            outs[0][0] = out

        return run

    return CudaKernel(_softmax_source(dtype, no, isinstance(op, LogSoftmax)), bind)


@cuda_kernel.register(SoftmaxGrad)
def softmax_grad_kernel(op, node):
    """``(dy - sum(dy * sm)) * sm`` along any axis."""
    dtypes = [v.type.dtype for v in node.inputs + node.outputs]
    if any(d not in _FLOATS for d in dtypes):
        return None
    dt = np.dtype(dtypes[2])
    no = node.outputs[0].type.ndim - 1

    def bind(get, rt):
        launch = rows_launcher(get(NAME), op.axis)

        def run(node, args, outs):
            dy, sm = args
            if dy.shape != sm.shape:
                raise ValueError("SoftmaxGrad: dy of shape %s and softmax of shape %s differ" % (dy.shape, sm.shape))
            out = DeviceArray.empty(rt, sm.shape, dt)
            launch([dy, sm], out)
            outs[0][0] = out

        return run

    return CudaKernel(_softmax_grad_source(*dtypes, no), bind)


@cuda_kernel.register(CrossentropySoftmax1Hot)
def crossentropy_softmax_kernel(op, node):
    """``-log_softmax(x)[i, y[i]]`` per row (class indices checked on the host)."""
    found = crossentropy_dtypes(node, 1, 1)
    if found is None:
        return None
    dtype, ydtype = found
    dt, ydt = np.dtype(dtype), np.dtype(ydtype)
    name = "crossentropy_softmax_1hot"

    def bind(get, rt):
        fn = get(NAME)

        def run(node, args, outs):
            x, y = args[0], np.asarray(args[1], dtype=ydt)
            _check_rows(name, x, y)
            m, k = x.shape
            _check_indices(name, k, y)  # perform's error, before any device work
            out = DeviceArray.empty(rt, (m,), dt)
            if m:
                yd = DeviceArray.from_host(rt, y)
                # one dim of rows: launched like the other row kernels, the output is written by hand
                M, k, shp, sts, asts, col = rows_layout(x.shape, 1, [x.strides])
                bx, by = block_shape(k, col)
                i64 = np.int64
                fn((max(1, min(MAX_BLOCKS, -(-m // bx))), 1, 1), (bx, by, 1),
                   [i64(m), i64(k), i64(shp[0]), i64(sts[0][0]), i64(asts[0]), np.uintp(x.ptr), np.uintp(yd.ptr),
                    np.uintp(out.ptr)])  # fmt: skip
            outs[0][0] = out

        return run

    return CudaKernel(_ce_source(dtype, ydtype), bind, host_inputs=(1,))


@cuda_kernel.register(CrossentropySoftmax1HotDx)
def crossentropy_softmax_dx_kernel(op, node):
    """``g[:, None] * (sm - onehot(y))`` (class indices checked on the host)."""
    g, sm, yv = node.inputs
    ydtype = _int_dtype(yv)
    dtypes = [g.type.dtype, sm.type.dtype, node.outputs[0].type.dtype]
    if any(d not in _FLOATS for d in dtypes) or ydtype is None:
        return None
    dt, ydt = np.dtype(dtypes[2]), np.dtype(ydtype)
    g_static_one = g.type.shape[0] == 1
    name = "crossentropy_softmax_1hot_dx"

    def bind(get, rt):
        fn = get(NAME)

        def run(node, args, outs):
            g, sm, y = args[0], args[1], np.asarray(args[2], dtype=ydt)
            _check_rows(name, sm, y)
            m, k = sm.shape
            ng = g.shape[0]
            if ng not in (m, 1) or (ng == 1 and not g_static_one and m != 1):
                raise ValueError("%s: %d row weights for %d rows" % (name, ng, m))
            _check_indices(name, k, y)
            out = DeviceArray.empty(rt, (m, k), dt)
            if m and k:
                yd = DeviceArray.from_host(rt, y)
                bx = min(256, _p2(k))
                by = 256 // bx
                i64 = np.int64
                fn((max(1, min(MAX_BLOCKS, -(-m // by))), 1, 1), (bx, by, 1),
                   [i64(m), i64(k), i64(g.strides[0] if ng == m else 0), i64(sm.strides[0]), i64(sm.strides[1]),
                    np.uintp(g.ptr), np.uintp(sm.ptr), np.uintp(yd.ptr), np.uintp(out.ptr)])  # fmt: skip
            outs[0][0] = out

        return run

    return CudaKernel(_ce_dx_source(*dtypes, ydtype), bind, host_inputs=(2,))


__all__ = ["softmax_kernel", "softmax_grad_kernel", "crossentropy_softmax_kernel", "crossentropy_softmax_dx_kernel",
           "rows_layout"]  # fmt: skip
