"""Crash-safe, verified HDF5 checkpoints holding the whole state of a training run.

One checkpoint is one HDF5 file, readable with plain ``h5py``.  Layout (format 1)::

    /format_version      int64 scalar dataset (1)
    /producer            text dataset, e.g. "nettrain 0.1.0"
    /params/<name>       one dataset per parameter array ("block1.dense.W")
    /optimizer/<name>    one dataset per optimizer slot ("adam.m.block1.dense.W", "adam.t")
    /rng/<name>          JSON text dataset per random state ("dropout1")
    /counters            JSON text dataset: {"epoch": .., "step": .., "batch_in_epoch": .., ...}
    /data                JSON text dataset: the data-order position (see DataLoader.state_dict)
    /schedule            JSON text dataset: learning-rate schedule state
    /hooks               JSON text dataset: callback state
    /config              JSON text dataset: the resolved recipe config
    /extra               JSON text dataset: anything else (null when unused)
    /arrays/<key>        arrays referenced from the JSON datasets above
    /checksum            hex SHA-256 of every other dataset (name, dtype, shape, bytes)

Dataset names are the dotted names themselves; only ``%`` and ``/`` (and a bare
``.``) are percent-escaped, because HDF5 uses ``/`` as its path separator.  Groups
keep insertion order.  Names and configs are datasets, never attributes, because
HDF5 attributes are limited to 64 KB.

JSON values follow Python's ``json`` (integers of any size, exact float repr,
``NaN``/``Infinity``).  Values JSON cannot hold are written as small tagged objects
``{"__nettrain__": tag, ...}``: ``ndarray`` (``"path"`` points into ``/arrays``),
``scalar`` (a NumPy scalar with its dtype), ``tuple``, ``dict`` (non-string keys),
``Generator``/``BitGenerator``/``RandomState`` (the bit generator's ``state`` dict,
so PCG64's 128-bit integers and Philox's counter arrays round-trip exactly).

The file is built in memory (``io.BytesIO``), then written with plain ``os.write`` to
``<path>.tmp-<host>-<pid>`` in the same directory and published with ``os.replace``; the
checkpoint being replaced is kept as ``<path>.prev``.  A crash of the process at any moment
leaves the previous checkpoint loadable, and a full disk is an ordinary error
(:class:`CheckpointWriteError`, naming the last good checkpoint), never a failure inside HDF5
(whose error paths on a full disk can crash the process).  Temporaries of killed writers are
removed by :func:`remove_stale_temporaries` (the Trainer calls it when it opens a run directory).
``durable=True`` also fsyncs the file and the directory, so the checkpoint survives an
operating-system crash or a power loss; the Trainer asks for that on the last checkpoint of a
run, on interruption, and for a periodic checkpoint when :data:`DURABLE_INTERVAL` seconds have
passed since the last durable one (fsync can cost more than writing the file: a durable save
every epoch made a short run 25% slower).
Files are opened with HDF5 file locking off (it hangs or fails on network drives);
the atomic rename is what protects readers.
"""

import errno
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass, field

import h5py
import numpy as np

from .. import debris
from .checkpoint_format import (  # noqa: F401  (errors re-exported: they are part of this module's API)
    CheckpointError,
    CheckpointWriteError,
    IncompatibleCheckpointError,
    _decode,
    _encode,
    _escape,
    _unescape,
)

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWriteError",
    "IncompatibleCheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "check_compatible",
    "inspect_checkpoint",
    "remove_stale_temporaries",
]

FORMAT_VERSION = 1
_TREE_PARTS = ("counters", "data", "schedule", "hooks", "config", "extra")
_STR = h5py.string_dtype()


@dataclass
class Checkpoint:
    """The parts of a loaded checkpoint, with the same names as :func:`save_checkpoint`'s arguments."""

    params: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    rng: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    data_state: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)
    hooks: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    extra: object = None
    format_version: int = FORMAT_VERSION
    path: str = None

    def __getitem__(self, key):
        return getattr(self, key)


# ---------------------------------------------------------------------------- file I/O


