"""Products of tensors under Theano's names: dot, matmul (``x @ y``), tensordot,
outer, batched_dot, batched_tensordot.

Everything is built from the two ops of :mod:`nettrain.tensor.blas`
(``Dot`` for 1-d/2-d operands, ``MatMul`` for stacks of matrices) with
transposes and reshapes around them, the way Theano's ``_tensordot_as_dot``
did: backends then need kernels for those two ops only, and gradients come
from the ops' own ``grad``.  Results follow NumPy (values, dtypes, shapes).
"""

import numpy as np

from .blas import Dot, MatMul, _fmt

_dot = Dot()
_matmul = MatMul()


def _tensor(x):
    from .basic import as_tensor_variable

    return as_tensor_variable(x)


def dot(a, b):
    """Theano's ``dot``: NumPy's ``dot`` semantics for every ndim.

    Scalars multiply; 1-d and 2-d operands use the ``Dot`` op (BLAS); higher
    ranks contract the last axis of ``a`` with the second-to-last of ``b``
    (the only axis if ``b`` is 1-d), as ``numpy.dot`` does.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, y = T.dmatrix('x'), T.dvector('y')
    >>> T.dot(x, y).eval({x: np.eye(2), y: [1., 2.]})
    array([1., 2.])
    """
    a, b = _tensor(a), _tensor(b)
    if a.type.ndim == 0 or b.type.ndim == 0:
        return a * b
    if a.type.ndim <= 2 and b.type.ndim <= 2:
        return _dot(a, b)
    return _tensordot(a, b, [a.type.ndim - 1], [max(0, b.type.ndim - 2)], batched=False, name="dot")


def matmul(a, b):
    """NumPy's ``matmul`` (the ``@`` operator): batched matrix products.

    1-d operands are promoted to matrices (and the added dimension removed
    afterwards); leading dimensions broadcast where their static length is 1.
    Scalars are rejected, as in NumPy.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> a, b = T.dtensor3('a'), T.dmatrix('b')
    >>> (a @ b).eval({a: np.ones((2, 3, 4)), b: np.ones((4, 5))}).shape
    (2, 3, 5)
    """
    a, b = _tensor(a), _tensor(b)
    if a.type.ndim == 0 or b.type.ndim == 0:
        raise ValueError("matmul: scalar operands are not allowed (got %s and %s); use * instead" % (a.type, b.type))
    if a.type.ndim <= 2 and b.type.ndim <= 2:
        return _dot(a, b)
    drop = []
    if a.type.ndim == 1:
        a = a.dimshuffle("x", 0)
        drop.append(-2)
    if b.type.ndim == 1:
        b = b.dimshuffle(0, "x")
        drop.append(-1)
    nd = max(a.type.ndim, b.type.ndim)
    a, b = _pad_left(a, nd), _pad_left(b, nd)
    out = _matmul(a, b)
    if drop:
        keep = [d for d in range(nd) if d - nd not in drop]
        out = out.dimshuffle(keep)
    return out


def _pad_left(x, nd):
    """Prepend broadcastable dimensions up to ``nd``."""
    k = nd - x.type.ndim
    return x.dimshuffle(["x"] * k + list(range(x.type.ndim))) if k else x


def _normalize_axes(axes, nda, ndb, name, first=0):
    """``axes`` (int or pair of int/lists) as two lists of non-negative axes.

    ``first`` is the first axis that may be contracted (1 for the batched
    forms, whose axis 0 is the batch axis).
    """
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if not 0 <= n <= min(nda, ndb) - first:
            raise ValueError("%s: cannot contract %d axes of tensors with %d and %d dimensions" % (name, n, nda, ndb))
        return list(range(nda - n, nda)), list(range(first, first + n))
    try:
        ax_a, ax_b = axes
    except (TypeError, ValueError):
        raise TypeError("%s: axes must be an int or a pair of axis lists, got %r" % (name, axes)) from None
    lists = []
    for ax, nd in ((ax_a, nda), (ax_b, ndb)):
        ax = [ax] if isinstance(ax, (int, np.integer)) else list(ax)
        norm = []
        for d in ax:
            if not -nd <= int(d) < nd:
                raise ValueError("%s: axis %d is out of range for a %d-d tensor" % (name, d, nd))
            norm.append(int(d) % nd)
        if len(set(norm)) != len(norm):
            raise ValueError("%s: repeated axis in %s" % (name, list(ax)))
        if first and 0 in norm:
            raise ValueError("%s: axis 0 is the batch axis and cannot be contracted" % name)
        lists.append(norm)
    if len(lists[0]) != len(lists[1]):
        raise ValueError("%s: %d axes given for the first tensor but %d for the second" % (name, *map(len, lists)))
    return lists[0], lists[1]


