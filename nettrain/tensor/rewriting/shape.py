"""Shape inference as rewrites: ``x.shape`` of a computed ``x`` never computes ``x``.

``Shape_i(i)(x)`` is replaced by the i-th entry of ``x``'s producer's
``infer_shape``, which is expressed with the shapes of the producer's inputs;
repeated, this moves every shape query to the graph's inputs, so a
shape-only graph costs a few integer operations.
"""

import numpy as np

from ...graph.basic import Constant
from ...graph.rewriting import node_rewriter
from ..elemwise import DimShuffle
from ..join import Join
from ..shape import Shape, Shape_i, shape_i
from ..subtensor import Subtensor
from .utils import fit_to

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


@node_rewriter([Subtensor], tags=_CHEAP)
def local_shape_entry_to_shape_i(fgraph, node):
    """shape(x)[i] -> shape_i(x, i); stack([a, b, ...])[i] -> the i-th scalar (constant i)"""
    (k,) = node.op.idx_list if len(node.op.idx_list) == 1 else (None,)
    v = node.inputs[0]
    if not isinstance(k, (int, np.integer)) or v.owner is None or v.type.ndim != 1:
        return None
    k = int(k)
    op = v.owner.op
    if isinstance(op, Shape):
        x = v.owner.inputs[0]
        if not -x.type.ndim <= k < x.type.ndim:
            return None  # out of range: left to raise at run time
        return [fit_to(shape_i(x, k % x.type.ndim), node.outputs[0])]
    # the stacked form local_shape_of_computed_variable makes of shape(x): Join{0} of 1-element vectors
    parts = v.owner.inputs
    if not isinstance(op, Join) or op.axis != 0 or not -len(parts) <= k < len(parts):
        return None
    if any(p.type.shape != (1,) for p in parts):
        return None
    part = parts[k % len(parts)]
    if isinstance(part, Constant):
        from ..basic import constant

        return [fit_to(constant(np.asarray(part.data).reshape(())), node.outputs[0])]
    if part.owner is not None and isinstance(part.owner.op, DimShuffle) and part.owner.op.new_order == ("x",):
        return [fit_to(part.owner.inputs[0], node.outputs[0])]
    return None
