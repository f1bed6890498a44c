"""CUDA kernels for 2-d pooling: ``Pool`` (every mode), ``MaxPoolGrad``, ``AveragePoolGrad``, ``MaxPoolGradGrad``.

The leading dimensions of the (contiguous) input are planes; window size,
stride, padding, the image and output lengths and the mode are kernel
arguments, so one build per dtype serves every configuration.  Forward kernels
run one thread per output element; the gradients run one thread per *input*
element that gathers the windows covering it, so no atomics are needed and the
sums are deterministic.  Each kernel follows its op's ``perform``:

* a window covers its real elements only (padding and the partial windows of
  ``ignore_border=False`` are clipped off): padding never wins a max and adds
  nothing to a sum; averages divide in double by ``_counts``' divisor (padding
  counted for 'average_inc_pad' only) and round once to the output dtype;
* the max propagates NaN; the max gradient goes to the *first* maximal element
  of a window in row-major order, the first NaN beating any number;
* an element adds the contributions of its windows in the order ``perform``
  does (its offset inside the window ascending: windows in reverse row-major
  order); average contributions are added in double, rounding after each.

Shapes ``perform`` rejects are handed to ``perform`` on the host, which raises.
"""

import math

import numpy as np

from ...tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool
from .blas import _CTYPE, copy_kernels, make_contiguous, perform_on_host
from .darray import DeviceArray
from .registry import NAME, CudaKernel, cuda_kernel, grid_for

BLOCK = 256
MODES = {"max": 0, "sum": 1, "average_inc_pad": 2, "average_exc_pad": 3}
_SFX = {"float32": "f32", "float64": "f64"}

_GEO = ("int64_t H, int64_t W, int64_t oh, int64_t ow, int64_t wh, int64_t ww, int64_t sh, int64_t sw, int64_t ph, "
        "int64_t pw, int64_t mode")  # fmt: skip

