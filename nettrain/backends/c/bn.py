"""C kernels for batch normalization: ``AbstractBatchNormTrain``, its gradient and ``AbstractBatchNormInference``.

The normalized axes must leave the other ("channel") axes as one contiguous
block, which covers 'spatial' and 'per-activation' on any rank, channels-last
layouts and explicit tuples like ``(0, 2, 3)``: the input is then viewed as a
C-contiguous ``(N, C, S)`` array (N and S: products of the normalized axes
before and after the channel block; a copy is made for other strides) and
each of the C groups is reduced over its ``N * S`` elements.  Other axes keep
``perform``.  OpenMP splits the channels of large inputs (with S == 1 the
channels go in blocks of 64, so that the inner loops run along rows).

Statistics accumulate in double (``perform`` sums pairwise in the input
dtype: results agree within rounding); everything ``perform`` computes from
them (``invstd``, the normalized output, the running averages with the
unbiased variance ``var * m / (m - 1)``, infinite factor when m == 1) is
computed in the input dtype with ``perform``'s order of operations.  The
gradient's per-element formula is evaluated in double.  Empty inputs, and
parameters that do not broadcast to the statistics' shape, run ``perform``
(which warns or raises as it does).
"""

import numpy as np

from ...tensor.nnet.bn import AbstractBatchNormInference, AbstractBatchNormTrain, AbstractBatchNormTrainGrad
from .buffers import OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES

_FLOATS = ("float32", "float64")

# Channel blocks of the (N, C, S) view and the loops over a block's elements, shared by the kernels.
# A block is one channel when S > 1 (rows of S contiguous elements) and up to NT_BN_B channels when
# S == 1 (then the inner loop runs along the channels of a row, which vectorizes).
_BLOCKS = r"""
#ifndef NT_BN_B
#define NT_BN_B 64
#endif
  const int64_t B = S == 1 ? NT_BN_B : 1, nb = (C + B - 1) / B;
  const double m = (double)N * (double)S;
  (void)m;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if(nb > 1 && N * C * S >= NT_PAR_MIN_HEAVY)
#endif
  for (int64_t blk = 0; blk < nb; blk++) {
    const int64_t c0 = blk * B, w = (c0 + B < C ? c0 + B : C) - c0;
"""


def _each(stmt, acc=()):
    """C loops running ``stmt`` for every element of the block (index ``i`` into x; channel offset ``j``).

    ``acc`` names double arrays ``acc[j]`` that ``stmt`` adds to through ``t_acc`` (a per-row partial sum
    in the S > 1 branch, vectorized as an OpenMP reduction).
    """
    per_row = " ".join("double t_%s = 0;" % a for a in acc)
    add_back = " ".join("%s[0] += t_%s;" % (a, a) for a in acc)
    red = " reduction(+:%s)" % ",".join("t_%s" % a for a in acc) if acc else ""
    col = stmt
    for a in acc:
        col = col.replace("t_%s +=" % a, "%s[j] +=" % a)
    return ("    if (S == 1) {\n"
            "      for (int64_t n = 0; n < N; n++) {\n"
            "        const int64_t r = n * C + c0;\n"
            "#pragma omp simd\n"
            "        for (int64_t j = 0; j < w; j++) { const int64_t i = r + j; %s }\n"
            "      }\n"
            "    } else {\n"
            "      const int64_t j = 0;\n"
            "      for (int64_t n = 0; n < N; n++) {\n"
            "        const int64_t r = (n * C + c0) * S; %s\n"
            "#pragma omp simd%s\n"
            "        for (int64_t s = 0; s < S; s++) { const int64_t i = r + s; %s }\n"
            "        %s\n"
            "      }\n"
            "    }\n") % (col, per_row, red, stmt, add_back)  # fmt: skip


