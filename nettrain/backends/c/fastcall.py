"""The call path in C: a CPython extension (``fastcall.c``) built once per toolchain.

A compiled function called on small arrays spends its time in the Python
around the kernels, not in them (on this project's 2-core machine: 5.2 µs
for ``a + b`` on 10-element vectors, of which the kernel itself ~0.05 µs):
``Function.__call__``'s input checks, the linker's loop over steps, and the
Elemwise driver's shape checks, allocation and cffi call.  ``fastcall.c``
does the common case of each in C, and hands everything else (other types,
broadcasting, strides, large outputs, errors) to the Python code it replaces,
whose behaviour and error messages stay the reference:

- :func:`make_runner`: the linker's step loop (``backends.python.make_runner``);
- :func:`elemwise_runner`: an Elemwise kernel's contiguous case;
- :func:`call_spec`: ``Function.__call__`` with every input given by position.

The extension is compiled through the compile cache (key: its source, the
compiler, Python's and NumPy's include directories and versions).  Where it
cannot be built (no compiler, no ``Python.h``), :func:`load` returns None and
everything runs the Python way.  With an empty cache, :func:`prefetch` builds it
in a background thread while the first function's kernels compile (two compiler
runs at once on two cores: the MLP train function's cold compile went from
0.88 to ~0.5 s).
"""

import importlib.machinery
import importlib.util
import os
import sys
import sysconfig
import warnings

import numpy as np

from ..errors import reraise_with_op
from ..python import _NODE_WRAPPER
from ..python import make_runner as py_make_runner

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fastcall.c")


class ExtBuilder:
    """Compile-cache builder of a CPython extension module named ``_ntfast``."""

    artifact = "_ntfast" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
    suffix = ".c"

    @staticmethod
    def toolchain():
        from .cache import toolchain_info

        info = dict(toolchain_info(ExtBuilder.flags()))
        info["extension"] = [sysconfig.get_paths()["include"], np.get_include(), sys.version]
        return info

    @staticmethod
    def flags():
        # -O1: the calls into CPython dominate its run time (a+b call 0.69 us at -O2, 0.70 at -O1), and it
        # builds in 0.21 instead of 0.29 s of CPU, beside the function's first kernels (cold compile)
        return ["-O1", "-shared", "-fPIC", "-std=c99", "-fno-strict-aliasing", "-I" + sysconfig.get_paths()["include"],
                "-I" + np.get_include()]  # fmt: skip

    @staticmethod
    def compile(src_path, out_path):
        from .compiler import run_compiler

        run_compiler(src_path, out_path, ExtBuilder.flags())


def load():
    """The ``_ntfast`` module, or None where it cannot be built here (then Python does its work)."""
    from ...configdefaults import config

    return _load(config.cxx)


_LOADED = {}
_PREFETCH = {}


def _buildable(cxx):
    from .compiler import available

    return bool(cxx) and available() and os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))


def prefetch():
    """Start putting the extension into the compile cache in a background thread; return at once.

    The linker calls this before compiling a function's kernels: the compiler
    runs (subprocesses) overlap, and :func:`load` waits for the thread and
    takes its outcome (the built library's path, or the error it reports as
    if it had built it itself).
    """
    from ...configdefaults import config

    cxx = config.cxx
    if cxx in _LOADED or cxx in _PREFETCH or not _buildable(cxx):
        return

    from .cache import get_or_build
    from .compiler import in_background

    def build():
        with open(_SOURCE) as f:
            return get_or_build(f.read(), ExtBuilder)

    _PREFETCH[cxx] = in_background(build, "nettrain-fastcall-build", until_started=True)


def _load(cxx):
    """The extension for compiler ``cxx`` (built once per process; a full cache is retried next time)."""
    if cxx in _LOADED:
        return _LOADED[cxx]
    prefetched = _PREFETCH.pop(cxx, None)  # wait() of the build prefetch() started
    from .cache import CacheWriteError
    from .compiler import CompileError

    mod = None
    if _buildable(cxx):
        from .cache import get_or_build

        try:
            if prefetched is not None:
                path = prefetched()
            else:
                with open(_SOURCE) as f:
                    path = get_or_build(f.read(), ExtBuilder)
            loader = importlib.machinery.ExtensionFileLoader("_ntfast", path)
            spec = importlib.util.spec_from_file_location("_ntfast", path, loader=loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
        except CacheWriteError:
            # the compile cache's full-disk policy (one CompileCacheWarning from the linker) covers this; calls
            # take the Python path until the cache can be written again
            return None
        except (CompileError, ImportError, OSError) as e:
            warnings.warn("nettrain's C call path could not be built; calls take the Python path.\n%s" % e,
                          RuntimeWarning)  # fmt: skip
            mod = None
    _LOADED[cxx] = mod
    return mod


def _is_cell(c):
    return type(c) is list and len(c) == 1


def make_runner(steps, runners):
    """``backends.python.make_runner`` with the loop in C (when the extension and the cells allow)."""
    mod = load()
    if _NODE_WRAPPER[0] is not None:  # linked for profiling or checking: the Python loop wraps each node's runner
        return py_make_runner(steps, runners)
    if mod is None or not all(_is_cell(c) for s in steps for c in (*s.inputs, *s.outputs, *s.clear)):
        return py_make_runner(steps, runners)
    plan = tuple((r, s.node, tuple(s.inputs), s.outputs, tuple(s.clear)) for r, s in zip(runners, steps))
    return mod.Runner(plan, reraise_with_op)


def elemwise_runner(fn, ffi, in_dtypes, out_dtypes, full, scal, ndim, max_bytes, fallback):
    """The C driver of an Elemwise kernel's contiguous case, falling back to the Python ``fallback``."""
    mod = load()
    if mod is None or len(in_dtypes) + len(out_dtypes) > 12:
        return fallback
    if not isinstance(fn, ffi.CData):  # a wrapped kernel (the scan-loop recorder): its Python driver must run
        return fallback
    addr = int(ffi.cast("uintptr_t", fn))
    max_elems = max_bytes // max(np.dtype(d).itemsize for d in out_dtypes)
    return mod.Elemwise(addr, tuple(np.dtype(d).num for d in in_dtypes), tuple(np.dtype(d).num for d in out_dtypes),
                        tuple(full), tuple(scal), ndim, max_elems, fallback)  # fmt: skip


def call_spec(inputs, run, out_cells, single, updates):
    """A ``_ntfast.Call`` (its ``call(args)`` runs the common case of ``Function.__call__``), or None.

    ``inputs``: per input ``(cell, dtype or None, ndim, no static lengths, NumPy scalar type or None,
    empty the cell after the call)``; ``updates``: ``(container, cell)`` pairs.
    """
    mod = load()
    cells = [i[0] for i in inputs] + list(out_cells) + [c for pair in updates for c in pair]
    if mod is None or len(inputs) > 64 or len(updates) > 256 or not all(_is_cell(c) for c in cells):
        return None
    return mod.Call(tuple(inputs), run, tuple(out_cells), bool(single), tuple(tuple(u) for u in updates))


__all__ = ["load", "make_runner", "elemwise_runner", "call_spec", "ExtBuilder"]
