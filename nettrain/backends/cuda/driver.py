"""The CUDA driver API through cffi: a runtime that needs only the NVIDIA driver and nvcc.

pycuda has no binary wheels, so installing it means compiling it against the
local CUDA toolkit (and Python's headers), the set-up pain Theano's GPU users
reported most.  :class:`DriverRuntime` calls ``libcuda.so.1`` (installed with
every NVIDIA driver) directly through cffi's ABI mode, as the cuBLAS binding
does, with the few driver entry points the backend needs: primary context,
allocation, copies, ``cuModuleLoadData`` of the nvcc-built cubin and
``cuLaunchKernel``.  Kernel arguments travel packed in one buffer
(``CU_LAUNCH_PARAM_BUFFER_POINTER``), laid out by :func:`.runtime.struct_format`
exactly as pycuda's prepared calls lay them out.

Device memory comes from :class:`MemoryPool`, a caching allocator (freed blocks
are kept in size bins and reused, as pycuda's ``DeviceMemoryPool`` and PyTorch's
allocator do): ``cuMemAlloc`` synchronizes and costs tens of microseconds, too
much for every intermediate of a training step.
"""

import functools
import gc
import struct

from ...configdefaults import config
from .runtime import Module, Runtime, struct_format

CDEF = """
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef unsigned long long CUdeviceptr;
CUresult cuInit(unsigned int flags);
CUresult cuDriverGetVersion(int *version);
CUresult cuDeviceGetCount(int *count);
CUresult cuDeviceGet(CUdevice *device, int ordinal);
CUresult cuDeviceGetName(char *name, int len, CUdevice dev);
CUresult cuDeviceGetAttribute(int *pi, int attrib, CUdevice dev);
CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev);
CUresult cuCtxSetCurrent(CUcontext ctx);
CUresult cuCtxSynchronize(void);
CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize);
CUresult cuMemFree_v2(CUdeviceptr dptr);
CUresult cuMemGetInfo_v2(size_t *free, size_t *total);
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n);
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n);
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n);
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t n);
CUresult cuModuleLoadData(CUmodule *module, const void *image);
CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name);
CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shared, CUstream stream, void **params,
                        void **extra);
CUresult cuGetErrorName(CUresult error, const char **str);
CUresult cuGetErrorString(CUresult error, const char **str);
"""

#: CUdevice_attribute values (cuda.h)
ATTR_CC_MAJOR, ATTR_CC_MINOR = 75, 76
#: cuLaunchKernel ``extra`` markers (cuda.h: CU_LAUNCH_PARAM_BUFFER_POINTER / _BUFFER_SIZE; the list ends with NULL)
PARAM_BUFFER_POINTER, PARAM_BUFFER_SIZE = 1, 2
OUT_OF_MEMORY = 2  # CUDA_ERROR_OUT_OF_MEMORY


class DriverError(RuntimeError):
    """A CUDA driver call failed; the message names the call and the driver's error."""


_lib = []


def load_driver():
    """``(ffi, lib)`` of ``libcuda.so.1``; OSError (naming what is missing) when there is no NVIDIA driver."""
    if not _lib:
        import cffi

        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        errors = []
        for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
            try:
                _lib.append((ffi, ffi.dlopen(name)))
                break
            except OSError as e:
                errors.append(str(e))
        else:
            raise OSError("the NVIDIA driver's libcuda.so.1 cannot be loaded (install the NVIDIA driver for your "
                          "GPU, or add its folder to LD_LIBRARY_PATH): %s" % errors[0])  # fmt: skip
    return _lib[0]


def pack_args(fmt, args, name="kernel"):
    """Kernel arguments as the bytes ``cuLaunchKernel`` reads from its parameter buffer.

    ``fmt`` is :func:`.runtime.struct_format` of the kernel's signature: native
    alignment gives each parameter the offset CUDA gives it (aligned to its size).

    Examples
    --------
    >>> import numpy as np
    >>> len(pack_args("iP", [np.int32(3), np.uintp(4096)]))  # 4 bytes, 4 of padding, 8 of pointer
    16
    """
    if len(args) != len(fmt):
        raise TypeError("%s takes %d arguments (%s), got %d" % (name, len(fmt), fmt, len(args)))
    try:
        return struct.pack(fmt, *args)
    except struct.error:
        for i, (f, a) in enumerate(zip(fmt, args)):
            try:
                struct.pack(f, a)
            except struct.error as e:
                raise TypeError("%s: argument %d (%r, %s) cannot be passed as %r: %s"
                                % (name, i, a, type(a).__name__, f, e)) from None
        raise


