"""Small helpers shared by the graph layer: user source lines and error text."""

import os
import sys

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Scratchpad:
    """A plain attribute bag (Theano's ``tag``)."""

    def __repr__(self):
        return "Scratchpad(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.__dict__.items()))


def user_trace():
    """Return ``(filename, lineno, function)`` of the first frame outside nettrain.

    Why: every node remembers the line of user code that built it, so run-time
    errors can point at that line instead of at the library's internals.
    """
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR) and not fn.startswith("<frozen"):
            return (fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def format_trace(trace):
    """Render a trace tuple as ``file:line (in func)``."""
    if not trace:
        return "<unknown location>"
    fn, line, func = trace
    text = "%s:%d (in %s)" % (fn, line, func)
    try:
        import linecache

        src = linecache.getline(fn, line).strip()
        if src:
            text += "\n    " + src
    except Exception:  # noqa: BLE001 - a missing source line is not an error
        pass
    return text


def describe_value(v):
    """Short description of a run-time value: shape and dtype for arrays."""
    shape = getattr(v, "shape", None)
    dtype = getattr(v, "dtype", None)
    if shape is not None and dtype is not None:
        return "%s %s" % (dtype, tuple(shape))
    return type(v).__name__
