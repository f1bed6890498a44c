"""CUDA kernels for CAReduce (sum, prod, max, min, all, any over any axes) and Argmax.

The input is viewed as (kept dims..., reduced dims...) through its strides; no
copy is made.  Each block reduces ``blockDim.x`` output elements: thread
``(tx, ty)`` accumulates every ``blockDim.y``-th element of the reduced index
space of output ``base + tx``, then a block reduction over ``ty`` combines the
partials (warp shuffles plus per-warp partials in shared memory when a warp
spans one output, a shared-memory tree otherwise; :func:`block_reduce`).

Kernels of a node (``R`` = 1 for the usual layouts, whose reduced dims merge
into one, and ``R`` = the node's number of reduced dims for the others)::

    NAME_r<R>(M, K, kchunk, kept shape..., kept x strides..., kept out strides...,
              reduced shape..., reduced x strides..., x, out, partials)
    NAME_fin(M, P, kept shape..., kept out strides..., partials, out)

Python picks the layout per call: reduced dims innermost in memory give one
block (or one thread, for short rows) per output with coalesced reads along the
reduced dims; a kept dim innermost (sums down columns) gives 32 outputs per
block read side by side.  When there are few outputs and many elements
(``sum(x)``), ``gridDim.y`` blocks split each reduction and ``NAME_fin`` combines
their partials.  The reduced coordinates advance by digit-wise addition with
carries, so the inner loop has no division.

Semantics are the C kernels': sums and products of floats accumulate in double,
integer ones wrap like NumPy; max/min propagate NaN; an empty reduction gives the
identity or perform's error; Argmax returns the first extremum in C order
(NaN counts as the extremum, like ``np.argmax``).
"""

import math

import numpy as np

from ...tensor.reduction import _IDENTITY, Argmax, CAReduce
from ..c.reduction import _INT_LIMITS, _accumulator
from ..c.table import C_TYPES
from .darray import DeviceArray, c_strides
from .elemwise import merged_layout
from .registry import MAX_BLOCKS, NAME, CudaKernel, cuda_kernel

#: most threads of a block (the shared-memory arrays of block_reduce have this many entries)
MAX_THREADS = 256
#: split a reduction over gridDim.y blocks when the x grid has fewer blocks than this ...
SPLIT_BELOW_BLOCKS = 64
#: ... and each output reduces at least this many elements
SPLIT_MIN_K = 16384


class Acc:
    """An accumulator: C variables, their update from ``v`` (value) and ``j`` (index), combine and store.

    ``vars``: ``[(C type, name, init)]``; ``update``: statements; ``combine(a, b)``:
    statements setting the variables named by the dict ``a`` to their combination
    with those of ``b`` (both map variable names to C lvalues); ``store``: the
    output value as a C expression of the variables.
    """

    __slots__ = ("vars", "update", "combine", "store")

    def __init__(self, vars, update, combine, store):
        self.vars, self.update, self.combine, self.store = vars, update, combine, store


def _shfl_type(ct):
    """A type ``__shfl_down_sync`` has an overload for, holding ``ct``."""
    return {"float": "float", "double": "double", "int64_t": "long long", "uint64_t": "unsigned long long",
            "uint32_t": "unsigned", "int32_t": "int"}.get(ct, "int")  # fmt: skip


def shared_decls(acc):
    """Declarations of the shared arrays :func:`block_reduce` uses."""
    return ["  __shared__ %s sh_%s[%d];" % (ct, n, MAX_THREADS) for ct, n, _ in acc.vars]