def _train_source(dtype, running):
    t = C_TYPES[dtype]
    sq = "sqrtf" if dtype == "float32" else "sqrt"
    run_args = ", const char *prm, const char *prv, char *pnrm, char *pnrv" if running else ""
    # perform: running * (1 - factor) + stat * factor in the input dtype; the unbiased variance is var * m / (m - 1)
    run_stmt = ("      const T f = (T)factor, keep = (T)1 - f;\n"
                "      ((T *)pnrm)[c] = ((const T *)prm)[c] * keep + mu * f;\n"
                "      ((T *)pnrv)[c] = ((const T *)prv)[c] * keep + (var * (T)unbiased) * f;\n")  # fmt: skip
    run_stmt = run_stmt if running else ""
    return ("#define T %s\n"
            "NT_EXPORT void %s(int64_t N, int64_t C, int64_t S, const char *px, const char *pscale, const char *pbias,"
            " double eps, double factor, double unbiased, char *pout, char *pmean, char *pinv%s)\n{\n"
            "  const T *restrict x = (const T *)px, *restrict scale = (const T *)pscale;\n"
            "  const T *restrict bias = (const T *)pbias;\n"
            "  T *restrict out = (T *)pout;\n"
            "  (void)factor; (void)unbiased;\n%s"
            "    double s1[NT_BN_B], s2[NT_BN_B]; T mm[NT_BN_B], kk[NT_BN_B], bb[NT_BN_B];\n"
            "    for (int64_t j = 0; j < w; j++) s1[j] = s2[j] = 0;\n%s"
            "    for (int64_t j = 0; j < w; j++) s1[j] /= m;\n%s"
            "    for (int64_t j = 0; j < w; j++) {\n"
            "      const int64_t c = c0 + j;\n"
            "      const T mu = (T)s1[j], var = (T)(s2[j] / m), inv = (T)1 / %s(var + (T)eps);\n"
            "      ((T *)pmean)[c] = mu; ((T *)pinv)[c] = inv;\n%s"
            "      mm[j] = mu; kk[j] = scale[c] * inv; bb[j] = bias[c];\n"
            "    }\n%s"
            "  }\n}\n#undef T\n"
            % (t, NAME, run_args, _BLOCKS,
               _each("t_s1 += (double)x[i];", ("s1",)),
               _each("const double d = (double)x[i] - s1[j]; t_s2 += d * d;", ("s2",)),
               sq, run_stmt,
               _each("out[i] = (x[i] - mm[j]) * kk[j] + bb[j];")))  # fmt: skip


def _train_grad_source(dtype):
    t = C_TYPES[dtype]
    return ("#define T %s\n"
            "NT_EXPORT void %s(int64_t N, int64_t C, int64_t S, const char *px, const char *pdy, const char *pscale,"
            " const char *pmean, const char *pinv, char *pgx, char *pgscale, char *pgbias)\n{\n"
            "  const T *restrict x = (const T *)px, *restrict dy = (const T *)pdy;\n"
            "  const T *restrict scale = (const T *)pscale;\n"
            "  const T *restrict mean = (const T *)pmean, *restrict invstd = (const T *)pinv;\n"
            "  T *restrict gx = (T *)pgx;\n%s"
            "    double sdy[NT_BN_B], sdx[NT_BN_B], sxd[NT_BN_B], mu[NT_BN_B];\n"
            "    double a[NT_BN_B], b[NT_BN_B], cc[NT_BN_B];\n"
            "    for (int64_t j = 0; j < w; j++) { sdy[j] = sdx[j] = sxd[j] = 0; mu[j] = (double)mean[c0 + j]; }\n%s"
            "    for (int64_t j = 0; j < w; j++) {\n"
            "      /* gx = scale * (dy * inv - (x - mu) * mdx * inv^3 - mean(c)), mdx = mean(dy * (x - mu)) */\n"
            "      const int64_t c = c0 + j;\n"
            "      const double inv = (double)invstd[c], inv3 = inv * inv * inv, mdx = sdx[j] / m;\n"
            "      const double sc = (double)scale[c];\n"
            "      const double mc = inv * sdy[j] / m - (sxd[j] / m) * mdx * inv3;\n"
            "      a[j] = sc * inv; b[j] = sc * mdx * inv3; cc[j] = sc * mc;\n"
            "      ((T *)pgscale)[c] = (T)(inv * sdx[j]); ((T *)pgbias)[c] = (T)sdy[j];\n"
            "    }\n%s"
            "  }\n}\n#undef T\n"
            % (t, NAME, _BLOCKS,
               _each("const double d = (double)dy[i], xd = (double)x[i] - mu[j];"
                     " t_sdy += d; t_sdx += d * xd; t_sxd += xd;", ("sdy", "sdx", "sxd")),
               _each("gx[i] = (T)((double)dy[i] * a[j] - ((double)x[i] - mu[j]) * b[j] - cc[j]);")))  # fmt: skip


