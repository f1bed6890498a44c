"""The communicator interface: the few collective operations data-parallel training needs.

A backend implements them for its library; the Trainer never calls MPI (or NCCL) itself.

=====================  ===========================================================================
``rank``, ``size``     this process's index and the number of processes
``allreduce_(buf)``    sum a contiguous float buffer over all ranks, in place (host NumPy array, or
                       a device array: see below)
``bcast_(buf, root)``  overwrite ``buf`` on every rank with root's, in place
``bcast(obj, root)``   root's Python object on every rank (pickled; small things only)
``gather(obj, root)``  the list of every rank's object on root (None elsewhere)
``allgather(obj)``     the list of every rank's object on every rank
``abort(status)``      end every process of the job now, with ``status``
=====================  ===========================================================================

Device buffers: ``allreduce_`` and ``bcast_`` also take a CUDA
:class:`~nettrain.backends.cuda.darray.DeviceArray`.  A backend whose library reads device memory
(``device_aware``: a CUDA-aware MPI, NCCL) is given the device pointer; otherwise the buffer is
copied to the host, reduced there and copied back (:meth:`Communicator.on_host`).

An NCCL backend fits the same interface: ``allreduce_``/``bcast_`` on device buffers through
``ncclAllReduce``/``ncclBroadcast`` on the compute stream, with the object collectives and ``abort``
delegated to an MPI communicator, which also hands out the NCCL unique id at start.
"""

import numpy as np

__all__ = ["Communicator", "LocalCommunicator", "CudaBuffer", "shard_bounds"]


def shard_bounds(n, rank, size):
    """``(lo, hi)``: rank's contiguous slice of ``n`` items split over ``size`` ranks (sizes differ by <= 1).

    Examples
    --------
    >>> from nettrain.train.distributed.comm import shard_bounds
    >>> [shard_bounds(5, r, 2) for r in range(2)], shard_bounds(1, 0, 2)
    ([(0, 2), (2, 5)], (0, 0))
    """
    return n * rank // size, n * (rank + 1) // size


class CudaBuffer:
    """A contiguous device array exposed through ``__cuda_array_interface__`` (what mpi4py reads)."""

    def __init__(self, darray):
        if not darray.c_contiguous:
            raise ValueError("only contiguous device arrays can be reduced in place")
        self.darray = darray
        self.__cuda_array_interface__ = {"shape": tuple(darray.shape), "typestr": darray.dtype.str,
                                         "data": (int(darray.ptr), False), "strides": None, "version": 3}


class Communicator:
    """Base class of the communicator backends (see the module docstring for the operations)."""

    name = "base"
    rank, size = 0, 1
    device_aware = False  # may allreduce_/bcast_ read device memory directly?

    def allreduce_(self, buf):
        raise NotImplementedError

    def bcast_(self, buf, root=0):
        raise NotImplementedError

    def bcast(self, obj, root=0):
        raise NotImplementedError

    def gather(self, obj, root=0):
        raise NotImplementedError

    def allgather(self, obj):
        raise NotImplementedError

    def barrier(self):
        raise NotImplementedError

    def abort(self, status=1):
        raise NotImplementedError

    def local_size(self):
        """How many ranks share this rank's machine (they share its cores); 1 where unknown."""
        return 1

    def on_host(self, buf, op):
        """Run ``op(buffer)`` on ``buf`` in place: a NumPy array directly, a device array through its
        device pointer when ``device_aware``, else through a host copy (one copy each way)."""
        if not getattr(buf, "is_device_array", False):
            if not (isinstance(buf, np.ndarray) and buf.flags.c_contiguous and buf.flags.writeable):
                raise TypeError("collectives need a writeable C-contiguous NumPy array, got %r" % (type(buf),))
            op(buf)
            return buf
        if self.device_aware:
            op(CudaBuffer(buf))
            return buf
        host = buf.get()
        op(host)
        buf.rt.htod(buf.ptr, host)
        return buf

    def __repr__(self):
        return "<%s rank %d of %d>" % (self.name, self.rank, self.size)


class LocalCommunicator(Communicator):
    """The world of one process: every collective returns its input.

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.train.distributed.comm import LocalCommunicator
    >>> c = LocalCommunicator()
    >>> c.allreduce_(np.ones(2)).tolist(), c.allgather("x"), c.size
    ([1.0, 1.0], ['x'], 1)
    """

    name = "local"

    def allreduce_(self, buf):
        return buf

    def bcast_(self, buf, root=0):
        return buf

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        return [obj]

    def allgather(self, obj):
        return [obj]

    def barrier(self):
        pass

    def abort(self, status=1):
        import os

        os._exit(status)