def block_reduce(acc, ind, broadcast=False):
    """Statements combining the accumulators of the threads ``ty`` of each column ``tx`` of the block.

    Every thread of the block must run them (they contain ``__syncthreads``);
    ``tx, ty, bx, by`` are the thread and block indices as ``int``.  Afterwards
    thread ``ty == 0`` holds the result of its column, and every thread does
    when ``broadcast``.  Correct for any block shape, including 1 x 1 and
    ``warpSize == 1``.  The names ``nt_off``, ``nt_nw`` and ``o_<var>`` are its own.
    """
    own = {n: n for _, n, _ in acc.vars}
    src = ["__syncthreads();  /* the shared arrays may still be read by a previous reduction */",
           "if (bx == 1 && by % warpSize == 0) {",
           "  /* a warp holds partials of one output: shuffles, then one partial per warp */",
           "  for (int nt_off = warpSize / 2; nt_off > 0; nt_off >>= 1) {"]  # fmt: skip
    other = {}
    for ct, n, _ in acc.vars:
        other[n] = "o_" + n
        src.append("    const %s o_%s = (%s)__shfl_down_sync(0xffffffffu, (%s)%s, nt_off);"
                   % (ct, n, ct, _shfl_type(ct), n))  # fmt: skip
    src += ["    " + ln for ln in acc.combine(own, other).splitlines()]
    src += ["  }", "  const int nt_nw = by / warpSize;", "  if (nt_nw > 1) {", "    if (ty % warpSize == 0) {"]
    src += ["      sh_%s[ty / warpSize] = %s;" % (n, n) for _, n, _ in acc.vars]
    src += ["    }", "    __syncthreads();", "    if (ty < warpSize) {"]
    src += ["      %s = ty < nt_nw ? sh_%s[ty] : (%s)(%s);" % (n, n, ct, init) for ct, n, init in acc.vars]
    src += ["      for (int nt_off = warpSize / 2; nt_off > 0; nt_off >>= 1) {"]
    for ct, n, _ in acc.vars:
        src.append("        const %s o_%s = (%s)__shfl_down_sync(0xffffffffu, (%s)%s, nt_off);"
                   % (ct, n, ct, _shfl_type(ct), n))  # fmt: skip
    src += ["        " + ln for ln in acc.combine(own, other).splitlines()]
    src += ["      }", "    }", "  }"]
    if broadcast:
        src += ["  __syncthreads();", "  if (ty == 0) {"]
        src += ["    sh_%s[tx] = %s;" % (n, n) for _, n, _ in acc.vars]
        src += ["  }", "  __syncthreads();"]
        src += ["  %s = sh_%s[tx];" % (n, n) for _, n, _ in acc.vars]
    src += ["} else {", "  /* a shared-memory tree over ty, for each column tx */"]
    src += ["  sh_%s[ty * bx + tx] = %s;" % (n, n) for _, n, _ in acc.vars]
    src += ["  __syncthreads();",
            "  for (int nt_off = 1; nt_off < by; nt_off <<= 1) {",
            "    if (ty % (2 * nt_off) == 0 && ty + nt_off < by) {"]  # fmt: skip
    mine = {n: "sh_%s[ty * bx + tx]" % n for _, n, _ in acc.vars}
    theirs = {n: "sh_%s[(ty + nt_off) * bx + tx]" % n for _, n, _ in acc.vars}
    src += ["      " + ln for ln in acc.combine(mine, theirs).splitlines()]
    src += ["    }", "    __syncthreads();", "  }"]
    src += ["  %s = sh_%s[tx];" % (n, n) for _, n, _ in acc.vars]
    src.append("}")
    return [ind + ln for ln in src]


# ----------------------------------------------------------------- accumulators
def careduce_acc(reducer, xdt, odt):
    """The :class:`Acc` of a CAReduce (the C kernel's accumulator and update)."""
    at, init, upd, _, store = _accumulator(reducer, xdt, odt)
    if reducer in ("maximum", "minimum"):
        which = "max" if reducer == "maximum" else "min"
        if np.dtype(xdt).kind == "f":
            fn = "nt_%s_%s" % (which, "f32" if xdt == "float32" else "f64")
        else:
            fn = "NT_I%s" % which.upper()

        def combine(a, b):
            return "%s = %s(%s, %s);" % (a["acc"], fn, a["acc"], b["acc"])
    else:
        sym = {"add": "+", "mul": "*", "and": "&", "or": "|"}[reducer]

        def combine(a, b):
            return "%s = %s %s %s;" % (a["acc"], a["acc"], sym, b["acc"])

    return Acc([(at, "acc", init)], upd, combine, store)


