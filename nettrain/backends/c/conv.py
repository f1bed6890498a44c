"""C kernels for ``Conv2d``, ``Conv2dGradInputs`` and ``Conv2dGradWeights``: im2col + BLAS gemm.

Each kernel runs the whole op in one C call.  The batch is cut into chunks
of ``nb`` images; for each group and chunk the input windows are copied
(im2col) into a ``(Cg * kh * kw, nb * P)`` scratch matrix (``P = oh * ow``)
and one gemm of NumPy's BLAS (:func:`.blas.find_blas`, called through its
address, multi-threaded by BLAS itself) does the arithmetic:

- forward: ``out_g = W_g @ cols``;
- grad of the weights: ``gW_g += gy_g @ cols.T`` (accumulated over chunks);
- grad of the input: ``cols = W_g.T @ gy_g``, then added back onto the
  input planes (col2im).

``gy_g`` / ``out_g`` go through a ``(Fg, N * P)`` scratch matrix, gathered
or scattered once per group, except with one image per chunk, where gemm
reads and writes them in place.  Padding, stride, dilation and
``filter_flip`` only change which input pixel a column entry reads (a
flipped filter reads tap ``k - 1 - i``), so filters are never copied.
Every prop combination of the 2-d ops runs in C; the geometry is a run-time
argument, so one compiled kernel per op kind and dtype serves every shape.

Chunks hold enough images for ``GEMM_COLUMNS`` gemm columns (narrow gemms
waste BLAS threads) within ``CHUNK_BYTES`` (the im2col matrix stays in L2
cache for gemm).  On the LeNet shapes this beat one gemm per image and one
gemm for the whole batch (conv ops of a LeNet step: ~18 ms vs 21 and 23).
The chunks are shared out between the threads (``config.blas_threads``,
at most one per chunk), each with its own im2col matrix and one
single-threaded gemm per chunk (BLAS runs one thread once these kernels
are loaded: ``backends/threads.py``): im2col, gemm and col2im all run in
parallel, with no thread waiting on another inside a chunk.  The weight
gradient sums its chunks in ``SLICES`` fixed slices whose partial sums are
added in order, so every result is the same whatever the thread count.
LeNet's step on 2 cores went from 17.2 ms (one gemm at a time, whole) to
12.4 ms.  Scratch matrices are NumPy arrays kept by the bound kernel and
reused from call to call.
"""

import numpy as np

from ...tensor.nnet.conv import Conv2d, _check_channels, _check_fits, _out_shape, _pads
from ...tensor.nnet.conv_grad import Conv2dGradInputs, Conv2dGradWeights, _check_topgrad
from .. import threads
from .blas import find_blas
from .buffers import OutputPool
from .registry import NAME, Kernel, c_kernel, fast_from_buffer
from .table import C_TYPES

#: images per gemm: enough for ``GEMM_COLUMNS`` output positions, with an im2col matrix of at most
#: ``CHUNK_BYTES`` (one image per gemm when a single image exceeds it)
GEMM_COLUMNS = 256
CHUNK_BYTES = 1 << 21
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# geometry vector passed to every kernel (int64): indices into it
_GEO = ("N", "C", "H", "W", "F", "kh", "kw", "oh", "ow", "ph", "pw", "sh", "sw", "dh", "dw", "flip", "G", "nb", "T")
#: the weight gradient sums its chunks in at most this many slices (partial sums added in slice order)
SLICES = 8