def _open(path, mode):
    """Open an HDF5 file with file locking off where this h5py supports it (network drives)."""
    try:
        return h5py.File(path, mode, locking=False)
    except TypeError:  # h5py < 3.5 has no locking argument
        return h5py.File(path, mode)


def _digest(f):
    """Hex SHA-256 over every dataset except ``/checksum``, in sorted name order."""
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    h = hashlib.sha256()
    for name in sorted(n for n in names if n != "checksum"):
        ds = f[name]
        value = ds[()]
        data = value if isinstance(value, bytes) else np.ascontiguousarray(value).tobytes()
        header = "%s\0%s\0%r\0%d\0" % (name, ds.dtype.str, ds.shape, len(data))
        h.update(header.encode("utf-8"))
        h.update(data)
    return h.hexdigest()


def _write_arrays(group, arrays, part):
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError("cannot store %s[%r]: object arrays are not portable" % (part, name))
        group.create_dataset(_escape(name), data=arr)


def _write_json(f, name, value, arrays):
    text = json.dumps(_encode(value, name, arrays), allow_nan=True)
    f.create_dataset(name, data=text, dtype=_STR)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory):
    """Make the rename durable; not possible (nor needed) on Windows."""
    try:
        _fsync(directory)
    except OSError:
        pass


def _keep_previous(path):
    """Atomically make ``<path>.prev`` a copy of ``path`` while ``path`` stays in place."""
    prev, tmp = path + ".prev", "%s.prev.tmp-%s" % (path, debris.owner_tag())
    if os.path.exists(tmp):
        os.remove(tmp)
    try:
        try:
            os.link(path, tmp)  # a hard link: no copy, and ``path`` never disappears
        except OSError:  # file systems without hard links
            shutil.copyfile(path, tmp)
            _fsync(tmp)
        os.replace(tmp, prev)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


#: seconds between durable (fsynced) periodic checkpoints of the Trainer
DURABLE_INTERVAL = 60.0


def save_checkpoint(path, *, params, optimizer=None, rng=None, counters=None, data_state=None, schedule=None,
                    hooks=None, config=None, extra=None, keep_previous=True, durable=True):
    """Write the whole training state to one HDF5 file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (its directory is created if needed).
    params : dict
        Dotted name -> array of parameter values.
    optimizer : dict, optional
        Dotted name -> array of optimizer slots (``"adam.m.block1.dense.W"``, ``"adam.t"``).
    rng : dict, optional
        Name -> random state: ``np.random.Generator``, ``RandomState``, a bit generator or a
        ``bit_generator.state`` dict; loaded back as the same kind of object.
    counters, data_state, schedule, hooks, config : dict, optional
        JSON-like state (NumPy arrays, scalars, tuples and big integers allowed).
    extra : object, optional
        Any other JSON-like value.
    keep_previous : bool
        Keep the checkpoint being replaced as ``<path>.prev``.
    durable : bool
        fsync the file and its directory before returning (survives a power loss); without it the
        write is still atomic against a crash of the process.

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from nettrain.train.checkpoint import save_checkpoint, load_checkpoint
    >>> p = os.path.join(tempfile.mkdtemp(), "last.h5")
    >>> _ = save_checkpoint(p, params={"dense.W": np.eye(2, dtype="float32")}, counters={"step": 7})
    >>> ck = load_checkpoint(p)
    >>> ck.counters["step"], ck.params["dense.W"].dtype
    (7, dtype('float32'))
    """
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        image = _image(params=params, optimizer=optimizer, rng=rng, counters=counters, data_state=data_state,
                       schedule=schedule, hooks=hooks, config=config, extra=extra)
        _publish(path, image, keep_previous, durable)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    return path


