"""Theano path ``nettrain.scan_module``: loops (``scan``) and their helpers."""

from .scan import scan, until  # noqa: F401
from .views import foldl, foldr, map, reduce  # noqa: F401
from . import rewriting, scan_utils  # noqa: F401,E402  (registers the scan rewrites)
