"""Compile C source into a shared library and load it with cffi.

``build_library(source, cdef)`` is the only entry point the C linker uses:
it returns ``(ffi, lib)`` for a source string, compiling it at most once per
content key (source, compiler, flags, platform) into ``config.compiledir``.
The cache module (``cache.py``) owns keys, locking and atomic publication.
"""

import errno
import functools
import os
import shutil
import subprocess
import sys

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
    return _openmp_works(config.cxx, config.openmp)


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
        r = subprocess.run([cc, "-shared", "-fPIC", "-fopenmp", src, "-o", os.path.join(d, "t.so")],
                           capture_output=True)  # fmt: skip
        return r.returncode == 0


def compile_flags():
    """Flags used for every build (part of the cache key)."""
    flags = ["-O3", "-shared", "-fPIC", "-std=c99", "-fno-math-errno", "-march=native", "-fvisibility=hidden"]
    if openmp_works():
        flags.append("-fopenmp")
    return flags


def link_flags():
    return ["-lm"]


def run_compiler(src_path, out_path, flags=None):
    """Compile ``src_path`` into the shared library ``out_path``; raise CompileError with the log."""
    info = compiler_info()
    if info is None:
        raise CompileError("no working C compiler (config.cxx=%r)" % config.cxx)
    cmd = [info[0]] + (flags or compile_flags()) + [src_path, "-o", out_path] + link_flags()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CompileError("C compilation timed out after %d s: %s" % (COMPILE_TIMEOUT, " ".join(cmd))) from None
    if r.returncode != 0:
        disk_error(r.stderr)
        raise CompileError("C compilation failed:\n%s\n%s" % (" ".join(cmd), r.stderr[-4000:]))


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


def in_background(fn, name):
    """Run ``fn()`` in a daemon thread, in the caller's ``contextvars`` context; return ``wait``.

    ``wait()`` joins the thread and returns ``fn``'s result, or raises its
    exception in the caller's thread.  Used to overlap a compiler run (a
    subprocess, no GIL held) with work in the caller.
    """
    import contextvars  # the thread sees the caller's context (the function name the cache records)
    import threading

    done = []

    def run():
        try:
            done.append((True, fn()))
        except BaseException as e:  # noqa: BLE001 - raised again by wait(), in the caller's thread
            done.append((False, e))

    t = threading.Thread(target=contextvars.copy_context().run, args=(run,), name=name, daemon=True)
    t.start()

    def wait():
        t.join()
        ok, value = done[0]
        if not ok:
            raise value
        return value

    return wait


def build_library(source, cdef):
    """``(ffi, lib)`` for ``source`` declaring ``cdef``, through the on-disk cache."""
    from .cache import get_or_build

    # the compiler (a subprocess) runs in a thread while this one parses the declarations (pycparser, ~0.2 s
    # when they are not in the cache yet): a cold build costs the longer of the two, not their sum
    wait = in_background(lambda: get_or_build(source), "nettrain-c-build")
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