def _image(*, params, optimizer, rng, counters, data_state, schedule, hooks, config, extra):
    """The checkpoint file, built in memory (``io.BytesIO``: no disk I/O inside HDF5)."""
    from .. import __version__

    buffer = io.BytesIO()  # faster than HDF5's core driver, which grows its buffer 64 KiB at a time
    with _open(buffer, "w") as f:
        f.create_dataset("format_version", data=np.int64(FORMAT_VERSION))
        f.create_dataset("producer", data="nettrain " + __version__, dtype=_STR)
        _write_arrays(f.create_group("params", track_order=True), params, "params")
        _write_arrays(f.create_group("optimizer", track_order=True), optimizer or {}, "optimizer")
        arrays = {}
        rng_group = f.create_group("rng", track_order=True)
        for key, state in (rng or {}).items():
            _write_json(rng_group, _escape(key), state, arrays)
        parts = dict(counters=counters, data=data_state, schedule=schedule, hooks=hooks, config=config)
        for key, value in parts.items():
            _write_json(f, key, {} if value is None else value, arrays)
        _write_json(f, "extra", extra, arrays)
        arrays_group = f.create_group("arrays", track_order=True)
        for key, arr in arrays.items():
            arrays_group.create_dataset(key, data=arr)
        f.create_dataset("checksum", data=_digest(f), dtype=_STR)
    return buffer


def _write_file(path, buffer):
    """Create ``path`` (it must not exist) holding the bytes of ``buffer``; a full disk raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with buffer.getbuffer() as data:
            done = 0
            while done < len(data):
                done += os.write(fd, data[done : done + (1 << 26)])
    finally:
        os.close(fd)


def _publish(path, image, keep_previous, durable):
    """Write ``image`` to a temporary beside ``path``, then rename it over ``path`` (keeping ``.prev``)."""
    tmp = "%s.tmp-%s" % (path, debris.owner_tag())
    if os.path.lexists(tmp):  # our own leftover (an earlier write of this process failed)
        os.remove(tmp)
    try:
        _write_file(tmp, image)
        if durable:
            _fsync(tmp)
        if keep_previous and os.path.exists(path):
            _keep_previous(path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(os.path.dirname(path))


def _write_error(path, exc):
    """A :class:`CheckpointWriteError` naming what failed and the newest checkpoint still on disk."""
    last_good, position = None, ""
    for candidate in (path, path + ".prev"):
        try:
            counters = load_checkpoint(candidate).counters
        except CheckpointError:
            continue
        last_good = candidate
        if "epoch" in counters and "step" in counters:
            position = " (epoch %s, step %s)" % (counters["epoch"], counters["step"])
        break
    what = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system"}.get(exc.errno, exc.strerror or str(exc))  # fmt: skip
    return CheckpointWriteError(
        "%s: checkpoint %s not written, last good one is %s%s"
        % (what, path, last_good + position if last_good else "none (no checkpoint on disk yet)",
           "" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else " (%s)" % exc),
        errno=exc.errno, last_good=last_good)  # fmt: skip


def remove_stale_temporaries(directory):
    """Remove checkpoint temporaries (``*.tmp-<host>-<pid>``) that killed writers left in ``directory``.

    Returns the paths removed.  A temporary is removed when its writer is gone (see
    :mod:`nettrain.debris`); those of live processes are left alone.

    Examples
    --------
    >>> import os, tempfile
    >>> from nettrain.train.checkpoint import remove_stale_temporaries
    >>> d = tempfile.mkdtemp(); open(os.path.join(d, "last.h5.tmp-999999999"), "w").close()
    >>> [os.path.basename(p) for p in remove_stale_temporaries(d)]
    ['last.h5.tmp-999999999']
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        stem, sep, owner = name.rpartition(".tmp-")
        if not sep or not stem.endswith((".h5", ".hdf5", ".prev")):
            continue
        host, pid = debris.parse_owner(owner)
        full = os.path.join(directory, name)
        if debris.remove_if_orphaned(full, host, pid):
            removed.append(full)
    return removed


