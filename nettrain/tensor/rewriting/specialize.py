"""Specialize: replace general operations by cheaper special cases."""

import numpy as np

from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..elemwise import Elemwise
from .utils import constant_value, fit_to


@node_rewriter([Elemwise], phase="specialize")
def local_pow_specialize(fgraph, node):
    """x**2 -> sqr(x), x**0.5 -> sqrt(x), x**-1 -> 1/x, x**1 -> x, x**3 -> x*x*x, x**-2 -> 1/sqr(x)"""
    if not isinstance(node.op.scalar_op, ps.Pow):
        return None
    x, y = node.inputs
    out = node.outputs[0]
    p = constant_value(y)
    if p is None or not out.type.dtype.startswith("float"):
        return None
    from ..basic import cast
    from ..math import mul, reciprocal, sqr, sqrt

    if x.type.dtype != out.type.dtype:
        # int32 ** 2.0 is a float64 power: square in float64, not in (overflowing) int32
        x = cast(x, out.type.dtype)
    p = float(p)
    if p == 1:
        new = x
    elif p == 2:
        new = sqr(x)
    elif p == 0.5:
        new = sqrt(x)
    elif p == -1:
        new = reciprocal(x)
    elif p == 3:
        new = mul(x, x, x)
    elif p == -2:
        new = reciprocal(sqr(x))
    elif p == -0.5:
        new = reciprocal(sqrt(x))
    else:
        return None
    return [fit_to(new, out, [y])]


@node_rewriter([Elemwise], phase="specialize")
def local_div_by_constant_to_mul(fgraph, node):
    """x / c -> x * (1/c) for a float constant c (a multiply is cheaper than a divide)"""
    if not isinstance(node.op.scalar_op, ps.TrueDiv):
        return None
    x, y = node.inputs
    out = node.outputs[0]
    c = constant_value(y)
    if c is None or not out.type.dtype.startswith("float") or c == 0:
        return None
    inv = np.asarray(1.0 / float(c), dtype=out.type.dtype)
    # only when 1/c is exact, so results do not change (powers of two)
    if float(inv) * float(c) != 1.0 or not np.isfinite(inv) or np.frexp(float(c))[0] not in (0.5, -0.5):
        return None
    from ..basic import constant
    from ..math import mul

    return [fit_to(mul(x, constant(inv)), out, [y])]
