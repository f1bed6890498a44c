"""Compile C source into a shared library and load it with cffi.

``build_library(source, cdef)`` is the only entry point the C linker uses:
it returns ``(ffi, lib)`` for a source string, compiling it at most once per
content key (source, compiler, flags, platform) into ``config.compiledir``.
The cache module (``cache.py``) owns keys, locking and atomic publication.
"""

import contextvars
import errno
import functools
import os
import shutil
import subprocess
import sys
import threading

from ... import debris
from ...configdefaults import config


#: a compiler that hangs must not hold a cache lock forever
COMPILE_TIMEOUT = 300


class CompileError(RuntimeError):
    """The C compiler rejected generated code (a bug in nettrain: please report it)."""


def compiler_info():
    """``(path, version text)`` of the configured C compiler (``config.cxx``), or None when unusable."""
    return _compiler_info(config.cxx)


def _remembered(what, path, probe):
    """``probe()``, remembered in the compile cache per compiler binary (path, size, mtime).

    Each probe runs the compiler (about 0.3 s for the OpenMP one); a new
    process with a warm cache then starts no compiler at all.
    """
    import hashlib
    import json

    from .cache import cache_root

    try:
        st = os.stat(path)
        ident = json.dumps([what, os.path.realpath(path), st.st_size, st.st_mtime_ns])
        root, _ = cache_root()
    except OSError:
        return probe()
    f = os.path.join(root, "toolchain", hashlib.sha256(ident.encode()).hexdigest()[:32] + ".json")
    try:
        with open(f) as fh:
            return json.load(fh)["value"]
    except (OSError, ValueError, KeyError):
        pass
    value = probe()
    if value is None:  # a compiler that did not answer: ask again next time
        return value
    tmp = "%s.tmp-%d" % (f, os.getpid())
    try:
        os.makedirs(os.path.dirname(f), exist_ok=True)
        with open(tmp, "w") as fh:
            json.dump({"probe": ident, "value": value}, fh)
        os.replace(tmp, f)
    except OSError:  # a full or read-only cache: the probe runs again next time; leave no partial file
        debris.remove(tmp)
    return value


@functools.lru_cache(maxsize=None)
def _compiler_info(cxx):
    if not cxx:
        return None
    path = shutil.which(cxx)
    if path is None:
        return None
    info = _remembered("version", path, lambda: _version(path))
    return tuple(info) if info else None


def _version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return path, out.stdout.splitlines()[0] if out.stdout else "unknown"


def openmp_works():
    """True when the compiler builds and links ``-fopenmp`` code (and ``config.openmp`` allows it)."""
    with _PROBING:  # a background build may be probing already: wait for its answer rather than probe twice
        return _openmp_works(config.cxx, config.openmp)


_PROBING = threading.Lock()


def probe_in_background():
    """Start :func:`openmp_works`'s probe in a thread, once per compiler setting (the next build waits for it)."""
    key = (config.cxx, config.openmp)
    if key not in _PROBES_STARTED:
        _PROBES_STARTED.add(key)
        in_background(openmp_works, "nettrain-openmp-probe", until_started=True)


_PROBES_STARTED = set()


@functools.lru_cache(maxsize=None)
def _openmp_works(cxx, enabled):
    info = _compiler_info(cxx)
    if info is None or not enabled:
        return False
    return _remembered("openmp", info[0], lambda: _probe_openmp(info[0]))


