"""The emulated device: CUDA kernels compiled for the host and run one thread per block.

CI has no GPU.  To run the CUDA backend's generated kernels anyway, this runtime
compiles the very same CUDA source as C++ with the host compiler, after a header
that defines CUDA's built-ins (``threadIdx``, ``blockIdx``, ``__syncthreads``,
``warpSize``, shuffles, atomics) for a single thread; each launch loops over the
grid's blocks with a block of one thread.  Kernels written by the rules of
``registry.py`` (grid/block-stride loops, ``warpSize``, no fixed block size)
compute exactly what they compute on a GPU, so their index arithmetic,
broadcasting, strides and math are checked against the Python backend.  What the
emulator cannot check (races between threads, real warp shuffles, the speed) needs
a GPU run.  Device memory is host memory; transfers are counted like real ones.
"""

import ctypes
import re

import numpy as np

from ..c.cache import get_or_build, toolchain_info
from .driver import MemoryPool, pack_args
from ..c.compiler import COMPILE_TIMEOUT, CompileError, compiler_info
from .runtime import Module, Runtime, struct_format
from .table import PRELUDE

_COMMON = r"""
#define NT_EMULATE 1
#include <stdint.h>
#include <stddef.h>
#include <math.h>
#include <string.h>
struct nt_dim3 { unsigned x, y, z; };
struct float4 { float x, y, z, w; };
struct int4 { int x, y, z, w; };
struct uint4 { unsigned x, y, z, w; };
struct float2 { float x, y; };
struct double2 { double x, y; };
static size_t nt_emu_shared_bytes;
static char nt_emu_smem[1 << 18] __attribute__((aligned(64)));
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __threadfence() ((void)0)
#define NT_DEV static inline
#define NT_DYNAMIC_SHARED(T, name) T *name = (T *)nt_emu_smem
template <class T> static inline T __ldg(const T *p) { return *p; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
static inline float __int_as_float(int i) { union { int i; float f; } u; u.i = i; return u.f; }
static inline int __float_as_int(float f) { union { int i; float f; } u; u.f = f; return u.i; }
/* CUDA's inverse error functions, which C's libm lacks: a start from Giles' single-precision
   approximation (w = -log((1 - t)(1 + t))), then Newton steps on erf near 0 and on log(erfc) towards
   the tails (where 1 - y and 2 - y are exact) */
static inline double nt_emu_erfinv_start(double w, double t) {
  double p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08; p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w; p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257; p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w; p = 2.83297682 + p * w;
  }
  return p * t;
}
static inline double erfcinv(double y) {
  if (!(y > 0.0 && y < 2.0)) return y == 0.0 ? INFINITY : y == 2.0 ? -INFINITY : NAN;
  if (y > 1.0) return -erfcinv(2.0 - y);
  double x = nt_emu_erfinv_start(-log(y * (2.0 - y)), 1.0 - y);
  // Newton on log(erfc(x)) = log(y): well scaled from 1 down to the smallest doubles
  for (int i = 0; i < 8; ++i) {
    const double e = erfc(x);
    x += (log(e) - log(y)) * e / (1.1283791670955126 * exp(-x * x));
  }
  return x;
}
static inline double erfinv(double y) {
  if (!(y > -1.0 && y < 1.0)) return y == 1.0 ? INFINITY : y == -1.0 ? -INFINITY : NAN;
  if (y >= 0.5) return erfcinv(1.0 - y);
  if (y <= -0.5) return -erfcinv(1.0 + y);
  if (y == 0.0) return y;
  double x = nt_emu_erfinv_start(-log((1.0 - y) * (1.0 + y)), y);
  for (int i = 0; i < 4; ++i) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x));
  return x;
}
static inline float erfinvf(float y) { return (float)erfinv((double)y); }
static inline float erfcinvf(float y) { return (float)erfcinv((double)y); }
"""