_HELPERS = r"""
#ifdef _OPENMP
#include <omp.h>
#endif
typedef TYPE NT_KERNEL_t;
typedef void (*NT_KERNEL_gemm_t)(int, int, int, INT, INT, INT, TYPE, const TYPE *, INT, const TYPE *, INT, TYPE,
                                 TYPE *, INT);
#define GEO_UNPACK \
  const int64_t N = g[0], C = g[1], H = g[2], W = g[3], F = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8]; \
  const int64_t ph = g[9], pw = g[10], sh = g[11], sw = g[12], dh = g[13], dw = g[14], flip = g[15], G = g[16]; \
  const int64_t nb = g[17], T = g[18], Cg = C / G, Fg = F / G, KK = kh * kw, CK = Cg * KK, P = oh * ow; \
  const int64_t nchunks = (N + nb - 1) / nb, colsz = CK * nb * P; \
  (void)N; (void)H; (void)W; (void)ph; (void)pw; (void)sh; (void)sw; (void)dh; (void)dw; (void)flip; (void)Fg; \
  (void)CK; (void)nb; (void)T; (void)nchunks; (void)colsz;
/* the start of every kernel: geometry, the BLAS routine, the tap tables (they follow the geometry in g) */
#define GEMM_PROLOGUE \
  GEO_UNPACK \
  const NT_KERNEL_gemm_t gemm = (NT_KERNEL_gemm_t)fp; \
  int64_t *ty = g + NGEO, *tx = ty + 4 * kh; \
  NT_KERNEL_taps(ty, kh, flip, dh, ph, sh, H, oh); \
  NT_KERNEL_taps(tx, kw, flip, dw, pw, sw, W, ow);
/* the calling thread's number in a parallel region (its im2col scratch: cols + tid * colsz) */
static inline int64_t NT_KERNEL_tid(void)
{
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
/* Per filter tap along one axis: the input offset of output 0 and the outputs [lo, hi) reading inside the input.
   tab[4 * t ..] = {off, lo, hi, unused} for tap t of a filter read flipped or not. */
static void NT_KERNEL_taps(int64_t *tab, int64_t k, int64_t flip, int64_t d, int64_t pad, int64_t s, int64_t n,
                           int64_t on)
{
  for (int64_t t = 0; t < k; t++) {
    const int64_t off = (flip ? k - 1 - t : t) * d - pad;
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s, b = n - off > 0 ? (n - off + s - 1) / s : 0;
    if (a > on) a = on;
    if (b > on) b = on;
    if (b < a) b = a;
    tab[4 * t] = off; tab[4 * t + 1] = a; tab[4 * t + 2] = b; tab[4 * t + 3] = 0;
  }
}
/* d[0 .. n) = s[0 .. n) for short rows: whole 32-byte blocks (one vector move each), the tail as one more block
   overlapping the last (rows are often shorter than a vectorized loop's setup pays for) */
static inline void NT_KERNEL_copy(NT_KERNEL_t *restrict d, const NT_KERNEL_t *restrict s, int64_t n)
{
  enum { V = 32 / sizeof(NT_KERNEL_t) };
  if (n < V) {
    for (int64_t k = 0; k < n; k++) d[k] = s[k];
    return;
  }
  int64_t k = 0;
  for (; k + V <= n; k += V)
    for (int q = 0; q < V; q++) d[k + q] = s[k + q];
  if (k < n)
    for (int q = 0; q < V; q++) d[n - V + q] = s[n - V + q];
}
/* d[0 .. n) += s[0 .. n), in whole 32-byte blocks then one element at a time */
static inline void NT_KERNEL_add(NT_KERNEL_t *restrict d, const NT_KERNEL_t *restrict s, int64_t n)
{
  enum { V = 32 / sizeof(NT_KERNEL_t) };
  int64_t k = 0;
  for (; k + V <= n; k += V)
    for (int q = 0; q < V; q++) d[k + q] += s[k + q];
  for (; k < n; k++) d[k] += s[k];
}
/* cols[r, b * P + p] for rows r = (c, i, j) of group channels c0.., images n0 .. n0 + m.
   A flipped filter's row (c, i, j) reads tap (kh - 1 - i, kw - 1 - j).  ty, tx: NT_KERNEL_taps tables. */
static void NT_KERNEL_im2col(const int64_t *g, const int64_t *ty, const int64_t *tx, const NT_KERNEL_t *x,
                             NT_KERNEL_t *cols, int64_t n0, int64_t m, int64_t c0)
{
  GEO_UNPACK
  const int64_t ld = m * P;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if(CK > 1 && CK * ld >= NT_PAR_MIN)
#endif
  for (int64_t r = 0; r < CK; r++) {
    const int64_t c = r / KK, i = (r / kw) % kh, j = r % kw;
    const int64_t offy = ty[4 * i], ylo = ty[4 * i + 1], yhi = ty[4 * i + 2];
    const int64_t offx = tx[4 * j], lo = tx[4 * j + 1], hi = tx[4 * j + 2];
    const int full = lo == 0 && hi == ow && sw == 1;
    for (int64_t b = 0; b < m; b++) {
      const NT_KERNEL_t *xp = x + ((n0 + b) * C + c0 + c) * H * W;
      NT_KERNEL_t *dst = cols + r * ld + b * P;
      for (int64_t q = 0; q < ylo * ow; q++) dst[q] = 0;
      for (int64_t q = yhi * ow; q < P; q++) dst[q] = 0;
      if (full) {
        /* the common case: whole output rows read contiguous input */
        for (int64_t oy = ylo; oy < yhi; oy++) NT_KERNEL_copy(dst + oy * ow, xp + (oy * sh + offy) * W + offx, ow);
        continue;
      }
      for (int64_t oy = ylo; oy < yhi; oy++) {
        const NT_KERNEL_t *restrict s = xp + (oy * sh + offy) * W;
        NT_KERNEL_t *restrict d = dst + oy * ow;
        for (int64_t ox = 0; ox < lo; ox++) d[ox] = 0;
        for (int64_t ox = lo; ox < hi; ox++) d[ox] = s[ox * sw + offx];
        for (int64_t ox = hi; ox < ow; ox++) d[ox] = 0;
      }
    }
  }
}
/* gx planes of images n0 .. n0 + m, group channels c0.. = the sum of their column entries (col2im).
   Threads (for large inputs) share out (channel, image) planes, which no two tasks write. */
static void NT_KERNEL_col2im(const int64_t *g, const int64_t *ty, const int64_t *tx, const NT_KERNEL_t *cols,
                             NT_KERNEL_t *gx, int64_t n0, int64_t m, int64_t c0)
{
  GEO_UNPACK
  const int64_t ld = m * P;
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) if(Cg * m > 1 && CK * ld >= NT_PAR_MIN)
#endif
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t b = 0; b < m; b++) {
      NT_KERNEL_t *gp = gx + ((n0 + b) * C + c0 + c) * H * W;
      for (int64_t q = 0; q < H * W; q++) gp[q] = 0;
      for (int64_t i = 0; i < kh; i++) {
        const int64_t offy = ty[4 * i], ylo = ty[4 * i + 1], yhi = ty[4 * i + 2];
        for (int64_t j = 0; j < kw; j++) {
          const int64_t offx = tx[4 * j], lo = tx[4 * j + 1], hi = tx[4 * j + 2];
          const NT_KERNEL_t *src = cols + ((c * kh + i) * kw + j) * ld + b * P;
          for (int64_t oy = ylo; oy < yhi; oy++) {
            NT_KERNEL_t *restrict d = gp + (oy * sh + offy) * W;
            const NT_KERNEL_t *restrict s = src + oy * ow;
            if (sw == 1)
              NT_KERNEL_add(d + lo + offx, s + lo, hi - lo);
            else
              for (int64_t ox = lo; ox < hi; ox++) d[ox * sw + offx] += s[ox];
          }
        }
      }
    }
}
/* buf[f, n * P + p] = y[n, f0 + f, p] (to_y = 0) or the reverse (to_y = 1), for f < Fg and every image n. */
static void NT_KERNEL_gather(const int64_t *g, NT_KERNEL_t *y, NT_KERNEL_t *buf, int64_t f0, int to_y)
{
  GEO_UNPACK
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) if(Fg * N * P >= NT_PAR_MIN)
#endif
  for (int64_t f = 0; f < Fg; f++)
    for (int64_t n = 0; n < N; n++) {
      NT_KERNEL_t *restrict yp = y + (n * F + f0 + f) * P, *restrict bp = buf + (f * N + n) * P;
      if (to_y)
        for (int64_t p = 0; p < P; p++) yp[p] = bp[p];
      else
        for (int64_t p = 0; p < P; p++) bp[p] = yp[p];
    }
}
"""