def _dim(x, i):
    """Length of dimension ``i``: a Python int when static, else a symbolic scalar."""
    from .shape import shape_i

    s = x.type.shape[i]
    return s if s is not None else shape_i(x, i)


def _prod(dims):
    total = 1
    for d in dims:
        total = total * d
    return total


def _tensordot(a, b, axes_a, axes_b, batched, name):
    """Contract ``axes_a`` of ``a`` with ``axes_b`` of ``b`` through one Dot/MatMul.

    ``a`` becomes ``[batch,] free_a, contracted`` and ``b`` becomes ``[batch,]
    contracted, free_b`` (transposes), each group is reshaped into one
    dimension, the product is taken and the free dimensions are restored.
    """
    from .shape import reshape, specify_shape

    for da, db in zip(axes_a, axes_b):
        sa, sb = a.type.shape[da], b.type.shape[db]
        if sa is not None and sb is not None and sa != sb:
            raise ValueError(
                "%s: shapes %s and %s do not match along axes %s and %s: %d (dim %d) != %d (dim %d)"
                % (name, _fmt(a.type.shape), _fmt(b.type.shape), axes_a, axes_b, sa, da, sb, db)
            )
    nb = 1 if batched else 0
    free_a = [d for d in range(nb, a.type.ndim) if d not in axes_a]
    free_b = [d for d in range(nb, b.type.ndim) if d not in axes_b]
    at = a.transpose(list(range(nb)) + free_a + axes_a)
    bt = b.transpose(list(range(nb)) + axes_b + free_b)
    batch_a = [_dim(a, 0)] if batched else []
    batch_b = [_dim(b, 0)] if batched else []
    # Non-batched Dot accepts vectors, so an empty free group needs no axis;
    # MatMul needs 3-d operands, so there it becomes a length-1 axis.
    group_a = [_prod(_dim(a, d) for d in free_a)] if free_a or batched else []
    group_b = [_prod(_dim(b, d) for d in free_b)] if free_b or batched else []
    k_a, k_b = _prod(_dim(a, d) for d in axes_a), _prod(_dim(b, d) for d in axes_b)
    # Skip reshapes that would change nothing: Dot takes a vector or a matrix
    # per operand, MatMul a 3-d ``(batch, free, contracted)`` stack.
    one_free = (lambda f: len(f) == 1) if batched else (lambda f: len(f) <= 1)
    if not (len(axes_a) == 1 and one_free(free_a)):
        at = reshape(at, batch_a + group_a + [k_a])
    if not (len(axes_b) == 1 and one_free(free_b)):
        bt = reshape(bt, batch_b + [k_b] + group_b)
    out = _matmul(at, bt) if batched else _dot(at, bt)
    if not (one_free(free_a) and one_free(free_b)):
        out_dims = batch_a + [_dim(a, d) for d in free_a] + [_dim(b, d) for d in free_b]
        out = reshape(out, out_dims)
    static = [a.type.shape[0] if a.type.shape[0] is not None else b.type.shape[0]] if batched else []
    static += [a.type.shape[d] for d in free_a] + [b.type.shape[d] for d in free_b]
    if out.type.shape != tuple(static):
        out = specify_shape(out, tuple(static))
    return out


