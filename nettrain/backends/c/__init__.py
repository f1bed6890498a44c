"""The C backend: kernels generated from the ops' scalar programs, loaded with cffi.

Importing this package registers ``CLinker`` as ``Mode(linker='c')``.  It
never fails for want of a compiler: without gcc (or cffi) the linker warns
once and runs the Python linker instead.
"""

from .. import register_linker
from . import scan_loop as _scan_loop  # noqa: F401 - registers the compiled Scan / ScanGrad loops
from .linker import CLinker, usable

register_linker("c", CLinker)

__all__ = ["CLinker", "usable"]
