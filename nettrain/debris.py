"""Find and remove temporary files and directories left behind by killed processes.

nettrain writes through private temporaries that are renamed into place
(compile-cache builds ``<key>.tmp-<host>-<pid>-<random>``, checkpoints
``last.h5.tmp-<host>-<pid>``), so a process killed mid-write leaves one behind.
Each temporary names its owner; the next process that opens the cache or the run
directory removes those whose owner is gone:

* same host, and no process with that PID exists, or the process with that PID
  started after the temporary was last written (the PID was reused);
* otherwise (another host on a shared file system, or no owner in the name) only
  when untouched for ``STALE_AGE`` seconds.
"""

import os
import shutil
import socket
import time

__all__ = ["STALE_AGE", "owner_tag", "parse_owner", "owner_gone", "remove"]

#: seconds after which a temporary whose owner cannot be checked counts as abandoned
STALE_AGE = 24 * 3600.0


def owner_tag():
    """``<host>-<pid>`` naming this process in temporary names."""
    return "%s-%d" % (socket.gethostname(), os.getpid())


def parse_owner(text):
    """``(host or None, pid or None)`` from ``<host>-<pid>`` (or a bare legacy ``<pid>``).

    Examples
    --------
    >>> from nettrain.debris import parse_owner
    >>> parse_owner("node-7-1234"), parse_owner("1234"), parse_owner("x")
    (('node-7', 1234), (None, 1234), (None, None))
    """
    host, _, pid = text.rpartition("-")
    if not pid.isdigit():
        return None, None
    return host or None, int(pid)


def _boot_time():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _start_time(pid):
    """Wall-clock start time of process ``pid`` (Linux /proc), or None where unknown."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rpartition(")")[2].split()  # the command name may hold spaces and ')'
        return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def owner_gone(host, pid, mtime, now=None):
    """True when the owner (``host``, ``pid``) of a temporary last written at ``mtime`` is surely gone."""
    now = time.time() if now is None else now
    if now - mtime > STALE_AGE:
        return True
    if pid is None or (host is not None and host != socket.gethostname()):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists (another user's process)
        pass
    started = _start_time(pid)
    # the clock-tick rounding of the start time is 10 ms; allow 1 s
    return started is not None and started > mtime + 1.0


def remove_if_orphaned(path, host, pid):
    """Remove the temporary ``path`` of writer ``(host, pid)`` when that writer is gone; True when removed."""
    try:
        mtime = os.lstat(path).st_mtime
    except OSError:
        return False
    return owner_gone(host, pid, mtime) and remove(path)


def remove(path):
    """Remove a file or directory tree; False when it is already gone or cannot be removed."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    except OSError:
        return False
