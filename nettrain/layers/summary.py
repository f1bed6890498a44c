"""A model's table: layers, output shapes, parameter counts (trainable / not) and bytes (Keras ``summary``).

Output shapes are computed, not guessed: the model runs once in inference mode
on a one-sample test value (``config.compute_test_value``), so every layer's
output has a concrete shape; the batch dimension is shown as ``?``.
Inference mode draws no random numbers and changes no state.
"""

import numpy as np

from ..configdefaults import config
from ..tensor.basic import tensor


def _fmt_shape(shape):
    if shape is None:
        return "-"
    dims = ["?"] + [str(d) for d in shape[1:]]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _walk(layer, path="", depth=0):
    yield layer, path, depth
    for key, child in layer.children().items():
        yield from _walk(child, (path + "." if path else "") + key, depth + 1)


def summary_rows(model, input_shape, dtype=None):
    """``[(path, class, output shape or None, depth, trainable, non-trainable, bytes)]`` in tree order.

    ``input_shape`` is one sample's shape (without the batch dimension); None runs nothing: output
    shapes are left out and layers not built yet (sizes inferred from their input) count no parameters.
    """
    dtype = dtype or config.floatX
    layers = list(_walk(model))
    shapes = {}
    if input_shape is not None:
        _record_shapes(model, layers, shapes, input_shape, dtype)
    return _rows(layers, shapes)


def _record_shapes(model, layers, shapes, input_shape, dtype):
    """Run ``model`` once on a one-sample test value, noting each layer's output shape in ``shapes``."""
    wrapped = []
    for layer, _, _ in layers:
        inner = layer.forward

        def recorder(x, training=False, _inner=inner, _key=id(layer)):
            out, upd = _inner(x, training=training)
            tv = getattr(out.tag, "test_value", None)
            shapes[_key] = None if tv is None else tuple(np.shape(tv))
            return out, upd

        had_own = "forward" in layer.__dict__
        object.__setattr__(layer, "forward", recorder)
        wrapped.append((layer, had_own, inner))
    x = tensor(dtype, shape=(None,) + tuple(input_shape), name="x")
    x.tag.test_value = np.zeros((1,) + tuple(input_shape), dtype=dtype)
    try:
        with config.change_flags(compute_test_value="ignore"):
            model.forward(x, training=False)
    finally:
        for layer, had_own, inner in wrapped:
            if had_own:
                object.__setattr__(layer, "forward", inner)
            else:
                object.__delattr__(layer, "forward")


def _rows(layers, shapes):
    rows, seen = [], set()
    for layer, path, depth in layers:
        tr = nt = nbytes = 0
        for var in layer._params.values():
            if id(var) in seen:
                continue  # a tied weight counts once, where it first appears
            seen.add(id(var))
            v = var.get_value(borrow=True)
            if var.tag.trainable:
                tr += v.size
            else:
                nt += v.size
            nbytes += v.nbytes
        rows.append((path or "(model)", type(layer).__name__, shapes.get(id(layer)), depth, tr, nt, nbytes))
    return rows


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return "%d %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0


def summary(model, input_shape=None, dtype=None):
    """The table as text: one row per layer (indented by depth), then the totals.

    Examples
    --------
    >>> from nettrain import layers as L
    >>> model = L.Sequential([L.Dense(8, activation='relu'), L.Dense(3)], seed=0)
    >>> print(summary(model, (4,), 'float32'))  # doctest: +NORMALIZE_WHITESPACE
    Layer (type)          Output shape    Trainable   Non-trainable      Bytes
    ---------------------------------------------------------------------------
    (model) (Sequential)  (?, 3)                  0               0        0 B
      dense0 (Dense)      (?, 8)                 40               0      160 B
      dense1 (Dense)      (?, 3)                 27               0      108 B
    ---------------------------------------------------------------------------
    Total params: 67 (trainable 67, non-trainable 0), 268 B
    """
    rows = summary_rows(model, input_shape, dtype)
    names = ["%s%s (%s)" % ("  " * d, p, c) for p, c, _, d, _, _, _ in rows]
    w = max([len("Layer (type)")] + [len(n) for n in names]) + 2
    head = "%-*s%-16s%9s%16s%11s" % (w, "Layer (type)", "Output shape", "Trainable", "Non-trainable", "Bytes")
    rule = "-" * max(len(head), 75)
    lines = [head, rule]
    for name, (_, _, shape, _, tr, nt, nb) in zip(names, rows):
        lines.append("%-*s%-16s%9d%16d%11s" % (w, name, _fmt_shape(shape), tr, nt, _fmt_bytes(nb)))
    tr, nt, nb = (sum(r[i] for r in rows) for i in (4, 5, 6))
    lines += [rule, "Total params: %d (trainable %d, non-trainable %d), %s" % (tr + nt, tr, nt, _fmt_bytes(nb))]
    return "\n".join(line.rstrip() for line in lines)


__all__ = ["summary", "summary_rows"]
