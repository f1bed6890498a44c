"""A thin strided array in device memory (shape, dtype, byte strides, pointer).

nettrain's CUDA kernels take raw pointers and byte strides, so a device array
needs nothing more; views (transposes, slices, reshapes of contiguous data)
share their base allocation.  ``get()`` copies to a NumPy array; NumPy's
``np.asarray(d)`` does the same through ``__array__``.
"""

import functools
import math

import numpy as np


def c_strides(shape, itemsize):
    """Byte strides of a C-contiguous array of ``shape``."""
    return _c_strides(tuple(shape), itemsize)


@functools.lru_cache(maxsize=4096)  # every allocation asks: a cache probe is cheaper than the loop
def _c_strides(shape, itemsize):
    st, acc = [], itemsize
    for n in reversed(shape):
        st.append(acc)
        acc *= max(int(n), 1)
    return tuple(reversed(st))


class DeviceArray:
    """An array in the memory of a CUDA device (or of the emulator).

    Parameters
    ----------
    rt : Runtime
        The runtime owning the memory.
    shape, dtype : tuple, numpy dtype
    ptr : int
        Address of element ``(0, ..., 0)``.
    strides : tuple of int, optional
        Byte strides (C-contiguous when omitted).
    owner : object
        Keeps the allocation alive (views hold their base's owner).

    Examples
    --------
    >>> from nettrain.backends.cuda.runtime import emulator
    >>> d = DeviceArray.from_host(emulator(), np.arange(6, dtype='float32').reshape(2, 3))
    >>> d.T.get().tolist()
    [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    """

    is_device_array = True
    __array_priority__ = -1  # NumPy operators should not treat us as an array-like first

    __slots__ = ("rt", "shape", "dtype", "strides", "ptr", "owner", "_cc")

    def __init__(self, rt, shape, dtype, ptr, strides=None, owner=None):
        self.rt = rt
        self.shape = tuple(map(int, shape))
        self.dtype = np.dtype(dtype)
        if strides is None:
            self.strides, self._cc = c_strides(self.shape, self.dtype.itemsize), True
        else:
            self.strides, self._cc = tuple(strides), None  # contiguity found on first ask
        self.ptr = int(ptr)
        self.owner = owner

    # -------------------------------------------------------------- create
    @classmethod
    def empty(cls, rt, shape, dtype):
        """Uninitialized C-contiguous device memory."""
        dt = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        shape = tuple(map(int, shape))
        item = dt.itemsize
        ptr, owner = rt.malloc(max(math.prod(shape) * item, 1))
        # every kernel allocates its outputs here: set the slots directly (no argument normalization)
        d = object.__new__(cls)
        d.rt, d.shape, d.dtype, d.ptr, d.owner, d._cc = rt, shape, dt, ptr, owner, True
        d.strides = _c_strides(shape, item)
        return d

    @classmethod
    def zeros(cls, rt, shape, dtype):
        d = cls.empty(rt, shape, dtype)
        if d.nbytes:
            rt.memset(d.ptr, 0, d.nbytes)
        return d

    @classmethod
    def from_host(cls, rt, a, dtype=None):
        """Copy the NumPy value ``a`` to the device (one host-to-device transfer).

        During a function call (``rt.upload_cache`` is a dict) the same host array
        is uploaded once however many kernels ask for it (e.g. labels read by the
        loss and by its gradient).
        """
        cache = rt.upload_cache
        if cache is not None:
            key = (id(a), dtype)
            hit = cache.get(key)
            if hit is not None and hit[0] is a:
                return hit[1]
        h = np.asarray(a, dtype=dtype, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        d = cls.empty(rt, h.shape, h.dtype)
        if h.nbytes:
            rt.htod(d.ptr, h)
        if cache is not None:
            cache[key] = (a, d)  # holding ``a`` keeps its id from being reused during the call
        return d

    # -------------------------------------------------------------- info
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def c_contiguous(self):
        cc = self._cc
        if cc is None:
            cc = self._cc = self.size <= 1 or all(
                st == c for n, st, c in zip(self.shape, self.strides, c_strides(self.shape, self.itemsize)) if n != 1)
        return cc

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d device array")
        return self.shape[0]

    def __repr__(self):
        return "DeviceArray(shape=%s, dtype=%s, on %s)" % (self.shape, self.dtype, self.rt.name)

    # -------------------------------------------------------------- views
    def view(self, shape, strides, offset=0):
        """A view of the same memory: ``offset`` bytes further, new shape and byte strides."""
        return DeviceArray(self.rt, shape, self.dtype, self.ptr + offset, strides, self.owner)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        axes = axes or tuple(reversed(range(self.ndim)))
        return self.view([self.shape[a] for a in axes], [self.strides[a] for a in axes])

    @property
    def T(self):
        return self.transpose()

    def reshape(self, *shape):
        """A view with a new shape; the array must be C-contiguous (use a copy kernel otherwise)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = list(shape)
        if -1 in shape:
            k = shape.index(-1)
            rest = math.prod(map(int, [s for i, s in enumerate(shape) if i != k]))
            shape[k] = self.size // rest if rest else 0
        if math.prod(map(int, shape)) != self.size:
            raise ValueError("cannot reshape a device array of shape %s into %s" % (self.shape, tuple(shape)))
        if not self.c_contiguous:
            raise ValueError("reshape of a non-contiguous device array needs a copy")
        return self.view(shape, c_strides(shape, self.itemsize))

    # -------------------------------------------------------------- to host
    def _span(self):
        """``(lowest, highest + itemsize)`` byte offsets touched, relative to ``ptr``."""
        lo = sum(st * (n - 1) for n, st in zip(self.shape, self.strides) if st < 0 and n > 0)
        hi = sum(st * (n - 1) for n, st in zip(self.shape, self.strides) if st > 0 and n > 0)
        return lo, hi + self.itemsize

    def get(self):
        """A NumPy copy (one device-to-host transfer of the bytes the array spans)."""
        out = np.empty(self.shape, self.dtype)
        if out.size == 0:
            return out
        if self.c_contiguous:
            self.rt.dtoh(out, self.ptr)
            return out
        lo, hi = self._span()
        buf = np.empty(hi - lo, np.uint8)
        self.rt.dtoh(buf, self.ptr + lo)
        out[...] = np.ndarray(self.shape, self.dtype, buf, -lo, self.strides)
        return out

    def __array__(self, dtype=None, copy=None):
        a = self.get()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __reduce__(self):
        # pickles (and checkpoints) hold the values, so they load on a machine without a GPU
        return (np.asarray, (self.get(),))

    def copy(self):
        """A C-contiguous device copy (device-to-device when already contiguous)."""
        if self.c_contiguous:
            d = DeviceArray.empty(self.rt, self.shape, self.dtype)
            if self.nbytes:
                self.rt.dtod(d.ptr, self.ptr, self.nbytes)
            return d
        return DeviceArray.from_host(self.rt, self.get())


def is_device(v):
    """True for device arrays (duck-typed, so the tensor layer needs no import of this module)."""
    return getattr(v, "is_device_array", False) is True


__all__ = ["DeviceArray", "c_strides", "is_device"]
