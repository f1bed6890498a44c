"""Random numbers on the device: NumPy's own Philox stream, computed block by block in parallel.

nettrain's generator states are ``numpy.random.Generator(Philox)`` objects
(:mod:`nettrain.tensor.random`).  NumPy's Philox is **Philox4x64-10**: a
256-bit counter and a 128-bit key; each counter value gives a block of four
64-bit outputs, served one at a time through a 4-entry buffer
(``state['buffer']``, ``state['buffer_pos']``), the counter being incremented
*before* each new block.  A double is ``(next64 >> 11) * 2**-53``.  So the
``i``-th 64-bit value a draw consumes is known in closed form: the values
left in the buffer first, then lane ``l`` of block ``counter + 1 + b``.  The
kernels compute those blocks in parallel (one thread per block of four), from
the key and counter read off the host generator (the generator input stays on
the host), and the host then advances a copy of the generator exactly as
NumPy would have (counter, buffer and buffer position; ``has_uint32`` and
``uinteger`` are kept).  The op's contract is unchanged: the input generator
is never mutated, the new state is the node's first output, checkpoints hold
the same state dict.

* ``uniform`` is bit-identical to ``Generator.uniform`` (then cast to the
  output dtype, as ``perform`` does): ``low + (high - low) * u`` with
  ``__dmul_rn``/``__dadd_rn`` so the device never fuses it into an FMA.
* ``binomial`` with ``n = 1`` (dropout masks) is bit-identical to
  ``Generator.binomial``: NumPy's inversion algorithm with ``n = 1`` draws one
  double ``U`` per sample and returns ``0`` when ``U <= q**1`` (``exp(log(q))``
  computed on the host with the same libm), else ``1``; for ``p > 1/2`` it works
  on ``1 - p`` and flips.  Its rare rejection step (a ``U`` above both
  probabilities) cannot happen when ``(1 - 2**-53) - qn <= px``, which the host
  checks; otherwise, and for ``p == 0`` (no draws at all), it does what NumPy does.
* ``normal`` is **not** NumPy's stream (NumPy uses a ziggurat with rejections,
  which is sequential): the device uses Box-Muller on whole Philox blocks
  (two normals per pair of 64-bit values), starting at ``counter + 1``; the
  values left in the buffer are dropped and the new state is ``counter +
  ceil(n / 4)`` with an empty buffer (what ``Philox.advance`` leaves).  It is
  reproducible from the seed on a given device, and differs from the CPU
  backends' values (and, in the last bits of ``log``/``sincospi``, between
  the emulator and a GPU).

Anything else (array parameters, other distributions, other bit generators,
invalid parameters, whose errors ``perform`` raises) runs ``perform`` on the host.
"""

import math

import numpy as np

from ...tensor.random.op import RandomVariable
from ...tensor.random.type import copy_generator
from ..c.table import C_TYPES
from .darray import DeviceArray
from .registry import NAME, CudaKernel, cuda_kernel, grid_for

BLOCK = 128
_MASK = (1 << 64) - 1
#: Philox4x64 multipliers and Weyl key increments (Random123, as in NumPy's philox.h)
M0, M1 = 0xD2E7470EE14C6C93, 0xCA5A826395121157
W0, W1 = 0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B

PHILOX_SOURCE = r"""
#ifndef NT_PHILOX4X64_DEFINED
#define NT_PHILOX4X64_DEFINED 1
#ifdef NT_EMULATE
NT_DEV uint64_t nt_mulhi64(uint64_t a, uint64_t b) { return (uint64_t)(((unsigned __int128)a * b) >> 64); }
NT_DEV double nt_dmul_rn(double a, double b) { return a * b; }
NT_DEV double nt_dadd_rn(double a, double b) { return a + b; }
NT_DEV void nt_sincospi(double x, double *s, double *c)
{ *s = sin(3.141592653589793 * x); *c = cos(3.141592653589793 * x); }
#else
NT_DEV uint64_t nt_mulhi64(uint64_t a, uint64_t b) { return __umul64hi(a, b); }
/* IEEE products and sums that nvcc may not contract into an FMA: the values stay NumPy's */
NT_DEV double nt_dmul_rn(double a, double b) { return __dmul_rn(a, b); }
NT_DEV double nt_dadd_rn(double a, double b) { return __dadd_rn(a, b); }
NT_DEV void nt_sincospi(double x, double *s, double *c) { sincospi(x, s, c); }
#endif
/* Philox4x64-10 of counter (c0..c3) + 1 + j: the j-th new block NumPy's philox_next makes */
NT_DEV void nt_philox_block(int64_t j, uint64_t c0, uint64_t c1, uint64_t c2, uint64_t c3, uint64_t k0,
                            uint64_t k1, uint64_t *out)
{
  uint64_t x0 = c0 + (uint64_t)j + 1u;
  uint64_t carry = x0 < c0;
  uint64_t x1 = c1 + carry;
  carry = carry && x1 == 0;
  uint64_t x2 = c2 + carry;
  carry = carry && x2 == 0;
  uint64_t x3 = c3 + carry;
  for (int r = 0; r < 10; r++) {
    if (r) { k0 += 0x9E3779B97F4A7C15ull; k1 += 0xBB67AE8584CAA73Bull; }
    const uint64_t hi0 = nt_mulhi64(0xD2E7470EE14C6C93ull, x0), lo0 = 0xD2E7470EE14C6C93ull * x0;
    const uint64_t hi1 = nt_mulhi64(0xCA5A826395121157ull, x2), lo1 = 0xCA5A826395121157ull * x2;
    x0 = hi1 ^ x1 ^ k0;
    x1 = lo1;
    x2 = hi0 ^ x3 ^ k1;
    x3 = lo0;
  }
  out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}
/* NumPy's next_double: 53 random bits in [0, 1) */
NT_DEV double nt_u01(uint64_t v) { return (double)(v >> 11) * (1.0 / 9007199254740992.0); }
#endif
"""

