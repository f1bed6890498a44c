"""C kernels for CAReduce (sum, prod, max, min, all, any over any axes).

One exported function per node::

    void k(int64_t m, int64_t k, const int64_t *meta, char *x, char *out, char *acc)

``meta == NULL``: ``x`` is C-contiguous and the reduced axes are its last
ones, so ``out[r]`` reduces the ``k`` consecutive elements of row ``r``.
Otherwise ``meta`` holds the shape and byte strides of ``x`` in loop order,
then the output's strides of the kept axes.  With ``acc == NULL`` the kept
axes come first and each output element is reduced in a register; else the
reduced axes come first and whole rows are accumulated into the buffer
``acc`` (used when a kept axis is the one contiguous in memory).

Sums and products of floats accumulate in double (NumPy sums pairwise in the
output dtype: results agree within rounding); integer ones wrap like NumPy.
Max and min propagate NaN like ``np.maximum.reduce``.
"""

import math

import numpy as np

from ...tensor.reduction import _IDENTITY, CAReduce
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES, convert

_INT_LIMITS = {"int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
               "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64"}  # fmt: skip


def _accumulator(reducer, xdt, odt):
    """``(acc type, init, update(acc, v), omp reduction op or None, store(acc))`` as C text."""
    xk, ok = np.dtype(xdt).kind, np.dtype(odt).kind
    if reducer in ("add", "mul"):
        sym = "+" if reducer == "add" else "*"
        at = "double" if ok == "f" else "uint64_t"
        init = "0" if reducer == "add" else "1"
        # NumPy converts every element to the output dtype before accumulating
        upd = "acc = acc %s (%s)%s;" % (sym, at, convert("v", odt))
        return at, init, upd, sym, convert("acc", odt)
    if reducer in ("and", "or"):
        sym = "&" if reducer == "and" else "|"
        return "int", "1" if reducer == "and" else "0", "acc = acc %s (v != 0);" % sym, sym, convert("acc", odt)
    # maximum / minimum in the input dtype, then converted
    big = reducer == "maximum"
    at = C_TYPES[xdt]
    if xk == "f":
        init = "-INFINITY" if big else "INFINITY"
        sfx = "f32" if xdt == "float32" else "f64"
        return at, init, "acc = nt_%s_%s(acc, v);" % ("max" if big else "min", sfx), None, convert("acc", odt)
    if xk == "b":
        init = "0" if big else "1"
    elif xk == "u":
        init = "0" if big else "%s_MAX" % _INT_LIMITS[xdt]
    else:
        init = "%s_%s" % (_INT_LIMITS[xdt], "MIN" if big else "MAX")
    upd = "acc = NT_I%s(acc, v);" % ("MAX" if big else "MIN")
    return at, init, upd, "max" if big else "min", convert("acc", odt)


def _source(node):
    op = node.op
    xdt, odt = node.inputs[0].type.dtype, node.outputs[0].type.dtype
    ndim = node.inputs[0].type.ndim
    nk = ndim - len(op.axis)
    xt, ot = C_TYPES[xdt], C_TYPES[odt]
    at, init, upd, omp_op, store = _accumulator(op.reducer, xdt, odt)
    simd = "#pragma omp simd reduction(%s:acc)" % omp_op if omp_op else ""
    src = ["NT_EXPORT void %s(int64_t m, int64_t k, const int64_t *meta, char *px, char *po, char *pacc)" % NAME, "{"]
    # -- rows of k contiguous elements
    src += ["  if (meta == NULL) {",
            "    const %s *restrict x = (const %s *)px;" % (xt, xt),
            "    %s *restrict o = (%s *)po;" % (ot, ot),
            "#ifdef _OPENMP",
            "#pragma omp parallel for schedule(static) if(m > 1 && m * k >= NT_PAR_MIN)",
            "#endif",
            "    for (int64_t r = 0; r < m; r++) {",
            "      const %s *restrict row = x + r * k;" % xt,
            "      %s acc = %s;" % (at, init),
            simd,
            "      for (int64_t j = 0; j < k; j++) { const %s v = row[j]; %s }" % (xt, upd),
            "      o[r] = %s;" % store,
            "    }",
            "    return;",
            "  }"]  # fmt: skip
    if 0 < nk < ndim:
        src += _columns(ndim, nk, xt, ot, at, init, upd, store)
    # -- general strides: kept axes first, then reduced axes
    src += ["  {",
            "    const int64_t *s = meta, *xs = meta + %d, *os = meta + %d;" % (ndim, 2 * ndim),
            "    int64_t total = 1;",
            "    for (int d = 0; d < %d; d++) total *= s[d];" % ndim,
            "    (void)s; (void)xs; (void)os; (void)total;"]  # fmt: skip
    if nk:
        src += ["#ifdef _OPENMP", "#pragma omp parallel for schedule(static) if(total >= NT_PAR_MIN)", "#endif"]
    _loops(src, 0, ndim, nk, "    ", (xt, ot, at, init, upd, store))
    src += ["  }", "}"]
    return "\n".join(src) + "\n"


