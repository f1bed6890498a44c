"""The MPI backend of the communicator interface, through mpi4py (imported only here).

Buffers go through mpi4py's upper-case methods (the buffer protocol: no pickling, no copy), reduced
in place (``MPI.IN_PLACE``).  mpi4py's default error handler on ``COMM_WORLD`` turns MPI errors into
Python exceptions, which the training command answers with :meth:`MPICommunicator.abort`.

CUDA-aware MPI: device arrays are handed to MPI as device pointers when the library says it can read
them (``MPI.Query_cuda_support()``, MPI 4.1 / MPIX) or ``NETTRAIN_MPI_CUDA_AWARE=1`` says so; else
they are staged through host memory.  The MPICH and Open MPI wheels on PyPI are not CUDA-aware.
"""

import os

from .comm import Communicator

__all__ = ["MPICommunicator", "mpi_available"]


def mpi_available():
    """``(True, None)`` when mpi4py imports and finds an MPI library, else ``(False, reason)``."""
    try:
        from mpi4py import MPI  # noqa: F401
    except ImportError as exc:
        return False, "mpi4py is not installed (pip install 'nettrain[mpi]'): %s" % exc
    except RuntimeError as exc:  # mpi4py found no MPI library
        return False, "mpi4py found no usable MPI library (pip install 'nettrain[mpi]'): %s" % exc
    return True, None


def _cuda_aware(MPI):
    forced = os.environ.get("NETTRAIN_MPI_CUDA_AWARE", "").strip()
    if forced:
        if forced not in ("0", "1"):
            raise ValueError("NETTRAIN_MPI_CUDA_AWARE must be 0 or 1, got %r" % forced)
        return forced == "1"
    query = getattr(MPI, "Query_cuda_support", None)
    try:
        return bool(query()) if query is not None else False
    except Exception:  # an MPI without the query (MPI < 4.1 and no MPIX extension)
        return False


class MPICommunicator(Communicator):
    """Collectives over an MPI communicator (default ``MPI.COMM_WORLD``).

    Examples
    --------
    Under ``mpiexec -n N`` every rank gets the sum of every rank's buffer (not run here: a plain
    process, such as the test runner, stays out of MPI):

    >>> import numpy as np
    >>> from nettrain.train.distributed import launched_by_mpi
    >>> from nettrain.train.distributed.mpi import MPICommunicator
    >>> if launched_by_mpi():
    ...     c = MPICommunicator()
    ...     total = c.allreduce_(np.full(3, c.rank, "float32"))  # [0 + 1 + ... + N-1] * 3
    """

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.library = MPI.Get_library_version().strip().splitlines()[0].strip()
        self.name = "mpi"
        self.device_aware = _cuda_aware(MPI)

    def local_size(self):
        """Ranks on this machine (MPI's shared-memory split of the communicator)."""
        if self.size == 1:
            return 1
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        try:
            return local.Get_size()
        finally:
            local.Free()

    def allreduce_(self, buf):
        if self.size == 1:
            return buf
        return self.on_host(buf, lambda b: self.comm.Allreduce(self.MPI.IN_PLACE, b, op=self.MPI.SUM))

    def bcast_(self, buf, root=0):
        if self.size == 1:
            return buf
        return self.on_host(buf, lambda b: self.comm.Bcast(b, root=root))

    def bcast(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def gather(self, obj, root=0):
        return self.comm.gather(obj, root=root)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, status=1):
        self.comm.Abort(int(status))