_STREAM = ("int64_t n, int64_t r, uint64_t b0, uint64_t b1, uint64_t b2, uint64_t c0, uint64_t c1, uint64_t c2, "
           "uint64_t c3, uint64_t k0, uint64_t k1")  # fmt: skip
#: per distribution: its two kernel parameters and the value of one sample from the 64-bit draw ``v``
_ONE_DRAW = {
    "uniform": ("double lo, double range", "nt_dadd_rn(lo, nt_dmul_rn(range, nt_u01(v)))"),
    "binomial": ("double qn, int64_t flip", "(nt_u01(v) <= qn ? flip : 1 - flip)"),
}


def one_draw_source(dist, dtype):
    """``NAME_<dist>``: sample ``i`` from the ``i``-th 64-bit value of the stream (buffer first, then blocks)."""
    t = C_TYPES[dtype]
    params, value = _ONE_DRAW[dist]
    return PHILOX_SOURCE + (
        'extern "C" __global__ void %s_%s(%s, %s, %s *__restrict__ out)\n{\n'
        "  for (int64_t i = NT_TID; i < r; i += NT_STEP) {\n"
        "    const uint64_t v = i == 0 ? b0 : (i == 1 ? b1 : b2);\n"
        "    out[i] = (%s)%s;\n  }\n"
        "  const int64_t nb = (n - r + 3) / 4;\n"
        "  for (int64_t j = NT_TID; j < nb; j += NT_STEP) {\n"
        "    uint64_t x[4];\n    nt_philox_block(j, c0, c1, c2, c3, k0, k1, x);\n"
        "    for (int l = 0; l < 4; l++) {\n      const int64_t i = r + 4 * j + l;\n"
        "      const uint64_t v = x[l];\n      if (i < n) out[i] = (%s)%s;\n    }\n  }\n}\n"
        % (NAME, dist, _STREAM, params, t, t, value, t, value))  # fmt: skip


def normal_source(dtype):
    """``NAME_normal``: Box-Muller on whole blocks from ``counter + 1`` (four normals per block)."""
    t = C_TYPES[dtype]
    return PHILOX_SOURCE + (
        'extern "C" __global__ void %s_normal(%s, double mu, double sd, %s *__restrict__ out)\n{\n'
        "  const int64_t nb = (n + 3) / 4;\n"
        "  for (int64_t j = NT_TID; j < nb; j += NT_STEP) {\n"
        "    uint64_t x[4];\n    double z[4];\n    nt_philox_block(j, c0, c1, c2, c3, k0, k1, x);\n"
        "    for (int h = 0; h < 4; h += 2) {\n"
        "      const double u1 = (double)((x[h] >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */\n"
        "      const double rad = sqrt(-2.0 * log(u1));\n      double s, c;\n"
        "      nt_sincospi(2.0 * nt_u01(x[h + 1]), &s, &c);\n"
        "      z[h] = rad * c;\n      z[h + 1] = rad * s;\n    }\n"
        "    for (int l = 0; l < 4; l++) {\n      const int64_t i = 4 * j + l;\n"
        "      if (i < n) out[i] = (%s)nt_dadd_rn(mu, nt_dmul_rn(sd, z[l]));\n    }\n  }\n}\n"
        % (NAME, _STREAM, t, t))  # fmt: skip


# ------------------------------------------------------------------ the host side of the stream
def philox_block(counter, key):
    """Philox4x64-10 of the 256-bit integer ``counter`` under ``key`` (two words): four 64-bit ints."""
    c = [(counter >> (64 * w)) & _MASK for w in range(4)]
    k0, k1 = int(key[0]), int(key[1])
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & _MASK, (k1 + W1) & _MASK
        p0, p1 = M0 * c[0], M1 * c[2]
        c = [(p1 >> 64) ^ c[1] ^ k0, p1 & _MASK, (p0 >> 64) ^ c[3] ^ k1, p0 & _MASK]
    return c


def _words(v):
    return np.array([(v >> (64 * w)) & _MASK for w in range(4)], dtype=np.uint64)


