"""The C linker: compiled kernels where the registry has them, ``perform`` elsewhere.

``make_thunk`` follows the Python linker's contract (same storage plan, same
steps, same error reporting).  All kernels of a function go into ONE C source
compiled by ONE compiler call; the source depends only on the graph's ops,
dtypes and ranks (constants are kernel arguments), so functions that differ
only in constant values share the compiled library through the cache.
"""

import contextlib
import functools
import importlib.util
import os
import warnings

from ..python import _NODE_WRAPPER, PythonLinker, storage_plan
from . import blas as _blas  # noqa: F401 - registers Dot/Gemm/Gemv/Ger kernels (when a BLAS is found)
from . import bn as _bn  # noqa: F401 - registers batch-normalization kernels
from . import conv as _conv  # noqa: F401 - registers conv2d forward / gradient kernels
from . import elemwise as _elemwise  # noqa: F401 - registers Elemwise kernels
from . import fastcall
from . import nnet as _nnet  # noqa: F401 - registers softmax / crossentropy kernels
from . import pool as _pool  # noqa: F401 - registers pooling kernels
from . import reduction as _reduction  # noqa: F401 - registers CAReduce kernels
from . import shape_ops as _shape_ops  # noqa: F401 - registers subtensor / shape kernels
from .. import threads
from .cache import CacheWriteError, CompileCacheWarning
from .compiler import PART, CompileError, available, build_library, openmp_works, probe_in_background
from .inplace import inplace_plan
from .registry import NAME, c_kernel
from .table import PRELUDE

# OpenMP workers that spin between kernels steal the CPU from the Python
# thread running the next node (and from other processes); let them sleep.
# Read once, when the first kernel library loads libgomp; users may override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No nested parallel regions: a parallel loop's threads never start threads of their own (or a
# threaded BLAS inside one), so the thread count (config.blas_threads) is the whole process's.
os.environ.setdefault("OMP_MAX_ACTIVE_LEVELS", "1")

_warned = []
_cache_warned = []


@functools.lru_cache(maxsize=None)
def _has_cffi():
    return importlib.util.find_spec("cffi") is not None


def usable():
    """True when C kernels can be built and loaded here (a C compiler and cffi)."""
    return available() and _has_cffi()


def _warn_once(msg):
    if not _warned:
        _warned.append(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)


#: the argument array of a kernel's trampoline (``<name>_tramp``), see :func:`trampoline`
ARG_UNION = "typedef union { int64_t i; double d; void *p; } nt_arg;"

#: set (through :func:`with_trampolines`) while compiling a function whose kernels a compiled
#: loop calls; other functions leave them out (they add about 7% to gcc's time)
_TRAMPOLINES = [False]


@contextlib.contextmanager
def with_trampolines():
    """Functions linked inside this block get a trampoline per kernel (for scan_loop.py)."""
    old = _TRAMPOLINES[0]
    _TRAMPOLINES[0] = True
    try:
        yield
    finally:
        _TRAMPOLINES[0] = old


def param_kinds(cdef):
    """Kind of each parameter of a one-function cdef: 'p' pointer, 'd' double, 'f' float, 'i' integer.

    None when ``cdef`` is not one plain ``void`` function declaration.
    """
    head, _, rest = cdef.strip().partition("(")
    if cdef.count(";") != 1 or not head.startswith("void ") or not rest.endswith(");"):
        return None
    params = [p.strip() for p in rest[:-2].split(",")]
    if params in (["void"], [""]):
        return []
    kinds = []
    for p in params:
        if "*" in p:
            kinds.append("p")
        elif "double" in p:
            kinds.append("d")
        elif "float" in p:
            kinds.append("f")
        elif any(w in p for w in ("int", "long", "size_t", "char", "short")):
            kinds.append("i")
        else:
            return None
    return kinds


def trampoline(name, cdef):
    """``(source, cdef)`` of ``<name>_tramp(const nt_arg *a)``, calling ``name`` with ``a[0], a[1], ...``.

    Compiled loops (scan_loop.py) call any kernel through this one signature,
    its arguments prepared once and patched per step.  None when the kernel's
    cdef is not one plain function declaration.
    """
    kinds = param_kinds(cdef)
    if kinds is None:
        return None
    field = {"p": "a[%d].p", "d": "a[%d].d", "f": "(float)a[%d].d", "i": "a[%d].i"}
    args = ", ".join(field[k] % j for j, k in enumerate(kinds))
    src = "NT_EXPORT void %s_tramp(const nt_arg *a) { %s(%s); }" % (name, name, args)
    return src, "void %s_tramp(const void *);" % name


