"""Saving and loading a layer's parameters as plain HDF5 (``/params/<dotted name>``).

The file :meth:`Layer.save_weights` writes is a nettrain checkpoint holding parameters only
(so ``nettrain inspect`` reads it and its checksum is verified); :meth:`Layer.load_weights`
reads the ``/params`` group of such a file, of any training checkpoint (``last.h5``,
``best.h5``), or of a plain HDF5 file someone else wrote with one dataset per dotted name.
"""

import os

import numpy as np

__all__ = ["save_weights", "load_weights", "assign_weights"]


def save_weights(layer, path):
    """Write every parameter of ``layer`` (non-trainable state too) to the HDF5 file ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from nettrain import layers as L
    >>> model = L.Sequential([L.Dense(3, in_units=2), L.Dense(1, in_units=3)], seed=0)
    >>> p = model.save_weights(os.path.join(tempfile.mkdtemp(), "w.h5"))
    >>> import h5py
    >>> sorted(h5py.File(p)["params"])
    ['dense0.W', 'dense0.b', 'dense1.W', 'dense1.b']
    """
    from ..train.checkpoint import save_checkpoint

    params = {n: v.get_value(borrow=True) for n, v in layer.named_params().items()}
    if not params:
        raise ValueError("%s has no parameters yet: a lazily built layer gets them on its first call "
                         "(call it on a symbolic input first, or give in_units/in_channels)" % layer._describe())
    return save_checkpoint(path, params=params, keep_previous=False)


def _read_params(path):
    """``{dotted name: array}`` from the ``/params`` group of ``path``."""
    import h5py

    from ..train.checkpoint import CheckpointError, load_checkpoint
    from ..train.checkpoint_format import _unescape

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError("weights file not found: %s" % path)
    if not h5py.is_hdf5(path):
        raise CheckpointError("%s is not an HDF5 file" % path)
    with h5py.File(path, "r") as f:
        nettrain_file = "format_version" in f
        if not nettrain_file:
            if "params" not in f or not isinstance(f["params"], h5py.Group):
                raise CheckpointError("%s has no /params group (expected /params/<dotted name> datasets)" % path)
            return {_unescape(k): ds[...] for k, ds in f["params"].items()}
    return load_checkpoint(path).params  # verifies the checksum


def load_weights(layer, path, strict=True):
    """Set ``layer``'s parameters from the ``/params`` group of the HDF5 file ``path``.

    Parameters
    ----------
    layer : Layer
    path : str or os.PathLike
        A file from :meth:`Layer.save_weights`, a training checkpoint, or any HDF5 file with
        ``/params/<dotted name>`` datasets.
    strict : bool
        True (default): every parameter must be in the file with its shape and dtype and the file
        may hold nothing else; otherwise nothing is loaded and the error lists every mismatch.
        False: load the names that match and report the rest.

    Returns
    -------
    dict
        ``loaded``, ``missing`` (model names not in the file), ``unexpected`` (file names not in
        the model) and ``mismatched`` (``(name, model, file)`` descriptions) lists.

    Raises
    ------
    nettrain.train.IncompatibleCheckpointError
        ``strict`` and a mismatch; its message names every missing, unexpected and mismatched array.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from nettrain import layers as L
    >>> a = L.Dense(2, in_units=3, seed=0); b = L.Dense(2, in_units=3, seed=1)
    >>> p = a.save_weights(os.path.join(tempfile.mkdtemp(), "w.h5"))
    >>> b.load_weights(p)["loaded"]
    ['W', 'b']
    >>> bool(np.array_equal(a.W.get_value(), b.W.get_value()))
    True
    >>> L.Dense(4, in_units=3).load_weights(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nettrain.train.checkpoint_format.IncompatibleCheckpointError: checkpoint parameters do not match the model (2 ...
      mismatched: W: model (3, 4) float64, checkpoint (3, 2) float64
      mismatched: b: model (4,) float64, checkpoint (2,) float64
    """
    return assign_weights(layer, _read_params(path), strict=strict, source=os.fspath(path))


def assign_weights(layer, stored, strict=True, source="the weights"):
    """Set ``layer``'s parameters from ``{dotted name: array}``; the checks and result of :func:`load_weights`."""
    from ..train.checkpoint import check_compatible
    from ..train.checkpoint_format import IncompatibleCheckpointError

    params = layer.named_params()
    expected = {n: (v.type.shape, v.type.dtype) for n, v in params.items()}
    report = dict(loaded=[], missing=[], unexpected=[], mismatched=[])
    try:
        check_compatible(expected, stored)
    except IncompatibleCheckpointError as exc:
        if strict:
            if not params:
                raise IncompatibleCheckpointError(
                    "%s: %s\n  (the model has no parameters yet: a lazily built layer gets them on its first call; "
                    "call it on a symbolic input before load_weights)" % (source, exc), exc.missing, exc.unexpected,
                    exc.mismatched) from None
            raise
        report.update(missing=exc.missing, unexpected=exc.unexpected, mismatched=exc.mismatched)
    skip = set(report["missing"]) | {m[0] for m in report["mismatched"]}
    for name, var in params.items():
        if name not in skip:
            var.set_value(np.array(stored[name], dtype=var.type.dtype))
            report["loaded"].append(name)
    return report