def make_durable(path):
    """fsync a checkpoint written with ``durable=False`` and its directory (so its rename is on disk too)."""
    _fsync(path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def load_checkpoint(path, verify=True):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Check the stored SHA-256 checksum (default); turn off only for forensics.

    Returns
    -------
    Checkpoint
        ``params``, ``optimizer``, ``rng``, ``counters``, ``data_state``, ``schedule``,
        ``hooks``, ``config``, ``extra``, ``format_version``, ``path``.

    Raises
    ------
    CheckpointError
        Missing file, not an HDF5 file, truncated or corrupt file, checksum mismatch,
        unknown format version.

    Examples
    --------
    >>> from nettrain.train.checkpoint import load_checkpoint
    >>> load_checkpoint("/nonexistent/last.h5")
    Traceback (most recent call last):
    ...
    nettrain.train.checkpoint_format.CheckpointError: checkpoint not found: /nonexistent/last.h5
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        hint = " (the previous checkpoint %s.prev exists)" % path if os.path.isfile(path + ".prev") else ""
        raise CheckpointError("checkpoint not found: %s%s" % (path, hint))
    if not h5py.is_hdf5(path):
        raise CheckpointError("%s is not an HDF5 file (no HDF5 signature), so not a nettrain checkpoint" % path)
    try:
        f = _open(path, "r")
    except OSError as exc:
        raise CheckpointError("cannot open %s: the file is truncated or corrupt (%s)" % (path, exc)) from exc
    try:
        with f:
            return _read(f, path, verify)
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError("%s is truncated or corrupt: %s: %s" % (path, type(exc).__name__, exc)) from exc


def _read(f, path, verify):
    if "format_version" not in f:
        raise CheckpointError("%s is an HDF5 file but not a nettrain checkpoint (no /format_version)" % path)
    version = int(f["format_version"][()])
    if version != FORMAT_VERSION:
        raise CheckpointError(
            "%s has checkpoint format version %d; this nettrain reads version %d%s"
            % (path, version, FORMAT_VERSION, " (upgrade nettrain)" if version > FORMAT_VERSION else "")
        )
    if verify:
        if "checksum" not in f:
            raise CheckpointError("%s has no /checksum: the write did not finish" % path)
        stored, actual = f["checksum"].asstr()[()], _digest(f)
        if stored != actual:
            raise CheckpointError("%s is corrupt: checksum mismatch (stored %s, computed %s)" % (path, stored, actual))

    def tree(dataset):
        return _decode(json.loads(dataset.asstr()[()]), f)

    ck = Checkpoint(format_version=version, path=path)
    ck.params = {_unescape(k): ds[...] for k, ds in f["params"].items()}
    ck.optimizer = {_unescape(k): ds[...] for k, ds in f["optimizer"].items()}
    ck.rng = {_unescape(k): tree(ds) for k, ds in f["rng"].items()}
    ck.counters, ck.data_state, ck.schedule = tree(f["counters"]), tree(f["data"]), tree(f["schedule"])
    ck.hooks, ck.config, ck.extra = tree(f["hooks"]), tree(f["config"]), tree(f["extra"])
    return ck


# ---------------------------------------------------------------------------- checks and summaries


def _shape_dtype(value):
    """``(shape, dtype)`` of an array or of a ``(shape, dtype)`` pair; dtype may be None (any)."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return tuple(value.shape), np.dtype(value.dtype)
    shape, dtype = value
    return tuple(shape), None if dtype is None else np.dtype(dtype)


def _describe(shape, dtype):
    shape = "(%s)" % ", ".join("?" if d is None else str(d) for d in shape) if len(shape) != 1 else "(%s,)" % shape
    return shape + ("" if dtype is None else " " + dtype.name)


def check_compatible(expected, ckpt_params, what="parameters"):
    """Check that checkpoint arrays match a model; report every problem at once.

    Parameters
    ----------
    expected : dict
        Name -> ``(shape, dtype)`` (or an array) the model needs; ``None`` in a shape or as
        the dtype matches anything.
    ckpt_params : dict
        Name -> array (or ``(shape, dtype)``) found in the checkpoint.
    what : str
        What is compared, for the message.

    Raises
    ------
    IncompatibleCheckpointError
        Listing every missing, unexpected and mismatched (shape or dtype) name.

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.train.checkpoint import check_compatible
    >>> check_compatible({"W": ((2, 3), "float32")}, {"W": np.zeros((2, 3), "float32")})
    >>> check_compatible({"W": ((2, 3), "float32")}, {"W": np.zeros((3, 2), "float32")})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nettrain.train.checkpoint_format.IncompatibleCheckpointError: checkpoint parameters do not match the model (1 ...
      mismatched: W: model (2, 3) float32, checkpoint (3, 2) float32
    """
    missing = [n for n in expected if n not in ckpt_params]
    unexpected = [n for n in ckpt_params if n not in expected]
    mismatched = []
    for name in expected:
        if name not in ckpt_params:
            continue
        (eshape, edtype), (cshape, cdtype) = _shape_dtype(expected[name]), _shape_dtype(ckpt_params[name])
        shape_ok = len(eshape) == len(cshape) and all(e is None or e == c for e, c in zip(eshape, cshape))
        dtype_ok = edtype is None or cdtype is None or edtype == cdtype
        if not (shape_ok and dtype_ok):
            mismatched.append((name, _describe(eshape, edtype), _describe(cshape, cdtype)))
    if not (missing or unexpected or mismatched):
        return
    counts = [(len(missing), "missing"), (len(unexpected), "unexpected"), (len(mismatched), "mismatched")]
    lines = ["checkpoint %s do not match the model (%s):" % (what, ", ".join("%d %s" % c for c in counts if c[0]))]
    if missing:
        lines.append("  missing (in the model, not in the checkpoint): " + ", ".join(missing))
    if unexpected:
        lines.append("  unexpected (in the checkpoint, not in the model): " + ", ".join(unexpected))
    lines += ["  mismatched: %s: model %s, checkpoint %s" % m for m in mismatched]
    raise IncompatibleCheckpointError("\n".join(lines), missing, unexpected, mismatched)


def _size(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (nbytes, unit)
        nbytes /= 1024.0


def _brief(value, depth=0):
    """A one-line summary of a JSON-like value (arrays shown as shape and dtype)."""
    if isinstance(value, np.ndarray):
        return "array%s" % _describe(value.shape, value.dtype)
    if isinstance(value, np.random.Generator):
        return "Generator(%s)" % type(value.bit_generator).__name__
    if isinstance(value, (np.random.BitGenerator, np.random.RandomState)):
        return type(value).__name__
    if isinstance(value, dict):
        if "bit_generator" in value:
            return "%s state" % value["bit_generator"]
        if depth >= 1:
            return "{%d keys}" % len(value)
        return ", ".join("%s=%s" % (k, _brief(v, depth + 1)) for k, v in value.items()) or "-"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return "[%d items]" % len(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _array_table(title, arrays):
    total = sum(a.nbytes for a in arrays.values())
    count = sum(a.size for a in arrays.values())
    lines = ["%s: %d arrays, %s values, %s" % (title, len(arrays), format(count, ","), _size(total))]
    width = max((len(n) for n in arrays), default=0)
    for name, a in arrays.items():
        lines.append("  %-*s  %-16s %-8s %s" % (width, name, _describe(a.shape, None), a.dtype.name, _size(a.nbytes)))
    return lines


def inspect_checkpoint(path):
    """A human-readable summary of a checkpoint (verified on the way), for ``nettrain inspect``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from nettrain.train.checkpoint import save_checkpoint, inspect_checkpoint
    >>> p = save_checkpoint(os.path.join(tempfile.mkdtemp(), "c.h5"), params={"W": np.zeros((2, 3), "float32")},
    ...                     counters={"epoch": 1, "step": 10})
    >>> print(inspect_checkpoint(p).splitlines()[1])
    counters: epoch=1, step=10
    """
    ck = load_checkpoint(path)
    lines = [
        "checkpoint %s (%s, format %d, checksum ok)" % (ck.path, _size(os.path.getsize(ck.path)), ck.format_version),
        "counters: " + _brief(ck.counters),
        "data: " + _brief(ck.data_state),
        "schedule: " + _brief(ck.schedule),
        "hooks: " + (", ".join(ck.hooks) or "-"),
        "rng: " + (", ".join("%s (%s)" % (k, _brief(v, 1)) for k, v in ck.rng.items()) or "-"),
        "config keys: " + (", ".join(ck.config) or "-"),
    ]
    lines += _array_table("params", ck.params)
    lines += _array_table("optimizer", ck.optimizer)
    if ck.extra is not None:
        lines.append("extra: " + _brief(ck.extra))
    return "\n".join(lines)
