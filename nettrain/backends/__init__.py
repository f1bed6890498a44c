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
