"""C kernels for Elemwise and Elemwise{Composite} nodes.

One exported function per node::

    void k(int64_t n, const int64_t *meta, char *in0, ..., char *out0, ...)

``meta == NULL`` selects the contiguous path (every operand C-contiguous
with the output's shape): one flat loop the compiler vectorizes.  Otherwise
``meta`` holds a shape followed by each operand's byte strides, computed in
Python (:func:`layout`: dimensions ordered by memory, length-1 dimensions
dropped, contiguous neighbours merged; 0 along broadcast dimensions) and
cached per node for the shapes and strides seen.  The last dimension is the
inner loop; one variant of it is chosen per call: all operands contiguous,
or some broadcast operands constant along it (read once per inner loop, as
``b`` in ``x + b[None, :, None, None]``), both vectorized, or a general
strided loop.  Both paths use OpenMP threads above ``NT_PAR_MIN`` elements
(``NT_PAR_MIN_HEAVY`` when the body calls libm functions) when the library is
built with ``-fopenmp``; the strided path splits the outer iterations (and
chunks of the inner loop when they are few).  A composite becomes
straight-line code with one temporary per step, converted to the step's
dtype exactly as the Python reference converts each step's result.
"""

import math
import re

import numpy as np

from ...tensor.composite import Composite
from ...tensor.elemwise import Elemwise
from . import fastcall
from .buffers import MIN_BYTES, OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES, convert, scalar_expr


def _program(node):
    """``(steps, outputs)`` of the node as a composite-style program."""
    sop = node.op.scalar_op
    nin = len(node.inputs)
    if isinstance(sop, Composite):
        return sop.program, sop.outputs
    if len(node.outputs) != 1:
        return None
    return ((sop, tuple(range(nin)), node.outputs[0].type.dtype),), (nin,)


def body(node, table=None):
    """C statements computing one element: reads ``v<i>``, defines the outputs.

    Returns ``(lines, output value names)`` or None if some step has no C code.
    ``table`` is the expression table (default the C one; the CUDA backend passes its own).
    """
    prog = _program(node)
    if prog is None:
        return None
    steps, outputs = prog
    in_dtypes = [v.type.dtype for v in node.inputs]
    nin = len(in_dtypes)
    names = ["v%d" % i for i in range(nin)]
    dtypes = list(in_dtypes)
    lines = []
    for j, (op, args, dt) in enumerate(steps):
        if isinstance(op, Composite) or dt not in C_TYPES:
            return None
        res = scalar_expr(op, [names[a] for a in args], [dtypes[a] for a in args], dt, prefix="t%d_c" % j,
                          table=table)  # fmt: skip
        if res is None:
            return None
        prep, expr = res
        for name, ct, src in prep:
            lines.append("const %s %s = %s;" % (ct, name, src))
        lines.append("const %s t%d = %s;" % (C_TYPES[dt], j, convert(expr, dt)))
        names.append("t%d" % j)
        dtypes.append(dt)
    outs = []
    for o, var in zip(outputs, node.outputs):
        dt = var.type.dtype
        outs.append(names[o] if dtypes[o] == dt else convert(names[o], dt))
    return lines, outs


# libm calls make a loop compute-bound: worth threads at smaller sizes
_HEAVY = re.compile(r"\b(exp|exp2|expm1|log|log2|log10|log1p|a?sinh?|a?cosh?|a?tanh?|atan2|erfc?|pow|fmod)f?\(")


def _scalar_inputs(node):
    """Which inputs are statically one element (length 1 in every dimension)."""
    return [all(s == 1 for s in v.type.shape) for v in node.inputs]