_FORWARD = r"""
NT_EXPORT void NT_KERNEL(void *fp, int64_t *g, const char *px, const char *pw_, char *pout, char *pcols,
                         char *ptmp)
{
  GEMM_PROLOGUE
  const NT_KERNEL_t *x = (const NT_KERNEL_t *)px, *w = (const NT_KERNEL_t *)pw_;
  NT_KERNEL_t *out = (NT_KERNEL_t *)pout, *cols = (NT_KERNEL_t *)pcols, *tmp = (NT_KERNEL_t *)ptmp;
  /* with one image per gemm, gemm writes the output in place; else into tmp (Fg, N * P), scattered after.
     Chunks go to T threads, each with its own im2col scratch: their outputs are disjoint. */
  for (int64_t grp = 0; grp < G; grp++) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(T) if(T > 1 && nchunks > 1)
#endif
    for (int64_t q = 0; q < nchunks; q++) {
      const int64_t n0 = q * nb, m = N - n0 < nb ? N - n0 : nb;
      NT_KERNEL_t *c = cols + NT_KERNEL_tid() * colsz;
      NT_KERNEL_im2col(g, ty, tx, x, c, n0, m, grp * Cg);
      NT_KERNEL_t *o = nb == 1 ? out + (n0 * F + grp * Fg) * P : tmp + n0 * P;
      gemm(NT_ROW, NT_NOTR, NT_NOTR, Fg, m * P, CK, 1, w + grp * Fg * CK, CK, c, m * P, 0, o, nb == 1 ? P : N * P);
    }
    if (nb > 1) NT_KERNEL_gather(g, out, tmp, grp * Fg, 1);
  }
}
"""

