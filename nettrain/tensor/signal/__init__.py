"""``T.signal``: signal-processing ops (pooling lives in ``pool``)."""

from . import pool  # noqa: F401
