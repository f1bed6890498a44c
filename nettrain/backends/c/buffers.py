"""Output buffers that a kernel reuses from one call to the next.

A fresh multi-megabyte ``np.empty`` is usually new memory from the OS, and
the first write to each 4 KiB page then costs a page fault (microseconds in
a VM): for a training step at batch 1024 that is several milliseconds per
call.  Each kernel output therefore keeps its last large arrays in an
:class:`OutputPool` and hands one out again once nothing else refers to it
(its reference count says so): intermediates freed after their last reader,
and old values of updated shared variables, come back without page faults.
An array still referenced anywhere (returned to the caller, stored in a
shared variable, viewed by another array) is never reused.
"""

import sys

import numpy as np

#: smaller outputs are allocated fresh: malloc serves them from memory the process already has
MIN_BYTES = 1 << 18
#: arrays kept per output; two let a shared variable alternate between its old and new value
KEEP = 2

_getrefcount = sys.getrefcount


def _refs(bufs, i):
    return _getrefcount(bufs[i])


# references to an array held only by the pool, as counted through _refs
# (measured rather than assumed: the count of temporaries differs between Python versions)
_FREE = _refs([np.empty(1)], 0)


class OutputPool:
    """``empty(shape)`` for one kernel output of a fixed dtype, reusing unreferenced arrays."""

    __slots__ = ("dtype", "bufs")

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.bufs = []

    def empty(self, shape):
        bufs = self.bufs
        for i in range(len(bufs)):
            if bufs[i].shape == shape and _refs(bufs, i) == _FREE:
                return bufs[i]
        out = np.empty(shape, self.dtype)
        if out.nbytes >= MIN_BYTES:
            if len(bufs) >= KEEP:
                del bufs[0]
            bufs.append(out)
        return out


__all__ = ["OutputPool", "MIN_BYTES", "KEEP"]