_GRAD_WEIGHTS = r"""
NT_EXPORT void NT_KERNEL(void *fp, int64_t *g, const char *px, const char *pgy, char *pgw, char *pcols,
                         char *ptmp)
{
  GEMM_PROLOGUE
  const NT_KERNEL_t *x = (const NT_KERNEL_t *)px;
  NT_KERNEL_t *gy = (NT_KERNEL_t *)pgy, *gw = (NT_KERNEL_t *)pgw, *cols = (NT_KERNEL_t *)pcols;
  NT_KERNEL_t *tmp = (NT_KERNEL_t *)ptmp;
  /* gy's group rows gathered once into tmp (Fg, N * P), unless gemm reads them in place (one image per gemm).
     The chunks are summed in S slices, as many whatever the thread count: slice s accumulates its chunks in
     order into gw (s = 0) or its partial sum after the T im2col scratch matrices, and the partial sums are then
     added to gw in slice order, so the result does not depend on how many threads took the slices. */
  const int64_t S = nchunks < SLICES ? nchunks : SLICES, FCK = Fg * CK;
  NT_KERNEL_t *parts = cols + T * colsz;
  for (int64_t grp = 0; grp < G; grp++) {
    if (nb > 1) NT_KERNEL_gather(g, gy, tmp, grp * Fg, 0);
    NT_KERNEL_t *gwg = gw + grp * FCK;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(T) if(T > 1 && S > 1)
#endif
    for (int64_t s = 0; s < S; s++) {
      NT_KERNEL_t *c = cols + NT_KERNEL_tid() * colsz, *acc = s == 0 ? gwg : parts + (s - 1) * FCK;
      const int64_t q0 = nchunks * s / S, q1 = nchunks * (s + 1) / S;
      for (int64_t q = q0; q < q1; q++) {
        const int64_t n0 = q * nb, m = N - n0 < nb ? N - n0 : nb;
        NT_KERNEL_im2col(g, ty, tx, x, c, n0, m, grp * Cg);
        const NT_KERNEL_t *a = nb == 1 ? gy + (n0 * F + grp * Fg) * P : tmp + n0 * P;
        gemm(NT_ROW, NT_NOTR, NT_TRANS, Fg, CK, m * P, 1, a, nb == 1 ? P : N * P, c, m * P, q > q0 ? 1 : 0, acc, CK);
      }
    }
    if (S > 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if(FCK * S >= NT_PAR_MIN)
#endif
      for (int64_t i = 0; i < FCK; i++) {
        NT_KERNEL_t t = gwg[i];
        for (int64_t s = 1; s < S; s++) t += parts[(s - 1) * FCK + i];
        gwg[i] = t;
      }
    }
  }
}
"""

_GRAD_INPUTS = r"""
NT_EXPORT void NT_KERNEL(void *fp, int64_t *g, const char *pw_, const char *pgy, char *pgx, char *pcols,
                         char *ptmp)
{
  GEMM_PROLOGUE
  const NT_KERNEL_t *w = (const NT_KERNEL_t *)pw_;
  NT_KERNEL_t *gy = (NT_KERNEL_t *)pgy, *gx = (NT_KERNEL_t *)pgx, *cols = (NT_KERNEL_t *)pcols;
  NT_KERNEL_t *tmp = (NT_KERNEL_t *)ptmp;
  /* chunks go to T threads, each with its own column scratch; their images' input gradients are disjoint */
  for (int64_t grp = 0; grp < G; grp++) {
    if (nb > 1) NT_KERNEL_gather(g, gy, tmp, grp * Fg, 0);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(T) if(T > 1 && nchunks > 1)
#endif
    for (int64_t q = 0; q < nchunks; q++) {
      const int64_t n0 = q * nb, m = N - n0 < nb ? N - n0 : nb;
      NT_KERNEL_t *c = cols + NT_KERNEL_tid() * colsz;
      const NT_KERNEL_t *b = nb == 1 ? gy + (n0 * F + grp * Fg) * P : tmp + n0 * P;
      gemm(NT_ROW, NT_TRANS, NT_NOTR, CK, m * P, Fg, 1, w + grp * Fg * CK, CK, b, nb == 1 ? P : N * P, 0, c, m * P);
      NT_KERNEL_col2im(g, ty, tx, c, gx, n0, m, grp * Cg);
    }
  }
}
"""