_SOURCE = r"""
/* real rows [*a, *b) of window o along an axis of length n (window k, stride s, padding p) */
NT_DEV void NAME_span(int64_t o, int64_t n, int64_t k, int64_t s, int64_t p, int64_t *a, int64_t *b)
{
  const int64_t st = o * s - p, e = st + k;
  *a = st > 0 ? st : 0;
  *b = e < n ? e : n;
}
/* windows [*lo, *hi] (inclusive) along an axis that cover position i */
NT_DEV void NAME_covering(int64_t i, int64_t no, int64_t k, int64_t s, int64_t p, int64_t *lo, int64_t *hi)
{
  const int64_t t = i + p - k + 1;
  *lo = t > 0 ? (t + s - 1) / s : 0;
  *hi = (i + p) / s;
  if (*hi > no - 1) *hi = no - 1;
}
/* divisor of window (oy, ox), as perform's _counts (mode 2: padding counted, 3: real elements only) */
NT_DEV double NAME_count(int64_t oy, int64_t ox, int64_t H, int64_t W, int64_t wh, int64_t ww, int64_t sh,
                         int64_t sw, int64_t ph, int64_t pw, int64_t mode)
{
  int64_t ya, yb, xa, xb;
  if (mode == 2) {
    const int64_t ey = oy * sh + wh, ex = ox * sw + ww, ny = H + 2 * ph, nx = W + 2 * pw;
    return (double)((ey < ny ? ey : ny) - oy * sh) * (double)((ex < nx ? ex : nx) - ox * sw);
  }
  NAME_span(oy, H, wh, sh, ph, &ya, &yb);
  NAME_span(ox, W, ww, sw, pw, &xa, &xb);
  return (double)(yb - ya) * (double)(xb - xa);
}
/* flat index in the plane of the first maximal element of window (oy, ox), the first NaN winning */
NT_DEV int64_t NAME_argmax(const TX *xq, int64_t oy, int64_t ox, int64_t H, int64_t W, int64_t wh, int64_t ww,
                           int64_t sh, int64_t sw, int64_t ph, int64_t pw)
{
  int64_t ya, yb, xa, xb;
  NAME_span(oy, H, wh, sh, ph, &ya, &yb);
  NAME_span(ox, W, ww, sw, pw, &xa, &xb);
  int64_t best = ya * W + xa;
  TX m = xq[best];
  for (int64_t y = ya; y < yb; y++)
    for (int64_t x = xa; x < xb; x++) {
      const TX v = xq[y * W + x];
      if (v > m || (isnan(v) && !isnan(m))) { m = v; best = y * W + x; }
    }
  return best;
}
/* z = max (mode 0), sum (1) or average (2, 3) of each window: one thread per output element */
extern "C" __global__ void NAME_pool(int64_t planes, GEO, const TX *__restrict__ x, TX *__restrict__ z)
{
  const int64_t n = planes * oh * ow;
  for (int64_t i = NT_TID; i < n; i += NT_STEP) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, q = i / (oh * ow);
    int64_t ya, yb, xa, xb;
    NAME_span(oy, H, wh, sh, ph, &ya, &yb);
    NAME_span(ox, W, ww, sw, pw, &xa, &xb);
    const TX *xq = x + q * H * W;
    if (mode == 0) {
      TX m = -INFINITY;
      for (int64_t y = ya; y < yb; y++)
        for (int64_t c = xa; c < xb; c++) m = nt_max_SFX(m, xq[y * W + c]);
      z[i] = m;
    } else {
      TX s = 0;
      for (int64_t y = ya; y < yb; y++)
        for (int64_t c = xa; c < xb; c++) s += xq[y * W + c];
      z[i] = mode == 1 ? s : (TX)((double)s / NAME_count(oy, ox, H, W, wh, ww, sh, sw, ph, pw, mode));
    }
  }
}
/* gx: gz of every window whose first argmax is this element (mode 0), or gz / count of every window
   covering it (modes 1-3): one thread per input element */
extern "C" __global__ void NAME_grad(int64_t planes, GEO, const TX *__restrict__ x, const TG *__restrict__ gz,
                                     TG *__restrict__ gx)
{
  const int64_t n = planes * H * W;
  for (int64_t i = NT_TID; i < n; i += NT_STEP) {
    const int64_t c = i % W, y = (i / W) % H, q = i / (H * W);
    const TX *xq = x + q * H * W;
    const TG *gq = gz + q * oh * ow;
    int64_t y0, y1, x0, x1;
    NAME_covering(y, oh, wh, sh, ph, &y0, &y1);
    NAME_covering(c, ow, ww, sw, pw, &x0, &x1);
    TG acc = 0;
    for (int64_t oy = y1; oy >= y0; oy--)
      for (int64_t ox = x1; ox >= x0; ox--) {
        const TG g = gq[oy * ow + ox];
        if (mode == 0) {
          if (NAME_argmax(xq, oy, ox, H, W, wh, ww, sh, sw, ph, pw) == y * W + c) acc += g;
        } else if (mode == 1) {
          acc += g;
        } else {
          acc = (TG)((double)acc + (double)g / NAME_count(oy, ox, H, W, wh, ww, sh, sw, ph, pw, mode));
        }
      }
    gx[i] = acc;
  }
}
/* z = ggx at the first argmax of each window of x: one thread per output element */
extern "C" __global__ void NAME_gradgrad(int64_t planes, GEO, const TX *__restrict__ x,
                                         const TG *__restrict__ ggx, TG *__restrict__ z)
{
  const int64_t n = planes * oh * ow;
  for (int64_t i = NT_TID; i < n; i += NT_STEP) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, q = i / (oh * ow);
    z[i] = ggx[q * H * W + NAME_argmax(x + q * H * W, oy, ox, H, W, wh, ww, sh, sw, ph, pw)];
  }
}
"""