def _probe_openmp(cc):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint f(void){return omp_get_max_threads();}\n")
        p = subprocess.Popen([cc, "-shared", "-fPIC", "-fopenmp", src, "-o", os.path.join(d, "t.so")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _started()
        return p.wait() == 0


def compile_flags():
    """Flags used for every build (part of the cache key)."""
    flags = ["-O3", "-shared", "-fPIC", "-std=c99", "-fno-math-errno", "-march=native", "-fvisibility=hidden"]
    if openmp_works():
        flags.append("-fopenmp")
    return flags


def link_flags():
    return ["-lm"]


#: separates a library's source into parts (linker.function_source puts one before each kernel): the text
#: before the first mark is every part's head, and parts may be compiled in separate compiler processes
PART = "\n/* nettrain: part */\n"
#: parts are grouped so that each compiler process gets at least this much source (characters): below it the
#: process's own start and the head's parsing cost more than the parallel build saves
PART_GROUP_MIN = 6000


def run_compiler(src_path, out_path, flags=None):
    """Compile ``src_path`` into the shared library ``out_path``; raise CompileError with the log.

    A source made of :data:`PART` separated parts that is large enough is
    compiled as one object file per group of parts, one compiler process per
    core, then linked: the library's build takes about its largest group's
    time instead of the whole source's (gcc optimizes one file on one core).
    """
    info = compiler_info()
    if info is None:
        raise CompileError("no working C compiler (config.cxx=%r)" % config.cxx)
    flags = flags or compile_flags()
    with open(src_path) as f:
        groups = part_groups(f.read(), _cores())
    if len(groups) < 2:
        _run([[info[0]] + flags + [src_path, "-o", out_path] + link_flags()])
        return
    base = os.path.splitext(src_path)[0]
    files = ["%s.part%d%s" % (base, j, ext) for j in range(len(groups)) for ext in (".c", ".o")]
    try:
        for j, text in enumerate(groups):
            with open(files[2 * j], "w") as f:
                f.write(text)
        obj_flags = [x for x in flags if x != "-shared"]
        _run([[info[0]] + obj_flags + ["-c", files[2 * j], "-o", files[2 * j + 1]] for j in range(len(groups))])
        _run([[info[0]] + flags + files[1::2] + ["-o", out_path] + link_flags()])
    finally:
        for path in files:  # the cache entry keeps the library only
            debris.remove(path)


def part_groups(source, n):
    """``source`` as at most ``n`` compilable texts: its head followed by a share of its parts.

    The parts are dealt out largest first to the group with the least source,
    and keep their order inside a group (the same source gives the same texts).
    """
    pieces = source.split(PART)
    head, parts = pieces[0], pieces[1:]
    n = max(1, min(n, len(parts), sum(map(len, parts)) // PART_GROUP_MIN))
    if n < 2:
        return [source]
    sizes, members = [0] * n, [[] for _ in range(n)]
    for i in sorted(range(len(parts)), key=lambda i: -len(parts[i])):
        g = sizes.index(min(sizes))
        sizes[g] += len(parts[i])
        members[g].append(i)
    return [head + "".join(PART + parts[i] for i in sorted(m)) for m in members]


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _run(cmds):
    """Run the compiler commands ``cmds`` side by side; raise CompileError (or OSError: disk full) on failure."""
    import tempfile
    import time

    procs, logs = [], []
    deadline = time.monotonic() + COMPILE_TIMEOUT
    try:
        for cmd in cmds:
            logs.append(tempfile.TemporaryFile(mode="w+"))
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=logs[-1]))
        _started()
        for cmd, p, log in zip(cmds, procs, logs):
            try:
                rc = p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                what = " ".join(cmd)
                raise CompileError("C compilation timed out after %d s: %s" % (COMPILE_TIMEOUT, what)) from None
            if rc != 0:
                log.seek(0)
                text = log.read()
                disk_error(text)
                raise CompileError("C compilation failed:\n%s\n%s" % (" ".join(cmd), text[-4000:]))
    finally:
        for p in procs:  # an error (or an interrupt) in one run: the others stop too
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


#: how compilers and linkers report a write failure (the C library's strerror texts)
_DISK_ERRORS = {os.strerror(e): e for e in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)}


def disk_error(log):
    """Raise OSError when a compiler's ``log`` says it could not write (disk full): not a code bug."""
    for text, code in _DISK_ERRORS.items():
        if text in log:
            line = next(ln for ln in log.splitlines() if text in ln)
            raise OSError(code, "the compiler could not write its output: %s" % line.strip())


def _ffi_for(cdef):
    """A cffi FFI declaring ``cdef``.

    cffi parses declarations with pycparser, whose set-up costs about 0.2 s
    in every new process: more than loading a cached kernel library.  So the
    parsed declarations are also kept in the compile cache, as cffi's
    "out-of-line ABI" module (``ffi-abi/<hash>.py``, plain Python holding
    the serialized types), which loads without any parser.
    """
    import hashlib

    import cffi

    from .cache import cache_root

    root, read_only = cache_root()
    name = "nt_ffi_" + hashlib.sha256(("%s\0%s" % (cffi.__version__, cdef)).encode()).hexdigest()[:40]
    paths = [os.path.join(r, "ffi-abi", name + ".py") for r in [root] + read_only]
    ffi = _load_ffi_module(name, paths)
    if ffi is not None:
        return ffi
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    tmp = "%s.tmp-%d" % (paths[0], os.getpid())
    try:
        from cffi.recompiler import make_py_source

        os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
        make_py_source(ffi, name, tmp)
        os.replace(tmp, paths[0])  # atomic: readers see a whole module or none
    except Exception:  # noqa: BLE001 - an older cffi or a read-only (or full) cache: the parsed FFI works as well
        debris.remove(tmp)
        debris.remove("%s.~%d" % (tmp, os.getpid()))  # cffi's own temporary, left when its write failed
        return ffi
    # the same kind of FFI in the first process as in later ones
    return _load_ffi_module(name, paths[:1]) or ffi


def _load_ffi_module(name, paths):
    for path in paths:
        try:
            with open(path) as f:
                code = f.read()
            ns = {"__name__": name}
            exec(compile(code, path, "exec"), ns)
            return ns["ffi"]
        except (OSError, SyntaxError, KeyError, ImportError, AttributeError):
            continue  # absent, or cut short by a crash
    return None


def in_background(fn, name, until_started=False):
    """Run ``fn()`` in a daemon thread, in the caller's ``contextvars`` context; return ``wait``.

    ``wait()`` joins the thread and returns ``fn``'s result, or raises its
    exception in the caller's thread.  Used to overlap a compiler run (a
    subprocess, no GIL held) with work in the caller.  With ``until_started``
    the caller first waits until ``fn`` has started its compiler processes
    (or finished): the thread's few milliseconds of Python before that (key,
    lock, files) would otherwise wait for the GIL between the caller's
    bytecodes, and start the compiler ~50 ms later.
    """
    done, started = [], threading.Event()

    def run():
        _STARTED.set(started)
        try:
            done.append((True, fn()))
        except BaseException as e:  # noqa: BLE001 - raised again by wait(), in the caller's thread
            done.append((False, e))
        finally:
            started.set()

    t = threading.Thread(target=contextvars.copy_context().run, args=(run,), name=name, daemon=True)
    t.start()
    if until_started:
        started.wait()

    def wait():
        t.join()
        ok, value = done[0]
        if not ok:
            raise value
        return value

    return wait


def _started():
    """Tell a caller waiting in :func:`in_background` that this thread's compiler processes run now."""
    event = _STARTED.get()
    if event is not None:
        event.set()


#: the event of the :func:`in_background` thread running in this context
_STARTED = contextvars.ContextVar("nettrain_compiler_started", default=None)


def build_library(source, cdef):
    """``(ffi, lib)`` for ``source`` declaring ``cdef``, through the on-disk cache."""
    from .cache import get_or_build

    # the compiler (a subprocess) runs in a thread while this one parses the declarations (pycparser, ~0.2 s
    # when they are not in the cache yet): a cold build costs the longer of the two, not their sum
    wait = in_background(lambda: get_or_build(source), "nettrain-c-build", until_started=True)
    try:
        ffi = _ffi_for(cdef)
    finally:
        path = wait()
    try:
        lib = ffi.dlopen(path)
    except OSError:
        # the entry was removed between lookup and load (``nettrain cache clear``): build it again
        lib = ffi.dlopen(get_or_build(source))
    return ffi, lib


def available():
    """True when C code can be compiled here."""
    return compiler_info() is not None and sys.platform != "win32"
