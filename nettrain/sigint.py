"""Ctrl-C from a command's first moment: an interrupt before training starts is never lost.

``nettrain train`` calls :func:`catch` before it does any work.  Until the Trainer installs
its own handler (finish the batch, save, exit 130), a SIGINT both raises
``KeyboardInterrupt`` (so a long compile stops at once) and is remembered: an interrupt
that some library swallows (Python ignores exceptions raised inside ``__del__`` methods
and callbacks, where a signal handler may happen to run) still stops the run, because
``Trainer.fit`` sees :func:`pending` and stops before its first batch.
"""

import signal
import threading

__all__ = ["catch", "pending", "restore"]

_state = {"pending": False}


def _handler(signum, frame):
    _state["pending"] = True
    raise KeyboardInterrupt


def catch():
    """Install the remembering SIGINT handler (main thread only); returns what :func:`restore` needs.

    Examples
    --------
    >>> from nettrain import sigint
    >>> previous = sigint.catch(); sigint.pending()
    False
    >>> sigint.restore(previous)
    """
    _state["pending"] = False
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, _handler)


def pending():
    """True when a SIGINT arrived since :func:`catch` (even if its ``KeyboardInterrupt`` was swallowed)."""
    return _state["pending"]


def restore(previous):
    """Put back the handler :func:`catch` replaced and forget any pending interrupt."""
    _state["pending"] = False
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