def _extremes(dt):
    """``(lowest, highest)`` of ``dt`` as C literals."""
    kind = np.dtype(dt).kind
    if kind == "f":
        return "-INFINITY", "INFINITY"
    if kind == "b":
        return "0", "1"
    if kind == "u":
        return "0", "%s_MAX" % _INT_LIMITS[dt]
    return "%s_MIN" % _INT_LIMITS[dt], "%s_MAX" % _INT_LIMITS[dt]


def better(which, xdt, bv, bi, av, ai):
    """C condition: ``(bv, bi)`` beats ``(av, ai)`` for argmax/argmin (NaN wins, then the lower index)."""
    cmp = ">" if which == "max" else "<"
    if np.dtype(xdt).kind != "f":
        return "(%s %s %s || (%s == %s && %s < %s))" % (bv, cmp, av, bv, av, bi, ai)
    return ("((isnan(%s) && !isnan(%s)) || (!isnan(%s) && %s %s %s) || ((%s == %s || (isnan(%s) && isnan(%s)))"
            " && %s < %s))" % (bv, av, av, bv, cmp, av, bv, av, av, bv, bi, ai))  # fmt: skip


def argmax_acc(which, xdt):
    """The :class:`Acc` of Argmax: the best value and its (C-order) index."""
    xt = C_TYPES[xdt]
    init = _extremes(xdt)[0 if which == "max" else 1]
    upd = "if (%s) { bv = v; bi = j; }" % better(which, xdt, "v", "j", "bv", "bi")

    def combine(a, b):
        cond = better(which, xdt, b["bv"], b["bi"], a["bv"], a["bi"])
        return "if (%s) { %s = %s; %s = %s; }" % (cond, a["bv"], b["bv"], a["bi"], b["bi"])

    return Acc([(xt, "bv", init), ("int64_t", "bi", "INT64_MAX")], upd, combine, "bi")


# ----------------------------------------------------------------- source
def _decompose(var, nd, shape, pairs, ind):
    """Statements adding the coordinates of the linear index ``var`` (C order over ``nd`` dims) times strides.

    ``pairs``: ``[(offset variable, stride name prefix)]``; ``shape`` the shape name prefix.
    """
    if not nd:
        return []
    src = [ind + "int64_t r_ = %s, c_;" % var]
    for d in reversed(range(nd)):
        src.append(ind + ("c_ = r_ %% %s%d; r_ /= %s%d;" % (shape, d, shape, d) if d else "c_ = r_;"))
        src += [ind + "%s += c_ * %s%d;" % (off, st, d) for off, st in pairs]
    return src