def _source(node, lines, outs):
    in_dt = [v.type.dtype for v in node.inputs]
    out_dt = [v.type.dtype for v in node.outputs]
    nin, nout, ndim = len(in_dt), len(out_dt), node.outputs[0].type.ndim
    nops = nin + nout
    scalar = _scalar_inputs(node)
    pmin = "NT_PAR_MIN_HEAVY" if _HEAVY.search("\n".join(lines)) else "NT_PAR_MIN"
    params = ", ".join("char *p%d" % k for k in range(nops))
    src = ["#ifdef _OPENMP", "#include <omp.h>", "#endif"]
    src += ["NT_EXPORT void %s(int64_t n, const int64_t *meta, %s)" % (NAME, params), "{"]
    # -- contiguous path: typed restrict pointers, one flat loop
    src.append("  if (meta == NULL) {")
    for i, d in enumerate(in_dt):
        src.append("    const %s *restrict a%d = (const %s *)p%d;" % (C_TYPES[d], i, C_TYPES[d], i))
    for k, d in enumerate(out_dt):
        src.append("    %s *restrict b%d = (%s *)p%d;" % (C_TYPES[d], k, C_TYPES[d], nin + k))
    # inputs of static shape (1, ..., 1) hold one value: read it once
    src += ["    const %s v%d = a%d[0];" % (C_TYPES[d], i, i) for i, d in enumerate(in_dt) if scalar[i]]
    src += ["#ifdef _OPENMP", "#pragma omp parallel for simd schedule(static) if(parallel: n >= %s)" % pmin,
            "#endif", "    for (int64_t i = 0; i < n; i++) {"]  # fmt: skip
    src += ["      const %s v%d = a%d[i];" % (C_TYPES[d], i, i) for i, d in enumerate(in_dt) if not scalar[i]]
    src += ["      " + ln for ln in lines]
    src += ["      b%d[i] = %s;" % (k, o) for k, o in enumerate(outs)]
    src += ["    }", "    return;", "  }"]
    if ndim == 0:
        src.append("}")
        return "\n".join(src) + "\n"
    src.append(_strided_source(node, lines, outs, pmin))
    src.append("}")
    return "\n".join(src) + "\n"


#: broadcast patterns whose operands get inner loops reading them as loop constants
#: (2 ** MAX_GROUPS loop variants at most)
MAX_GROUPS = 3


def _groups(node):
    """Group index of each input that may be constant along the innermost loop, else None.

    An input broadcast (static length 1) in a dimension where the output is not
    has stride 0 there; when the layout puts such a dimension innermost, the
    input is one value for the whole inner loop.  Inputs with the same pattern
    always agree on this, so variants are generated per pattern, not per input.
    """
    out_shape = node.outputs[0].type.shape
    scalar = _scalar_inputs(node)
    patterns, groups = [], []
    for v, s in zip(node.inputs, scalar):
        pat = tuple(a == 1 and b != 1 for a, b in zip(v.type.shape, out_shape))
        if s or not any(pat):
            groups.append(None)
            continue
        if pat not in patterns:
            patterns.append(pat)
        g = patterns.index(pat)
        groups.append(g if g < MAX_GROUPS else None)
    return groups, min(len(patterns), MAX_GROUPS)