_CDEF = "void %s(void *, int64_t *, const char *, const char *, char *, char *, char *);" % NAME


def _source(kind, dtype, int_type):
    """The kernel of ``kind`` ('forward', 'grad_weights', 'grad_inputs'), with its helpers, for one dtype."""
    body = {"forward": _FORWARD, "grad_weights": _GRAD_WEIGHTS, "grad_inputs": _GRAD_INPUTS}[kind]
    # threads take whole chunks: a gemm split in bands over our threads ran slower than on one thread (LeNet's
    # second convolution: 3.0 -> 3.9 ms forward, 2.9 -> 4.3 ms input gradient on 2 cores)
    src = (_HELPERS + body).replace("TYPE", C_TYPES[dtype]).replace("INT", int_type)
    src = src.replace("NT_ROW", str(_ROW_MAJOR)).replace("NT_NOTR", str(_NO_TRANS)).replace("NT_TRANS", str(_TRANS))
    # the macros are defined by every conv kernel of a library: keep their names unique per kernel
    src = src.replace("GEO_UNPACK", NAME + "_GEO").replace("GEMM_PROLOGUE", NAME + "_PROLOGUE")
    return src.replace("NGEO", str(len(_GEO))).replace("SLICES", str(SLICES))


def _dtype(node):
    """The float dtype shared by the node's two tensor inputs and its output, or None."""
    dtype = node.outputs[0].type.dtype
    if dtype not in ("float32", "float64") or any(v.type.dtype != dtype for v in node.inputs[:2]):
        return None
    return dtype


def _contiguous(a, dt):
    if type(a) is not np.ndarray or a.dtype != dt:
        a = np.asarray(a, dtype=dt)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class _Scratch:
    """Two scratch matrices (im2col columns, gathered gradient) reused across calls of one kernel."""

    __slots__ = ("dtype", "cols", "tmp")

    def __init__(self, dtype):
        self.dtype = dtype
        self.cols = self.tmp = np.empty(0, dtype)

    def get(self, n_cols, n_tmp):
        if self.cols.size < n_cols:
            self.cols = np.empty(n_cols, self.dtype)
        if self.tmp.size < n_tmp:
            self.tmp = np.empty(n_tmp, self.dtype)
        return self.cols, self.tmp


