"""A meta-path finder that makes one top-level package name an alias of another.

``AliasFinder("theano", "nettrain")`` resolves ``import theano`` to the
module object ``nettrain`` and ``import theano.tensor.nnet`` to
``nettrain.tensor.nnet``: the alias names the *same* module objects (no copy,
no wrapper), so classes, isinstance checks and module-level state are shared.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["AliasFinder", "install_alias", "uninstall_alias"]


def _register_loaded(alias, target):
    """Enter every imported ``target.X`` in ``sys.modules`` as ``alias.X`` too.

    An ``import alias.X`` then finds the module there and leaves its parent
    alone: importing a submodule otherwise sets it as an attribute of its
    package, which would replace a function of the same name
    (``theano.tensor.sort`` the module over ``T.sort`` the function).
    """
    prefix = target + "."
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix) and module is not None:
            sys.modules.setdefault(alias + name[len(target):], module)


class _AliasLoader(importlib.abc.Loader):
    """Hands back the already-imported target module instead of building a new one."""

    def __init__(self, target, alias_root, target_root):
        self.target = target
        self.roots = (alias_root, target_root)

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.target_spec = module.__spec__
        return module

    def exec_module(self, module):
        # The target module ran its own code when it was imported; the import
        # machinery has just stamped the alias's spec on it: put its own back,
        # so that it keeps its real name for pickling, reload and repr.
        module.__spec__ = self.target_spec
        _register_loaded(*self.roots)


class AliasFinder(importlib.abc.MetaPathFinder):
    """Resolve ``alias`` and ``alias.X.Y`` to ``target`` and ``target.X.Y``.

    Parameters
    ----------
    alias : str
        The top-level name that user code imports (e.g. ``"theano"``).
    target : str
        The package it resolves to (e.g. ``"nettrain"``).

    Examples
    --------
    >>> import sys
    >>> finder = AliasFinder("fake_np_alias", "json")
    >>> sys.meta_path.insert(0, finder)
    >>> import fake_np_alias.decoder
    >>> import json.decoder
    >>> fake_np_alias.decoder is json.decoder
    True
    >>> uninstall_alias("fake_np_alias")
    """

    def __init__(self, alias, target):
        self.alias = alias
        self.target = target

    def target_name(self, fullname):
        """The target module's name for ``fullname``, or None if it is not under the alias."""
        if fullname == self.alias:
            return self.target
        if fullname.startswith(self.alias + "."):
            return self.target + fullname[len(self.alias):]
        return None

    def find_spec(self, fullname, path=None, target=None):
        name = self.target_name(fullname)
        if name is None:
            return None
        if name not in sys.modules:
            try:
                real = importlib.util.find_spec(name)
            except ModuleNotFoundError:
                real = None
            if real is None:
                # Let the import fail with the name the user wrote.
                return None
        else:
            real = getattr(sys.modules[name], "__spec__", None)
        is_package = real is not None and real.submodule_search_locations is not None
        loader = _AliasLoader(name, self.alias, self.target)
        spec = importlib.util.spec_from_loader(fullname, loader, is_package=is_package)
        return spec


def _is_alias_finder(finder, alias):
    # by name, not isinstance: child processes load this file a second time,
    # on its own, from nettrain/compat/_autoload/sitecustomize.py
    return type(finder).__name__ == "AliasFinder" and getattr(finder, "alias", None) == alias


def install_alias(alias, target):
    """Put an :class:`AliasFinder` first on ``sys.meta_path`` (once per alias).

    Raises
    ------
    ImportError
        If a different module is already imported under ``alias`` (a real
        package of that name was imported earlier in this process).
    """
    existing = sys.modules.get(alias)
    if existing is not None and existing is not importlib.import_module(target):
        raise ImportError(
            "cannot alias %r to %r: a module named %r is already imported from %s; "
            "install the alias before anything imports %r"
            % (alias, target, alias, getattr(existing, "__file__", "?"), alias)
        )
    for finder in sys.meta_path:
        if _is_alias_finder(finder, alias):
            if finder.target != target:
                raise ImportError("%r is already aliased to %r" % (alias, finder.target))
            return finder
    finder = AliasFinder(alias, target)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall_alias(alias):
    """Remove the alias's finder and forget the modules imported under it."""
    sys.meta_path[:] = [f for f in sys.meta_path if not _is_alias_finder(f, alias)]
    for name in [n for n in sys.modules if n == alias or n.startswith(alias + ".")]:
        del sys.modules[name]
