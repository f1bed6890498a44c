"""How values are stored in a checkpoint file: reversible HDF5 link names for dotted names, and
JSON with arrays (tuples, non-string keys, NumPy scalars/arrays and random generators round-trip
exactly; arrays go to ``/arrays`` and are referenced from the JSON).  Also the checkpoint errors.
"""

import numpy as np

_TAG = "__nettrain__"


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable, corrupt or of an unknown format."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (e.g. no space left on device); the previous one is intact.

    Also an ``OSError``: ``errno`` is the operating system's error number; ``last_good`` is the
    path of the newest checkpoint still on disk (None when there is none).
    """

    def __init__(self, message, errno=None, last_good=None):
        super().__init__(message)
        self.errno, self.last_good = errno, last_good


class IncompatibleCheckpointError(CheckpointError):
    """Checkpoint arrays do not match the model; ``missing``, ``unexpected`` and ``mismatched`` list them all."""

    def __init__(self, message, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing, self.unexpected, self.mismatched = list(missing), list(unexpected), list(mismatched)


# ---------------------------------------------------------------------------- names


def _escape(name):
    """The HDF5 link name for a dotted name (reversible)."""
    if not isinstance(name, str) or not name:
        raise ValueError("checkpoint names must be non-empty strings, got %r" % (name,))
    name = name.replace("%", "%25").replace("/", "%2F")
    return "%2E" if name == "." else name


def _unescape(link):
    return link.replace("%2E", ".").replace("%2F", "/").replace("%25", "%") if "%" in link else link


# ---------------------------------------------------------------------------- JSON with arrays


def _encode(obj, where, arrays):
    """``obj`` as JSON-able data; arrays are moved to ``arrays`` (key -> ndarray) and referenced."""
    if obj is None or isinstance(obj, (bool, int, float, str)) and not isinstance(obj, np.generic):
        return obj
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("cannot store %s: object arrays are not portable" % where)
        key = _escape(where)
        while key in arrays:  # "a.b" as a key and as a nested path would collide
            key += "~"
        arrays[key] = obj
        return {_TAG: "ndarray", "path": "/arrays/" + key}
    if isinstance(obj, np.generic):
        if obj.dtype.kind in "biuf" and obj.dtype.itemsize <= 8:  # .item() is exact for these
            return {_TAG: "scalar", "dtype": obj.dtype.str, "value": obj.item()}
        return {_TAG: "scalar", "dtype": obj.dtype.str, "array": _encode(np.asarray(obj), where, arrays)}
    if isinstance(obj, tuple):
        return {_TAG: "tuple", "items": [_encode(v, "%s.%d" % (where, i), arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, "%s.%d" % (where, i), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and _TAG not in obj:
            return {k: _encode(v, "%s.%s" % (where, k), arrays) for k, v in obj.items()}
        items = [[_encode(k, where, arrays), _encode(v, "%s.%s" % (where, k), arrays)] for k, v in obj.items()]
        return {_TAG: "dict", "items": items}
    if isinstance(obj, np.random.Generator):
        return {_TAG: "Generator", "state": _encode(obj.bit_generator.state, where, arrays)}
    if isinstance(obj, np.random.BitGenerator):
        return {_TAG: "BitGenerator", "state": _encode(obj.state, where, arrays)}
    if isinstance(obj, np.random.RandomState):
        return {_TAG: "RandomState", "state": _encode(obj.get_state(legacy=False), where, arrays)}
    raise TypeError(
        "cannot store %s of type %s in a checkpoint; use JSON values (dict, list, str, int, float, bool, None), "
        "tuples, NumPy arrays/scalars or NumPy random generators" % (where, type(obj).__name__)
    )


def _bit_generator(state):
    """A bit generator of the class named in ``state``, set to it."""
    cls = getattr(np.random, str(state.get("bit_generator")), None)
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise CheckpointError("unknown bit generator %r in a random state" % (state.get("bit_generator"),))
    bg = cls(0)  # a fixed seed avoids asking the OS for entropy; the state is overwritten next
    bg.state = state
    return bg


def _decode(obj, f):
    """Inverse of :func:`_encode`; ``f`` is the open file holding ``/arrays``."""
    if isinstance(obj, list):
        return [_decode(v, f) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = obj.get(_TAG)
    if tag is None:
        return {k: _decode(v, f) for k, v in obj.items()}
    if tag == "ndarray":
        return f[obj["path"]][...]
    if tag == "scalar":
        if "array" in obj:
            return _decode(obj["array"], f)[()]
        return np.dtype(obj["dtype"]).type(obj["value"])
    if tag == "tuple":
        return tuple(_decode(v, f) for v in obj["items"])
    if tag == "dict":
        return {_decode(k, f): _decode(v, f) for k, v in obj["items"]}
    state = _decode(obj["state"], f)
    if tag == "Generator":
        return np.random.Generator(_bit_generator(state))
    if tag == "BitGenerator":
        return _bit_generator(state)
    if tag == "RandomState":
        return np.random.RandomState(_bit_generator(state))
    raise CheckpointError("unknown value tag %r (written by a newer nettrain?)" % (tag,))