def _geometry(op, n, c, ishape, f, kshape, oshape, item):
    """The int64 geometry vector of the kernels and the chunk size (images per gemm)."""
    pads = _pads(op.border_mode, kshape, op.filter_dilation)
    g = op.num_groups
    p = oshape[0] * oshape[1]
    per_image = (c // g) * kshape[0] * kshape[1] * p * item
    nb = max(1, min(n, -(-GEMM_COLUMNS // p), CHUNK_BYTES // max(1, per_image)))
    # the threads that take chunks (each with its own im2col scratch): never more than there are chunks
    t = max(1, min(threads.current_count() or 1, -(-n // nb)))
    return [n, c, ishape[0], ishape[1], f, kshape[0], kshape[1], oshape[0], oshape[1], pads[0], pads[1],
            op.subsample[0], op.subsample[1], op.filter_dilation[0], op.filter_dilation[1], int(op.filter_flip),
            g, nb, t]  # fmt: skip


def _binder(dtype, blas, prepare, perform):
    """``bind`` for a conv kernel; ``prepare(op, a, b, shape_args, pool)`` checks the inputs and returns
    ``(out, geometry)`` (geometry None: ``out`` is already final), or None to let ``perform`` run
    (the op's method, taken when the kernel was made, like the Python linker's steps)."""
    dt = np.dtype(dtype)
    routine = blas.addr["sgemm" if dtype == "float32" else "dgemm"]

    def bind(fn, ffi):
        fp, fb, pool, scratch = ffi.cast("void *", routine), fast_from_buffer(ffi), OutputPool(dt), _Scratch(dt)
        new = ffi.new

        def run(node, args, outs):
            a, b = _contiguous(args[0], dt), _contiguous(args[1], dt)
            res = prepare(node.op, a, b, args[2:], pool)
            if res is None:
                perform(node, args, outs)
                return
            out, geo = res
            if geo is not None:
                c, f, g, nb, t, p = geo[1], geo[4], geo[16], geo[17], geo[18], geo[7] * geo[8]
                kh, kw = geo[5], geo[6]
                ck = (c // g) * kh * kw
                # T im2col matrices, then the weight gradient's partial sums (one per slice after the first)
                slices = min(-(-geo[0] // nb), SLICES)
                cols, tmp = scratch.get(t * ck * nb * p + (slices - 1) * (f // g) * ck,
                                        (f // g) * geo[0] * p if nb > 1 else 1)  # fmt: skip
                geo = new("int64_t[]", geo + [0] * (4 * (kh + kw)))  # room for the tap tables
                fn(fp, geo, fb(a), fb(b), fb(out), fb(cols), fb(tmp))
            outs[0][0] = out

        return run

    return bind


def _prepare_forward(op, x, w, _, pool):
    _check_channels(op, x.shape[1], w.shape[1], w.shape[0])
    kshape = w.shape[2:]
    _check_fits(op, x.shape[2:], kshape)
    if min(kshape) < 1:
        return None  # filters without taps: left to perform
    oshape = _out_shape(x.shape[2:], kshape, op.border_mode, op.subsample, op.filter_dilation)
    n, f = x.shape[0], w.shape[0]
    out = pool.empty((n, f, *oshape))
    if out.size == 0:
        return out, None
    if w.shape[1] == 0:  # no input channels: nothing to sum
        out[...] = 0
        return out, None
    return out, _geometry(op, n, x.shape[1], x.shape[2:], f, kshape, oshape, x.itemsize)


def _prepare_grad_weights(op, x, gy, shape, pool):
    kshape = tuple(int(s) for s in shape)
    n, c, f = x.shape[0], x.shape[1], gy.shape[1]
    _check_channels(op, c, None, f)
    _check_topgrad(op, gy.shape[2:], x.shape[2:], kshape)
    if gy.shape[0] != n or min(kshape) < 1:
        return None  # perform raises (or handles) these
    out = pool.empty((f, c // op.num_groups, *kshape))
    if out.size == 0:
        return out, None
    if n == 0 or gy.shape[2] * gy.shape[3] == 0:
        out[...] = 0
        return out, None
    return out, _geometry(op, n, c, x.shape[2:], f, kshape, gy.shape[2:], x.itemsize)


def _prepare_grad_inputs(op, w, gy, shape, pool):
    ishape = tuple(int(s) for s in shape)
    f, cg, kshape = w.shape[0], w.shape[1], w.shape[2:]
    n = gy.shape[0]
    if gy.shape[1] != f:
        raise ValueError("%s: the output gradient has %d channels but there are %d filters" % (op, gy.shape[1], f))
    _check_channels(op, None, cg, f)
    _check_topgrad(op, gy.shape[2:], ishape, kshape)
    if min(ishape) < 0 or min(kshape) < 1:
        return None  # left to perform
    out = pool.empty((n, cg * op.num_groups, *ishape))
    if out.size == 0:
        return out, None
    if f == 0 or gy.shape[2] * gy.shape[3] == 0:
        out[...] = 0
        return out, None
    return out, _geometry(op, n, cg * op.num_groups, ishape, f, kshape, gy.shape[2:], w.itemsize)


def _register(op_class, kind, prepare):
    def kernel(op, node):
        blas, dtype = find_blas(), _dtype(node)
        if blas is None or dtype is None:
            return None
        return Kernel(_source(kind, dtype, blas.int_type), _CDEF, _binder(dtype, blas, prepare, op.perform))

    kernel.__name__ = "conv2d_%s_kernel" % kind
    kernel.__doc__ = "%s through im2col and BLAS gemm (every prop combination)." % op_class.__name__
    return c_kernel.register(op_class)(kernel)


conv2d_kernel = _register(Conv2d, "forward", _prepare_forward)
conv2d_grad_weights_kernel = _register(Conv2dGradWeights, "grad_weights", _prepare_grad_weights)
conv2d_grad_inputs_kernel = _register(Conv2dGradInputs, "grad_inputs", _prepare_grad_inputs)

__all__ = ["CHUNK_BYTES", "conv2d_kernel", "conv2d_grad_inputs_kernel", "conv2d_grad_weights_kernel"]