def _reduce_kernel(acc, xt, ot, nk, nr):
    """``NAME_r<nr>``: see the module docstring."""
    kparams = ["int64_t ks%d" % d for d in range(nk)] + ["int64_t kx%d" % d for d in range(nk)]
    kparams += ["int64_t ko%d" % d for d in range(nk)]
    rparams = ["int64_t rs%d" % d for d in range(nr)] + ["int64_t rx%d" % d for d in range(nr)]
    params = ", ".join(["int64_t M", "int64_t K", "int64_t kchunk"] + kparams + rparams
                       + ["const char *__restrict__ px", "char *__restrict__ po", "char *__restrict__ pp"])  # fmt: skip
    src = ['extern "C" __global__ void %s_r%d(%s)\n{' % (NAME, nr, params)]
    src += shared_decls(acc)
    src += ["  const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x, by = blockDim.y;",
            "  const int64_t kbeg = (int64_t)blockIdx.y * kchunk;",
            "  const int64_t kend = K < kbeg + kchunk ? K : kbeg + kchunk;",
            "  for (int64_t base = (int64_t)blockIdx.x * bx; base < M; base += (int64_t)gridDim.x * bx) {",
            "    const int64_t o = base + tx;",
            "    int64_t xo = 0, oo = 0;"]  # fmt: skip
    src += ["    %s %s = %s;" % (ct, n, init) for ct, n, init in acc.vars]
    src += ["    if (o < M) {"]
    src += _decompose("o", nk, "ks", [("xo", "kx"), ("oo", "ko")], "      ")
    src += ["      const char *xb = px + xo;", "      int64_t j = kbeg + ty;", "      if (j < kend) {"]
    if nr:
        # mixed-radix digits of the first index and of the step: the loop adds them with carries
        src.append("        int64_t q_ = j, t_ = by;")
        for d in reversed(range(nr)):
            if d:
                src.append("        int64_t c%d = q_ %% rs%d; q_ /= rs%d; const int64_t d%d = t_ %% rs%d; t_ /= rs%d;"
                           % (d, d, d, d, d, d))  # fmt: skip
            else:
                src.append("        int64_t c0 = q_; const int64_t d0 = t_;")
        offset = " + ".join("c%d * rx%d" % (d, d) for d in range(nr))
    else:
        offset = "0"
    src += ["        for (; j < kend; j += by) {",
            "          const %s v = *(const %s *)(xb + %s);" % (xt, xt, offset),
            "          " + acc.update]  # fmt: skip
    if nr > 1:
        src.append("          int cy_;")
        for d in reversed(range(1, nr)):
            carry = "" if d == nr - 1 else " + cy_"
            src.append("          c%d += d%d%s; cy_ = c%d >= rs%d; if (cy_) c%d -= rs%d;" % (d, d, carry, d, d, d, d))
        src.append("          c0 += d0 + cy_;")
    elif nr == 1:
        src.append("          c0 += d0;")
    src += ["        }", "      }", "    }"]
    src += block_reduce(acc, "    ")
    src += ["    if (ty == 0 && o < M) {",
            "      if (pp) {",
            "        const int64_t pm = (int64_t)gridDim.y * M, at = (int64_t)blockIdx.y * M + o;"]  # fmt: skip
    src += ["        ((%s *)(pp + %d * 8 * pm))[at] = %s;" % (ct, i, n) for i, (ct, n, _) in enumerate(acc.vars)]
    src += ["      } else {",
            "        *(%s *)(po + oo) = %s;" % (ot, acc.store),
            "      }", "    }", "  }", "}"]  # fmt: skip
    return src


def _finish_kernel(acc, ot, nk):
    """``NAME_fin``: combine the ``P`` partials of each output and store it."""
    params = ["int64_t M", "int64_t P"] + ["int64_t ks%d" % d for d in range(nk)]
    params += ["int64_t ko%d" % d for d in range(nk)] + ["const char *__restrict__ pp", "char *__restrict__ po"]
    src = ['extern "C" __global__ void %s_fin(%s)\n{' % (NAME, ", ".join(params)),
           "  for (int64_t o = NT_TID; o < M; o += NT_STEP) {"]  # fmt: skip
    src += ["    %s %s = %s;" % (ct, n, init) for ct, n, init in acc.vars]
    src.append("    for (int64_t p = 0; p < P; p++) {")
    other = {}
    for i, (ct, n, _) in enumerate(acc.vars):
        other[n] = "o_" + n
        src.append("      const %s o_%s = ((const %s *)(pp + %d * 8 * P * M))[p * M + o];" % (ct, n, ct, i))
    src += ["      " + ln for ln in acc.combine({n: n for _, n, _ in acc.vars}, other).splitlines()]
    src += ["    }", "    int64_t oo = 0;"]
    src += _decompose("o", nk, "ks", [("oo", "ko")], "    ")
    src += ["    *(%s *)(po + oo) = %s;" % (ot, acc.store), "  }", "}"]
    return src


def reduced_ranks(nr):
    """The reduced ranks with a kernel: one dim (the usual case once merged, no carries) and all ``nr``.

    Layouts of other ranks are padded with length-1 dims in front: the digit-wise
    stepping keeps them at 0 with an addition and a comparison, no division.
    """
    return sorted({min(nr, 1), nr})


