"""Small matching helpers shared by the tensor rewrites."""

import numpy as np

from ...graph.basic import Constant
from ..elemwise import Elemwise


def scalar_op_is(var_or_node, *classes):
    """True when ``var_or_node`` is (computed by) an Elemwise of one of ``classes``."""
    node = getattr(var_or_node, "owner", var_or_node)
    return node is not None and isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, classes)


def producer(var, *classes):
    """The Apply computing ``var`` if it is an Elemwise of ``classes`` (else None)."""
    node = var.owner
    if node is not None and isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, classes):
        return node
    return None


def constant_value(var):
    """The single value of a constant whose elements are all equal, else None."""
    if isinstance(var, Constant):
        d = np.asarray(var.data)
        if d.size == 0:
            return None
        first = d.flat[0]
        if d.size == 1 or bool(np.all(d == first)):
            return first
        return None
    # a DimShuffle of a constant (how scalars meet matrices) counts too
    node = var.owner
    if node is not None and type(node.op).__name__ == "DimShuffle" and isinstance(node.inputs[0], Constant):
        return constant_value(node.inputs[0])
    return None


def is_constant(var, value):
    v = constant_value(var)
    return v is not None and v == value


def n_clients(fgraph, var):
    return len(fgraph.clients.get(var, ()))


def same_broadcast(new, old):
    """``new`` has at least the run-time shape of ``old`` (no dimension smaller)."""
    if new.type.ndim != old.type.ndim:
        return False
    return all(not (n == 1 and o != 1) for n, o in zip(new.type.shape, old.type.shape))


def fit_to(new, old, shape_sources=()):
    """Make ``new`` replace ``old``: same dtype, broadcast to ``old``'s shape.

    ``shape_sources`` are variables that had ``old``'s shape (the inputs that
    were dropped); one of them is used to broadcast ``new`` when needed.
    Returns None when that is impossible.
    """
    from ..basic import cast
    from ..math import second

    if new.type.ndim < old.type.ndim:
        from ..elemwise import DimShuffle

        k = old.type.ndim - new.type.ndim
        new = DimShuffle(new.type.broadcastable, ("x",) * k + tuple(range(new.type.ndim)))(new)
    if not same_broadcast(new, old):
        for src in shape_sources:
            if src.type.ndim == old.type.ndim:
                new = second(src, new)
                if same_broadcast(new, old):
                    break
        else:
            return None
        if not same_broadcast(new, old):
            return None
    if new.type.dtype != old.type.dtype:
        new = cast(new, old.type.dtype)
    if new.type != old.type:
        conv = old.type.convert_variable(new)
        if conv is None:
            return None
        new = conv
    return new
