"""Specialize: ``dot`` plus elementwise arithmetic -> one BLAS update (Theano's ``local_gemm``).

A sum with a ``Dot`` among its terms, ``beta * z + alpha * dot(x, y)``,
becomes one ``Gemm`` (matrices), ``Gemv`` (matrix-vector, either order) or
``Ger`` (an outer product: a column times a row), so the scaled product is
added into the product's own buffer instead of making two more temporaries.
This covers a dense layer with bias, ``dot(x, W) + b``, and the SGD update
``W - lr * dot(X.T, delta)``.

A lone matrix-vector ``Dot`` is left alone: ``gemv`` with a zero ``z``
would cost an extra allocation and pass over the result and gains nothing
over ``numpy.dot``.

The rewrites fire only when the product and its scaled form are read by
nothing else (else it would be computed twice) and when the sum has the
product's dtype (float32 or float64: BLAS types) and shape (``z`` may
broadcast; the product may not).
"""

import numpy as np

from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..blas import Dot, gemm, gemv, ger
from ..elemwise import DimShuffle, Elemwise
from .utils import constant_value, fit_to, n_clients, producer

_BLAS_DTYPES = ("float32", "float64")


def _is_scalar(var):
    """Every dimension has static length 1 (a scalar broadcast to the sum's rank)."""
    return all(s == 1 for s in var.type.shape)


def _scalar_parts(var):
    """``var`` (all-broadcastable) as ``(constant factor, [0-d variables])``."""
    c = constant_value(var)
    if c is not None:
        return float(c), []
    node = var.owner
    if node is not None and isinstance(node.op, DimShuffle) and node.inputs[0].type.ndim == 0:
        return 1.0, [node.inputs[0]]
    return 1.0, [DimShuffle(var.type.broadcastable, ())(var)]  # drops the length-1 dims


def _make_scalar(c, variables, dtype):
    """The 0-d product ``c * prod(variables)`` in ``dtype``."""
    from ..basic import cast, constant
    from ..math import mul, neg

    const = constant(np.asarray(c, dtype=dtype))
    if not variables:
        return const
    v = variables[0] if len(variables) == 1 else mul(*variables)
    if v.type.dtype != dtype:
        v = cast(v, dtype)
    if c == 1:
        return v
    return neg(v) if c == -1 else mul(const, v)


def _scaled(fgraph, var, dtype):
    """``var`` as ``c * prod(scalars) * rest``: ``(c, scalars, rest)``, where only ``var`` reads the factors.

    Handles ``rest``, ``-rest`` and ``a * b * rest`` with all-broadcastable
    ``a``, ``b``; anything else is ``(1, [], var)``.
    """
    neg = producer(var, ps.Neg)
    if neg is not None and n_clients(fgraph, var) == 1 and neg.inputs[0].type.dtype == dtype:
        return -1.0, [], neg.inputs[0]
    mul = producer(var, ps.Mul)
    if mul is None or n_clients(fgraph, var) != 1:
        return 1.0, [], var
    rest = [i for i in mul.inputs if not _is_scalar(i)]
    if len(rest) != 1 or rest[0].type.dtype != dtype:
        return 1.0, [], var
    c, scalars = 1.0, []
    for i in mul.inputs:
        if i is not rest[0]:
            ci, vi = _scalar_parts(i)
            c *= ci
            scalars += vi
    return c, scalars, rest[0]


def _match(fgraph, node, is_kind):
    """Split a sum node into ``(alpha, dot node, z terms, sign of z)`` with a Dot accepted by ``is_kind``.

    ``add(t1, ..., dot-term, ..., tn)`` gives z terms ``t1..tn`` (sign +1);
    ``sub(a, dot-term)`` gives ``[a]``, +1 and ``sub(dot-term, b)`` gives
    ``[b]``, -1.  Returns None when there is no such Dot.
    """
    out = node.outputs[0]
    dtype = out.type.dtype
    if not isinstance(node.op, Elemwise) or dtype not in _BLAS_DTYPES:
        return None
    sop = node.op.scalar_op
    if not isinstance(sop, (ps.Add, ps.Sub)) or len(node.inputs) < 2:
        return None
    for k, term in enumerate(node.inputs):
        c, scalars, prod = _scaled(fgraph, term, dtype)
        dot = prod.owner
        if dot is None or not isinstance(dot.op, Dot) or n_clients(fgraph, prod) != 1:
            continue
        x, y = dot.inputs
        if prod.type.dtype != dtype or x.type.dtype != dtype or y.type.dtype != dtype or not is_kind(x, y):
            continue
        # the sum must not broadcast the product (z may broadcast to it)
        if any(p == 1 and o != 1 for p, o in zip(prod.type.shape, out.type.shape)):
            continue
        others = [t for j, t in enumerate(node.inputs) if j != k]
        sign = 1.0
        if isinstance(sop, ps.Sub):
            if k == 1:
                c = -c
            else:
                sign = -1.0
        return _make_scalar(c, scalars, dtype), dot, others, sign
    return None