def plan_stream(state, n, buffered=True):
    """``(kernel stream arguments, new state)`` for ``n`` 64-bit draws from the Philox ``state`` dict.

    With ``buffered`` (NumPy's own consumption) the values left in the buffer
    come first and the new state is exactly NumPy's after ``n`` draws;
    without, whole blocks are used from ``counter + 1`` and the buffer is
    emptied (``Philox.advance``'s convention).
    """
    st = state["state"]
    counter = sum(int(v) << (64 * w) for w, v in enumerate(st["counter"]))
    key = st["key"]
    pos = int(state["buffer_pos"])
    r = min(4 - pos, n) if buffered else 0
    held = [int(state["buffer"][pos + k]) for k in range(r)] + [0] * (3 - r)
    m = n - r
    new = dict(state, state={"counter": st["counter"].copy(), "key": key.copy()}, buffer=state["buffer"].copy())
    if m == 0:
        new["buffer_pos"] = pos + r if buffered else pos
    else:
        last = (counter + (m + 3) // 4) & ((1 << 256) - 1)
        new["state"]["counter"] = _words(last)
        if buffered:
            new["buffer"] = np.array(philox_block(last, key), dtype=np.uint64)
            new["buffer_pos"] = (m - 1) % 4 + 1
        else:
            new["buffer"] = np.zeros(4, np.uint64)
            new["buffer_pos"] = 4
    u64 = np.uint64
    args = [np.int64(n), np.int64(r)] + [u64(v) for v in held] + [u64(int(v)) for v in st["counter"]]
    return args + [u64(int(k)) for k in key], new


def _sample_shape(op, size, params):
    """The sample's shape when every parameter is one value (else None: ``perform`` handles it)."""
    if any(np.size(p) != 1 for p in params):
        return None
    if op.size_len is None:
        return np.broadcast_shapes(*[np.shape(p) for p in params])
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape) or any(np.ndim(p) > len(shape) for p in params):
        return None
    return shape


def _dist_args(dist, params):
    """``(kernel parameters, draws per sample)`` for valid scalar parameters; None when ``perform`` must run."""
    vals = [float(np.asarray(p).reshape(-1)[0]) for p in params]
    if dist == "uniform":
        lo, hi = vals
        rng = hi - lo
        return ([np.float64(lo), np.float64(rng)], 1) if math.isfinite(rng) else None
    if dist == "normal":
        mu, sd = vals
        return ([np.float64(mu), np.float64(sd)], 1) if sd >= 0 and not math.copysign(1.0, sd) < 0 else None
    n, p = params
    n = int(np.asarray(n).reshape(-1)[0])
    p = vals[1]
    if n not in (0, 1) or not 0.0 <= p <= 1.0:
        return None
    if n == 0 or p == 0.0:
        return [], 0  # NumPy returns zeros without drawing
    pp, flip = (p, 0) if p <= 0.5 else (1.0 - p, 1)
    q = 1.0 - pp
    qn = math.exp(1 * math.log(q))  # NumPy: exp(n * log(q)), the same libm
    px = (1.0 * pp * qn) / (1.0 * q)
    if (1.0 - 2.0**-53) - qn > px:
        return None  # NumPy's rejection step could run: its stream is sequential there
    return [np.float64(qn), np.int64(flip)], 1


@cuda_kernel.register(RandomVariable)
def random_variable_kernel(op, node):
    """Philox kernels for uniform, normal and Bernoulli draws (see the module docstring)."""
    dtype = op.dtype
    if op.dist in ("uniform", "normal") and dtype in ("float32", "float64"):
        src = one_draw_source("uniform", dtype) if op.dist == "uniform" else normal_source(dtype)
    elif op.dist == "binomial" and dtype in C_TYPES:
        src = one_draw_source("binomial", dtype)
    else:
        return None
    if len(node.inputs) - 1 - (op.size_len or 0) != 2:
        return None

    def bind(get, rt):
        kernel = get(NAME + "_" + op.dist)

        def run(node, args, outs):
            gen = args[0]
            size, params = op._split(args[1:])
            shape = _sample_shape(op, size, params)
            dist = _dist_args(op.dist, params) if shape is not None else None
            if dist is None or type(gen.bit_generator) is not np.random.Philox:
                op.perform(node, args, outs)
                return
            kargs, per = dist
            out = DeviceArray.empty(rt, shape, dtype)
            n = out.size * per
            new = copy_generator(gen)
            if n:
                stream, state = plan_stream(gen.bit_generator.state, n, op.dist != "normal")
                new.bit_generator.state = state
                blocks = (n + 3) // 4 + 1
                kernel(grid_for(blocks, BLOCK), (BLOCK, 1, 1), stream + kargs + [np.uintp(out.ptr)])
            elif out.nbytes:
                rt.memset(out.ptr, 0, out.nbytes)
            outs[0][0] = new
            outs[1][0] = out

        return run

    return CudaKernel(src, bind, host_inputs=range(len(node.inputs)))


__all__ = ["random_variable_kernel", "philox_block", "plan_stream", "one_draw_source", "normal_source",
           "PHILOX_SOURCE"]  # fmt: skip