def _strided_source(node, lines, outs, pmin):
    """The strided path: ``meta`` = merged shape, then each operand's byte strides.

    The last dimension is the inner loop.  Its variant is chosen once per call:
    every operand walked with unit stride, except operands of the groups whose
    bit is set in ``mode``, which have stride 0 and are read once per inner
    loop (a contiguous loop the compiler vectorizes); mode -1 is the general
    loop.  The outer dimensions (and, for few outer iterations, chunks of the
    inner one) are one flat range split over OpenMP threads.
    """
    in_dt = [v.type.dtype for v in node.inputs]
    nin, ndim = len(in_dt), node.outputs[0].type.ndim
    types = [C_TYPES[d] for d in in_dt + [v.type.dtype for v in node.outputs]]
    scalar = _scalar_inputs(node)
    groups, ngroups = _groups(node)
    groups += [None] * len(node.outputs)
    ops = [k for k in range(len(types)) if k >= nin or not scalar[k]]  # operands walked by pointers
    L = ndim - 1
    src = ["  {"]
    src += ["    const int64_t s%d = meta[%d];" % (d, d) for d in range(ndim)]
    for k in ops:
        src.append("    const int64_t %s;" % ", ".join("st%d_%d = meta[%d]" % (k, d, ndim * (k + 1) + d)
                                                   for d in range(ndim)))  # fmt: skip
    src += ["    const %s v%d = *(const %s *)p%d;" % (types[i], i, types[i], i) for i in range(nin) if scalar[i]]
    src.append("    const int64_t inner = s%d, outer = %s;" % (L, " * ".join("s%d" % d for d in range(L)) or "1"))
    src.append("    int ok = 1; unsigned zm = 0, um = 0;")
    for k in ops:
        size = "(int64_t)sizeof(%s)" % types[k]
        if groups[k] is None:
            src.append("    if (st%d_%d != %s) ok = 0;" % (k, L, size))
        else:
            bit = 1 << groups[k]
            src.append("    if (st%d_%d == 0) zm |= %du; else if (st%d_%d == %s) um |= %du; else ok = 0;"
                       % (k, L, bit, k, L, size, bit))  # fmt: skip
    src.append("    const int mode = (ok && !(zm & um)) ? (int)zm : -1;")
    src.append("    const int par = n >= %s;" % pmin)
    src.append("    int64_t ch = inner;")
    src += ["#ifdef _OPENMP",
            "    if (par) {  /* few outer iterations: split the inner loop into chunks too */",
            "      const int64_t want = 4 * (int64_t)omp_get_max_threads();",
            "      if (outer < want) {",
            "        ch = (inner + (want + outer - 1) / outer - 1) / ((want + outer - 1) / outer);",
            "        ch = (ch + 1023) & ~(int64_t)1023;",
            "        if (ch > inner) ch = inner;",
            "      }",
            "    }",
            "#endif",
            "    const int64_t nch = (inner + ch - 1) / ch, items = outer * nch;",
            "#ifdef _OPENMP",
            "#pragma omp parallel if(par && items > 1)",
            "#endif",
            "    {",
            "      int64_t w0 = 0, w1 = items;",
            "#ifdef _OPENMP",
            "      {",
            "        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();",
            "        const int64_t per = items / nt, rem = items % nt;",
            "        w0 = t * per + (t < rem ? t : rem);",
            "        w1 = w0 + per + (t < rem ? 1 : 0);",
            "      }",
            "#endif",
            "      int64_t c = w0 % nch, r = w0 / nch;"]  # fmt: skip
    for d in range(L - 1, 0, -1):
        src.append("      int64_t j%d = r %% s%d; r /= s%d;" % (d, d, d))
    src.append("      int64_t j0 = r;" if L else "      (void)r;")
    src.append("      for (int64_t w = w0; w < w1; w++) {")
    src.append("        const int64_t i0 = c * ch, i1 = NT_IMIN(i0 + ch, inner);")
    for k in ops:
        off = "".join(" + j%d * st%d_%d" % (d, k, d) for d in range(L))
        src.append("        char *q%d = p%d%s;" % (k, k, off))
    src.append("        switch (mode) {")
    ind = "          "
    for mask in range(1 << ngroups):
        zero = [k for k in ops if groups[k] is not None and mask >> groups[k] & 1]
        unit = [k for k in ops if k not in zero]
        src.append("        case %d: {" % mask)
        src += ["%s%s *restrict c%d = (%s *)q%d;" % (ind, _const(k, nin) + types[k], k, _const(k, nin) + types[k], k)
                for k in unit]  # fmt: skip
        src += ["%sconst %s v%d = *(const %s *)q%d;" % (ind, types[k], k, types[k], k) for k in zero]
        src += ["#ifdef _OPENMP", "#pragma omp simd", "#endif"]
        src.append("%sfor (int64_t i = i0; i < i1; i++) {" % ind)
        src += ["%s  const %s v%d = c%d[i];" % (ind, types[k], k, k) for k in unit if k < nin]
        src += [ind + "  " + ln for ln in lines]
        src += ["%s  c%d[i] = %s;" % (ind, nin + j, o) for j, o in enumerate(outs)]
        src += ["%s}" % ind, "%sbreak;" % ind, "        }"]
    src.append("        default: {")
    src.append("%sfor (int64_t i = i0; i < i1; i++) {" % ind)
    src += ["%s  const %s v%d = *(const %s *)(q%d + i * st%d_%d);" % (ind, types[k], k, types[k], k, k, L)
            for k in ops if k < nin]  # fmt: skip
    src += [ind + "  " + ln for ln in lines]
    src += ["%s  *(%s *)(q%d + i * st%d_%d) = %s;" % (ind, types[nin + j], nin + j, nin + j, L, o)
            for j, o in enumerate(outs)]  # fmt: skip
    src += ["%s}" % ind, "%sbreak;" % ind, "        }", "        }"]
    carry = "++j0;"
    for d in range(1, L):
        carry = "if (++j%d == s%d) { j%d = 0; %s }" % (d, d, d, carry)
    src.append("        if (++c == nch) { c = 0; %s }" % (carry if L else ""))
    src += ["      }", "    }", "  }"]
    return "\n".join(src)