def _z_and_beta(fgraph, terms, sign, dtype, allow_beta):
    """``(z, beta)`` for ``sign * sum(terms)``; ``beta * z`` is taken apart when ``allow_beta``."""
    from ..basic import cast
    from ..math import add, neg

    c, scalars = sign, []
    if len(terms) == 1:
        z = terms[0]
        if allow_beta and z.type.dtype == dtype:
            ci, scalars, z = _scaled(fgraph, z, dtype)
            c *= ci
    else:
        z = add(*terms)
    if z.type.dtype != dtype:
        z = cast(z, dtype)
    if not allow_beta:
        return (z if c == 1 else neg(z)), None
    return z, _make_scalar(c, scalars, dtype)


def _is_outer(x, y):
    return x.type.ndim == 2 and y.type.ndim == 2 and x.type.shape[1] == 1 and y.type.shape[0] == 1


def _is_matrix_product(x, y):
    return x.type.ndim == 2 and y.type.ndim == 2 and not _is_outer(x, y)


def _is_matrix_vector(x, y):
    return {x.type.ndim, y.type.ndim} == {1, 2}


def _vector(v, drop):
    """The vector inside a column/row ``v`` (``drop`` is its length-1 axis)."""
    node = v.owner
    if node is not None and isinstance(node.op, DimShuffle) and node.inputs[0].type.ndim == 1:
        return node.inputs[0]
    return DimShuffle(v.type.broadcastable, (1 - drop,))(v)


@node_rewriter([Elemwise], phase="specialize")
def local_dot_add_to_gemm(fgraph, node):
    """beta * z + alpha * dot(x, y) -> gemm(z, alpha, x, y, beta) for matrices (also z - a*dot, dot + z + w)"""
    m = _match(fgraph, node, _is_matrix_product)
    if m is None:
        return None
    alpha, dot, terms, sign = m
    out = node.outputs[0]
    z, beta = _z_and_beta(fgraph, terms, sign, out.type.dtype, allow_beta=True)
    return [fit_to(gemm(z, alpha, dot.inputs[0], dot.inputs[1], beta), out)]


@node_rewriter([Elemwise], phase="specialize")
def local_dot_add_to_gemv(fgraph, node):
    """beta * z + alpha * dot(A, x) -> gemv(z, alpha, A, x, beta); dot(x, A) uses A.T"""
    m = _match(fgraph, node, _is_matrix_vector)
    if m is None:
        return None
    alpha, dot, terms, sign = m
    out = node.outputs[0]
    z, beta = _z_and_beta(fgraph, terms, sign, out.type.dtype, allow_beta=True)
    A, x = dot.inputs
    if A.type.ndim == 1:
        A, x = x.T, A
    return [fit_to(gemv(z, alpha, A, x, beta), out)]


@node_rewriter([Elemwise], phase="specialize")
def local_outer_add_to_ger(fgraph, node):
    """A + alpha * outer(x, y) -> ger(A, alpha, x, y) (outer is dot of a column and a row)"""
    m = _match(fgraph, node, _is_outer)
    if m is None:
        return None
    alpha, dot, terms, sign = m
    out = node.outputs[0]
    A, _ = _z_and_beta(fgraph, terms, sign, out.type.dtype, allow_beta=False)
    col, row = dot.inputs
    return [fit_to(ger(A, alpha, _vector(col, 1), _vector(row, 0)), out)]