#: one thread per block: warpSize 1, barriers and shuffles are no-ops
_SINGLE = r"""
static nt_dim3 threadIdx, blockIdx, blockDim, gridDim;
static const int warpSize = 1;
#define __syncthreads() ((void)0)
#define __syncwarp(...) ((void)0)
template <class T> static inline T __shfl_down_sync(unsigned, T v, int, int = 32) { return v; }
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int, int = 32) { return v; }
template <class T> static inline T __shfl_sync(unsigned, T v, int, int = 32) { return v; }
template <class T> static inline T atomicAdd(T *a, T v) { T o = *a; *a = o + v; return o; }
template <class T> static inline T atomicMax(T *a, T v) { T o = *a; if (v > o) *a = v; return o; }
template <class T> static inline T atomicMin(T *a, T v) { T o = *a; if (v < o) *a = v; return o; }
static int nt_emu_failed;
"""

#: real block sizes: one OS thread per CUDA thread, warps of 32 with real shuffles and barriers
#: (a barrier that waits 20 s marks the launch as deadlocked instead of hanging the process)
_THREADED = r"""
#include <thread>
#include <mutex>
#include <chrono>
#include <condition_variable>
#include <vector>
static thread_local nt_dim3 threadIdx;
static nt_dim3 blockIdx, blockDim, gridDim;
static const int warpSize = 32;
static int nt_emu_failed;
struct NtBarrier {
  std::mutex m; std::condition_variable cv; int n = 0, count = 0, gen = 0;
  void wait() {
    std::unique_lock<std::mutex> l(m); int g = gen;
    if (++count == n) { count = 0; gen++; cv.notify_all(); return; }
    if (!cv.wait_for(l, std::chrono::seconds(20), [&] { return gen != g || nt_emu_failed; })) nt_emu_failed = 1;
  }
};
static NtBarrier nt_block_bar, nt_warp_bar[32];
static uint64_t nt_shfl_buf[32][32];
static std::mutex nt_atomic_mutex;
#define __syncthreads() nt_block_bar.wait()
#define __syncwarp(...) nt_warp_bar[nt_lin() / 32].wait()
static inline int nt_lin() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
template <class T> static inline T nt_shfl(T v, int src) {
  int l = nt_lin(), w = l / 32, lane = l % 32;
  memcpy(&nt_shfl_buf[w][lane], &v, sizeof(T));
  nt_warp_bar[w].wait();
  T r = v;
  if (src >= 0 && src < nt_warp_bar[w].n) memcpy(&r, &nt_shfl_buf[w][src], sizeof(T));
  nt_warp_bar[w].wait();
  return r;
}
template <class T> static inline T __shfl_down_sync(unsigned, T v, int d, int width = 32) {
  int lane = nt_lin() % 32; return nt_shfl(v, lane % width + d < width ? lane + d : -1); }
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int m, int = 32) {
  return nt_shfl(v, (nt_lin() % 32) ^ m); }
template <class T> static inline T __shfl_sync(unsigned, T v, int s, int width = 32) {
  int lane = nt_lin() % 32; return nt_shfl(v, lane - lane % width + s % width); }
template <class T> static inline T atomicAdd(T *a, T v) {
  std::lock_guard<std::mutex> g(nt_atomic_mutex); T o = *a; *a = o + v; return o; }
template <class T> static inline T atomicMax(T *a, T v) {
  std::lock_guard<std::mutex> g(nt_atomic_mutex); T o = *a; if (v > o) *a = v; return o; }
template <class T> static inline T atomicMin(T *a, T v) {
  std::lock_guard<std::mutex> g(nt_atomic_mutex); T o = *a; if (v < o) *a = v; return o; }
"""

HEADER = _COMMON + _SINGLE

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\([^)]*\)\s+)?void\s+(\w+)\s*\(([^)]*)\)')