def function_source(kernels, trampolines=False):
    """``(source, cdef, names)`` for a list of kernels; equal kernels share one function.

    With ``trampolines``, each kernel also gets its :func:`trampoline`.
    """
    names, bodies, cdefs, seen = [], [], [], {}
    for k in kernels:
        name = seen.get(k.source)
        if name is None:
            name = "nt_k%d" % len(seen)
            seen[k.source] = name
            cdef = k.cdef.replace(NAME, name)
            body = k.source.replace(NAME, name)
            cdefs.append(cdef)
            tramp = trampoline(name, cdef) if trampolines else None
            if tramp is not None:
                body += "\n" + tramp[0]
                cdefs.append(tramp[1])
            bodies.append(body)
        names.append(name)
    # each kernel (with its trampoline) is a part the compiler may build beside the others (compiler.py)
    head = PRELUDE + ("\n" + ARG_UNION if trampolines else "")
    return head + "".join(PART + b for b in bodies), "\n".join(cdefs), names


class CLinker:
    """Runs nodes with compiled C kernels; nodes without one run ``perform``."""

    name = "c"

    def __init__(self):
        #: (source, cdef) of the last function linked, for tests and debugging
        self.last_source = None
        self._last_kernels = {}

    @staticmethod
    def available():
        """True when a C compiler and cffi work here (else 'c' falls back to 'py')."""
        return usable()

    @staticmethod
    def prepare():
        """Start the compiler runs every build needs (toolchain probes, the C call path) in the background.

        ``function()`` calls this before rewriting the graph: with an empty
        compile cache they then overlap the rewriting instead of adding to it.
        """
        if available():  # before cffi's import (usable()): the compiler runs start sooner
            fastcall.prefetch()
            probe_in_background()  # the kernels' flags: their build waits for the answer

    def make_thunk(self, fgraph, input_cells, allow_gc=True):
        """Return ``(run, cells)``; ``run()`` computes every output cell."""
        if not usable():
            _warn_once("no working C compiler (config.cxx) or no cffi; the 'c' linker falls back to the Python linker")
            return PythonLinker().make_thunk(fgraph, input_cells, allow_gc)
        # shared-variable updates that can be computed in the variable's own buffer (inplace.py); not while a
        # wrapper inspects each node (DebugMode checks that inputs stay unchanged)
        targets = getattr(fgraph, "update_targets", None) if _NODE_WRAPPER[0] is None else None
        order, inplace = inplace_plan(fgraph, targets)
        steps, cells = storage_plan(fgraph, input_cells, allow_gc, order)
        fastcall.prefetch()  # the call path's first build (empty cache) runs beside the kernels' build
        try:
            runners, keep = self.runners(steps, inplace)
        except CompileError as e:
            # a bug in nettrain's code generation: keep the program running
            warnings.warn("C kernels failed to compile; using the Python linker.\n%s" % e, RuntimeWarning)
            return PythonLinker().make_thunk(fgraph, input_cells, allow_gc)
        except CacheWriteError as e:
            # the policy for a full (or read-only) cache: every function needing new C code runs with the Python
            # linker, same results; one warning per process; builds are retried for later functions
            if not _cache_warned:
                _cache_warned.append(e)
                warnings.warn("%s; functions that need new C code run with the Python linker (same results, "
                              "slower) until the compile cache can be written again (NETTRAIN_FLAGS=compiledir=... "
                              "chooses another place)" % e, CompileCacheWarning, stacklevel=4)  # fmt: skip
            return PythonLinker().make_thunk(fgraph, input_cells, allow_gc)
        run = fastcall.make_runner(steps, runners)
        run.library = keep  # the library stays loaded while the function lives
        if keep is not None:  # its OpenMP runtime is loaded now: give it config.blas_threads too
            threads.apply(openmp_loaded=openmp_works())
        # for compiled loops (scan_loop.py) and tests: the steps, their runners, their C kernels
        run.steps, run.runners, run.c_kernels = steps, runners, self._last_kernels
        return run, cells

    def runners(self, steps, inplace=()):
        """``(runners, library)``: each step's C kernel (one build for all) or its ``perform``.

        Nodes in ``inplace`` get their kernel's in-place runner (``bind_inplace``).
        Raises CompileError when the generated source does not compile.
        """
        kernels = [(i, c_kernel(s.node.op, s.node)) for i, s in enumerate(steps)]
        kernels = [(i, k) for i, k in kernels if k is not None]
        runners = [s.perform for s in steps]
        for i, k in kernels:  # no source: a lean Python runner, nothing to compile
            if not k.source:
                runners[i] = k.bind(None, None)
        kernels = [(i, k) for i, k in kernels if k.source]
        self._last_kernels = {}
        if not kernels:
            return runners, None
        source, cdef, names = function_source([k for _, k in kernels], _TRAMPOLINES[0])
        self.last_source = (source, cdef)
        ffi, lib = build_library(source, cdef)
        for (i, k), name in zip(kernels, names):
            bind = k.bind_inplace if steps[i].node in inplace and k.bind_inplace is not None else k.bind
            runners[i] = bind(getattr(lib, name), ffi)
        # step -> (kernel, its function's name, ffi, lib): what a compiled loop needs to call it from C
        self._last_kernels = {i: (k, name, ffi, lib) for (i, k), name in zip(kernels, names)}
        return runners, (ffi, lib)


__all__ = ["CLinker", "function_source", "param_kinds", "trampoline", "usable", "with_trampolines"]
