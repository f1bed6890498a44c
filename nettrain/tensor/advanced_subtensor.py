"""Advanced indexing: integer and boolean arrays (``x[ivec]``, ``x[i, :, j]``, ``x[x > 0]``),
their set/inc ops, ``take`` and ``nonzero``.

The index layout (``idx_list``) is the one of :mod:`nettrain.tensor.subtensor`,
plus ``None`` entries for newaxis, since NumPy places the advanced dimensions
differently when a newaxis or slice separates two array indices.  Every
symbolic index (integer scalar, integer array or boolean array) is an input.
"""

import numpy as np

from ..graph.basic import Apply, Constant, Variable
from ..graph.op import Op
from .subtensor import (
    _check_y_runtime,
    _decode,
    _encode,
    _fmt_idx,
    _inc_grads,
    _is_float,
    _norm_idx_list,
    _prepare_y,
    _slice_len_sym,
    _static_slice_len,
)
from .type import TensorType


def _wrap_index_error(e, x):
    return IndexError("%s (indexing a tensor of shape %s)" % (e, x.shape))


# ------------------------------------------------------------------ AdvancedSubtensor1
class AdvancedSubtensor1(Op):
    """``x[ilist]`` for an integer vector ``ilist`` on the first axis (a copy)."""

    __props__ = ()

    def make_node(self, x, ilist):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        ilist = as_tensor_variable(ilist)
        if x.type.ndim == 0:
            raise IndexError("cannot index a 0-d tensor %s with an integer vector" % x)
        if ilist.type.ndim != 1 or not ilist.type.dtype.startswith(("int", "uint")):
            raise TypeError("AdvancedSubtensor1: the index must be an integer vector, got %s" % ilist.type)
        n = x.type.shape[0]
        if (
            isinstance(ilist, Constant)
            and n is not None
            and ilist.data.size
            and not (-n <= ilist.data.min() and ilist.data.max() < n)
        ):
            raise IndexError("index out of bounds for axis 0 with size %d in %s (%s)" % (n, ilist.data, x.type))
        shape = (ilist.type.shape[0],) + x.type.shape[1:]
        return Apply(self, [x, ilist], [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, i = inputs
        try:
            output_storage[0][0] = x[i]
        except IndexError as e:
            raise _wrap_index_error(e, x) from None

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[1][0],) + tuple(input_shapes[0][1:])]

    def grad(self, inputs, output_grads):
        x, i = inputs
        gx = AdvancedIncSubtensor1()(x.zeros_like(), output_grads[0], i) if _is_float(x) else None
        return [gx, None]

    def connection_pattern(self, node):
        return [[True], [False]]

    def R_op(self, inputs, eval_points):
        return [None] if eval_points[0] is None else [self(eval_points[0], inputs[1])]