def kernel_signatures(source):
    """``{name: [(C type, is_pointer), ...]}`` of the ``extern "C" __global__`` functions in ``source``."""
    out = {}
    for name, params in _KERNEL.findall(source):
        sig = []
        for p in params.split(","):
            p = " ".join(p.split())
            if not p or p == "void":
                continue
            m = re.match(r"(.*?)(\w+)$", p)
            ctype = m.group(1).strip() if m else p
            ctype = ctype.replace("__restrict__", "").strip()
            sig.append((ctype, "*" in ctype))
        out[name] = sig
    return out


#: nettrain's own scalar typedefs, spelled for cffi
_CFFI_TYPES = {"nt_bool": "uint8_t", "const nt_bool": "uint8_t"}


def _wrappers(sigs, threads=False):
    """C++ launch wrappers and their cffi declarations: pointers travel as integers.

    A wrapper returns nonzero when a threaded launch deadlocked (a barrier or shuffle
    not reached by every thread of the block or warp: undefined behaviour on a GPU).
    """
    src, cdef = [], []
    for name, sig in sorted(sigs.items()):
        params = ["unsigned gx", "unsigned gy", "unsigned gz", "unsigned bx", "unsigned by", "unsigned bz",
                  "size_t shm"]  # fmt: skip
        cparams = ["unsigned"] * 6 + ["size_t"]
        args = []
        for i, (ct, ptr) in enumerate(sig):
            t = "uintptr_t" if ptr else ct
            params.append("%s a%d" % (t, i))
            cparams.append(_CFFI_TYPES.get(t, t))
            args.append("(%s)a%d" % (ct, i) if ptr else "a%d" % i)
        if threads:
            run = ("    std::vector<std::thread> th;\n"
                   "    for (int t = 0; t < T; t++) th.emplace_back([=] {\n"
                   "      threadIdx.x = t %% bx; threadIdx.y = (t / bx) %% by; threadIdx.z = t / (bx * by);\n"
                   "      %s(%s); });\n"
                   "    for (auto &h : th) h.join();\n    if (nt_emu_failed) return 1;\n"
                   % (name, ", ".join(args)))  # fmt: skip
            setup = ("  const int T = bx * by * bz; nt_block_bar.n = T;\n"
                     "  for (int w = 0; w < 32; w++) nt_warp_bar[w].n = T - 32 * w < 32 ? T - 32 * w : 32;\n")
        else:
            run = "    %s(%s);\n" % (name, ", ".join(args))
            setup = "  threadIdx.x = threadIdx.y = threadIdx.z = 0;\n"
        src.append(
            'extern "C" __attribute__((visibility("default"))) int nt_emu_%s(%s) {\n'
            "  nt_emu_shared_bytes = shm; nt_emu_failed = 0;\n"
            "  gridDim.x = gx; gridDim.y = gy; gridDim.z = gz; blockDim.x = bx; blockDim.y = by; blockDim.z = bz;\n"
            "%s"
            "  for (unsigned z = 0; z < gz; z++)\n  for (unsigned y = 0; y < gy; y++)\n"
            "  for (unsigned x = 0; x < gx; x++) {\n"
            "    blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;\n%s  }\n  return 0;\n}\n"
            % (name, ", ".join(params), setup, run))  # fmt: skip
        cdef.append("int nt_emu_%s(%s);" % (name, ", ".join(cparams)))
    return "\n".join(src), "\n".join(cdef)


class EmuBuilder:
    """Builds emulated kernels with the host C compiler in C++ mode (a cache builder)."""

    artifact = "lib.so"
    suffix = ".cpp"

    @staticmethod
    def toolchain():
        return {"emulator": 3, "host": toolchain_info()}

    @staticmethod
    def compile(src_path, out_path):
        import subprocess

        info = compiler_info()
        if info is None:
            raise CompileError("the CUDA emulator needs a C/C++ compiler (config.cxx)")
        # -O0: the emulator runs tiny test shapes, so build time matters more than speed
        cmd = [info[0], "-x", "c++", "-std=c++17", "-O0", "-shared", "-fPIC", "-fno-math-errno", "-pthread",
               src_path, "-o", out_path, "-lm", "-lstdc++"]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        if r.returncode != 0:
            raise CompileError("emulated CUDA build failed:\n%s\n%s" % (" ".join(cmd), r.stderr[-6000:]))


