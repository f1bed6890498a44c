"""Content-addressed compile cache that never hangs and never serves a broken library.

Layout (``config.compiledir``)::

    <key[:2]>/<key>/lib.so      the shared library (a CUDA entry holds mod.cubin or mod.ptx)
    <key[:2]>/<key>/mod.c       its source, kept for debugging (mod.cu for CUDA)
    <key[:2]>/<key>/meta.json   key, artifact name, its sha256 and size, toolchain, timings
    <key[:2]>/<key>.lock        per-key lock file (``fcntl.flock``)

Rules that make it safe:

* The key hashes the source and everything that changes the binary (compiler,
  flags, CPU features when ``-march=native`` is used, Python/NumPy ABI, nettrain
  version), never anything that varies between runs.
* A build happens in a private ``<key>.tmp-*`` directory and is published by one
  ``os.rename``, so readers see a whole entry or none.
* One lock per key, never one over the cache.  ``flock`` locks vanish when their
  process dies, so a killed compiler never blocks anyone; waiting is bounded by
  ``LOCK_TIMEOUT``, after which we build without the lock (still correct: the
  publish is atomic).
* An entry is trusted only when ``meta.json`` matches the sha256 and size of
  ``lib.so``; anything else is a miss and is rebuilt.
* An unwritable cache directory falls back, with one warning, to a private
  temporary directory (entries already in the read-only directory still hit).
* A build that cannot be written (disk full, quota, read-only: ``WRITE_ERRNOS``,
  also when the compiler itself reports it) raises :class:`CacheWriteError`; the
  C linker then runs that function with the Python linker (one warning per process).
* Build directories and trash of killed processes (the owner host and PID are in
  their names) are removed when a process first builds in the cache (``remove_stale``).
"""

import atexit
import contextlib
import contextvars
import errno
import functools
import hashlib
import json
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import time
import warnings

import numpy

try:
    import fcntl
except ImportError:  # Windows: no flock; atomic publish alone keeps the cache correct
    fcntl = None

from ... import debris
from ...configdefaults import config

__all__ = [
    "CompileCacheWarning", "CacheWriteError", "WRITE_ERRNOS", "FORMAT", "cache_key", "get_or_build", "cache_stats",
    "reset_cache_stats", "list_entries", "clear_cache", "cache_root", "entry_dir", "lock_path", "check_entry",
    "toolchain_info", "is_writable", "remove_stale", "CBuilder",
]  # fmt: skip

FORMAT = 1  # bump when the layout or meta.json changes: old entries then simply miss
LOCK_TIMEOUT = 120.0  # seconds to wait for another process's build before building ourselves

_stats = dict(hits=0, misses=0, builds=0, rebuilt_corrupt=0, lock_waits=0, lock_timeouts=0, unlocked_builds=0,
              fallbacks=0, write_failures=0, stale_removed=0)
_valid = {}  # lib path -> stat signature already verified in this process (skips re-hashing)
_fallback = {}  # configured compiledir -> private temporary directory used instead
_swept = set()  # cache roots already cleared of stale builds by this process


#: errors that mean "the cache cannot be written here", never "the code is wrong"
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


class CompileCacheWarning(UserWarning):
    """The compile cache could not be used as configured (nettrain still works)."""


class CacheWriteError(OSError):
    """A build could not be written to the compile cache (disk full, quota, read-only file system)."""


def cache_stats():
    """Counters of this process: ``hits + builds`` is the number of successful lookups.

    ``misses`` counts lookups that found no valid entry at first sight (a miss may still
    end as a hit when another process finished the build while we waited for its lock).

    Examples
    --------
    >>> from nettrain.backends.c.cache import cache_stats
    >>> sorted(cache_stats())[:3]
    ['builds', 'fallbacks', 'hits']
    """
    return dict(_stats)


def reset_cache_stats():
    """Set every counter of ``cache_stats()`` back to zero."""
    for k in _stats:
        _stats[k] = 0


# ---------------------------------------------------------------- keys


