"""``nettrain.__version__``: one source of truth, the ``version`` in ``pyproject.toml``.

An installed nettrain (``pip install``, also ``-e``) reads it from the package metadata; a source
checkout used without installing (``PYTHONPATH=.``) reads ``pyproject.toml`` next to the package.
"""

import os
import re

__all__ = ["version"]


def _from_pyproject():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    # the [project] table's version line; tomllib is not in Python 3.10
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = project and re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.M)
    return found.group(1) if found else None


def version():
    """The version of this nettrain: the source checkout's ``pyproject.toml``, else the installed metadata.

    The checkout comes first so that a different nettrain installed elsewhere in ``sys.path`` cannot
    lend its version to this one.

    Examples
    --------
    >>> from nettrain._version import version
    >>> import re
    >>> bool(re.match(r"\\d+\\.\\d+", version()))
    True
    """
    found = _from_pyproject()
    if found:
        return found
    try:
        from importlib.metadata import PackageNotFoundError, version as _metadata_version
    except ImportError:  # pragma: no cover - Python < 3.8
        return "0+unknown"
    try:
        return _metadata_version("nettrain")
    except PackageNotFoundError:
        return "0+unknown"
