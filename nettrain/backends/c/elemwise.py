"""C kernels for Elemwise and Elemwise{Composite} nodes.

One exported function per node::

    void k(int64_t n, const int64_t *meta, char *in0, ..., char *out0, ...)

``meta == NULL`` selects the contiguous path (every operand C-contiguous
with the output's shape): one flat loop the compiler vectorizes.  Otherwise
``meta`` holds the output shape followed by each operand's byte strides
(0 along broadcast dimensions, computed in Python) and nested loops walk
them.  Both paths use OpenMP threads above ``NT_PAR_MIN`` elements
(``NT_PAR_MIN_HEAVY`` when the body calls libm functions) when the library is
built with ``-fopenmp``.  A composite becomes straight-line code
with one temporary per step, converted to the step's dtype exactly as the
Python reference converts each step's result.
"""

import math
import re

import numpy as np

from ...tensor.composite import Composite
from ...tensor.elemwise import Elemwise
from .buffers import OutputPool
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


def body(node):
    """C statements computing one element: reads ``v<i>``, defines the outputs.

    Returns ``(lines, output value names)`` or None if some step has no C code.
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
        res = scalar_expr(op, [names[a] for a in args], [dtypes[a] for a in args], dt, prefix="t%d_c" % j)
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
    src = ["NT_EXPORT void %s(int64_t n, const int64_t *meta, %s)" % (NAME, params), "{"]
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
    # -- strided path: meta = shape[ndim], then ndim byte strides per operand
    # (dimensions ordered and merged in Python so the last one has the smallest strides)
    ops = [k for k in range(nops) if k >= nin or not scalar[k]]  # operands walked by pointers
    types = [C_TYPES[d] for d in in_dt + out_dt]
    src.append("  {")
    src += ["    const int64_t s%d = meta[%d];" % (d, d) for d in range(ndim)]
    for k in ops:
        sts = ", ".join("st%d_%d = meta[%d]" % (k, d, ndim * (k + 1) + d) for d in range(ndim))
        src.append("    const int64_t %s;" % sts)
    src += ["    const %s v%d = *(const %s *)p%d;" % (types[i], i, types[i], i) for i in range(nin) if scalar[i]]
    last = ndim - 1
    unit = " && ".join("st%d_%d == sizeof(%s)" % (k, last, types[k]) for k in ops)
    src.append("    const int unit = %s;" % unit)
    for d in range(ndim - 1):
        ind = "    " + "  " * d
        if d == 0:
            src += ["#ifdef _OPENMP", "#pragma omp parallel for schedule(static) if(n >= %s)" % pmin, "#endif"]
        src.append("%sfor (int64_t j%d = 0; j%d < s%d; j%d++) {" % (ind, d, d, d, d))
        for k in ops:
            base = "p%d" % k if d == 0 else "q%d_%d" % (k, d - 1)
            src.append("%s  char *q%d_%d = %s + j%d * st%d_%d;" % (ind, k, d, base, d, k, d))
    ind = "    " + "  " * last
    base = {k: ("p%d" % k if ndim == 1 else "q%d_%d" % (k, ndim - 2)) for k in ops}
    par = "parallel for simd schedule(static) if(parallel: n >= %s)" % pmin if ndim == 1 else "simd"
    # unit strides in the last dimension: typed pointers, a loop the compiler vectorizes
    src.append("%sif (unit) {" % ind)
    src += ["%s  %s *restrict c%d = (%s *)%s;" % (ind, _const(k, nin) + types[k], k, _const(k, nin) + types[k], base[k])
            for k in ops]  # fmt: skip
    src += ["#ifdef _OPENMP", "#pragma omp %s" % par, "#endif"]
    src.append("%s  for (int64_t i = 0; i < s%d; i++) {" % (ind, last))
    src += ["%s    const %s v%d = c%d[i];" % (ind, types[k], k, k) for k in ops if k < nin]
    src += [ind + "    " + ln for ln in lines]
    src += ["%s    c%d[i] = %s;" % (ind, nin + j, o) for j, o in enumerate(outs)]
    src += ["%s  }" % ind, "%s} else {" % ind]
    par = "parallel for schedule(static) if(n >= %s)" % pmin if ndim == 1 else None
    if par:
        src += ["#ifdef _OPENMP", "#pragma omp %s" % par, "#endif"]
    src.append("%s  for (int64_t i = 0; i < s%d; i++) {" % (ind, last))
    src += ["%s    const %s v%d = *(const %s *)(%s + i * st%d_%d);" % (ind, types[k], k, types[k], base[k], k, last)
            for k in ops if k < nin]  # fmt: skip
    src += [ind + "    " + ln for ln in lines]
    src += ["%s    *(%s *)(%s + i * st%d_%d) = %s;" % (ind, types[nin + j], base[nin + j], nin + j, last, o)
            for j, o in enumerate(outs)]  # fmt: skip
    src += ["%s  }" % ind, "%s}" % ind]
    for d in range(ndim - 2, -1, -1):
        src.append("    " + "  " * d + "}")
    src += ["  }", "}"]
    return "\n".join(src) + "\n"


def _const(k, nin):
    return "const " if k < nin else ""


def _strided_args(arrs, oshape, out_dtypes, full):
    """Outputs and ``meta`` for the strided path.

    Loops follow the memory order of a full-shape input (largest stride
    outermost) and the outputs get that layout too, as NumPy's ufuncs do, so
    transposed inputs are walked with unit strides; adjacent dimensions that
    every operand walks contiguously are merged into one loop.
    """
    nd = len(oshape)
    strides = [[0 if ln == 1 else st for ln, st in zip(a.shape, a.strides)] for a in arrs]
    ref = next((i for i in full if arrs[i].shape == oshape), full[0] if full else 0)
    perm = sorted(range(nd), key=lambda d: (oshape[d] != 1, -abs(strides[ref][d])))
    inv = [perm.index(d) for d in range(nd)]
    res = [np.empty([oshape[p] for p in perm], dt).transpose(inv) for dt in out_dtypes]
    strides += [list(r.strides) for r in res]
    shape, sts = [], [[] for _ in strides]
    for d in perm:
        n = oshape[d]
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
    return res, meta


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
            if a.flags.c_contiguous:
                return fb(a)
            return cast("char *", a.__array_interface__["data"][0])

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
            if not fast:
                op._check_shapes(node, arrs)  # the reference's error messages
                oshape = tuple(arrs[src[0]].shape[d] if src else 1 for d, src in enumerate(sources))
            n = math.prod(oshape)
            if fast and all(arrs[i].flags.c_contiguous for i in full):
                res = [p.empty(oshape) for p in pools]
                if n:
                    fn(n, null, *[fb(a) for a in arrs], *[fb(r) for r in res])
            else:
                res, meta = _strided_args(arrs, oshape, out_dtypes, full)
                if n:
                    fn(n, new("int64_t[]", meta), *[ptr(a) for a in arrs], *[ptr(r) for r in res])
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

        return run if ndim else run0

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
