"""The bundled recipes, installed with the package: ``nettrain train digits_mlp`` finds them by name.

Each module here is a recipe file (``CONFIG`` and ``build(config)``, see
:mod:`nettrain.train.recipe`); its docstring's first line is its one-line description
(``nettrain recipes`` lists them).  ``recipes/<name>.py`` in the repository are links to these files.

Examples
--------
>>> from nettrain.recipes import available, recipe_path
>>> "digits_mlp" in available()
True
>>> recipe_path("digits_mlp").endswith("digits_mlp.py")
True
"""

import ast
import os

__all__ = ["available", "recipe_path", "describe"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def available():
    """Names of the bundled recipes, sorted."""
    return sorted(f[:-3] for f in os.listdir(_HERE) if f.endswith(".py") and not f.startswith("_"))


def recipe_path(name):
    """The file of the bundled recipe ``name``, or None."""
    path = os.path.join(_HERE, name + ".py")
    return path if name in available() else None


def describe(path):
    """The first line of a recipe file's docstring (read without importing it), or ''."""
    with open(path, encoding="utf-8") as fh:
        doc = ast.get_docstring(ast.parse(fh.read()))
    return doc.strip().splitlines()[0] if doc else ""
