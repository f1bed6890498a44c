"""CUDA kernels for ``Conv2d``, ``Conv2dGradInputs`` and ``Conv2dGradWeights``: im2col / col2im + GEMM.

The batch is cut into chunks of ``nb`` images whose windows fit in
:data:`CHUNK_BYTES`.  ``NAME_im2col`` copies a chunk's windows into a
``(C * kh * kw, nb * P)`` matrix (``P = oh * ow``, one thread per entry; padding
reads as 0) and the GEMMs go through :mod:`.blas` (cuBLAS on a GPU, NumPy on the
emulator), one per group and chunk:

- forward: ``out[n, g] = W_g @ cols_g[:, n]``, strided-batched over the chunk's
  images and written straight into ``(N, F, oh, ow)``;
- grad of the weights: ``gW_g (+)= gy_g @ cols_g.T``, where ``gy_g`` is the
  chunk's gradient gathered to ``(F, nb * P)`` by the copy kernel (read in place
  for one image per chunk);
- grad of the input: ``dcols_g[:, n] = W_g.T @ gy[n, g]`` (strided-batched), then
  ``NAME_col2im`` sums the columns back onto the image: one thread per input
  element gathers its taps, in ``perform``'s tap order, so no atomics are needed.

Padding, stride, dilation and ``filter_flip`` only change which pixel a column
entry reads (a flipped filter reads tap ``k - 1 - i``), so filters are never
copied, and the geometry is a kernel argument: one build per dtype serves every
configuration of the three ops.  A 1x1 filter with stride 1 and no padding
needs no im2col at all: the image is the column matrix.
"""

import numpy as np

from ...tensor.nnet.conv import Conv2d, _check_channels, _check_fits, _out_shape, _pads
from ...tensor.nnet.conv_grad import Conv2dGradInputs, Conv2dGradWeights, _check_topgrad
from .blas import _CTYPE, blas_for, blas_usable, copy_kernels, gemm, make_contiguous, perform_on_host
from .darray import DeviceArray
from .registry import NAME, CudaKernel, cuda_kernel, grid_for

#: bytes of im2col columns per chunk of images (at least one image per chunk)
CHUNK_BYTES = 1 << 27
BLOCK = 256

_GEO = ("int64_t nb, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t oh, int64_t ow, int64_t ph, "
        "int64_t pw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t flip")  # fmt: skip

_SOURCE = r"""
/* cols[(c, i, j), b * P + p] = x[b, c, window p, tap (i, j)] (flipped taps when flip), 0 in the padding */
extern "C" __global__ void NAME_im2col(GEO, const TYPE *__restrict__ x, TYPE *__restrict__ cols)
{
  const int64_t P = oh * ow, ld = nb * P, KK = kh * kw, n = C * KK * ld;
  for (int64_t i = NT_TID; i < n; i += NT_STEP) {
    const int64_t r = i / ld, q = i - r * ld, b = q / P, p = q - b * P, oy = p / ow, ox = p - oy * ow;
    const int64_t c = r / KK, t = r - c * KK, ti = t / kw, tj = t - ti * kw;
    const int64_t y = oy * sh - ph + (flip ? kh - 1 - ti : ti) * dh;
    const int64_t xx = ox * sw - pw + (flip ? kw - 1 - tj : tj) * dw;
    cols[i] = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[((b * C + c) * H + y) * W + xx] : (TYPE)0;
  }
}
/* gx[b, c, y, x] = sum of the column entries that read (y, x), taps in row-major order of position */
extern "C" __global__ void NAME_col2im(GEO, const TYPE *__restrict__ cols, TYPE *__restrict__ gx)
{
  const int64_t P = oh * ow, ld = nb * P, KK = kh * kw, n = nb * C * H * W;
  for (int64_t i = NT_TID; i < n; i += NT_STEP) {
    const int64_t xx = i % W, y = (i / W) % H, c = (i / (H * W)) % C, b = i / (C * H * W);
    TYPE acc = 0;
    for (int64_t fi = 0; fi < kh; fi++) {
      const int64_t ny = y + ph - fi * dh;
      if (ny < 0 || ny % sh) continue;
      const int64_t oy = ny / sh, ti = flip ? kh - 1 - fi : fi;
      if (oy >= oh) continue;
      for (int64_t fj = 0; fj < kw; fj++) {
        const int64_t nx = xx + pw - fj * dw;
        if (nx < 0 || nx % sw) continue;
        const int64_t ox = nx / sw, tj = flip ? kw - 1 - fj : fj;
        if (ox >= ow) continue;
        acc += cols[(c * KK + ti * kw + tj) * ld + b * P + oy * ow + ox];
      }
    }
    gx[i] = acc;
  }
}
"""


def source(dtype):
    """The im2col, col2im and copy kernels of one dtype (shared by the three ops)."""
    src = _SOURCE.replace("NAME_", NAME + "_").replace("GEO", _GEO).replace("TYPE", _CTYPE[dtype])
    return src + copy_kernels(4, np.dtype(dtype).itemsize)