def _inference_source(dtype):
    t = C_TYPES[dtype]
    sq = "sqrtf" if dtype == "float32" else "sqrt"
    return ("#define T %s\n"
            "NT_EXPORT void %s(int64_t N, int64_t C, int64_t S, const char *px, const char *pscale, const char *pbias,"
            " const char *pmean, const char *pvar, double eps, char *pout)\n{\n"
            "  const T *restrict x = (const T *)px, *restrict scale = (const T *)pscale;\n"
            "  const T *restrict bias = (const T *)pbias;\n"
            "  const T *restrict mean = (const T *)pmean, *restrict var = (const T *)pvar;\n"
            "  T *restrict out = (T *)pout;\n%s"
            "    T mm[NT_BN_B], kk[NT_BN_B], bb[NT_BN_B];\n"
            "    for (int64_t j = 0; j < w; j++) {\n"
            "      const int64_t c = c0 + j;\n"
            "      mm[j] = mean[c]; kk[j] = scale[c] / %s(var[c] + (T)eps); bb[j] = bias[c];\n"
            "    }\n%s"
            "  }\n}\n#undef T\n"
            % (t, NAME, _BLOCKS, sq, _each("out[i] = (x[i] - mm[j]) * kk[j] + bb[j];")))  # fmt: skip


def _layout(op, ndim):
    """``(a, b)`` when the axes not normalized are exactly ``range(a, b)`` (the channel block), else None."""
    kept = [d for d in range(ndim) if d not in op.axes]
    if not kept:
        return ndim, ndim
    if kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return kept[0], kept[-1] + 1


def _as(a, dt):
    """``a`` as a C-contiguous ndarray of ``dt`` (no copy when it already is one)."""
    if type(a) is not np.ndarray or a.dtype != dt:
        a = np.asarray(a, dtype=dt)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _channels(params, stat, dt):
    """Each parameter broadcast to the statistics' shape as a contiguous array, or None when one does not fit."""
    out = []
    for p in params:
        if type(p) is not np.ndarray or p.shape != stat or p.dtype != dt or not p.flags.c_contiguous:
            try:
                p = np.ascontiguousarray(np.broadcast_to(p, stat), dtype=dt)
            except ValueError:
                return None
        out.append(p)
    return out


def _supported(node):
    """The node's float dtype when every input has it, and the (a, b) channel block; else None."""
    dtype = node.inputs[0].type.dtype
    if dtype not in _FLOATS or any(v.type.dtype != dtype for v in node.inputs):
        return None
    block = _layout(node.op, node.inputs[0].type.ndim)
    return None if block is None else (dtype, block)


def _dims(shape, block, axes):
    """``(N, C, S)`` of the view and the statistics' shape."""
    a, b = block
    dims = (int(np.prod(shape[:a], dtype=np.int64)), int(np.prod(shape[a:b], dtype=np.int64)),
            int(np.prod(shape[b:], dtype=np.int64)))  # fmt: skip
    return dims, tuple(1 if d in axes else n for d, n in enumerate(shape))


