"""How many threads BLAS and our OpenMP kernels use: the cores this process may really run on.

A BLAS that starts one thread per core of the machine, on a machine shared
with other processes (or in a container limited to fewer cores than it
sees), oversubscribes: its threads spin waiting for each other while the
scheduler runs someone else, and a training step gets many times slower.
nettrain therefore sets the thread count of every BLAS and OpenMP runtime
loaded in the process (through ``threadpoolctl``) to ``config.blas_threads``,
or, when that is 0 (the default), to :func:`available_cores`: the CPUs of the
process's affinity mask, capped by the cgroup CPU quota.

Once the C kernels (built with OpenMP) are loaded, that count goes to
OpenMP, and BLAS gets one thread: nettrain's GEMMs (``dot``, ``gemm``,
convolutions) split their work over the OpenMP threads in bands of rows or
columns, each one single-threaded BLAS call (``c/blas.py``,
``gemm_par_source``).  One thread pool instead of two that take turns: no
BLAS workers left spinning while our loops run, and no collapse beside a
busy process (``scripts/bench_threads.py``).  NumPy code run in the same
process then also gets single-threaded BLAS.

Results do not depend on the thread count: every kernel nettrain writes
computes each output element in one thread in a fixed order, and a band of a
split GEMM is computed as the whole product would be (bands hold at least
2M multiply-adds, above OpenBLAS's small-matrix kernels): see
``tests/backends/test_threads.py``.  This holds for the C backend; the
Python backend calls NumPy's BLAS with ``config.blas_threads`` threads when
no C kernel is loaded, and OpenBLAS then splits some products differently
for different thread counts (last-bit differences).

The setting is applied when a function is compiled, and again whenever the
wanted count changes.
"""

import functools
import math
import os
import warnings

from ..configdefaults import config

_applied = {"key": None, "controller": None}


def _cgroup_quota(root="/sys/fs/cgroup", proc="/proc/self/cgroup"):
    """CPUs allowed by the cgroup CPU quota (a float), or None when unlimited or unknown.

    Reads cgroup v2 ``cpu.max`` (``"150000 100000"``: 1.5 CPUs) or v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, of the process's own cgroup
    and of the root (a container's view); the smallest quota wins.
    """
    paths = []
    try:
        with open(proc) as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3 and (parts[0] == "0" or "cpu" in parts[1].split(",")):
                    paths.append((parts[0] == "0", parts[2]))
    except OSError:
        pass
    best = None
    for v2, rel in paths + [(True, "/"), (False, "/")]:
        rel = rel.lstrip("/")
        try:
            if v2:
                with open(os.path.join(root, rel, "cpu.max")) as f:
                    quota, period = f.read().split()[:2]
                if quota == "max":
                    continue
            else:
                base = os.path.join(root, "cpu,cpuacct", rel)
                if not os.path.isdir(base):
                    base = os.path.join(root, "cpu", rel)
                with open(os.path.join(base, "cpu.cfs_quota_us")) as f:
                    quota = f.read().strip()
                with open(os.path.join(base, "cpu.cfs_period_us")) as f:
                    period = f.read().strip()
                if int(quota) <= 0:
                    continue
            cpus = int(quota) / int(period)
        except (OSError, ValueError):
            continue
        best = cpus if best is None else min(best, cpus)
    return best


@functools.lru_cache(maxsize=None)
def _quota_once():
    """The cgroup quota, read once per process (it is checked at every compile)."""
    return _cgroup_quota()


def available_cores():
    """The cores this process may use: its CPU affinity, capped by the cgroup CPU quota (at least 1).

    Examples
    --------
    >>> from nettrain.backends.threads import available_cores
    >>> 1 <= available_cores() <= (os.cpu_count() or 1)
    True
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _quota_once()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def wanted_threads():
    """``config.blas_threads``, or :func:`available_cores` when it is 0.

    Examples
    --------
    >>> import nettrain
    >>> from nettrain.backends.threads import wanted_threads
    >>> with nettrain.config.change_flags(blas_threads=1):
    ...     wanted_threads()
    1
    """
    return config.blas_threads or available_cores()


def apply(openmp_loaded=False):
    """Give every loaded BLAS / OpenMP runtime its thread count (cheap when nothing changed).

    Without nettrain's OpenMP kernels, BLAS gets :func:`wanted_threads` threads.
    Once they are loaded (``openmp_loaded``), OpenMP gets that many and BLAS
    one: nettrain's own GEMM calls split their work over the OpenMP threads,
    each band one single-threaded BLAS call (``blas.gemm_par_source``), so the
    two thread pools never run at once and every product is computed in the
    same order whatever the thread count.  Returns the thread count applied.
    """
    n = wanted_threads()
    prev = _applied["key"]
    if prev is not None and prev[0] == n and (prev[1] or not openmp_loaded):
        return n
    omp = bool(openmp_loaded or (prev is not None and prev[1]))
    key = (n, omp)
    if prev is None and not omp and _libraries_default_to(n):
        _applied["key"] = key  # nothing to change: spare the import of threadpoolctl (~15 ms) at startup
        return n
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        warnings.warn("threadpoolctl is not installed: nettrain cannot set the BLAS / OpenMP thread count "
                      "(pip install threadpoolctl)", RuntimeWarning, stacklevel=2)  # fmt: skip
        _applied["key"] = key
        return n
    ctl = ThreadpoolController()  # scans the loaded libraries (a few ms): done only when something changed
    if omp:
        ctl.limit(limits=n, user_api="openmp")
        ctl.limit(limits=1, user_api="blas")
    else:
        ctl.limit(limits=n)
    _applied["key"], _applied["controller"] = key, ctl
    return n


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS", "BLIS_NUM_THREADS")


def _libraries_default_to(n):
    """True when every BLAS / OpenMP runtime already runs ``n`` threads by itself.

    They start one thread per CPU of the process's affinity when they load,
    unless an environment variable says otherwise.  Only when that is the
    whole machine can we be sure it was the same when they loaded.
    """
    if config.blas_threads or any(os.environ.get(v) for v in _THREAD_VARS):
        return False
    try:
        aff = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return False
    return aff == os.cpu_count() == n


def current_count():
    """The thread count last applied (:func:`apply`), or None before the first compile."""
    key = _applied["key"]
    return key[0] if key else None


def current():
    """``{library: threads}`` for every BLAS / OpenMP runtime loaded (for tests and ``nettrain doctor``)."""
    from threadpoolctl import threadpool_info

    info = threadpool_info()
    return {"%s (%s)" % (i["internal_api"], os.path.basename(i["filepath"])): i["num_threads"] for i in info}


__all__ = ["available_cores", "wanted_threads", "apply", "current", "current_count"]