def _columns(ndim, nk, xt, ot, at, init, upd, store):
    """Kept axes innermost (e.g. sums down columns): accumulate rows into ``pacc``.

    ``meta`` lists the reduced axes first, then the kept ones; the loop over
    the last kept axis runs along memory and vectorizes.
    """
    nr = ndim - nk
    last = ndim - 1
    src = ["  if (pacc != NULL) {",
           "    %s *restrict acc_buf = (%s *)pacc;" % (at, at),
           "    const int64_t *s = meta, *xs = meta + %d, *os = meta + %d;" % (ndim, 2 * ndim),
           "    int64_t nout = 1;",
           "    for (int d = %d; d < %d; d++) nout *= s[d];" % (nr, ndim),
           "    for (int64_t i = 0; i < nout; i++) acc_buf[i] = %s;" % init,
           "    const int unit = xs[%d] == sizeof(%s);" % (last, xt)]  # fmt: skip
    ind = "    "
    for d in range(last):
        base = "px" if d == 0 else "qx%d" % (d - 1)
        src.append("%sfor (int64_t j%d = 0; j%d < s[%d]; j%d++) {" % (ind, d, d, d, d))
        src.append("%s  char *qx%d = %s + j%d * xs[%d];" % (ind, d, base, d, d))
        if d >= nr:
            src.append(
                "%s  const int64_t l%d = %s;" % (ind, d, "j%d" % d if d == nr else "l%d * s[%d] + j%d" % (d - 1, d, d))
            )
        ind += "  "
    base = "px" if last == 0 else "qx%d" % (last - 1)
    row = "acc_buf" if nk == 1 else "acc_buf + l%d * s[%d]" % (last - 1, last)
    src += ["%s%s *restrict a = %s;" % (ind, at, row),
            "%sif (unit) {" % ind,
            "%s  const %s *restrict xr = (const %s *)%s;" % (ind, xt, xt, base),
            "#ifdef _OPENMP", "#pragma omp simd", "#endif",
            "%s  for (int64_t j = 0; j < s[%d]; j++) { %s acc = a[j]; const %s v = xr[j]; %s a[j] = acc; }"
            % (ind, last, at, xt, upd),
            "%s} else {" % ind,
            "%s  for (int64_t j = 0; j < s[%d]; j++) {" % (ind, last),
            "%s    %s acc = a[j]; const %s v = *(const %s *)(%s + j * xs[%d]); %s a[j] = acc;"
            % (ind, at, xt, xt, base, last, upd),
            "%s  }" % ind,
            "%s}" % ind]  # fmt: skip
    for d in range(last - 1, -1, -1):
        src.append("    " + "  " * d + "}")
    # write the accumulators to the output, in the same (kept) loop order
    ind = "    "
    for d in range(nr, ndim):
        obase = "po" if d == nr else "qo%d" % (d - 1)
        src.append("%sfor (int64_t j%d = 0; j%d < s[%d]; j%d++) {" % (ind, d, d, d, d))
        src.append("%s  char *qo%d = %s + j%d * os[%d];" % (ind, d, obase, d, d - nr))
        src.append(
            "%s  const int64_t l%d = %s;" % (ind, d, "j%d" % d if d == nr else "l%d * s[%d] + j%d" % (d - 1, d, d))
        )
        ind += "  "
    src.append("%s{ %s acc = acc_buf[l%d]; *(%s *)qo%d = %s; }" % (ind, at, last, ot, last, store))
    for d in range(ndim - 1, nr - 1, -1):
        src.append("    " + "  " * (d - nr) + "}")
    src += ["    return;", "  }"]
    return src


