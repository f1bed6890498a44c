"""Synchronous data-parallel training over MPI (``mpiexec -n N nettrain train RECIPE``).

- :mod:`.env`: ``launched_by_mpi()``: was this process started by mpiexec / mpirun / srun?  (No
  mpi4py import: a plain ``nettrain train`` never loads it.)
- :mod:`.comm`: the ``Communicator`` interface (``allreduce_``, ``bcast_``, ``gather``, ``abort``, ...),
  ``LocalCommunicator`` (one process) and ``shard_bounds``.
- :mod:`.mpi`: ``MPICommunicator`` (mpi4py; CUDA-aware when the MPI library is).
- :mod:`.buckets`: gradients packed into a few flat buffers, one all-reduce each.
- :mod:`.trainer`: ``DistributedTrainer``.

Semantics, fault handling and a cost model: ``docs/distributed.md``.
"""

from .comm import Communicator, LocalCommunicator, shard_bounds  # noqa: F401
from .env import launched_by_mpi  # noqa: F401
from .trainer import DistributedTrainer  # noqa: F401

__all__ = ["Communicator", "LocalCommunicator", "DistributedTrainer", "launched_by_mpi", "shard_bounds", "world"]

_WORLD = []


def world():
    """This process's communicator: MPI's ``COMM_WORLD`` when an MPI launcher started it, else a world of one.

    Raises
    ------
    RuntimeError
        Launched by mpiexec but mpi4py (or its MPI library) is missing.

    Examples
    --------
    >>> from nettrain.train.distributed import world
    >>> w = world()  # under pytest: no launcher, so no MPI
    >>> w.rank, w.size
    (0, 1)
    """
    if not _WORLD:
        if launched_by_mpi():
            from .mpi import MPICommunicator, mpi_available

            ok, reason = mpi_available()
            if not ok:
                raise RuntimeError("this process was started by an MPI launcher, but %s" % reason)
            _WORLD.append(MPICommunicator())
        else:
            _WORLD.append(LocalCommunicator())
    return _WORLD[0]