class _Block:
    """One pooled allocation: ``int(block)`` is its address; dropping the last reference returns it."""

    __slots__ = ("ptr", "size", "pool", "__weakref__")

    def __init__(self, ptr, size, pool):
        self.ptr, self.size, self.pool = ptr, size, pool

    def __int__(self):
        return self.ptr

    def __del__(self):
        pool = self.pool
        if pool is not None:
            pool._release(self.size, self.ptr)


@functools.lru_cache(maxsize=4096)
def bin_size(nbytes):
    """The size a request of ``nbytes`` is rounded up to: 512 B, then 4 sizes per power of two.

    Examples
    --------
    >>> [bin_size(n) for n in (1, 512, 513, 1000, 1025, 3 << 20)]
    [512, 512, 640, 1024, 1280, 3145728]
    """
    n = max(int(nbytes), 512)
    top = n.bit_length() - 1
    step = 1 << max(top - 2, 0)
    return -(-n // step) * step


class MemoryPool:
    """A caching device allocator over ``alloc(nbytes) -> ptr`` and ``free(ptr)``.

    Freed blocks wait in bins of their rounded size and serve the next request of
    that size without a driver call; when ``alloc`` reports that memory is
    exhausted (raises MemoryError) the held blocks are released and the request
    is tried once more.

    Examples
    --------
    >>> import numpy as np
    >>> host = []  # host buffers standing in for device memory
    >>> def alloc(n):
    ...     host.append(np.empty(n, np.uint8))
    ...     return host[-1].ctypes.data
    >>> pool = MemoryPool(alloc, lambda p: None)
    >>> a = pool.allocate(1000); p = int(a); del a
    >>> int(pool.allocate(900)) == p  # same bin (1024 bytes): reused
    True
    """

    def __init__(self, alloc, free):
        self._alloc, self._free = alloc, free
        self.held = {}  # size -> [ptr]
        self.active = 0  # bytes handed out
        self.held_bytes = 0
        self.driver_allocs = 0

    def allocate(self, nbytes):
        size = bin_size(nbytes)
        bucket = self.held.get(size)
        if bucket:
            ptr = bucket.pop()
            self.held_bytes -= size
        else:
            try:
                ptr = self._alloc(size)
            except MemoryError:
                gc.collect()  # arrays only referenced from cycles give their blocks back
                self.free_held()
                ptr = self._alloc(size)
            self.driver_allocs += 1
        self.active += size
        return _Block(ptr, size, self)

    def _release(self, size, ptr):
        self.active -= size
        self.held.setdefault(size, []).append(ptr)
        self.held_bytes += size

    def free_held(self):
        """Give every held block back to the driver."""
        # popitem: a block dropped meanwhile (the driver call releases the GIL) may add a bin
        while self.held:
            size, bucket = self.held.popitem()
            while bucket:
                self.held_bytes -= size
                self._free(bucket.pop())


class DriverRuntime(Runtime):
    """A CUDA device driven through the driver API (``libcuda``) with cffi; no pycuda needed."""

    name = "cuda"
    via = "the CUDA driver API (cffi)"

    def __init__(self, ordinal=0):
        super().__init__()
        self.ffi, self.lib = ffi, lib = load_driver()
        self._check(lib.cuInit(0), "cuInit")
        dev = ffi.new("CUdevice *")
        self._check(lib.cuDeviceGet(dev, int(ordinal)), "cuDeviceGet(%d)" % ordinal)
        self.device = dev[0]
        ctx = ffi.new("CUcontext *")
        # the primary context is the one the CUDA runtime API (cuBLAS, PyTorch) uses too, so pointers are shared
        self._check(lib.cuDevicePrimaryCtxRetain(ctx, self.device), "cuDevicePrimaryCtxRetain")
        self.context = ctx[0]
        self._check(lib.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
        cc = [ffi.new("int *"), ffi.new("int *")]
        for box, attr in zip(cc, (ATTR_CC_MAJOR, ATTR_CC_MINOR)):
            self._check(lib.cuDeviceGetAttribute(box, attr, self.device), "cuDeviceGetAttribute")
        self.arch = config.cuda_arch or "sm_%d%d" % (cc[0][0], cc[1][0])
        buf = ffi.new("char[256]")
        self._check(lib.cuDeviceGetName(buf, 256, self.device), "cuDeviceGetName")
        self.device_name = ffi.string(buf).decode(errors="replace")
        self.pool = MemoryPool(self._driver_alloc, self._driver_free)

    def activate(self):
        # a CUDA context is current per thread: a function called from another thread (a data loader, a
        # callback) would otherwise fail with CUDA_ERROR_INVALID_CONTEXT; the primary context needs no pop
        self.lib.cuCtxSetCurrent(self.context)
        return False

    def _check(self, status, what):
        if status:
            raise DriverError("CUDA driver call %s failed: %s" % (what, error_text(self.ffi, self.lib, status)))

    def _driver_alloc(self, nbytes):
        box = self.ffi.new("CUdeviceptr *")  # one per call: cffi releases the GIL during the driver call
        self.activate()
        st = self.lib.cuMemAlloc_v2(box, nbytes)
        if st == OUT_OF_MEMORY:
            raise MemoryError("CUDA device out of memory allocating %d bytes" % nbytes)
        self._check(st, "cuMemAlloc(%d)" % nbytes)
        return int(box[0])

    def _driver_free(self, ptr):
        self.lib.cuMemFree_v2(ptr)  # a failure here (context gone at exit) leaves nothing to do

    def malloc(self, nbytes):
        block = self.pool.allocate(nbytes)
        return block.ptr, block

    def htod(self, ptr, a):
        self._count("htod", a.nbytes)
        self.activate()  # transfers also happen outside function calls (set_value, get_value)
        self._check(self.lib.cuMemcpyHtoD_v2(int(ptr), self.ffi.from_buffer(a), a.nbytes), "cuMemcpyHtoD")

    def dtoh(self, a, ptr):
        self._count("dtoh", a.nbytes)
        self.activate()
        self._check(self.lib.cuMemcpyDtoH_v2(self.ffi.from_buffer(a, require_writable=True), int(ptr), a.nbytes),
                    "cuMemcpyDtoH")  # fmt: skip

    def dtod(self, dst, src, nbytes):
        self._check(self.lib.cuMemcpyDtoD_v2(int(dst), int(src), int(nbytes)), "cuMemcpyDtoD")

    def memset(self, ptr, byte, nbytes):
        self._check(self.lib.cuMemsetD8_v2(int(ptr), int(byte), int(nbytes)), "cuMemsetD8")

    def synchronize(self):
        self._check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")

    def load(self, source):
        from .emulate import kernel_signatures
        from .nvcc import build_cubin
        from .table import PRELUDE

        ffi, lib = self.ffi, self.lib
        self.activate()
        with open(build_cubin(PRELUDE + "\n" + source, self.arch), "rb") as f:
            image = f.read()
        box = ffi.new("CUmodule *")
        self._check(lib.cuModuleLoadData(box, image), "cuModuleLoadData")
        module = box[0]
        sigs = kernel_signatures(source)
        counters, check, launch_kernel, from_buffer = self.counters, self._check, lib.cuLaunchKernel, ffi.from_buffer
        null, new_extra = ffi.NULL, ffi.new

        def getter(name):
            fbox = ffi.new("CUfunction *")
            check(lib.cuModuleGetFunction(fbox, module, name.encode()), "cuModuleGetFunction(%s)" % name)
            fn, fmt = fbox[0], struct_format(sigs[name])
            size = ffi.new("size_t *", struct.calcsize(fmt))
            marks = ffi.cast("void *", PARAM_BUFFER_POINTER), ffi.cast("void *", PARAM_BUFFER_SIZE)

            def launch(grid, block, args, shared=0):
                counters["launches"] += 1
                g, b = tuple(grid) + (1, 1), tuple(block) + (1, 1)
                buf = from_buffer(pack_args(fmt, args, name))
                # ``extra`` made per launch: another thread may launch the same kernel meanwhile
                extra = new_extra("void *[5]", [marks[0], buf, marks[1], size, null])
                st = launch_kernel(fn, int(g[0]), int(g[1]), int(g[2]), int(b[0]), int(b[1]), int(b[2]),
                                   int(shared), null, null, extra)
                if st:
                    check(st, "cuLaunchKernel(%s, grid=%s, block=%s, shared=%d)" % (name, g[:3], b[:3], shared))

            return launch

        m = Module(self, getter)
        m.raw = (box, image)
        return m


@functools.lru_cache(maxsize=None)
def driver_runtime(ordinal=0):
    """The process's :class:`DriverRuntime` of GPU ``ordinal`` (one pool per device, however it was asked for)."""
    return DriverRuntime(ordinal)


def error_text(ffi, lib, status):
    """``'CUDA_ERROR_X: description (code)'`` for a driver status."""
    name, text = ffi.new("const char **"), ffi.new("const char **")
    n = ffi.string(name[0]).decode() if lib.cuGetErrorName(status, name) == 0 and name[0] else "CUDA error"
    t = ffi.string(text[0]).decode() if lib.cuGetErrorString(status, text) == 0 and text[0] else ""
    return "%s: %s (%d)" % (n, t, status) if t else "%s (%d)" % (n, status)


__all__ = ["DriverRuntime", "driver_runtime", "DriverError", "MemoryPool", "bin_size", "pack_args", "load_driver",
           "error_text"]
