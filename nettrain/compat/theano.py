"""Run code that says ``import theano`` on nettrain, unchanged.

From a shell, run a script, a module or pytest with ``theano`` (and every
``theano.X.Y``) resolved to ``nettrain`` (``nettrain.X.Y``); no package named
``theano`` is installed or needed::

    python -m nettrain.compat.theano script.py arg1 arg2
    python -m nettrain.compat.theano -m pytest path/to/tests -q
    python -m nettrain.compat.theano -c "import theano; print(theano.__name__)"

Python processes that the program starts (pytest-xdist workers,
``multiprocessing`` children) resolve ``theano`` too.  From code, call
:func:`install` before anything imports ``theano`` (that process only).

Examples
--------
>>> import nettrain.compat.theano
>>> nettrain.compat.theano.install()
>>> import theano
>>> import theano.tensor as T
>>> from theano.tensor.nnet import sigmoid
>>> import nettrain
>>> theano is nettrain and sigmoid is nettrain.tensor.nnet.sigmoid
True
>>> nettrain.compat.theano.uninstall()
"""

import os
import runpy
import sys

from .alias import install_alias, uninstall_alias

__all__ = ["install", "uninstall", "main"]

USAGE = """usage: python -m nettrain.compat.theano SCRIPT [ARGS...]
       python -m nettrain.compat.theano -m MODULE [ARGS...]
       python -m nettrain.compat.theano -c CODE [ARGS...]

Runs SCRIPT, MODULE (e.g. pytest) or CODE with `import theano` resolved to nettrain."""


def install():
    """Resolve ``import theano`` and ``import theano.X.Y`` to nettrain in this process."""
    install_alias("theano", "nettrain")


def uninstall():
    """Undo :func:`install` and forget the ``theano.*`` names imported so far."""
    uninstall_alias("theano")


def _propagate_to_children():
    """Make Python processes started by the program resolve ``theano`` too (see ``_autoload/sitecustomize.py``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    package_root = os.path.dirname(os.path.dirname(here))  # the folder holding nettrain/
    paths = [os.path.join(here, "_autoload"), package_root]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    os.environ["NETTRAIN_THEANO_ALIAS"] = "1"


def main(argv=None):
    """Run a script, ``-m module`` or ``-c code`` with the alias installed, like ``python``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-m", "-c") and len(argv) < 2:
        print("%s needs %s\n%s" % (argv[0], "a module name" if argv[0] == "-m" else "a code string", USAGE),
              file=sys.stderr)  # fmt: skip
        return 2
    if argv[0].startswith("-") and argv[0] not in ("-m", "-c"):
        print("unknown option %r\n%s" % (argv[0], USAGE), file=sys.stderr)
        return 2
    if not argv[0].startswith("-") and not os.path.exists(argv[0]):
        print("can't open file %r: no such file" % argv[0], file=sys.stderr)
        return 2
    install()
    _propagate_to_children()
    if argv[0] == "-m":
        sys.argv = argv[1:]
        # Like `python -m`: the current directory comes first on sys.path.
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv = ["-c"] + argv[2:]
        sys.path.insert(0, "")
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    else:
        sys.argv = argv
        # Like `python script.py`: the script's directory comes first on sys.path.
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