def _const(k, nin):
    return "const " if k < nin else ""


def layout(arrs, oshape, out_dtypes, full):
    """``(shape of the outputs' memory, permutation back to oshape or None, meta)`` for the strided path.

    Loops follow the memory order of a full-shape input (largest stride
    outermost) and the outputs get that layout too, as NumPy's ufuncs do, so
    transposed inputs are walked with unit strides.  Length-1 dimensions are
    dropped and adjacent dimensions that every operand walks contiguously are
    merged into one loop, so ``x + b[None, :, None, None]`` becomes a
    (N, C, H*W) loop whose inner dimension reads ``b`` as a constant.
    """
    nd = len(oshape)
    strides = [[0 if ln == 1 else st for ln, st in zip(a.shape, a.strides)] for a in arrs]
    ref = next((i for i in full if arrs[i].shape == oshape), full[0] if full else 0)
    perm = sorted(range(nd), key=lambda d: (oshape[d] != 1, -abs(strides[ref][d])))
    for dt in out_dtypes:  # outputs: C-contiguous in the loop order
        st, step = [0] * nd, np.dtype(dt).itemsize
        for p in reversed(perm):
            st[p] = step if oshape[p] != 1 else 0
            step *= oshape[p]
        strides.append(st)
    shape, sts = [], [[] for _ in strides]
    for d in perm:
        n = oshape[d]
        if n == 1:
            continue
        if shape and all(st[-1] == s[d] * n for st, s in zip(sts, strides)):
            shape[-1] *= n
            for st, s in zip(sts, strides):
                st[-1] = s[d]
        else:
            shape.append(n)
            for st, s in zip(sts, strides):
                st.append(s[d])
    pad = nd - len(shape)  # the kernel's rank is fixed: lead with length-1 dims
    meta = [1] * pad + shape
    for st in sts:
        meta += [0] * pad + st
    order = [d for d in perm if oshape[d] != 1]
    if order == sorted(order):  # only length-1 dimensions move: the outputs are C-contiguous
        return oshape, None, meta
    return tuple(oshape[p] for p in perm), tuple(perm.index(d) for d in range(nd)), meta


#: layouts remembered per node (shapes and strides repeat from call to call)
_LAYOUTS_KEPT = 32