class EmuRuntime(Runtime):
    """Host memory plays device memory; kernels run through :data:`HEADER` (see module doc)."""

    name = "emulator"
    arch = "host"

    def __init__(self, threads=False):
        super().__init__()
        #: real block sizes (one OS thread per CUDA thread) instead of one thread per block
        self.threads = threads
        self._buffers = {}
        self.pool = MemoryPool(self._host_alloc, self._buffers.pop)
        self.device_name = "nettrain CUDA emulator (host CPU, %s)" % (
            "one OS thread per CUDA thread" if threads else "one thread per block")

    def _host_alloc(self, nbytes):
        buf = np.empty(int(nbytes) + 256, np.uint8)
        addr = buf.ctypes.data
        ptr = addr + (-addr) % 256  # 256-byte aligned like cudaMalloc
        self._buffers[ptr] = buf
        return ptr

    def malloc(self, nbytes):
        # pooled like device memory (driver.MemoryPool): blocks are reused as on a GPU, so a kernel that
        # reads memory freed by an earlier node shows up in the emulator's results as it would on a device
        block = self.pool.allocate(nbytes)
        return block.ptr, block

    def htod(self, ptr, a):
        self._count("htod", a.nbytes)
        ctypes.memmove(ptr, np.ascontiguousarray(a).ctypes.data, a.nbytes)

    def dtoh(self, a, ptr):
        self._count("dtoh", a.nbytes)
        ctypes.memmove(a.ctypes.data, ptr, a.nbytes)

    def dtod(self, dst, src, nbytes):
        ctypes.memmove(dst, src, int(nbytes))

    def memset(self, ptr, byte, nbytes):
        ctypes.memset(ptr, int(byte), int(nbytes))

    def synchronize(self):
        pass

    def load(self, source):
        import cffi

        sigs = kernel_signatures(source)
        wsrc, cdef = _wrappers(sigs, self.threads)
        header = _COMMON + (_THREADED if self.threads else _SINGLE)
        path = get_or_build(header + PRELUDE + "\n" + source + "\n" + wsrc, EmuBuilder)
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        lib = ffi.dlopen(path)
        counters, threads = self.counters, self.threads

        def getter(name):
            fn = getattr(lib, "nt_emu_" + name)
            kinds = [float if ct in ("float", "double") else int for ct, _ in sigs[name]]
            fmt = struct_format(sigs[name])

            def launch(grid, block, args, shared=0):
                counters["launches"] += 1
                # packed as a GPU runtime packs them, so an argument a GPU would refuse (a NumPy bool, a float
                # for an integer) fails here too; the emulator's own conversions below are more lenient
                pack_args(fmt, args, "kernel " + name)
                g = tuple(grid) + (1, 1)
                b = (tuple(block) + (1, 1))[:3] if threads else (1, 1, 1)
                if b[0] * b[1] * b[2] > 1024:
                    raise ValueError("kernel %s launched with %s threads per block (CUDA allows 1024)" % (name, b))
                if fn(int(g[0]), int(g[1]), int(g[2]), *[int(v) for v in b], int(shared),
                      *[k(a) for k, a in zip(kinds, args)]):  # fmt: skip
                    raise RuntimeError("kernel %s deadlocked with block %s: a __syncthreads or shuffle is not "
                                       "reached by every thread" % (name, b))  # fmt: skip

            return launch

        m = Module(self, getter)
        m.raw = (ffi, lib)
        return m


__all__ = ["EmuRuntime", "HEADER", "kernel_signatures"]