def _dtype(node):
    """The float32/float64 dtype shared by the two tensor inputs and the output, or None."""
    dtype = node.outputs[0].type.dtype
    if dtype not in _CTYPE or any(v.type.dtype != dtype for v in node.inputs[:2]) or not blas_usable():
        return None
    return dtype


class _Conv:
    """Launchers and views shared by the three ops' runs."""

    def __init__(self, get, rt, dtype):
        self.rt, self.get, self.dt = rt, get, np.dtype(dtype)
        self.item = self.dt.itemsize
        self.blas = blas_for(rt)
        self.im2col_k, self.col2im_k = get(NAME + "_im2col"), get(NAME + "_col2im")

    def mat(self, base, rows, cols, ld, offset=0):
        """The row-major ``rows x cols`` matrix with leading dimension ``ld`` at element ``offset`` of ``base``."""
        return base.view((rows, cols), (ld * self.item, self.item), offset * self.item)

    def mat_t(self, base, rows, cols, ld, offset=0):
        """The transpose (a view) of ``mat(base, cols, rows, ld, offset)``."""
        return base.view((rows, cols), (self.item, ld * self.item), offset * self.item)

    def zeros(self, shape):
        out = DeviceArray.empty(self.rt, shape, self.dt)
        if out.nbytes:
            self.rt.memset(out.ptr, 0, out.nbytes)
        return out

    @staticmethod
    def geometry(op, c, ishape, kshape, oshape):
        """``[C, H, W, kh, kw, oh, ow, ph, pw, sh, sw, dh, dw, flip]``: the kernels' arguments after ``nb``."""
        ph, pw = _pads(op.border_mode, kshape, op.filter_dilation)
        return [c, *ishape, *kshape, *oshape, ph, pw, *op.subsample, *op.filter_dilation, int(op.filter_flip)]

    @staticmethod
    def direct(op, kshape):
        """True when the image itself is the column matrix (1x1 filter, stride 1, no padding)."""
        return tuple(kshape) == (1, 1) and op.subsample == (1, 1) and not any(_pads(op.border_mode, kshape, (1, 1)))

    @staticmethod
    def chunk(n, c, kshape, oshape, item):
        per_image = c * kshape[0] * kshape[1] * oshape[0] * oshape[1] * item
        return max(1, min(n, CHUNK_BYTES // max(1, per_image)))

    def chunks(self, op, n, c, ishape, kshape, oshape):
        """``(geometry, cols, [(n0, m), ...])``: one column scratch buffer for chunks of ``m`` images."""
        nb = self.chunk(n, c, kshape, oshape, self.item)
        cols = DeviceArray.empty(self.rt, (c * kshape[0] * kshape[1] * nb * oshape[0] * oshape[1],), self.dt)
        return self.geometry(op, c, ishape, kshape, oshape), cols, [(n0, min(nb, n - n0)) for n0 in range(0, n, nb)]

    def _launch(self, k, nb, geo, src, dst, n):
        if n:
            k(grid_for(n, BLOCK), (BLOCK, 1, 1), [np.int64(v) for v in [nb] + geo] + [np.uintp(src), np.uintp(dst)])

    def im2col(self, nb, geo, x_ptr, cols):
        c, kk, p = geo[0], geo[3] * geo[4], geo[5] * geo[6]
        self._launch(self.im2col_k, nb, geo, x_ptr, cols.ptr, c * kk * nb * p)

    def col2im(self, nb, geo, cols, gx_ptr):
        self._launch(self.col2im_k, nb, geo, cols.ptr, gx_ptr, nb * geo[0] * geo[1] * geo[2])


def _forward(cv, op, x, w):
    _check_channels(op, x.shape[1], w.shape[1], w.shape[0])
    kshape = w.shape[2:]
    _check_fits(op, x.shape[2:], kshape)
    oshape = tuple(_out_shape(x.shape[2:], kshape, op.border_mode, op.subsample, op.filter_dilation))
    (n, c, h, wd), f, g = x.shape, w.shape[0], op.num_groups
    cg, fg, p = c // g, f // g, oshape[0] * oshape[1]
    ck = cg * kshape[0] * kshape[1]
    if n * f * p == 0 or ck == 0:
        return cv.zeros((n, f, *oshape))
    out = DeviceArray.empty(cv.rt, (n, f, *oshape), cv.dt)
    wm = lambda grp: cv.mat(w, fg, ck, ck, grp * fg * ck)  # noqa: E731 - W_g
    if cv.direct(op, kshape):  # the image is the column matrix
        for grp in range(g):
            gemm(cv.blas, wm(grp), cv.mat(x, cg, p, p, grp * cg * p), cv.mat(out, fg, p, p, grp * fg * p),
                 count=n, sb=c * p, sc=f * p)  # fmt: skip
        return out
    geo, cols, parts = cv.chunks(op, n, c, (h, wd), kshape, oshape)
    for n0, m in parts:
        cv.im2col(m, geo, x.ptr + n0 * c * h * wd * cv.item, cols)
        for grp in range(g):
            gemm(cv.blas, wm(grp), cv.mat(cols, ck, p, m * p, grp * ck * m * p),
                 cv.mat(out, fg, p, p, (n0 * f + grp * fg) * p), count=m, sb=p, sc=f * p)  # fmt: skip
    return out


def _grad_weights(cv, op, x, gy, kshape):
    (n, c, h, wd), f, g = x.shape, gy.shape[1], op.num_groups
    _check_channels(op, c, None, f)
    _check_topgrad(op, gy.shape[2:], x.shape[2:], kshape)
    if gy.shape[0] != n or min(kshape) < 1:
        return None  # perform raises (or handles) these
    _check_fits(op, x.shape[2:], kshape)
    cg, fg, oshape = c // g, f // g, gy.shape[2:]
    p, ck = oshape[0] * oshape[1], cg * kshape[0] * kshape[1]
    if f * ck == 0 or n * p == 0:
        return cv.zeros((f, cg, *kshape))
    gw = DeviceArray.empty(cv.rt, (f, cg, *kshape), cv.dt)
    geo, cols, parts = cv.chunks(op, n, c, (h, wd), kshape, oshape)
    for n0, m in parts:
        cv.im2col(m, geo, x.ptr + n0 * c * h * wd * cv.item, cols)
        if m > 1:  # gy[n0:n0+m] as (F, m * P): the copy kernel gathers it
            view = gy.view((1, f, m, p), (0, p * cv.item, f * p * cv.item, cv.item), n0 * f * p * cv.item)
            gyt, ld, base = make_contiguous(cv.get, cv.rt, view), m * p, 0
        else:
            gyt, ld, base = gy, p, n0 * f * p
        for grp in range(g):
            gemm(cv.blas, cv.mat(gyt, fg, m * p, ld, base + grp * fg * ld),
                 cv.mat_t(cols, m * p, ck, m * p, grp * ck * m * p), cv.mat(gw, fg, ck, ck, grp * fg * ck),
                 beta=1.0 if n0 else 0.0)  # fmt: skip
    return gw


def _grad_inputs(cv, op, w, gy, ishape):
    (f, cg), kshape, g = w.shape[:2], w.shape[2:], op.num_groups
    (n, fy), oshape = gy.shape[:2], gy.shape[2:]
    if fy != f or min(ishape) < 0:
        return None  # perform raises these
    _check_channels(op, None, cg, f)
    _check_topgrad(op, oshape, ishape, kshape)
    c, fg, p = cg * g, f // g, oshape[0] * oshape[1]
    ck, hw = cg * kshape[0] * kshape[1], ishape[0] * ishape[1]
    if n * c * hw == 0 or f * ck * p == 0:
        return cv.zeros((n, c, *ishape))
    gx = DeviceArray.empty(cv.rt, (n, c, *ishape), cv.dt)
    wt = lambda grp: cv.mat_t(w, ck, fg, ck, grp * fg * ck)  # noqa: E731 - W_g.T
    if cv.direct(op, kshape):  # the columns are the image
        for grp in range(g):
            gemm(cv.blas, wt(grp), cv.mat(gy, fg, p, p, grp * fg * p), cv.mat(gx, cg, hw, hw, grp * cg * hw),
                 count=n, sb=f * p, sc=c * hw)  # fmt: skip
        return gx
    geo, cols, parts = cv.chunks(op, n, c, ishape, kshape, oshape)
    for n0, m in parts:
        for grp in range(g):
            gemm(cv.blas, wt(grp), cv.mat(gy, fg, p, p, (n0 * f + grp * fg) * p),
                 cv.mat(cols, ck, p, m * p, grp * ck * m * p), count=m, sb=f * p, sc=p)  # fmt: skip
        cv.col2im(m, geo, cols, gx.ptr + n0 * c * hw * cv.item)
    return gx


def _register(op_class, compute, host_inputs):
    def kernel(op, node):
        dtype = _dtype(node)
        if dtype is None:
            return None

        def bind(get, rt):
            cv = _Conv(get, rt, dtype)

            def run(node, args, outs):
                a, b = (make_contiguous(get, rt, v) for v in args[:2])
                extra = (tuple(int(s) for s in args[2:]),) if len(args) > 2 else ()  # the spatial shape
                res = compute(cv, node.op, a, b, *extra)
                if res is None:
                    return perform_on_host(node, args, outs)
                outs[0][0] = res

            return run

        return CudaKernel(source(dtype), bind, host_inputs=host_inputs)

    kernel.__name__ = "cuda_%s_kernel" % op_class.__name__.lower()
    kernel.__doc__ = "%s through im2col / col2im kernels and GEMM (every prop combination)." % op_class.__name__
    return cuda_kernel.register(op_class)(kernel)


conv2d_kernel = _register(Conv2d, _forward, ())
conv2d_grad_weights_kernel = _register(Conv2dGradWeights, _grad_weights, (2, 3))
conv2d_grad_inputs_kernel = _register(Conv2dGradInputs, _grad_inputs, (2, 3))

__all__ = ["CHUNK_BYTES", "source", "conv2d_kernel", "conv2d_grad_weights_kernel", "conv2d_grad_inputs_kernel"]