def source(xdtype, gdtype, nd):
    """The pooling kernels for image dtype ``xdtype`` and gradient dtype ``gdtype``, copies of rank ``nd``."""
    src = _SOURCE.replace("NAME_", NAME + "_").replace("GEO", _GEO).replace("_SFX", "_" + _SFX[xdtype])
    src = src.replace("TX", _CTYPE[xdtype]).replace("TG", _CTYPE[gdtype])
    return src + copy_kernels(nd, np.dtype(xdtype).itemsize, np.dtype(gdtype).itemsize)


def _geometry(op, x, out):
    """``planes`` and the GEO arguments for input ``x`` and pooled lengths ``out``."""
    planes = math.prod(map(int, x.shape[:-2]))
    args = [planes, *x.shape[-2:], *out, *op.ws, *op.stride, *op.pad, MODES[op.mode]]
    return [np.int64(a) for a in args]


def _launch(k, n, geo, *ptrs):
    if n:
        k(grid_for(n, BLOCK), (BLOCK, 1, 1), geo + [np.uintp(p) for p in ptrs])


def _pool_dtypes(op, node):
    """``(xdtype, gdtype)`` when the node is 2-d pooling of float32/float64 tensors, else None."""
    dts = [v.type.dtype for v in node.inputs] + [node.outputs[0].type.dtype]
    if op.nd != 2 or any(d not in _CTYPE for d in dts):
        return None
    return dts[0], dts[-1]


@cuda_kernel.register(Pool)
def pool_kernel(op, node):
    """Max / sum / average pooling: one thread per output element."""
    dts = _pool_dtypes(op, node)
    if dts is None:
        return None
    dt, nd = np.dtype(dts[1]), node.inputs[0].type.ndim

    def bind(get, rt):
        k = get(NAME + "_pool")

        def run(node, args, outs):
            x = make_contiguous(get, rt, args[0])
            out = op.out_dims(x.shape)
            z = DeviceArray.empty(rt, x.shape[:-2] + out, dt)
            _launch(k, z.size, _geometry(op, x, out), x.ptr, z.ptr)
            outs[0][0] = z

        return run

    return CudaKernel(source(dts[0], dts[1], nd), bind)


def _grad_kernel(kernel_name, expected_shape):
    """Kernel generator for the gradient ops: ``NAME + kernel_name`` over ``expected_shape(op, x)`` elements."""

    def kernel(op, node):
        dts = _pool_dtypes(op, node)
        if dts is None:
            return None
        dt, nd = np.dtype(dts[1]), node.inputs[0].type.ndim

        def bind(get, rt):
            k = get(NAME + kernel_name)

            def run(node, args, outs):
                x, g = args
                out = op.out_dims(x.shape)
                if tuple(g.shape) != expected_shape(x.shape, out):
                    return perform_on_host(node, args, outs)  # perform raises (or broadcasts) as it does
                if op.mode == "max":  # average gradients read only x's shape
                    x = make_contiguous(get, rt, x)
                g = make_contiguous(get, rt, g)
                res = DeviceArray.empty(rt, x.shape if kernel_name == "_grad" else x.shape[:-2] + out, dt)
                _launch(k, res.size, _geometry(op, x, out), x.ptr, g.ptr, res.ptr)
                outs[0][0] = res

            return run

        return CudaKernel(source(dts[0], dts[1], nd), bind)

    return kernel


_pooled = lambda shape, out: tuple(shape[:-2]) + tuple(out)  # noqa: E731 - shape of gz for MaxPoolGrad & co
_same = lambda shape, out: tuple(shape)  # noqa: E731 - shape of ggx for MaxPoolGradGrad
max_pool_grad_kernel = cuda_kernel.register(MaxPoolGrad)(_grad_kernel("_grad", _pooled))
average_pool_grad_kernel = cuda_kernel.register(AveragePoolGrad)(_grad_kernel("_grad", _pooled))
max_pool_grad_grad_kernel = cuda_kernel.register(MaxPoolGradGrad)(_grad_kernel("_gradgrad", _same))

__all__ = ["MODES", "source", "pool_kernel", "max_pool_grad_kernel", "average_pool_grad_kernel",
           "max_pool_grad_grad_kernel"]  # fmt: skip