@c_kernel.register(AbstractBatchNormTrain)
def batch_norm_train_kernel(op, node):
    """Batch statistics, normalized output and (with running inputs) the running averages."""
    found = _supported(node)
    if found is None:
        return None
    (dtype, block), running = found, len(node.inputs) > 5
    dt = np.dtype(dtype)

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            x = _as(args[0], dt)
            (n, c, s), stat = _dims(x.shape, block, op.axes)
            params = _channels([args[1], args[2]] + list(args[5:7]), stat, dt)
            if x.size == 0 or params is None:
                return op.perform(node, args, outs)
            group = n * s
            unbiased = group / (group - 1.0) if group > 1 else float("inf")
            out, stats = pool.empty(x.shape), [np.empty(stat, dt) for _ in range(4 if running else 2)]
            ptrs = [fb(p) for p in params[:2]]
            extra = [fb(p) for p in params[2:]] + [fb(p) for p in stats[2:]]
            fn(n, c, s, fb(x), *ptrs, float(args[3]), float(args[4]), unbiased, fb(out), fb(stats[0]), fb(stats[1]),
               *extra)  # fmt: skip
            for cell, value in zip(outs, [out] + stats):
                cell[0] = value

        return run

    args = "int64_t, int64_t, int64_t, const char *, const char *, const char *, double, double, double, char *, char *"
    args += ", char *" + (", const char *, const char *, char *, char *" if running else "")
    return Kernel(_train_source(dtype, running), "void %s(%s);" % (NAME, args), bind)


@c_kernel.register(AbstractBatchNormTrainGrad)
def batch_norm_train_grad_kernel(op, node):
    """``(d x, d scale, d bias)`` for the output gradient ``dy``."""
    found = _supported(node)
    if found is None:
        return None
    dtype, block = found
    dt = np.dtype(dtype)

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            x, dy = _as(args[0], dt), _as(args[1], dt)
            (n, c, s), stat = _dims(x.shape, block, op.axes)
            params = _channels(args[2:5], stat, dt)
            if x.size == 0 or params is None or dy.shape != x.shape:
                return op.perform(node, args, outs)
            gx, gscale, gbias = pool.empty(x.shape), np.empty(stat, dt), np.empty(stat, dt)
            fn(n, c, s, fb(x), fb(dy), *[fb(p) for p in params], fb(gx), fb(gscale), fb(gbias))
            outs[0][0], outs[1][0], outs[2][0] = gx, gscale, gbias

        return run

    args = "int64_t, int64_t, int64_t, const char *, const char *, const char *, const char *, const char *"
    return Kernel(_train_grad_source(dtype), "void %s(%s, char *, char *, char *);" % (NAME, args), bind)


@c_kernel.register(AbstractBatchNormInference)
def batch_norm_inference_kernel(op, node):
    """``(x - mean) * (scale / sqrt(var + epsilon)) + bias`` per channel."""
    found = _supported(node)
    if found is None:
        return None
    dtype, block = found
    dt = np.dtype(dtype)

    def bind(fn, ffi):
        fb, pool = fast_from_buffer(ffi), OutputPool(dt)

        def run(node, args, outs):
            x = _as(args[0], dt)
            (n, c, s), stat = _dims(x.shape, block, op.axes)
            params = _channels(args[1:5], stat, dt)
            if x.size == 0 or params is None:
                return op.perform(node, args, outs)
            out = pool.empty(x.shape)
            fn(n, c, s, fb(x), *[fb(p) for p in params], float(args[5]), fb(out))
            outs[0][0] = out

        return run

    args = "int64_t, int64_t, int64_t, const char *, const char *, const char *, const char *, const char *, double"
    return Kernel(_inference_source(dtype), "void %s(%s, char *);" % (NAME, args), bind)


__all__ = ["batch_norm_train_kernel", "batch_norm_train_grad_kernel", "batch_norm_inference_kernel"]
