"""Runtimes: allocate device memory, copy, build and launch kernels.

Two implementations share one small interface (compile, allocate and launch
are separate pieces, as in tinygrad's ``runtime/ops_cuda.py``):

* :class:`PyCudaRuntime` drives a real GPU through pycuda; kernels are built by
  nvcc into cubins kept in the content-addressed compile cache.
* :class:`~nettrain.backends.cuda.emulate.EmuRuntime` (``config.cuda_runtime =
  'emulator'``) compiles the same CUDA source for the host with g++ and runs each
  block with one thread.  It is slow and exists so that CI without a GPU runs the
  generated kernels, the placement and the transfers for real.

* :class:`~nettrain.backends.cuda.driver.DriverRuntime` (``cuda_runtime='driver'``,
  and ``auto`` where pycuda is not installed) calls the driver API through cffi:
  it needs only the NVIDIA driver and nvcc.

``get_runtime()`` gives the runtime for ``config.device`` (None on the CPU, or when
no GPU can be used: ``why_no_runtime()`` then says why, and ``python -m
nettrain.cuda`` reports it in detail).
"""

import atexit
import contextlib
import functools

import numpy as np

from ...configdefaults import config


class Runtime:
    """Base: transfer counters shared by every runtime."""

    name = "?"
    #: target architecture of built kernels ('sm_90', ...; 'host' for the emulator)
    arch = "?"

    #: while a function runs: uploads made during this call, so each host array is copied once
    upload_cache = None

    def __init__(self):
        self.counters = dict(htod=0, htod_bytes=0, dtoh=0, dtoh_bytes=0, launches=0)

    def activate(self):
        """Make this runtime's device current in the calling thread (once per function call).

        Returns True when :meth:`deactivate` must undo it after the call.
        """
        return False

    def deactivate(self):
        """Undo an :meth:`activate` that returned True."""

    def reset_counters(self):
        for k in self.counters:
            self.counters[k] = 0

    def _count(self, kind, nbytes):
        self.counters[kind] += 1
        self.counters[kind + "_bytes"] += int(nbytes)

    # subclasses: malloc(nbytes) -> (ptr, owner); htod(ptr, a); dtoh(a, ptr); dtod(dst, src, n);
    # memset(ptr, byte, n); synchronize(); load(source) -> Module whose get(name) is a launcher,
    # where ``source`` holds the kernels only (each runtime adds the prelude it needs)


class Module:
    """Kernels loaded from one build: ``get(name)`` gives a launcher ``(grid, block, args, shared=0)``."""

    def __init__(self, rt, getter):
        self._rt = rt
        self._get = getter
        self._cache = {}

    def get(self, name):
        fn = self._cache.get(name)
        if fn is None:
            fn = self._cache[name] = self._get(name)
        return fn


#: struct formats of kernel argument types, for pycuda's prepared calls
#: (pycuda packs them with its copy of ``struct`` in native mode, so each one is aligned to its size, as
#: CUDA lays out kernel parameters: a ``uint8_t`` then a pointer leaves 7 padding bytes in both)
_STRUCT = {"int64_t": "q", "uint64_t": "Q", "int32_t": "i", "int": "i", "uint32_t": "I", "unsigned": "I",
           "unsigned int": "I", "long long": "q", "unsigned long long": "Q",
           "int16_t": "h", "uint16_t": "H", "int8_t": "b", "uint8_t": "B", "nt_bool": "B",
           "float": "f", "double": "d", "size_t": "Q"}  # fmt: skip


def struct_format(sig):
    """pycuda ``prepare`` format of a kernel signature from :func:`~.emulate.kernel_signatures`.

    An unknown scalar type raises instead of guessing a size: a wrong size shifts every later argument.
    """
    out = []
    for ct, ptr in sig:
        t = " ".join(ct.replace("const", " ").split())
        if not ptr and t not in _STRUCT:
            raise TypeError("kernel parameter type %r has no pycuda struct format (add it to runtime._STRUCT)" % ct)
        out.append("P" if ptr else _STRUCT[t])
    return "".join(out)