def _bind(node):
    """The per-call driver: check shapes, allocate outputs, pick the path, call."""
    op = node.op
    in_dtypes = tuple(v.type.numpy_dtype for v in node.inputs)
    out_dtypes = tuple(v.type.numpy_dtype for v in node.outputs)
    ndim = node.outputs[0].type.ndim
    # output length of dimension d comes from inputs not statically broadcastable there
    sources = tuple(tuple(i for i, v in enumerate(node.inputs) if v.type.shape[d] != 1) for d in range(ndim))
    scalar = _scalar_inputs(node)
    full = tuple(i for i in range(len(scalar)) if not scalar[i])
    scal = tuple(i for i in range(len(scalar)) if scalar[i])
    ones = (1,) * ndim
    f0 = full[0] if full else None
    one_out, odt = len(out_dtypes) == 1, out_dtypes[0]
    ndarray, asarray, empty = np.ndarray, np.asarray, np.empty

    def bind(fn, ffi):
        fb, cast, null, new = fast_from_buffer(ffi), ffi.cast, ffi.NULL, ffi.new
        pools = [OutputPool(dt) for dt in out_dtypes]

        def ptr(a):
            flags = a.flags
            if flags.c_contiguous:
                return fb(a)
            if flags.f_contiguous:  # same first byte as its C-contiguous transpose
                return fb(a.T)
            return cast("char *", a.__array_interface__["data"][0])

        layouts = {}

        def strided_layout(arrs, key):
            op._check_shapes(node, arrs)  # the reference's error messages
            oshape = tuple(arrs[src[0]].shape[d] if src else 1 for d, src in enumerate(sources))
            pshape, inv, meta = layout(arrs, oshape, out_dtypes, full)
            if len(layouts) >= _LAYOUTS_KEPT:
                layouts.clear()
            hit = layouts[key] = (math.prod(oshape), pshape, inv, new("int64_t[]", meta))
            return hit

        def run(node, args, outs):
            arrs = []
            for a, dt in zip(args, in_dtypes):
                if type(a) is not ndarray or (a.dtype is not dt and a.dtype != dt):
                    a = asarray(a, dtype=dt)
                arrs.append(a)
            # fast case: the full inputs share one shape, the one-element inputs are (1, ..., 1)
            oshape = ones if f0 is None else arrs[f0].shape
            fast = True
            for i in full:
                if arrs[i].shape != oshape:
                    fast = False
                    break
            for i in scal:
                if arrs[i].shape != ones:
                    fast = False
            if fast and all(arrs[i].flags.c_contiguous for i in full):
                n = math.prod(oshape)
                res = [p.empty(oshape) for p in pools]
                if n:
                    fn(n, null, *[fb(a) for a in arrs], *[fb(r) for r in res])
            else:
                key = tuple([(a.shape, a.strides) for a in arrs])
                hit = layouts.get(key)
                if hit is None:  # shapes not seen (and checked) before
                    hit = strided_layout(arrs, key)
                n, pshape, inv, meta = hit
                res = [p.empty(pshape) for p in pools]
                if n:
                    fn(n, meta, *[ptr(a) for a in arrs], *[fb(r) for r in res])
                if inv is not None:
                    res = [r.transpose(inv) for r in res]
            for cell, r in zip(outs, res):
                cell[0] = r

        def run0(node, args, outs):
            # rank 0: no shapes to check, always the contiguous path
            for a, dt in zip(args, in_dtypes):
                if type(a) is not ndarray or a.dtype is not dt:
                    args = [asarray(a, dtype=dt) for a, dt in zip(args, in_dtypes)]
                    break
            if one_out:  # the usual case, without the lists
                r = empty((), odt)
                fn(1, null, *map(fb, args), fb(r))
                outs[0][0] = r
                return
            res = [empty((), dt) for dt in out_dtypes]
            fn(1, null, *map(fb, args), *map(fb, res))
            for cell, r in zip(outs, res):
                cell[0] = r

        return fastcall.elemwise_runner(fn, ffi, in_dtypes, out_dtypes, full, scal, ndim, MIN_BYTES,
                                        run if ndim else run0)  # fmt: skip

    return bind


@c_kernel.register(Elemwise)
def elemwise_kernel(op, node):
    """A kernel for an Elemwise node whose scalar program is in the C table."""
    if any(v.type.dtype not in C_TYPES for v in node.inputs + node.outputs):
        return None
    code = body(node)
    if code is None:
        return None
    lines, outs = code
    nops = len(node.inputs) + len(node.outputs)
    cdef = "void %s(int64_t, const int64_t *, %s);" % (NAME, ", ".join(["char *"] * nops))
    return Kernel(_source(node, lines, outs), cdef, _bind(node))


__all__ = ["elemwise_kernel", "body"]