def tensordot(a, b, axes=2):
    """NumPy's ``tensordot``: sum products over the given axes of ``a`` and ``b``.

    ``axes`` is an int ``n`` (the last ``n`` axes of ``a`` with the first ``n``
    of ``b``) or a pair of axis lists.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> a, b = T.dtensor3('a'), T.dmatrix('b')
    >>> T.tensordot(a, b, [[1, 2], [0, 1]]).eval({a: np.ones((2, 3, 4)), b: np.ones((3, 4))})
    array([12., 12.])
    """
    a, b = _tensor(a), _tensor(b)
    axes_a, axes_b = _normalize_axes(axes, a.type.ndim, b.type.ndim, "tensordot")
    return _tensordot(a, b, axes_a, axes_b, batched=False, name="tensordot")


def outer(x, y):
    """Outer product of two vectors (other ranks are flattened first, as in Theano).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.outer(x, x).eval({x: [1., 2.]})
    array([[1., 2.],
           [2., 4.]])
    """
    x, y = _tensor(x), _tensor(y)
    if x.type.ndim != 1:
        x = x.flatten()
    if y.type.ndim != 1:
        y = y.flatten()
    return _dot(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))


def batched_dot(a, b):
    """``dot`` of each pair ``a[i], b[i]`` along the first (batch) dimension.

    2-d and 3-d operands use one batched matrix product (``MatMul``); 1-d
    operands scale the other; higher ranks go through ``batched_tensordot``
    (last axis of ``a`` with the second-to-last of ``b``).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> a, b = T.dtensor3('a'), T.dtensor3('b')
    >>> T.batched_dot(a, b).eval({a: np.ones((5, 2, 3)), b: np.ones((5, 3, 4))}).shape
    (5, 2, 4)
    """
    a, b = _tensor(a), _tensor(b)
    if a.type.ndim == 0 or b.type.ndim == 0:
        raise TypeError("batched_dot: both operands need a batch axis, got %s and %s" % (a.type, b.type))
    if a.type.ndim == 1:
        return a.dimshuffle([0] + ["x"] * (b.type.ndim - 1)) * b
    if b.type.ndim == 1:
        return a * b.dimshuffle([0] + ["x"] * (a.type.ndim - 1))
    if a.type.ndim > 3 or b.type.ndim > 3:
        return batched_tensordot(a, b, [[a.type.ndim - 1], [max(1, b.type.ndim - 2)]])
    a3 = a if a.type.ndim == 3 else a.dimshuffle(0, "x", 1)
    b3 = b if b.type.ndim == 3 else b.dimshuffle(0, 1, "x")
    out = _matmul(a3, b3)
    keep = [0] + ([1] if a.type.ndim == 3 else []) + ([2] if b.type.ndim == 3 else [])
    return out if len(keep) == 3 else out.dimshuffle(keep)


def batched_tensordot(x, y, axes=2):
    """``tensordot`` of each pair ``x[i], y[i]`` along the first (batch) dimension.

    ``axes`` is an int ``n`` (the last ``n`` axes of ``x`` with axes ``1..n``
    of ``y``) or a pair of axis lists, which may not include the batch axis 0.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, y = T.dtensor3('x'), T.dtensor3('y')
    >>> T.batched_tensordot(x, y, [[2], [1]]).eval({x: np.ones((5, 2, 3)), y: np.ones((5, 3, 4))}).shape
    (5, 2, 4)
    """
    x, y = _tensor(x), _tensor(y)
    if x.type.ndim < 1 or y.type.ndim < 1:
        raise TypeError("batched_tensordot: both operands need a batch axis, got %s and %s" % (x.type, y.type))
    axes_x, axes_y = _normalize_axes(axes, x.type.ndim, y.type.ndim, "batched_tensordot", first=1)
    sx, sy = x.type.shape[0], y.type.shape[0]
    if sx is not None and sy is not None and sx != sy:
        raise ValueError(
            "batched_tensordot: batch sizes of shapes %s and %s differ" % (_fmt(x.type.shape), _fmt(y.type.shape))
        )
    return _tensordot(x, y, axes_x, axes_y, batched=True, name="batched_tensordot")


__all__ = ["Dot", "MatMul", "dot", "matmul", "tensordot", "outer", "batched_dot", "batched_tensordot"]
