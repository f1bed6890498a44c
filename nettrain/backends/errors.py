"""Run-time errors that name the op, its inputs and the user's source line."""

from ..configdefaults import config
from ..graph.utils import describe_value, format_trace


def _memory_error_text(exc):
    """NumPy's allocation failure with the exact byte count (its own message rounds it: "71.1 PiB")."""
    shape, dtype, nbytes = (getattr(exc, k, None) for k in ("shape", "dtype", "_total_size"))
    if shape is None or dtype is None or nbytes is None:
        return str(exc) or "out of memory"
    size, unit = float(nbytes), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if size < 1024 or unit == "EiB":
            break
        size /= 1024
    return "cannot allocate %d bytes (%.1f %s) for an array of shape %s and dtype %s" % (
        nbytes, size, unit, tuple(shape), dtype)


def op_error_message(node, input_values, exc):
    """Explain a failure of ``node`` with the values it received."""
    text = _memory_error_text(exc) if isinstance(exc, MemoryError) else exc
    lines = ["%s: %s" % ("MemoryError" if isinstance(exc, MemoryError) else type(exc).__name__, text)]
    lines.append("Apply node that caused the error: %s" % node.op)
    ins = []
    for var, val in zip(node.inputs, input_values):
        ins.append("  %s: %s" % (var, describe_value(val) if val is not None else "<not computed>"))
    lines.append("Inputs (name: dtype shape):")
    lines.extend(ins)
    trace = getattr(node.tag, "trace", None)
    if trace is None:
        for out in node.outputs:
            trace = getattr(out.tag, "trace", None)
            if trace:
                break
    lines.append("The node was built at (your code): %s" % format_trace(trace))
    fused = [t for t in getattr(node.tag, "fused_traces", ()) or () if t and t != trace]
    if fused:
        lines.append("It was fused with expressions built at:")
        seen = set()
        for t in fused:
            if t not in seen:
                seen.add(t)
                lines.append("  " + format_trace(t).replace("\n", "\n  "))
    if config.exception_verbosity == "high":
        lines.extend(_high_detail(node, input_values))
    else:
        lines.append("(config.exception_verbosity='high' adds input statistics and the graph that computes them)")
    return "\n".join(lines)


def _high_detail(node, input_values):
    """Input value statistics and the node's graph (``config.exception_verbosity='high'``)."""
    import numpy as np

    from ..graph.printing import debugprint

    lines = ["Input values:"]
    for var, val in zip(node.inputs, input_values):
        if getattr(val, "is_device_array", False):
            val = val.get()
        if isinstance(val, (np.ndarray, np.generic)) and val.size and val.dtype.kind in "biuf":
            a = np.asarray(val)
            lines.append("  %s: min %.6g, max %.6g, mean %.6g, NaN %d, Inf %d" % (
                var, a.min(), a.max(), a.mean(), int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0,
                int(np.isinf(a).sum()) if a.dtype.kind == "f" else 0))
        else:
            lines.append("  %s: %s" % (var, describe_value(val) if val is not None else "<not computed>"))
    lines.append("The graph computing this node (debugprint, with the user line of each node):")
    lines.append(debugprint(node.outputs, file="str", print_trace=True))
    return lines


def reraise_with_op(node, input_values, exc):
    """Raise ``exc`` again with the node's context added to its message."""
    if getattr(exc, "__nettrain_node__", None) is not None:
        raise exc
    msg = op_error_message(node, input_values, exc)
    try:
        # NumPy's MemoryError subclass takes (shape, dtype): raise the plain MemoryError users catch
        new = MemoryError(msg) if isinstance(exc, MemoryError) else type(exc)(msg)
    except Exception:  # noqa: BLE001 - exception types with odd constructors
        new = RuntimeError(msg)
    new.__nettrain_node__ = node
    raise new.with_traceback(exc.__traceback__) from exc
