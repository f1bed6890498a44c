"""TensorBoard logging through tensorboardX, and a small reader for the event files it writes.

A resumed run creates its logger with ``purge_step=<global step of the checkpoint>``:
tensorboardX then writes a ``SessionLog.START`` event at that step, and TensorBoard (and
:func:`read_scalars`) drop the points the crashed run logged at or after it, so the curve
continues without duplicates.

tensorboardX is imported only when a logger is enabled (it takes about a second).
"""

import errno
import json
import os
import struct
import time
import warnings

import numpy as np

__all__ = ["TensorBoardLogger", "iter_events", "read_scalars"]


def _flatten(d, prefix=""):
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, "%s%s." % (prefix, k)))
        else:
            out[prefix + str(k)] = v
    return out


class TensorBoardLogger:
    """Scalars, throttled histograms, text and hyperparameters for one run directory.

    Parameters
    ----------
    logdir : str or os.PathLike
        The run directory (created if needed).
    purge_step : int, optional
        For a resumed run: the step to continue from; points logged before at or after
        it are discarded by TensorBoard.
    enabled : bool
        False makes every method a no-op and writes nothing (e.g. on non-zero MPI ranks).
    histogram_every : int
        :meth:`histograms` writes only every this many epochs (histograms are big).
    flush_secs : float
        Background flush interval; :meth:`flush` forces one (the Trainer calls it each epoch).

    Examples
    --------
    >>> import tempfile
    >>> from nettrain.train.tblog import TensorBoardLogger, read_scalars
    >>> d = tempfile.mkdtemp()
    >>> with TensorBoardLogger(d) as tb:
    ...     tb.scalars({"loss": 0.5, "acc": 0.75}, step=10, prefix="train/")
    >>> read_scalars(d)["train/acc"]
    [(10, 0.75)]
    """

    def __init__(self, logdir, purge_step=None, enabled=True, histogram_every=1, flush_secs=30, max_queue=100):
        if int(histogram_every) < 1:
            raise ValueError("histogram_every must be a positive number of epochs, got %r" % (histogram_every,))
        self.logdir, self.enabled = os.fspath(logdir), bool(enabled)
        self.histogram_every, self.purge_step = int(histogram_every), purge_step
        self._writer = None
        if self.enabled:
            from tensorboardX import SummaryWriter

            os.makedirs(self.logdir, exist_ok=True)
            # tensorboardX names files by the second and host only: a second writer in the same second
            # would truncate the first file.  The suffix keeps names unique and in creation order.
            suffix = ".%020d.%d" % (time.time_ns(), os.getpid())
            self._writer = SummaryWriter(logdir=self.logdir, purge_step=purge_step, flush_secs=flush_secs,
                                         max_queue=max_queue, filename_suffix=suffix)

    @property
    def writer(self):
        """The tensorboardX ``SummaryWriter`` (None when disabled) for anything not wrapped here."""
        return self._writer

    def _check(self):
        """Raise the error that stopped tensorboardX's writer thread (e.g. a full disk).

        The thread dies on a write error; events then pile up in its bounded queue and the next
        ``add_*`` would block forever.  Flushing the event file in this thread raises that error here.
        """
        events = getattr(getattr(self._writer, "file_writer", None), "event_writer", None)
        worker = getattr(events, "_worker", None)
        if worker is None or worker.is_alive() or getattr(events, "_closed", True):
            return
        self._abandon(events)
        events._ev_writer.flush()  # raises the OSError (ENOSPC, ...) again, now in the caller's thread
        raise OSError(errno.EIO, "the TensorBoard event writer of %s stopped" % self.logdir)

    def _abandon(self, events):
        """Drop a writer whose thread died: nothing reads its queue, so never wait for it (at exit either)."""
        self._writer = None
        events._closed = True
        events._event_queue.cancel_join_thread()

    def scalar(self, tag, value, step):
        """Log one number."""
        self._check()
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), int(step))

    def scalars(self, values, step, prefix=""):
        """Log ``{name: number}`` as tags ``prefix + name`` (e.g. ``prefix="val/"``)."""
        for name, value in values.items():
            self.scalar(prefix + name, value, step)

    def histogram(self, tag, values, step):
        """Log the distribution of an array's finite values (skipped when it has none)."""
        if self._writer is None:
            return
        self._check()
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]  # tensorboardX fails on NaN/Inf; the NaN guard reports them
        if values.size:
            self._writer.add_histogram(tag, values, int(step))

    def should_log_histograms(self, epoch):
        """Whether epoch ``epoch`` (counted from 0) is one of every ``histogram_every`` epochs."""
        return self._writer is not None and int(epoch) % self.histogram_every == 0

    def histograms(self, arrays, step, epoch, prefix=""):
        """Log ``{name: array}`` histograms if :meth:`should_log_histograms`; returns whether it did."""
        if not self.should_log_histograms(epoch):
            return False
        for name, values in arrays.items():
            self.histogram(prefix + name, values, step)
        return True

    def text(self, tag, text, step=0):
        """Log Markdown text."""
        self._check()
        if self._writer is not None:
            self._writer.add_text(tag, str(text), int(step))

    def config(self, config, step=0, tag="config"):
        """Log a config dict as an indented (Markdown code) JSON block."""
        body = json.dumps(config, indent=2, sort_keys=True, default=repr)
        self.text(tag, "\n".join("    " + line for line in body.splitlines()), step)

    def hparams(self, hparams, metrics, step=None):
        """Log hyperparameters and final metrics for TensorBoard's HParams tab, in this run.

        Nested dicts are flattened to dotted names; values other than str, bool, int and
        float are logged as their ``str``.  ``metrics`` (``{tag: number}``) are also logged
        as scalars, which the HParams tab reads.
        """
        self._check()
        if self._writer is None:
            return
        from tensorboardX.summary import hparams as hparams_summary

        flat = {k: v if isinstance(v, (str, bool, int, float)) else str(v) for k, v in _flatten(hparams).items()}
        metrics = {k: float(v) for k, v in metrics.items()}
        # tensorboardX's add_hparams writes into a new sub-run named by the time; Lightning-style,
        # the three hparams summaries go into this run instead.
        for summary in hparams_summary(flat, metrics):
            self._writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self.scalar(tag, value, 0 if step is None else step)

    def flush(self):
        """Write pending events to disk."""
        self._check()
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        """Flush and close the event file; further calls are no-ops."""
        try:
            self._check()
        except OSError as e:  # close runs in ``finally`` blocks: warn, and let the error in flight win
            warnings.warn("TensorBoard events of %s were lost: %s" % (self.logdir, e), RuntimeWarning)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------- reading


