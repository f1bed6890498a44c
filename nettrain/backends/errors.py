"""Run-time errors that name the op, its inputs and the user's source line."""

from ..graph.utils import describe_value, format_trace


def op_error_message(node, input_values, exc):
    """Explain a failure of ``node`` with the values it received."""
    lines = ["%s: %s" % (type(exc).__name__, exc)]
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
    return "\n".join(lines)


def reraise_with_op(node, input_values, exc):
    """Raise ``exc`` again with the node's context added to its message."""
    if getattr(exc, "__nettrain_node__", None) is not None:
        raise exc
    msg = op_error_message(node, input_values, exc)
    try:
        new = type(exc)(msg)
    except Exception:  # noqa: BLE001 - exception types with odd constructors
        new = RuntimeError(msg)
    new.__nettrain_node__ = node
    raise new.with_traceback(exc.__traceback__) from exc
