"""Backends (linkers) that turn a FunctionGraph into a callable.

``get_linker(name)`` returns a linker object with ``make_thunk(fgraph,
input_cells)``.  'py' is the reference; 'c' and 'cuda' register themselves
when their modules exist and their tools work.
"""

from .python import PythonLinker

_LINKERS = {"py": PythonLinker, "vm": PythonLinker}


def register_linker(name, cls):
    """Make ``cls`` available as ``Mode(linker=name)``."""
    _LINKERS[name] = cls


#: ``compile_loop_step(inputs, outputs, mode) -> (function, None) or (None, why not)``: lent by
#: ``nettrain.compile`` at its import (backends sit below it: DESIGN.md §2), used by the C backend's
#: compiled scan loops to build their step functions
_LOOP_STEP = [None]


def register_loop_step_compiler(fn):
    """Set the function that compiles the step of a loop for the compiled-loop runners (see ``_LOOP_STEP``)."""
    _LOOP_STEP[0] = fn


def loop_step_compiler():
    """The function registered by :func:`register_loop_step_compiler`, or None before ``nettrain.compile`` loads."""
    return _LOOP_STEP[0]


def get_linker(name):
    """The linker registered as ``name`` ('auto' picks the fastest available).

    With ``config.device = 'cuda'`` the CUDA linker runs every function; ``name``
    then chooses how its host nodes run.
    """
    from ..configdefaults import config

    if name == "cuda" or str(config.device) != "cpu":
        return _LINKERS["cuda"](host=name if name in ("py", "c") else "auto")
    if name in ("auto", "cvm", "c|py"):
        c = _LINKERS.get("c")
        name = "c" if c is not None and c.available() else "py"
    try:
        return _LINKERS[name]()
    except KeyError:
        raise ValueError("unknown linker %r; available: %s" % (name, ", ".join(sorted(_LINKERS)))) from None


from . import c as _c  # noqa: E402,F401 - registers 'c' (it falls back to 'py' where no compiler works)
from . import cuda as _cuda  # noqa: E402,F401 - registers 'cuda' (imports no GPU library until a function is built)

__all__ = ["get_linker", "register_linker", "PythonLinker"]