@functools.lru_cache(maxsize=None)
def _cpu_signature():
    """CPU feature flags (read once): ``-march=native`` code is only valid on CPUs that have them."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features", "isa"):  # x86, ARM, RISC-V
                    return " ".join(sorted(set(value.split())))
    except OSError:
        pass
    return platform.processor() or platform.machine()


class CBuilder:
    """How a C entry is built: gcc through ``compiler.run_compiler`` into ``lib.so``.

    Other builders (the CUDA backend's nvcc builder) give their own ``toolchain()``
    (part of the key), ``artifact`` and source ``suffix``, and ``compile(src, out)``.
    """

    artifact = "lib.so"
    suffix = ".c"

    @staticmethod
    def toolchain():
        return toolchain_info()

    @staticmethod
    def compile(src_path, out_path):
        from .compiler import run_compiler

        run_compiler(src_path, out_path)


def toolchain_info(flags=None):
    """Everything besides the source that goes into a key: compiler, flags, CPU, ABI (cheap or cached).

    ``flags`` defaults to the kernels' ``compile_flags()`` (which probes OpenMP); a builder with its
    own flags passes them, and its key then needs no probe.
    """
    from ... import __version__
    from .compiler import compile_flags, compiler_info

    flags = compile_flags() if flags is None else flags
    cpu = _cpu_signature() if any("native" in f for f in flags) else ""
    return {
        "format": FORMAT,
        "compiler": list(compiler_info() or ("none", "")),
        "flags": flags,
        "platform": [sys.platform, platform.machine()],
        "cpu": hashlib.sha256(cpu.encode()).hexdigest()[:16],
        "python": [sys.implementation.cache_tag, sysconfig.get_config_var("SOABI") or ""],
        "numpy": numpy.__version__,
        "nettrain": __version__,
    }


def cache_key(source, builder=CBuilder):
    """Hex sha256 of ``source`` and the toolchain: identical in every run, process and hash seed.

    Examples
    --------
    >>> from nettrain.backends.c.cache import cache_key
    >>> len(cache_key("int f(int x){return x+1;}"))
    64
    """
    h = hashlib.sha256(json.dumps(builder.toolchain(), sort_keys=True).encode())
    h.update(b"\0")
    h.update(source.encode())
    return h.hexdigest()


# ---------------------------------------------------------------- locations


def _is_key(name):
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def entry_dir(key, root=None):
    """Directory of the entry ``key`` under ``root`` (default: the configured compiledir)."""
    return os.path.join(root or config.compiledir, key[:2], key)


def lock_path(key, root=None):
    """The per-key lock file; kept beside (not inside) the entry so a publish never moves it."""
    return entry_dir(key, root) + ".lock"


def is_writable(path):
    """Create ``path`` if needed and prove we can write there (os.access lies on NFS and for root)."""
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
        return True
    except OSError:
        return False


def cache_root():
    """``(write_root, read_only_roots)``: where builds go, and extra places that may hold entries."""
    want = config.compiledir
    if want not in _fallback:
        if is_writable(want):
            _fallback[want] = None
        else:
            tmp = tempfile.mkdtemp(prefix="nettrain-compiledir-")
            atexit.register(shutil.rmtree, tmp, True)
            _fallback[want] = tmp
            _stats["fallbacks"] += 1
            warnings.warn("nettrain compile cache %r is not writable; compiling into the private temporary "
                          "directory %r for this process (set NETTRAIN_FLAGS=compiledir=... to a writable "
                          "directory to keep compiled code between runs)" % (want, tmp),
                          CompileCacheWarning, stacklevel=3)  # fmt: skip
    tmp = _fallback[want]
    if tmp is None:
        return want, []
    return tmp, [want] if os.path.isdir(want) else []


def remove_stale(root):
    """Remove unfinished builds (``<key>.tmp-<host>-<pid>-*``) and trash of processes that are gone.

    Returns the paths removed; see :mod:`nettrain.debris` for when an owner counts as gone.

    Examples
    --------
    >>> import os, socket, tempfile
    >>> from nettrain.backends.c.cache import remove_stale
    >>> root, name = tempfile.mkdtemp(), "ab" + "0" * 62 + ".tmp-%s-999999999-x1" % socket.gethostname()
    >>> os.makedirs(os.path.join(root, "ab", name))  # a build of process 999999999, which does not exist
    >>> [os.path.basename(p) == name for p in remove_stale(root)]
    [True]
    """
    removed = []
    try:
        shards = [os.path.join(root, s) for s in os.listdir(root) if len(s) == 2]
    except OSError:
        return removed
    for shard in shards:
        try:
            names = os.listdir(shard)
        except OSError:
            continue
        for name in names:
            if ".tmp-" not in name and not name.startswith(".trash-"):  # the common case, checked first
                continue
            if name.startswith(".trash-"):  # .trash-<name>-<pid>-<ns>
                host, pid = debris.parse_owner(name.rsplit("-", 1)[0])
                host = None  # trash names hold no host; a trash entry is garbage for every host anyway
            elif _is_key(name[:64]) and name[64:].startswith(".tmp-"):  # <key>.tmp-<host>-<pid>-<random>
                host, pid = debris.parse_owner(name[69:].rsplit("-", 1)[0])
            else:
                continue
            path = os.path.join(shard, name)
            if debris.remove_if_orphaned(path, host, pid):
                removed.append(path)
    return removed


# ---------------------------------------------------------------- validation


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_entry(d):
    """None when the entry directory ``d`` is complete and intact, else the reason it is not."""
    try:
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        if not isinstance(meta, dict) or meta.get("key") != os.path.basename(d):
            return "meta.json does not name this entry"
        art = meta.get("artifact", "lib.so")
        if not isinstance(art, str) or os.path.basename(art) != art or art in ("", ".", ".."):
            return "meta.json names a bad artifact"
        lib = os.path.join(d, art)
        if os.path.getsize(lib) != meta.get("size"):
            return "%s has the wrong size (truncated?)" % art
        if _sha256_file(lib) != meta.get("sha256"):
            return "%s does not match its sha256" % art
    except FileNotFoundError as e:
        return "missing %s" % os.path.basename(e.filename or "file")
    except (OSError, ValueError) as e:  # ValueError covers bad JSON and bad UTF-8
        return "unreadable: %s" % e
    return None


def _lookup(root, key, artifact="lib.so"):
    """Path of a valid ``artifact`` for ``key`` under ``root``, or None."""
    d = entry_dir(key, root)
    lib = os.path.join(d, artifact)
    try:
        st = os.stat(lib)
    except OSError:
        return None
    sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if _valid.get(lib) == sig:
        return lib
    if check_entry(d) is None:
        _valid[lib] = sig
        return lib
    return None


def _discard(path):
    """Remove an entry atomically for readers: rename it out of the way, then delete it."""
    trash = os.path.join(os.path.dirname(path), ".trash-%s-%d-%d" % (os.path.basename(path), os.getpid(),
                                                                     time.monotonic_ns()))  # fmt: skip
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    except OSError:
        trash = path  # rename refused (e.g. odd file system): delete in place
    if os.path.isdir(trash) and not os.path.islink(trash):
        shutil.rmtree(trash, ignore_errors=True)
    else:
        try:
            os.unlink(trash)
        except OSError:
            pass


# ---------------------------------------------------------------- locking


def _try_lock(path, wait):
    """Open and ``flock`` the lock file; return the fd, or None when ``wait`` seconds passed.

    Polls (rather than blocking in ``flock``) so the wait is bounded.  Raises OSError when
    the file system cannot lock at all (the caller then builds unlocked).
    """
    deadline = time.monotonic() + wait
    delay = 0.001
    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # `cache clear` removed the shard directory just now
            continue
        try:
            while not _flock_nb(fd):
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                _stats["lock_waits"] += delay == 0.001  # count each wait once
                time.sleep(delay)
                delay = min(2 * delay, 0.05)
            # `cache clear` may have unlinked the file we locked: then lock the current one
            st, cur = os.fstat(fd), os.stat(path)
            if (st.st_dev, st.st_ino) == (cur.st_dev, cur.st_ino):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _flock_nb(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd):
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock


# ---------------------------------------------------------------- build


# ---------------------------------------------------------------- use records (``nettrain cache list``)

#: the name of the nettrain function being linked (set by ``Function`` around ``make_thunk``)
_label = contextvars.ContextVar("nettrain_cache_label", default=None)
_noted = set()
USES = "uses"  # one function name per line, in the entry directory (not part of the verified artifact)


@contextlib.contextmanager
def labelled(name):
    """Record ``name`` as a user of the entries looked up inside the ``with`` block."""
    token = _label.set(name)
    try:
        yield
    finally:
        _label.reset(token)


def _note_use(lib):
    """Touch the entry (its mtime is its last use) and add the current function name to its ``uses``.

    Best effort: a read-only or shared cache simply keeps its old record.
    """
    d, name = os.path.dirname(lib), _label.get()
    if (d, name) in _noted:
        return
    _noted.add((d, name))
    try:
        os.utime(d)
        if name:
            path = os.path.join(d, USES)
            try:
                with open(path) as f:
                    known = f.read().split("\n")
            except FileNotFoundError:
                known = []
            if name not in known:
                with open(path, "a") as f:  # one short O_APPEND write: concurrent writers do not interleave
                    f.write(name.replace("\n", " ") + "\n")
    except OSError:
        pass


def get_or_build(source, builder=CBuilder):
    """Path of the artifact (shared library) built from ``source``, compiling it at most once per key.

    Examples
    --------
    >>> from nettrain.backends.c.cache import get_or_build
    >>> get_or_build('__attribute__((visibility("default"))) int f(int x){return x+1;}').endswith("lib.so")
    True
    """
    key = cache_key(source, builder)
    art = builder.artifact
    root, read_only = cache_root()
    for r in [root] + read_only:
        lib = _lookup(r, key, art)
        if lib is not None:
            _stats["hits"] += 1
            _note_use(lib)
            return lib
    _stats["misses"] += 1
    if root not in _swept:  # the first build of this process in this cache: tidy up after killed ones
        _swept.add(root)
        _stats["stale_removed"] += len(remove_stale(root))
    fd = None
    if fcntl is not None:
        try:
            fd = _try_lock(lock_path(key, root), LOCK_TIMEOUT)
        except OSError as e:  # e.g. ENOLCK on some network file systems: correct without it, as publish is atomic
            if not _stats["unlocked_builds"]:
                warnings.warn("cannot lock the compile cache (%s); building without locks" % e, CompileCacheWarning)
            _stats["unlocked_builds"] += 1
        else:
            if fd is None:
                _stats["lock_timeouts"] += 1
                warnings.warn("waited %.0f s for another process compiling %s; building it here too"
                              % (LOCK_TIMEOUT, key[:12]), CompileCacheWarning)  # fmt: skip
    try:
        lib = _lookup(root, key, art)  # another process may have built it while we waited
        if lib is not None:
            _stats["hits"] += 1
            return lib
        d = entry_dir(key, root)
        if os.path.lexists(d):
            _stats["rebuilt_corrupt"] += 1
            if fd is not None:  # without the lock, someone may be publishing it right now
                _discard(d)
        return _build(root, key, source, builder)
    finally:
        _unlock(fd)


def _build(root, key, source, builder):
    d = entry_dir(key, root)
    try:
        os.makedirs(os.path.dirname(d), exist_ok=True)
        return _build_into(root, key, source, builder, d)
    except OSError as e:
        if e.errno not in WRITE_ERRNOS or isinstance(e, CacheWriteError):
            raise
        _stats["write_failures"] += 1
        raise CacheWriteError(e.errno, "cannot write to the compile cache %s: %s" % (root, e.strerror or e)) from e


def _build_into(root, key, source, builder, d):
    tmp = tempfile.mkdtemp(prefix="%s.tmp-%s-" % (key, debris.owner_tag()), dir=os.path.dirname(d))
    try:
        src, lib = os.path.join(tmp, "mod" + builder.suffix), os.path.join(tmp, builder.artifact)
        with open(src, "w") as f:
            f.write(source)
        t0 = time.perf_counter()
        builder.compile(src, lib)
        meta = dict(key=key, artifact=builder.artifact, sha256=_sha256_file(lib), size=os.path.getsize(lib),
                    created=time.time(), build_seconds=round(time.perf_counter() - t0, 4),
                    toolchain=builder.toolchain())  # fmt: skip
        with open(os.path.join(tmp, "meta.json"), "w") as f:  # written last: its presence marks a whole entry
            json.dump(meta, f, indent=1)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0o700; a shared cache must be readable by its group
        _stats["builds"] += 1
        try:
            os.rename(tmp, d)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            if check_entry(d) is not None:  # a broken entry appeared while we built unlocked: replace it
                _discard(d)
                try:
                    os.rename(tmp, d)
                except OSError:
                    if check_entry(d) is not None:  # neither ours nor a valid one from another builder
                        raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    lib = os.path.join(d, builder.artifact)
    _lookup(root, key, builder.artifact)  # remember it as verified, so the next lookup in this process skips hashing
    _note_use(lib)
    return lib


# ---------------------------------------------------------------- list / clear


# listing and clearing live in cache_admin.py; re-exported here for callers of the cache module
from .cache_admin import clear_cache, list_entries  # noqa: E402,F401