class AdvancedIncSubtensor1(Op):
    """``x`` with ``x[ilist]`` incremented by (``numpy.add.at``) or set to ``y``; on a copy of ``x``."""

    __props__ = ("set_instead_of_inc",)

    def __init__(self, inplace=False, set_instead_of_inc=False):
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def make_node(self, x, y, ilist):
        sub = AdvancedSubtensor1().make_node(x, ilist)
        x, ilist = sub.inputs
        y = _prepare_y(y, sub.outputs[0].type, x.type.dtype, self)
        return Apply(self, [x, y, ilist], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y, i = inputs
        n = x.shape[0]
        if i.size and not (-n <= i.min() and i.max() < n):
            bad = i[(i < -n) | (i >= n)][0]
            raise IndexError(
                "index %d is out of bounds for axis 0 with size %d (tensor of shape %s)" % (bad, n, x.shape)
            )
        _check_y_runtime(node.inputs[1], y, (len(i),) + x.shape[1:], self)
        out = x.copy()
        if self.set_instead_of_inc:
            out[i] = y
        else:
            np.add.at(out, i, y)
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        return _inc_grads(inputs[0], inputs[1], inputs[2:], output_grads[0], self.set_instead_of_inc,
                          AdvancedIncSubtensor1(set_instead_of_inc=True), AdvancedSubtensor1())  # fmt: skip

    def connection_pattern(self, node):
        return [[True], [True], [False]]


# ------------------------------------------------------------------ general layout
def _layout(idx_list, inputs, ndim):
    """Walk an advanced index.

    Returns ``(basic, adv, insert_at)``: ``basic`` lists the output dimensions
    made by newaxis (``('new',)``) and slices (``('slice', axis, comps, syms)``,
    the unindexed trailing axes included); ``adv`` lists the array-like entries
    (``(kind, var, first_axis)``, kind 'scalar', 'int' or 'bool') whose broadcast shape goes at position
    ``insert_at`` among the basic dimensions (0 when they are not adjacent,
    as NumPy does).
    """
    it = iter(inputs)
    axis, basic, adv, adv_pos, insert_at = 0, [], [], [], None
    for k, e in enumerate(idx_list):
        if e is None:
            basic.append(("new",))
            continue
        if isinstance(e, tuple):
            basic.append(("slice", axis, e, [next(it) for c in e if isinstance(c, str)]))
            axis += 1
            continue
        if insert_at is None:
            insert_at = len(basic)
        adv_pos.append(k)
        v = next(it) if isinstance(e, str) else None
        if v is not None and v.type.dtype == "bool":
            adv.append(("bool", v, axis))
            axis += v.type.ndim
        else:
            adv.append(("int" if v is not None and v.type.ndim else "scalar", v, axis))
            axis += 1
    if axis > ndim:
        raise IndexError("too many indices for tensor: it is %d-dimensional, but %d were indexed" % (ndim, axis))
    basic.extend(("slice", a, (None, None, None), []) for a in range(axis, ndim))
    if adv_pos and adv_pos != list(range(adv_pos[0], adv_pos[-1] + 1)):
        insert_at = 0
    return basic, adv, insert_at or 0


def _static_broadcast(shapes):
    nd = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
    out = []
    for d in range(nd):
        vals = [s[d] for s in padded]
        known = {v for v in vals if v is not None and v != 1}
        if len(known) > 1:
            raise IndexError("shape mismatch: indexing arrays could not be broadcast together with shapes %s" % shapes)
        out.append(known.pop() if known else (1 if all(v == 1 for v in vals) else None))
    return tuple(out)


def _adv_static_shape(x, idx_list, inputs):
    basic, adv, at = _layout(idx_list, inputs, x.type.ndim)
    xs = x.type.shape
    dims = [1 if b[0] == "new" else _static_slice_len(xs[b[1]], b[2]) for b in basic]
    shapes = []
    for kind, v, axis in adv:
        if kind == "bool":
            mshape, xpart = v.type.shape, xs[axis : axis + v.type.ndim]
            if any(m is not None and n is not None and m != n for m, n in zip(mshape, xpart)):
                raise IndexError("boolean index of shape %s does not match the indexed dimensions %s of %s"
                                 % (mshape, xpart, x.type))  # fmt: skip
            shapes.append((int(v.data.sum()) if isinstance(v, Constant) else None,))
        else:
            shapes.append(v.type.shape if kind == "int" else ())
    return tuple(dims[:at]) + _static_broadcast(shapes) + tuple(dims[at:])


def _adv_sym_shape(node, input_shapes):
    """Symbolic output shape of an AdvancedSubtensor node (for infer_shape)."""
    from .basic import cast
    from .math import eq, switch
    from .reduction import sum as _sum

    xs, inputs = input_shapes[0], node.inputs[1:]
    shape_of = {v: s for v, s in zip(inputs, input_shapes[1:])}
    basic, adv, at = _layout(node.op.idx_list, inputs, node.inputs[0].type.ndim)
    dims = [1 if b[0] == "new" else _slice_len_sym(xs[b[1]], b[2], b[3]) for b in basic]
    shapes = []
    for kind, v, _ in adv:
        if kind == "bool":
            shapes.append((cast(_sum(v), "int64"),))
        else:
            shapes.append(tuple(shape_of[v]) if kind == "int" else ())
    nd = max((len(s) for s in shapes), default=0)
    bshape = []
    for d in range(nd):
        cands = [s[d - nd + len(s)] for s in shapes if d - nd + len(s) >= 0]
        r = cands[0]
        for c in cands[1:]:  # NumPy broadcasting: a length 1 takes the other length
            r = switch(eq(r, 1), c, r)
        bshape.append(r)
    out = dims[:at] + bshape + dims[at:]
    return tuple(s if s is not None else o for s, o in zip(node.outputs[0].type.shape, out))


def _check_adv_inputs(op, idx_list, inputs):
    top = [e for e in idx_list if isinstance(e, str)]
    n_slice = sum(1 for e in idx_list if isinstance(e, tuple) for c in e if isinstance(c, str))
    if len(inputs) != len(top) + n_slice:
        raise TypeError("%s expects %d symbolic index inputs, got %d" % (op, len(top) + n_slice, len(inputs)))
    it = iter(inputs)
    for e in idx_list:
        for c in e if isinstance(e, tuple) else (e,):
            if not isinstance(c, str):
                continue
            v = next(it)
            ok_int = v.type.dtype.startswith(("int", "uint"))
            if isinstance(e, tuple) and not (ok_int and v.type.ndim == 0):
                raise TypeError("%s: slice indices must be integer scalars, got %s" % (op, v.type))
            if not isinstance(e, tuple) and not (ok_int or (v.type.dtype == "bool" and v.type.ndim > 0)):
                raise TypeError("%s: indices must be integer or boolean arrays, got %s" % (op, v.type))


class AdvancedSubtensor(Op):
    """General NumPy advanced indexing: integer/boolean arrays mixed with ints, slices and newaxis (a copy)."""

    __props__ = ("idx_list",)

    def __init__(self, idx_list):
        self.idx_list = _norm_idx_list(idx_list)

    def __str__(self):
        return "AdvancedSubtensor{%s}" % _fmt_idx(self.idx_list)

    def make_node(self, x, *inputs):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        _check_adv_inputs(self, self.idx_list, inputs)
        shape = _adv_static_shape(x, self.idx_list, inputs)
        return Apply(self, [x] + inputs, [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        try:
            r = np.asarray(x[_decode(self.idx_list, inputs[1:])])
        except IndexError as e:
            raise _wrap_index_error(e, x) from None
        if np.may_share_memory(r, x):  # only basic entries: NumPy gave a view, but this op promises a copy
            r = r.copy()
        output_storage[0][0] = r

    def infer_shape(self, node, input_shapes):
        return [_adv_sym_shape(node, input_shapes)]

    def grad(self, inputs, output_grads):
        x, idx = inputs[0], inputs[1:]
        gx = AdvancedIncSubtensor(self.idx_list)(x.zeros_like(), output_grads[0], *idx) if _is_float(x) else None
        return [gx] + [None] * len(idx)

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]

    def R_op(self, inputs, eval_points):
        return [None] if eval_points[0] is None else [self(eval_points[0], *inputs[1:])]


def _indexed_shape(x, idx):
    """Shape of ``x[idx]`` without copying ``x`` (indexes a zero-stride int8 array)."""
    return np.broadcast_to(np.zeros((), dtype=np.int8), x.shape)[idx].shape


class AdvancedIncSubtensor(Op):
    """``x`` with ``x[idx]`` (advanced) incremented by (``numpy.add.at``) or set to ``y``; on a copy of ``x``."""

    __props__ = ("idx_list", "set_instead_of_inc")

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False):
        self.idx_list = AdvancedSubtensor(idx_list).idx_list
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        name = "AdvancedSetSubtensor" if self.set_instead_of_inc else "AdvancedIncSubtensor"
        return "%s{%s}" % (name, _fmt_idx(self.idx_list))

    def make_node(self, x, y, *inputs):
        sub = AdvancedSubtensor(self.idx_list).make_node(x, *inputs)
        x = sub.inputs[0]
        y = _prepare_y(y, sub.outputs[0].type, x.type.dtype, self)
        return Apply(self, [x, y] + sub.inputs[1:], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y = inputs[:2]
        idx = _decode(self.idx_list, inputs[2:])
        try:
            shape = _indexed_shape(x, idx)
        except IndexError as e:
            raise _wrap_index_error(e, x) from None
        _check_y_runtime(node.inputs[1], y, shape, self)
        out = x.copy()
        if any(e is None for e in idx):
            # numpy.add.at mishandles newaxis: index the flat positions instead.
            pos = np.arange(x.size).reshape(x.shape)[idx].ravel()
            flat, vals = out.reshape(-1), np.broadcast_to(y, shape).ravel()
            if self.set_instead_of_inc:
                flat[pos] = vals
            else:
                np.add.at(flat, pos, vals)
        elif self.set_instead_of_inc:
            out[idx] = y
        else:
            np.add.at(out, idx, y)
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        return _inc_grads(inputs[0], inputs[1], inputs[2:], output_grads[0], self.set_instead_of_inc,
                          AdvancedIncSubtensor(self.idx_list, set_instead_of_inc=True),
                          AdvancedSubtensor(self.idx_list))  # fmt: skip

    def connection_pattern(self, node):
        return [[True], [True]] + [[False] for _ in node.inputs[2:]]


def advanced_getitem(x, entries):
    """``x[entries]`` where some entry is an integer or boolean array (see ``getitem``)."""
    first = entries[0]
    rest_full = all(isinstance(e, slice) and e.start is None and e.stop is None and e.step in (None, 1)
                    for e in entries[1:])  # fmt: skip
    if isinstance(first, Variable) and first.type.ndim == 1 and first.type.dtype != "bool" and rest_full:
        return AdvancedSubtensor1()(x, first)
    idx_list, inputs = _encode(entries)
    return AdvancedSubtensor(idx_list)(x, *inputs)


# ------------------------------------------------------------------ nonzero, take
class Nonzero(Op):
    """Indices of the non-zero elements of ``a`` as an int64 matrix of shape ``(a.ndim, nnz)``."""

    __props__ = ()

    def make_node(self, a):
        from .basic import as_tensor_variable

        a = as_tensor_variable(a)
        if a.type.ndim == 0:
            raise ValueError("nonzero only supports tensors of at least one dimension, got the scalar %s" % a)
        return Apply(self, [a], [TensorType("int64", (a.type.ndim, None))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(np.nonzero(inputs[0]), dtype=np.int64).reshape(inputs[0].ndim, -1)

    def infer_shape(self, node, input_shapes):
        from .basic import cast
        from .math import neq
        from .reduction import sum as _sum

        return [(node.inputs[0].type.ndim, cast(_sum(neq(node.inputs[0], 0)), "int64"))]

    def grad(self, inputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


def nonzero(a, return_matrix=False):
    """Indices of the non-zero elements of ``a``: a tuple of int64 vectors, one per dimension
    (as ``numpy.nonzero``), or with ``return_matrix=True`` one matrix of shape ``(a.ndim, nnz)``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dmatrix('a')
    >>> T.nonzero(a, return_matrix=True).eval({a: [[0., 1.], [2., 0.]]})
    array([[0, 1],
           [1, 0]])
    """
    m = Nonzero()(a)
    if return_matrix:
        return m
    return tuple(m[i] for i in range(m.type.shape[0]))


def flatnonzero(a):
    """Indices of the non-zero elements of ``a.flatten()`` (``numpy.flatnonzero``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dmatrix('a')
    >>> T.flatnonzero(a).eval({a: [[0., 1.], [2., 0.]]})
    array([1, 2])
    """
    from .basic import as_tensor_variable
    from .shape import flatten

    a = as_tensor_variable(a)
    if a.type.ndim == 0:
        raise ValueError("flatnonzero only supports tensors of at least one dimension, got the scalar %s" % a)
    return nonzero(flatten(a), return_matrix=True)[0]


def nonzero_values(a):
    """The non-zero elements of ``a``, flattened (``a.flatten()[flatnonzero(a)]``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dmatrix('a')
    >>> T.nonzero_values(a).eval({a: [[0., 1.], [2., 0.]]})
    array([1., 2.])
    """
    from .basic import as_tensor_variable
    from .shape import flatten

    a = as_tensor_variable(a)
    return flatten(a)[flatnonzero(a)]


def take(a, indices, axis=None, mode="raise"):
    """Elements of ``a`` at ``indices`` along ``axis`` (``numpy.take``; ``axis=None`` uses ``a.flatten()``).

    ``mode`` is 'raise' (out-of-range indices are an error), 'wrap' or 'clip'.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dmatrix('a')
    >>> T.take(a, [1, 0], axis=1).eval({a: [[1., 2.], [3., 4.]]})
    array([[2., 1.],
           [4., 3.]])
    """
    from .basic import as_tensor_variable
    from .math import clip
    from .shape import flatten, shape_i

    a = as_tensor_variable(a)
    indices = as_tensor_variable(np.asarray(indices, dtype=np.int64) if isinstance(indices, list) and not indices
                                 else indices)  # fmt: skip
    if not indices.type.dtype.startswith(("int", "uint")):
        raise TypeError("take: indices must be integers, got %s" % indices.type)
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError("take: mode must be 'raise', 'wrap' or 'clip', got %r" % (mode,))
    if axis is None:
        a, axis = flatten(a), 0
    axis = int(axis)
    if not -a.type.ndim <= axis < a.type.ndim:
        raise ValueError("take: axis %d is out of range for a %d-d tensor" % (axis, a.type.ndim))
    axis %= a.type.ndim
    if mode != "raise":
        n = shape_i(a, axis)
        indices = indices % n if mode == "wrap" else clip(indices, 0, n - 1)
    return a[(slice(None),) * axis + (indices,)]


# Theano's instances (``from theano.tensor.subtensor import advanced_subtensor1``).
advanced_subtensor1 = AdvancedSubtensor1()
advanced_inc_subtensor1 = AdvancedIncSubtensor1()
advanced_set_subtensor1 = AdvancedIncSubtensor1(set_instead_of_inc=True)

__all__ = [
    "AdvancedSubtensor1", "AdvancedIncSubtensor1", "AdvancedSubtensor", "AdvancedIncSubtensor", "Nonzero",
    "advanced_getitem", "advanced_subtensor1", "advanced_inc_subtensor1", "advanced_set_subtensor1",
    "nonzero", "flatnonzero", "nonzero_values", "take",
]  # fmt: skip