def reduce_source(acc, xdt, odt, nk, nr):
    """Every kernel of a reduction with ``nk`` kept and at most ``nr`` reduced dims."""
    xt, ot = C_TYPES[xdt], C_TYPES[odt]
    src = []
    for r in reduced_ranks(nr):
        src += _reduce_kernel(acc, xt, ot, nk, r)
    src += _finish_kernel(acc, ot, nk)
    return "\n".join(src) + "\n"


# ----------------------------------------------------------------- launch
def _p2(n):
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(int(n) - 1, 0).bit_length()


def block_shape(k, col):
    """``(blockDim.x, blockDim.y)``: outputs per block and threads per output, for rows of ``k`` elements.

    ``col``: an output dim is innermost in memory, so neighbouring threads take
    neighbouring outputs; otherwise short rows get one thread per output and
    long ones a block whose threads read along the row.
    """
    if col:
        by = min(8, _p2(k))
        return 256 // by, by
    if k <= 16:
        return 128, 1
    return 1, min(256, max(32, _p2(k)))


def pad_layout(shp, sts, n):
    """Pad a merged layout to ``n`` dims with length-1 dims in front (outermost: no division)."""
    pad = n - len(shp)
    return [1] * pad + list(shp), [[0] * pad + list(st) for st in sts]


