"""Resolve ``import theano`` to nettrain in child Python processes, then run the environment's own sitecustomize.

``python -m nettrain.compat.theano`` puts this folder first on the
``PYTHONPATH`` of the program it runs (and sets ``NETTRAIN_THEANO_ALIAS=1``),
so the processes that program starts
(pytest-xdist workers, ``multiprocessing`` children, ``subprocess`` calls of
Python) resolve ``theano`` too.  Only the small finder is loaded here (from
its file, without importing nettrain); nettrain itself is imported when
something imports ``theano``.
"""

import importlib.util
import os
import sys


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main():
    if os.environ.get("NETTRAIN_THEANO_ALIAS") != "1":  # imported some other way (e.g. by a doctest collector)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    alias = _load("_nettrain_compat_alias", os.path.join(os.path.dirname(here), "alias.py"))
    alias.install_alias("theano", "nettrain")
    # this file took the name sitecustomize: run the one it hides, if there is one
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.origin:
        _load("_hidden_sitecustomize", spec.origin)


_main()