def _records(path):
    """The payloads of a TFRecord file; stops at a truncated or corrupt record (a crashed writer)."""
    from tensorboardX.record_writer import masked_crc32c

    with open(path, "rb") as fh:
        while True:
            header = fh.read(12)
            if len(header) < 12:
                return
            (length,), (length_crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
            if masked_crc32c(header[:8]) != length_crc:
                return
            data, footer = fh.read(length), fh.read(4)
            if len(data) < length or len(footer) < 4 or struct.unpack("<I", footer)[0] != masked_crc32c(data):
                return
            yield data


def _event_files(logdir):
    names = sorted(n for n in os.listdir(logdir) if ".tfevents." in n)
    return [os.path.join(logdir, n) for n in names if os.path.isfile(os.path.join(logdir, n))]


def iter_events(logdir):
    """Every ``Event`` protobuf in the event files of ``logdir`` (not its subdirectories), in file order."""
    from tensorboardX.proto.event_pb2 import Event

    for path in _event_files(os.fspath(logdir)):
        for data in _records(path):
            yield Event.FromString(data)


def _scalar_value(value):
    """The number in a ``Summary.Value``, or None if it is not a scalar."""
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and not value.tensor.tensor_shape.dim:
        t = value.tensor
        for field in (t.float_val, t.double_val, t.int_val, t.int64_val):
            if len(field) == 1:
                return float(field[0])
    return None


def read_scalars(logdir):
    """Scalars logged in ``logdir`` as ``{tag: [(step, value), ...]}``, with TensorBoard's purge rule.

    A ``SessionLog.START`` event at step ``s`` (written for ``purge_step=s``) drops every
    point read so far at step ``>= s``, as TensorBoard does for a restarted run.

    Examples
    --------
    >>> import tempfile
    >>> from nettrain.train.tblog import TensorBoardLogger, read_scalars
    >>> d = tempfile.mkdtemp()
    >>> with TensorBoardLogger(d) as tb:
    ...     for step in range(4):
    ...         tb.scalar("loss", step, step)
    >>> with TensorBoardLogger(d, purge_step=2) as tb:  # resumed from a checkpoint at step 2
    ...     tb.scalar("loss", 20.0, 2)
    >>> read_scalars(d)["loss"]
    [(0, 0.0), (1, 1.0), (2, 20.0)]
    """
    from tensorboardX.proto.event_pb2 import SessionLog

    scalars = {}
    for event in iter_events(logdir):
        if event.HasField("session_log") and event.session_log.status == SessionLog.START:
            for tag, points in scalars.items():
                scalars[tag] = [p for p in points if p[0] < event.step]
        if event.HasField("summary"):
            for value in event.summary.value:
                number = _scalar_value(value)
                if number is not None:
                    scalars.setdefault(value.tag, []).append((int(event.step), number))
    return {tag: points for tag, points in scalars.items() if points}