def reduce_launcher(get, rt, acc, odt, kept, reduced, keep_order):
    """``launch(x)``: the reduction of device array ``x`` over ``reduced`` as a new C-contiguous array.

    ``kept``/``reduced`` are dims of ``x``; the output has ``x``'s kept dims in their
    order.  ``keep_order``: reduced dims stay in C order (the index ``j`` of the
    update is the C-order index over them, as argmax needs).  Launch plans are
    kept per input shape and strides, so a training loop pays for them once.
    """
    odt = np.dtype(odt)
    nk, nr = len(kept), len(reduced)
    nvars = len(acc.vars)
    i64 = np.int64
    fin = get(NAME + "_fin")
    plans = {}

    def plan(shape, xs):
        """``(out shape, M, kernel, grid, block, partial bytes, args before the pointers, fin launch or None)``."""
        kshape = [shape[d] for d in kept]
        M = math.prod(map(int, kshape))
        ko_of = dict(zip(kept, c_strides(kshape, odt.itemsize)))
        rd = [d for d in reduced if shape[d] != 1]
        K = math.prod(map(int, [shape[d] for d in rd]))
        if K == 0:
            rd = []  # nothing to read: every output is the identity
        elif not keep_order:
            rd.sort(key=lambda d: -abs(xs[d]))
        rshp, (rst,) = merged_layout([shape[d] for d in rd], [[xs[d] for d in rd]])
        rank = nr if len(rshp) > 1 else min(nr, 1)
        rshp, (rst,) = pad_layout(rshp, [rst], rank)
        live = [d for d in range(len(shape)) if shape[d] > 1]
        inner = min(live, key=lambda d: abs(xs[d])) if live else None
        col = K > 1 and inner is not None and inner in ko_of
        kd = sorted(kept, key=lambda d: -abs(xs[d])) if col else list(kept)
        kshp, (kx, ko) = merged_layout([shape[d] for d in kd], [[xs[d] for d in kd], [ko_of[d] for d in kd]])
        kshp, (kx, ko) = pad_layout(kshp, [kx, ko], nk)
        bx, by = block_shape(K, col)
        gx = max(1, min(MAX_BLOCKS, -(-M // bx)))
        gy, kchunk = 1, max(K, 1)
        if gx < SPLIT_BELOW_BLOCKS and K >= SPLIT_MIN_K:
            gy = min(-(-256 // gx), -(-K // (SPLIT_MIN_K // 2)))
            kchunk = -(-K // gy)
            gy = -(-K // kchunk)
        args = [i64(v) for v in [M, K, kchunk] + kshp + kx + ko + rshp + rst]
        fin_args = None
        if gy > 1:
            fin_args = ((max(1, min(MAX_BLOCKS, -(-M // 256))), 1, 1), (256, 1, 1),
                        [i64(v) for v in [M, gy] + kshp + ko])  # fmt: skip
        return (tuple(map(int, kshape)), M, get("%s_r%d" % (NAME, rank)), (gx, gy, 1), (bx, by, 1),
                nvars * 8 * gy * M, args, fin_args)  # fmt: skip

    def launch(x):
        key = (x.shape, x.strides)
        p = plans.get(key)
        if p is None:
            if len(plans) >= 64:
                plans.clear()
            p = plans[key] = plan(*key)
        kshape, M, fn, grid, block, part_bytes, args, fin_args = p
        out = DeviceArray.empty(rt, kshape, odt)
        if M == 0:
            return out
        part = DeviceArray.empty(rt, (part_bytes,), np.uint8) if fin_args else None
        ptrs = [np.uintp(x.ptr), np.uintp(out.ptr), np.uintp(part.ptr if part is not None else 0)]
        fn(grid, block, args + ptrs)
        if part is not None:
            fin(fin_args[0], fin_args[1], fin_args[2] + [np.uintp(part.ptr), np.uintp(out.ptr)])
        return out

    return launch


def _host_empty(op, node, x, rt, outs):
    """Run ``perform`` on an empty host array shaped like ``x``: it raises or gives an empty result."""
    op.perform(node, [np.empty(x.shape, x.dtype)], outs)
    outs[0][0] = DeviceArray.from_host(rt, outs[0][0])  # empty: nothing is transferred


@cuda_kernel.register(CAReduce)
def careduce_kernel(op, node):
    """Sum, prod, max, min, all or any over any axes (see the module docstring)."""
    xdt, odt = node.inputs[0].type.dtype, node.outputs[0].type.dtype
    if xdt not in C_TYPES or odt not in C_TYPES:
        return None
    nd = node.inputs[0].type.ndim
    axis = op.axis
    kept = tuple(d for d in range(nd) if d not in axis)
    acc = careduce_acc(op.reducer, xdt, odt)
    needs_identity = not _IDENTITY[op.reducer]

    def bind(get, rt):
        launch = reduce_launcher(get, rt, acc, odt, kept, axis, keep_order=False)

        def run(node, args, outs):
            x = args[0]
            if needs_identity and any(x.shape[a] == 0 for a in axis):
                raise ValueError("%s of an empty dimension has no identity (input shape %s)" % (op, x.shape))
            outs[0][0] = launch(x)

        return run

    return CudaKernel(reduce_source(acc, xdt, odt, len(kept), len(axis)), bind)


@cuda_kernel.register(Argmax)
def argmax_kernel(op, node):
    """Index of the maximum (or minimum) along one axis, or flat over all axes."""
    xdt = node.inputs[0].type.dtype
    if xdt not in C_TYPES:
        return None
    nd = node.inputs[0].type.ndim
    reduced = tuple(range(nd)) if op.axis is None else (op.axis,)
    kept = tuple(d for d in range(nd) if d not in reduced)
    acc = argmax_acc(op.which, xdt)

    def bind(get, rt):
        launch = reduce_launcher(get, rt, acc, "int64", kept, reduced, keep_order=True)

        def run(node, args, outs):
            x = args[0]
            if x.size == 0:
                _host_empty(op, node, x, rt, outs)  # NumPy's error, or an empty result
            else:
                outs[0][0] = launch(x)

        return run

    return CudaKernel(reduce_source(acc, xdt, "int64", len(kept), len(reduced)), bind)


__all__ = ["careduce_kernel", "argmax_kernel", "Acc", "block_reduce", "shared_decls", "careduce_acc",
           "argmax_acc", "reduce_source", "reduce_launcher", "block_shape", "pad_layout"]  # fmt: skip
