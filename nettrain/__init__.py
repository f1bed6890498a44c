"""nettrain: an optimizing compiler for NumPy-style tensor expressions,
with a neural-network training framework on top.

Classic Theano programs run after ``import nettrain as theano``::

    >>> import nettrain as theano
    >>> from nettrain import tensor
    >>> a, b = tensor.dscalar(), tensor.dscalar()
    >>> f = theano.function([a, b], a + b)
    >>> float(f(1.5, 2.5))
    4.0
"""

from ._version import version as _version  # noqa: E402

__version__ = _version()


def _cli_starting():
    """True while the ``nettrain`` command (console script or ``python -m nettrain``) imports this package.

    Then the names below are loaded on first use instead: ``nettrain --help``, ``--version`` and
    argument errors answer without importing NumPy, SciPy and the compiler (the CLI loads them
    before running a command).
    """
    import os
    import sys

    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if argv0 in ("nettrain", "nettrain.exe", "nettrain-script.py"):
        return True
    orig = list(getattr(sys, "orig_argv", ()))
    return argv0 == "-m" and "-m" in orig and orig[orig.index("-m") + 1:orig.index("-m") + 2] == ["nettrain"]


def _load_all():
    """Import every top-level name (what ``import nettrain`` does outside the CLI)."""
    from . import _api

    globals().update({name: getattr(_api, name) for name in _api.__all__})
    return _api


_loading = False

if _cli_starting():
    def __getattr__(name):
        global _loading
        # while _api imports, the import system probes attributes (`from . import graph`): not ours to load
        if _loading or name.startswith("__"):
            raise AttributeError("module 'nettrain' has no attribute %r" % name)
        _loading = True
        try:
            api = _load_all()
        finally:
            _loading = False
        if name in api.__all__:
            return getattr(api, name)
        raise AttributeError("module 'nettrain' has no attribute %r" % name)
else:
    from ._api import *  # noqa: E402,F401,F403