def _loops(src, d, ndim, nk, ind, code):
    """Emit the loop over axis ``d``: kept axes walk the output, then the accumulator, then reduced axes."""
    xt, ot, at, init, upd, store = code
    xcur = "px" if d == 0 else "qx%d" % (d - 1)
    if d == nk:
        ocur = "po" if d == 0 else "qo%d" % (d - 1)
        src.append("%s%s acc = %s;" % (ind, at, init))
        inner = ind
        for r in range(d, ndim):
            base = "px" if r == 0 else "qx%d" % (r - 1)
            src.append("%sfor (int64_t j%d = 0; j%d < s[%d]; j%d++) {" % (inner, r, r, r, r))
            src.append("%s  char *qx%d = %s + j%d * xs[%d];" % (inner, r, base, r, r))
            inner += "  "
        xlast = "qx%d" % (ndim - 1) if ndim > d else xcur
        src.append("%s{ const %s v = *(const %s *)%s; %s }" % (inner, xt, xt, xlast, upd))
        for r in range(ndim - 1, d - 1, -1):
            src.append(ind + "  " * (r - d) + "}")
        src.append("%s*(%s *)%s = %s;" % (ind, ot, ocur, store))
        return
    obase = "po" if d == 0 else "qo%d" % (d - 1)
    src.append("%sfor (int64_t j%d = 0; j%d < s[%d]; j%d++) {" % (ind, d, d, d, d))
    src.append("%s  char *qx%d = %s + j%d * xs[%d];" % (ind, d, xcur, d, d))
    src.append("%s  char *qo%d = %s + j%d * os[%d];" % (ind, d, obase, d, d))
    _loops(src, d + 1, ndim, nk, ind + "  ", code)
    src.append(ind + "}")


def _bind(node):
    op = node.op
    xdt = node.inputs[0].type.numpy_dtype
    odt = node.outputs[0].type.numpy_dtype
    ndim = node.inputs[0].type.ndim
    axis = op.axis
    kept = tuple(d for d in range(ndim) if d not in axis)
    trailing = axis == tuple(range(ndim - len(axis), ndim))
    needs_identity = not _IDENTITY[op.reducer]
    at = _accumulator(op.reducer, xdt.name, odt.name)[0]
    acc_dtype = {"double": "float64", "uint64_t": "uint64", "int": "intc"}.get(at, xdt)
    columns_ok = 0 < len(kept) < ndim
    ndarray, asarray, empty = np.ndarray, np.asarray, np.empty

    def bind(fn, ffi):
        fb, cast, null, new = fast_from_buffer(ffi), ffi.cast, ffi.NULL, ffi.new

        def run(node, args, outs):
            x = args[0]
            if type(x) is not ndarray or (x.dtype is not xdt and x.dtype != xdt):
                x = asarray(x, dtype=xdt)
            shape = x.shape
            if needs_identity and any(shape[a] == 0 for a in axis):
                raise ValueError("%s of an empty dimension has no identity (input shape %s)" % (op, shape))
            out = empty(tuple(shape[d] for d in kept), odt)
            if trailing and x.flags.c_contiguous:
                m = out.size
                k = math.prod(shape[a] for a in axis)
                fn(m, k, null, fb(x), fb(out), null)
            elif x.size:
                # walk memory in order: largest strides outermost within each group
                xs = x.strides
                okeep = {d: s for d, s in zip(kept, out.strides)}
                ks = sorted(kept, key=lambda d: -abs(xs[d]))
                rs = sorted(axis, key=lambda d: -abs(xs[d]))
                px = fb(x) if x.flags.c_contiguous else cast("char *", x.__array_interface__["data"][0])
                inner = min((d for d in range(ndim) if shape[d] > 1), key=lambda d: abs(xs[d]), default=None)
                if columns_ok and inner in okeep:
                    # the fastest-varying axis is kept: accumulate whole rows at a time
                    order = rs + ks
                    acc = empty(out.size, acc_dtype)
                    meta = [shape[d] for d in order] + [xs[d] for d in order] + [okeep[d] for d in ks]
                    fn(0, 0, new("int64_t[]", meta), px, fb(out), fb(acc))
                else:
                    order = ks + rs
                    meta = [shape[d] for d in order] + [xs[d] for d in order] + [okeep[d] for d in ks]
                    fn(0, 0, new("int64_t[]", meta), px, fb(out) if out.size else null, null)
            else:
                # nothing to read: every output element is the identity
                fn(out.size, 0, null, null, fb(out), null)
            outs[0][0] = out

        return run

    return bind


@c_kernel.register(CAReduce)
def careduce_kernel(op, node):
    """A kernel for a CAReduce node on a dtype the C backend handles."""
    xdt, odt = node.inputs[0].type.dtype, node.outputs[0].type.dtype
    if xdt not in C_TYPES or odt not in C_TYPES:
        return None
    cdef = "void %s(int64_t, int64_t, const int64_t *, char *, char *, char *);" % NAME
    return Kernel(_source(node), cdef, _bind(node))


__all__ = ["careduce_kernel"]
