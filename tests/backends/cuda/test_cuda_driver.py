"""The driver-API runtime (cffi on libcuda): what runs without a GPU, and the launch on one."""

import ctypes
import struct

import numpy as np
import pytest

from nettrain.backends.cuda import driver
from nettrain.backends.cuda.driver import MemoryPool, bin_size, pack_args
from nettrain.backends.cuda.runtime import _make, why_no_runtime
from nettrain.configdefaults import config


def _has_driver():
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def _has_gpu():
    """A driver that sees at least one GPU (not only a driver: CUDA_VISIBLE_DEVICES may hide them all)."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    n = ctypes.c_int(0)
    return lib.cuInit(0) == 0 and lib.cuDeviceGetCount(ctypes.byref(n)) == 0 and n.value > 0


def test_declarations_parse():
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(driver.CDEF)
    assert ffi.sizeof("CUdeviceptr") == 8
    assert ffi.typeof("CUresult(*)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, "
                      "unsigned int, unsigned int, CUstream, void **, void **)")  # fmt: skip


def test_parameter_buffer_puts_each_argument_at_its_aligned_offset():
    # CUDA lays kernel parameters out like a C struct: each at a multiple of its size
    buf = pack_args("BPifqd", [np.uint8(7), np.uintp(0xDEADBEEF000), np.int32(-3), np.float32(1.5), np.int64(-2**40),
                               np.float64(0.25)])  # fmt: skip
    assert len(buf) == 40
    assert buf[0] == 7 and buf[1:8] == bytes(7)
    assert struct.unpack_from("<Q", buf, 8)[0] == 0xDEADBEEF000
    assert struct.unpack_from("<i", buf, 16)[0] == -3
    assert struct.unpack_from("<f", buf, 20)[0] == 1.5
    assert struct.unpack_from("<q", buf, 24)[0] == -2**40
    assert struct.unpack_from("<d", buf, 32)[0] == 0.25
    with pytest.raises(TypeError, match="takes 2 arguments"):
        pack_args("qP", [np.int64(1)])


def test_bin_sizes_round_up_to_four_steps_per_power_of_two():
    assert bin_size(0) == 512 and bin_size(512) == 512
    for n in (513, 777, 1023, 1024, 1025, 5000, 123457, 3 << 20, (1 << 30) + 1):
        b = bin_size(n)
        assert n <= b < n * 1.25 + 512, (n, b)
        assert bin_size(b) == b  # a bin's own size stays in the bin
    assert len({bin_size(n) for n in range(4097, 8193)}) == 4


class _HostMemory:
    """Host buffers playing device memory for the pool, with a capacity (to exercise exhaustion)."""

    def __init__(self, capacity):
        self.capacity, self.used, self.live, self.frees = capacity, 0, {}, 0

    def alloc(self, n):
        if self.used + n > self.capacity:
            raise MemoryError("out of memory")
        b = np.empty(n, np.uint8)
        self.live[b.ctypes.data] = b
        self.used += n
        return b.ctypes.data

    def free(self, p):
        self.used -= self.live.pop(p).nbytes
        self.frees += 1


def test_pool_reuses_freed_blocks_of_the_same_bin():
    mem = _HostMemory(1 << 20)
    pool = MemoryPool(mem.alloc, mem.free)
    a, b = pool.allocate(1000), pool.allocate(3000)
    pa, pb = int(a), int(b)
    assert pa != pb and pool.driver_allocs == 2 and pool.active == 1024 + 3072
    ctypes.memset(pa, 1, 1000)  # the memory is really there
    del a
    assert pool.held_bytes == 1024 and pool.active == 3072
    c = pool.allocate(900)
    assert int(c) == pa and pool.driver_allocs == 2  # no new allocation
    d = pool.allocate(1500)  # another bin: a new block
    assert int(d) not in (pa, pb) and pool.driver_allocs == 3
    del b, c, d
    assert pool.active == 0 and mem.frees == 0
    pool.free_held()
    assert mem.used == 0 and mem.frees == 3 and pool.held_bytes == 0


def test_pool_gives_held_blocks_back_when_memory_runs_out():
    mem = _HostMemory(8192)
    pool = MemoryPool(mem.alloc, mem.free)
    blocks = [pool.allocate(2048) for _ in range(4)]
    del blocks  # all held, none free in the "device"
    big = pool.allocate(6000)  # another bin: needs the held blocks released first
    assert int(big) and mem.frees == 4 and pool.held_bytes == 0
    with pytest.raises(MemoryError):
        pool.allocate(4096)
    assert pool.active == bin_size(6000)


@pytest.mark.skipif(_has_driver(), reason="this machine has an NVIDIA driver: the GPU tests exercise the runtime")
def test_without_a_driver_the_runtime_says_what_is_missing():
    _make.cache_clear()
    try:
        assert _make("driver", 0) is None
        assert "libcuda.so.1" in why_no_runtime() and "NVIDIA driver" in why_no_runtime()
        assert _make("auto", 0) is None  # neither pycuda nor the driver
        assert "libcuda.so.1" in why_no_runtime()
    finally:
        _make.cache_clear()


@pytest.mark.skipif(not _has_gpu(), reason="needs the NVIDIA driver (libcuda) and a GPU")
def test_driver_runtime_runs_a_kernel():
    from nettrain.backends.cuda.darray import DeviceArray
    from nettrain.backends.cuda.nvcc import nvcc_path

    if nvcc_path() is None:
        pytest.skip("needs nvcc")
    _make.cache_clear()
    try:
        rt = _make("driver", 0)
        assert rt is not None, why_no_runtime()
        src = ('extern "C" __global__ void axpb(int64_t n, const float *x, float a, uint8_t flag, float *y)\n'
               "{ for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;"
               " i += (int64_t)gridDim.x * blockDim.x) y[i] = flag ? a * x[i] + 1.0f : 0.0f; }\n")  # fmt: skip
        fn = rt.load(src).get("axpb")
        x = np.arange(1000, dtype=np.float32)
        dx, dy = DeviceArray.from_host(rt, x), DeviceArray.empty(rt, x.shape, x.dtype)
        fn((3,), (128,), [np.int64(x.size), np.uintp(dx.ptr), np.float32(2.0), np.uint8(1), np.uintp(dy.ptr)])
        np.testing.assert_array_equal(dy.get(), 2 * x + 1)
        with config.change_flags(device="cuda", cuda_runtime="driver"):
            assert "cffi" in rt.via
    finally:
        _make.cache_clear()
