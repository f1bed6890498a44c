"""Shape inference as rewrites: ``x.shape`` of a computed ``x`` never computes ``x``.

``Shape_i(i)(x)`` is replaced by the i-th entry of ``x``'s producer's
``infer_shape``, which is expressed with the shapes of the producer's inputs;
repeated, this moves every shape query to the graph's inputs, so a
shape-only graph costs a few integer operations.
"""

import numpy as np

from ...graph.rewriting import node_rewriter
from ..shape import Shape, Shape_i, shape_i

_CHEAP = ("fast_run", "fast_compile")


def _inferred_shape(x):
    """The symbolic shape tuple of ``x`` from its producer's ``infer_shape``, or None."""
    node = x.owner
    if node is None:
        return None
    infer = getattr(node.op, "infer_shape", None)
    if infer is None:
        return None
    try:
        shapes = infer(node, [tuple(shape_i(i, k) for k in range(i.type.ndim)) if hasattr(i.type, "ndim") else None
                              for i in node.inputs])  # fmt: skip
    except (NotImplementedError, TypeError, ValueError, AttributeError, IndexError):
        return None
    return shapes[x.index]


def _as_int64_scalar(d):
    from ..basic import as_tensor_variable, cast, constant

    if isinstance(d, (int, np.integer)):
        return constant(np.asarray(d, dtype=np.int64))
    d = as_tensor_variable(d)
    if d.type.ndim != 0:
        return None
    return cast(d, "int64")


@node_rewriter([Shape_i, Shape], tags=_CHEAP)
def local_shape_of_computed_variable(fgraph, node):
    """shape_i(f(x), i) -> the i-th entry of f.infer_shape(shape(x))"""
    x = node.inputs[0]
    if isinstance(node.op, Shape_i):
        i = node.op.i
        if x.type.shape[i] is not None:
            return [_as_int64_scalar(x.type.shape[i])]
        s = _inferred_shape(x)
        if s is None:
            return None
        d = _as_int64_scalar(s[i])
        if d is None or d is node.outputs[0]:
            return None
        return [d]
    # Shape(x): a vector of per-dimension entries
    if x.type.ndim == 0:
        from ..basic import constant

        return [constant(np.zeros(0, dtype=np.int64))]
    if all(s is not None for s in x.type.shape):
        from ..basic import constant

        return [constant(np.asarray(x.type.shape, dtype=np.int64))]
    from ..join import stack

    return [stack([shape_i(x, k) for k in range(x.type.ndim)])]