class PyCudaRuntime(Runtime):
    """A CUDA device driven through pycuda (imported only here)."""

    name = "cuda"
    via = "pycuda"

    def __init__(self, ordinal=0):
        super().__init__()
        import pycuda.driver as drv
        from pycuda.tools import DeviceMemoryPool

        drv.init()
        self.drv = drv
        self.device = drv.Device(ordinal)
        self.context = self.device.retain_primary_context()
        self.context.push()
        # pycuda aborts the process at exit when a context is still on its stack ("PyCUDA ERROR: The context
        # stack was not empty upon module cleanup"); pycuda.autoprimaryctx pops its context at exit likewise
        self.pool = None
        atexit.register(self._close)
        major, minor = self.device.compute_capability()
        self.arch = config.cuda_arch or "sm_%d%d" % (major, minor)
        self.pool = DeviceMemoryPool()
        self.device_name = self.device.name()

    def activate(self):
        # contexts are current per thread: a call from another thread pushes ours for the call and pops it
        # after (pycuda aborts the process when a thread ends with contexts left on its stack)
        if self.context is not None and self.drv.Context.get_current() is None:
            self.context.push()
            return True
        return False

    def deactivate(self):
        self.drv.Context.pop()

    @contextlib.contextmanager
    def _pushed(self):
        """Our context current for a transfer made outside a function call (and popped after, if pushed)."""
        pushed = self.activate()
        try:
            yield
        finally:
            if pushed:
                self.deactivate()

    def _close(self):
        if self.context is None:
            return
        try:
            if self.pool is not None:
                self.pool.free_held()
            self.context.pop()
        except Exception:  # noqa: BLE001 - at exit, a dead context or another thread's: nothing left to do
            pass
        self.context = None

    def malloc(self, nbytes):
        owner = self.pool.allocate(int(nbytes))
        return int(owner), owner

    def htod(self, ptr, a):
        self._count("htod", a.nbytes)
        with self._pushed():
            self.drv.memcpy_htod(int(ptr), a)  # boost.python takes Python ints, not NumPy ones

    def dtoh(self, a, ptr):
        self._count("dtoh", a.nbytes)
        with self._pushed():
            self.drv.memcpy_dtoh(a, int(ptr))

    def dtod(self, dst, src, nbytes):
        self.drv.memcpy_dtod(int(dst), int(src), int(nbytes))

    def memset(self, ptr, byte, nbytes):
        self.drv.memset_d8(int(ptr), int(byte), int(nbytes))

    def synchronize(self):
        self.drv.Context.synchronize()  # a static method in pycuda: waits for the current context

    def load(self, source):
        from .nvcc import build_cubin
        from .table import PRELUDE

        from .emulate import kernel_signatures

        path = build_cubin(PRELUDE + "\n" + source, self.arch)
        mod = self.drv.module_from_file(path)
        sigs = kernel_signatures(source)
        counters = self.counters

        def getter(name):
            fn = mod.get_function(name)
            # a prepared call packs the arguments from a struct format: several times less
            # Python work per launch than pycuda's generic __call__
            fn.prepare(struct_format(sigs[name]))
            call = fn.prepared_call

            def launch(grid, block, args, shared=0):
                counters["launches"] += 1
                # pycuda launches with cuLaunchKernel, taking up to 3 grid and block dimensions (so keep gridDim.z);
                # prepared_call only takes ``block`` as the block shape when it is a tuple (else as the first
                # kernel argument), and boost.python reads each dimension as a Python int
                call(tuple(map(int, grid)), tuple(map(int, block)), *args, shared_size=int(shared))

            return launch

        m = Module(self, getter)
        m.raw = mod  # keeps the module loaded
        return m


_failure = []


def why_no_runtime():
    """Why ``get_runtime()`` returned None (empty when it did not)."""
    return _failure[0] if _failure else ""


@functools.lru_cache(maxsize=None)
def _make(kind, ordinal):
    if kind == "emulator":
        return emulator()
    if kind == "emulator-threads":
        return emulator(threads=True)
    reasons = []
    if kind in ("auto", "pycuda"):
        try:
            return PyCudaRuntime(ordinal)
        except ModuleNotFoundError as e:
            if kind == "pycuda":  # under auto, a missing pycuda is no failure: the driver runtime follows
                reasons.append("pycuda is not installed (pip install 'nettrain[cuda]'): %s" % e)
        except Exception as e:  # noqa: BLE001 - a broken pycuda or any driver error: no GPU through pycuda
            reasons.append("pycuda cannot use a CUDA device: %s: %s" % (type(e).__name__, e))
    if kind in ("auto", "driver"):
        # the driver API through cffi needs nothing but the NVIDIA driver
        from .driver import driver_runtime

        try:
            return driver_runtime(ordinal)
        except Exception as e:  # noqa: BLE001 - any driver error means: no usable GPU
            reasons.append("no usable CUDA device: %s: %s" % (type(e).__name__, e))
    _failure[:] = ["; ".join(reasons)]
    return None


def device_ordinal(device=None):
    """The GPU index in ``config.device`` ('cuda' -> 0, 'cuda1' -> 1), or None for the CPU."""
    d = str(device or config.device)
    for prefix in ("cuda", "gpu"):
        if d.startswith(prefix):
            rest = d[len(prefix):]
            return int(rest) if rest.isdigit() else 0
    return None


def get_runtime():
    """The runtime for ``config.device`` and ``config.cuda_runtime``, or None (CPU, or no GPU)."""
    n = device_ordinal()
    if n is None:
        return None
    return _make(config.cuda_runtime, n)


@functools.lru_cache(maxsize=None)
def emulator(threads=False):
    """The process's emulated device (where a C++ compiler works); ``threads``: real block sizes."""
    from .emulate import EmuRuntime

    return EmuRuntime(threads)


def to_device(rt, v, dtype=None):
    """``v`` as a device array of ``rt`` (uploading host values, counted as a transfer)."""
    if getattr(v, "is_device_array", False):
        return v
    from .darray import DeviceArray

    return DeviceArray.from_host(rt, v if type(v) is np.ndarray and dtype is None else np.asarray(v, dtype=dtype))


def to_host(v):
    """``v`` as a host (NumPy) value (downloading device arrays, counted as a transfer)."""
    if getattr(v, "is_device_array", False):
        return v.get()
    return v


__all__ = ["Runtime", "Module", "PyCudaRuntime", "get_runtime", "why_no_runtime", "emulator", "to_device",
           "to_host", "device_ordinal"]  # fmt: skip
