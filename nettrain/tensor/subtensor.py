"""Basic indexing (``x[1:, None, i]``) and ``set_subtensor`` / ``inc_subtensor``.

An index is stored on the op as ``idx_list``: one entry per indexed dimension,
each a constant ``int``, the marker ``SYM`` (a symbolic index that is an extra
input of the node), or a ``(start, stop, step)`` tuple whose parts are ``int``,
``None`` or ``SYM``.  Constant parts are props (so equal indexing ops merge);
symbolic parts are inputs.  ``None`` (newaxis) entries are a DimShuffle on top
of the basic op.  Integer/boolean array indices live in
:mod:`nettrain.tensor.advanced_subtensor`.
"""

import numpy as np

from ..graph.basic import Apply, Constant, Variable
from ..graph.op import Op
from .type import TensorType

#: Placeholder in ``idx_list`` for an index that is a symbolic input of the node.
SYM = "?"

_INT_KINDS = ("int", "uint")


# ------------------------------------------------------------ index parsing
def _parse_scalar(c, where):
    """A slice part as None, a Python int or a 0-d integer Variable."""
    from .basic import as_tensor_variable

    if c is None:
        return None
    if isinstance(c, (bool, np.bool_)):
        raise TypeError("%s must be integers or None, got the boolean %r" % (where, c))
    if isinstance(c, (int, np.integer)):
        return int(c)
    if isinstance(c, Variable):
        c = as_tensor_variable(c)
        if c.type.ndim != 0 or not c.type.dtype.startswith(_INT_KINDS):
            raise TypeError("%s must be integer scalars or None, got %s of type %s" % (where, c, c.type))
        return int(c.data) if isinstance(c, Constant) else c
    raise TypeError("%s must be integers or None, got %r" % (where, c))


def _parse_entry(e):
    """One index entry as None, Ellipsis, int, slice, or an integer/boolean tensor."""
    from .basic import _contains_variable, as_tensor_variable, constant

    if e is None or e is Ellipsis:
        return e
    if isinstance(e, slice):
        return slice(*(_parse_scalar(c, "slice indices") for c in (e.start, e.stop, e.step)))
    if isinstance(e, (bool, np.bool_)):
        raise IndexError("boolean scalar indices are not supported; index with a boolean array instead")
    if isinstance(e, (int, np.integer)):
        return int(e)
    if isinstance(e, Variable):
        v = as_tensor_variable(e)
    elif isinstance(e, (list, tuple, np.ndarray)):
        if isinstance(e, np.ndarray) or not _contains_variable(e):
            arr = np.asarray(e)
            if arr.size == 0 and arr.dtype.kind == "f":
                arr = arr.astype(np.int64)  # an empty list indexes like an empty int array (NumPy)
            v = constant(arr)
        else:
            v = as_tensor_variable(e)
    else:
        raise TypeError(
            "indices must be integers, slices, None, Ellipsis or integer/boolean arrays, got %r (%s)"
            % (e, type(e).__name__)
        )
    if v.type.dtype == "bool":
        if v.type.ndim == 0:
            raise IndexError("boolean scalar indices are not supported; index with a boolean array instead")
        return v
    if not v.type.dtype.startswith(_INT_KINDS):
        raise TypeError("indices must be integers or booleans, got %s of type %s" % (v, v.type))
    if v.type.ndim == 0 and isinstance(v, Constant):
        return int(v.data)
    return v


def _dims_used(e):
    if e is None or e is Ellipsis:
        return 0
    if isinstance(e, Variable) and e.type.dtype == "bool":
        return e.type.ndim
    return 1


def _normalize_index(x, idx):
    """Parse ``idx`` (anything NumPy accepts) and expand the Ellipsis into full slices."""
    if isinstance(idx, list) and any(e is None or e is Ellipsis or isinstance(e, slice) for e in idx):
        # A list holding a slice, None or Ellipsis cannot be an integer index
        # array: it is a tuple of indices, as in Theano and NumPy before 1.23.
        idx = tuple(idx)
    if not isinstance(idx, tuple):
        idx = (idx,)
    entries = [_parse_entry(e) for e in idx]
    n_ell = sum(1 for e in entries if e is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(_dims_used(e) for e in entries)
    if used > x.type.ndim:
        raise IndexError(
            "too many indices for tensor: %s is %d-dimensional, but %d were indexed" % (x, x.type.ndim, used)
        )
    if n_ell:
        k = entries.index(Ellipsis)
        entries[k : k + 1] = [slice(None)] * (x.type.ndim - used)
    return entries


def _encode(entries):
    """Entries -> (idx_list, symbolic inputs); Variables become ``SYM``."""
    idx_list, inputs = [], []

    def enc(c):
        if isinstance(c, Variable):
            inputs.append(c)
            return SYM
        return c

    for e in entries:
        if isinstance(e, slice):
            comps = [enc(c) for c in (e.start, e.stop, e.step)]
            if comps[2] == 1:
                comps[2] = None
            idx_list.append(tuple(comps))
        else:
            idx_list.append(enc(e))
    return tuple(idx_list), inputs


def _decode(idx_list, values):
    """``idx_list`` + run-time values -> a NumPy index tuple."""
    it = iter(values)

    def val(c):
        if isinstance(c, str):  # SYM
            v = next(it)
            return int(v) if v.ndim == 0 else v
        return c

    return tuple(slice(*(val(c) for c in e)) if isinstance(e, tuple) else val(e) for e in idx_list)


def _norm_idx_list(idx_list):
    """A hashable ``idx_list``: slices (or lists) become ``(start, stop, step)`` tuples."""
    out = []
    for e in idx_list:
        if isinstance(e, slice):
            e = (e.start, e.stop, e.step)
        out.append(tuple(e) if isinstance(e, (tuple, list)) else e)
    return tuple(out)


def _fmt_idx(idx_list):
    def part(c):
        return "" if c is None else str(c)

    out = []
    for e in idx_list:
        if isinstance(e, tuple):
            s = "%s:%s" % (part(e[0]), part(e[1]))
            out.append(s if e[2] is None else s + ":" + part(e[2]))
        else:
            out.append("newaxis" if e is None else str(e))
    return ", ".join(out)


def _check_bounds(idx, shape):
    """Clear IndexError for an out-of-range integer in a basic index (no newaxis)."""
    for axis, v in enumerate(idx):
        if isinstance(v, int) and not -shape[axis] <= v < shape[axis]:
            raise IndexError(
                "index %d is out of bounds for axis %d with size %d (tensor of shape %s)"
                % (v, axis, shape[axis], shape)
            )


# ------------------------------------------------------------ slice lengths
def _static_slice_len(n, comps):
    """Static length of ``[start:stop:step]`` on a dimension of static length ``n`` (None = unknown)."""
    if comps[2] == 0:
        raise ValueError("slice step cannot be zero")
    if comps == (None, None, None):
        return n
    if n is None or any(isinstance(c, str) for c in comps):
        return None
    return len(range(*slice(*comps).indices(n)))


class SliceLength(Op):
    """Run-time length of ``[start:stop:step]`` on a dimension of length ``n`` (for infer_shape)."""

    __props__ = ("pattern",)

    def __init__(self, pattern):
        self.pattern = tuple(pattern)

    def make_node(self, n, *parts):
        from .basic import as_tensor_variable

        inputs = [as_tensor_variable(v) for v in (n,) + parts]
        return Apply(self, inputs, [TensorType("int64", ())()])

    def perform(self, node, inputs, output_storage):
        (comps,) = _decode((self.pattern,), inputs[1:])
        output_storage[0][0] = np.asarray(len(range(*comps.indices(int(inputs[0])))), dtype=np.int64)

    def infer_shape(self, node, input_shapes):
        return [()]

    def grad(self, inputs, output_grads):
        return [None] * len(inputs)

    def connection_pattern(self, node):
        return [[False] for _ in node.inputs]


def _slice_len_sym(n, comps, syms):
    if comps == (None, None, None):
        return n
    return SliceLength(comps)(n, *syms)


# ------------------------------------------------------- y for set/inc ops
def _prepare_y(y, target, dtype, what):
    """``y`` cast to ``dtype`` and aligned (same ndim) with the indexed type ``target``."""
    from .basic import as_tensor_variable, cast
    from .elemwise import DimShuffle

    y = as_tensor_variable(y)
    if y.type.dtype != dtype:
        y = cast(y, dtype)
    nd = target.ndim
    if y.type.ndim > nd:
        extra = y.type.ndim - nd
        if any(s != 1 for s in y.type.shape[:extra]):
            raise ValueError(
                "%s: the value has %d dimensions (static shape %s) but the indexed subtensor has only %d"
                % (what, y.type.ndim, y.type.shape, nd)
            )
        y = DimShuffle(y.type.broadcastable, tuple(range(extra, y.type.ndim)))(y)
    elif y.type.ndim < nd:
        y = DimShuffle(y.type.broadcastable, ("x",) * (nd - y.type.ndim) + tuple(range(y.type.ndim)))(y)
    for ys, ts in zip(y.type.shape, target.shape):
        if ys is not None and ys != 1 and ts is not None and ys != ts:
            raise ValueError(
                "%s: cannot broadcast a value of static shape %s to the indexed shape %s"
                % (what, y.type.shape, target.shape)
            )
    return y


def _check_y_runtime(yvar, y, shape, what):
    """Only dimensions known to have length 1 broadcast (keeps the gradient of y exact)."""
    for d, (s, t) in enumerate(zip(y.shape, shape)):
        if s != t and yvar.type.shape[d] != 1:
            raise ValueError(
                "%s: the value of shape %s does not match the indexed shape %s in dimension %d (only dimensions "
                "known to have length 1, e.g. made with dimshuffle('x', ...), broadcast)" % (what, y.shape, shape, d)
            )


def _grad_for_y(y, g):
    """Sum ``g`` (shaped like the indexed subtensor) over the dimensions that ``y`` broadcast along."""
    from .basic import cast
    from .reduction import sum as _sum

    if not y.type.dtype.startswith(("float", "complex")):
        return None
    axes = tuple(d for d in range(y.type.ndim) if y.type.shape[d] == 1 and g.type.shape[d] != 1)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    return cast(g, y.type.dtype)


def _inc_grads(x, y, idx, gz, set_instead_of_inc, set_op, take_op):
    """Gradients of ``inc/set_subtensor(x[idx], y)``: ``[gx, gy, None...]``.

    ``set_op(g, value, *idx)`` writes into the indexed part and ``take_op(g, *idx)``
    reads it (the matching set and take ops of one indexing kind).
    """
    gx = None
    if _is_float(x):
        # a set overwrites the indexed part of x, so none of the gradient reaches it there
        gx = set_op(gz, _zero_scalar(gz.type.dtype), *idx) if set_instead_of_inc else gz
    return [gx, _grad_for_y(y, take_op(gz, *idx))] + [None] * len(idx)


def _zero_scalar(dtype):
    from .basic import constant

    return constant(np.zeros((), dtype=dtype))


def _is_float(v):
    return v.type.dtype.startswith(("float", "complex"))


def _warn_out_of_bounds(msg):
    """Warn at the user's line about a constant index outside a static length; the error comes at run time.

    Theano built such an index (``vector.shape[1]``) and failed only when it
    ran, and programs rely on that: Lasagne's losses take ``x.shape[1]`` before
    checking ranks and raising their own error.  The warning keeps the early
    notice; the IndexError is raised if the node runs.
    """
    import warnings

    from ..graph.utils import user_trace

    trace = user_trace()
    text = msg + "; indexing with it raises IndexError when the function runs"
    if trace is None:
        warnings.warn(text, RuntimeWarning, stacklevel=4)
    else:
        warnings.warn_explicit(text, RuntimeWarning, trace[0], trace[1])


# ---------------------------------------------------------------------- ops
class Subtensor(Op):
    """Basic indexing ``x[idx_list]`` (ints and slices); the output is a view of ``x``."""

    __props__ = ("idx_list",)
    view_map = {0: [0]}

    def __init__(self, idx_list):
        self.idx_list = _norm_idx_list(idx_list)

    def __str__(self):
        return "Subtensor{%s}" % _fmt_idx(self.idx_list)

    def n_sym(self):
        return sum(1 for e in self.idx_list for c in (e if isinstance(e, tuple) else (e,)) if isinstance(c, str))

    def make_node(self, x, *inputs):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        if len(self.idx_list) > x.type.ndim:
            raise IndexError(
                "too many indices for tensor: %s is %d-dimensional, but %d were indexed"
                % (x, x.type.ndim, len(self.idx_list))
            )
        if len(inputs) != self.n_sym():
            raise TypeError("%s expects %d symbolic index inputs, got %d" % (self, self.n_sym(), len(inputs)))
        for i in inputs:
            if i.type.ndim != 0 or not i.type.dtype.startswith(_INT_KINDS):
                raise TypeError("%s: indices must be integer scalars, got %s of type %s" % (self, i, i.type))
        shape = []
        for axis, (e, n) in enumerate(zip(self.idx_list, x.type.shape)):
            if isinstance(e, tuple):
                shape.append(_static_slice_len(n, e))
            elif isinstance(e, int) and n is not None and not -n <= e < n:
                _warn_out_of_bounds("index %d is out of bounds for axis %d with size %d (%s)" % (e, axis, n, x.type))
        shape.extend(x.type.shape[len(self.idx_list) :])
        return Apply(self, [x] + inputs, [TensorType(x.type.dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        idx = _decode(self.idx_list, inputs[1:])
        _check_bounds(idx, x.shape)
        # The trailing Ellipsis makes NumPy return a 0-d view instead of a scalar.
        output_storage[0][0] = x[idx + (Ellipsis,)]

    def infer_shape(self, node, input_shapes):
        xs = input_shapes[0]
        it = iter(node.inputs[1:])
        static = iter(node.outputs[0].type.shape)
        out = []
        for axis, e in enumerate(self.idx_list):
            if isinstance(e, tuple):
                syms = [next(it) for c in e if isinstance(c, str)]
                s = next(static)
                out.append(s if s is not None else _slice_len_sym(xs[axis], e, syms))
            elif isinstance(e, str):
                next(it)
        out.extend(xs[len(self.idx_list) :])
        return [tuple(out)]

    def grad(self, inputs, output_grads):
        x, idx = inputs[0], inputs[1:]
        gx = IncSubtensor(self.idx_list)(x.zeros_like(), output_grads[0], *idx) if _is_float(x) else None
        return [gx] + [None] * len(idx)

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]


class IncSubtensor(Op):
    """``x`` with ``x[idx_list]`` incremented by (or set to) ``y``; works on a copy of ``x``.

    ``inplace`` and ``destroyhandler_tolerate_aliased`` are accepted for Theano
    compatibility and ignored: the op never modifies its inputs.
    """

    __props__ = ("idx_list", "set_instead_of_inc")

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False, destroyhandler_tolerate_aliased=None):
        self.idx_list = Subtensor(idx_list).idx_list
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        return "%s{%s}" % ("SetSubtensor" if self.set_instead_of_inc else "IncSubtensor", _fmt_idx(self.idx_list))

    def make_node(self, x, y, *inputs):
        sub = Subtensor(self.idx_list).make_node(x, *inputs)
        x = sub.inputs[0]
        y = _prepare_y(y, sub.outputs[0].type, x.type.dtype, self)
        return Apply(self, [x, y] + sub.inputs[1:], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y = inputs[:2]
        idx = _decode(self.idx_list, inputs[2:])
        _check_bounds(idx, x.shape)
        out = x.copy()
        view = out[idx + (Ellipsis,)]
        _check_y_runtime(node.inputs[1], y, view.shape, self)
        if self.set_instead_of_inc:
            view[...] = y
        else:
            view += y
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        return _inc_grads(inputs[0], inputs[1], inputs[2:], output_grads[0], self.set_instead_of_inc,
                          IncSubtensor(self.idx_list, set_instead_of_inc=True), Subtensor(self.idx_list))  # fmt: skip

    def connection_pattern(self, node):
        return [[True], [True]] + [[False] for _ in node.inputs[2:]]


# --------------------------------------------------------------- front end
def getitem(x, idx):
    """NumPy indexing ``x[idx]`` of a symbolic tensor (``TensorVariable.__getitem__``).

    Integers, slices (constant or symbolic bounds), ``None``/newaxis and
    Ellipsis give a view (:class:`Subtensor`); integer and boolean arrays give
    advanced indexing (:class:`AdvancedSubtensor1`, :class:`AdvancedSubtensor`).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> x[1:, None, ::-1].eval({x: [[1., 2.], [3., 4.]]})
    array([[[4., 3.]]])
    """
    from .basic import as_tensor_variable
    from .elemwise import DimShuffle

    x = as_tensor_variable(x)
    entries = _normalize_index(x, idx)
    if any(isinstance(e, Variable) and e.type.ndim > 0 for e in entries):
        from .advanced_subtensor import advanced_getitem

        return advanced_getitem(x, entries)
    idx_list, inputs = _encode([e for e in entries if e is not None])
    out = Subtensor(idx_list)(x, *inputs)
    if all(e is not None for e in entries):
        return out
    # newaxis: a DimShuffle that inserts the length-1 axes where NumPy puts them.
    order, j = [], 0
    for e in entries:
        if e is None:
            order.append("x")
        elif isinstance(e, slice):
            order.append(j)
            j += 1
    order.extend(range(j, out.type.ndim))
    return DimShuffle(out.type.broadcastable, order)(out)


def _only_inserts_axes(op):
    return op.drop == () and list(op.shuffle) == list(range(op.input_ndim))


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False, tolerate_inplace_aliasing=False):
    """Return the tensor that ``x`` was indexed from, with ``y`` added to the indexed part.

    ``x`` must be the result of indexing, e.g. ``inc_subtensor(a[1:3], y)``.
    ``y`` broadcasts to the indexed shape.  With repeated integer indices the
    increments accumulate (``numpy.add.at``).  ``inplace`` and
    ``tolerate_inplace_aliasing`` are accepted for Theano compatibility; the
    inputs are never modified.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dvector('a')
    >>> T.inc_subtensor(a[[0, 0, 2]], 1.0).eval({a: [0., 0., 0.]})
    array([2., 0., 1.])
    """
    from .advanced_subtensor import AdvancedIncSubtensor, AdvancedIncSubtensor1, AdvancedSubtensor, AdvancedSubtensor1
    from .basic import as_tensor_variable
    from .elemwise import DimShuffle
    from .shape import addbroadcast

    x = as_tensor_variable(x)
    node = x.owner
    op = node.op if node is not None else None
    what = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
    if isinstance(op, Subtensor):
        return IncSubtensor(op.idx_list, set_instead_of_inc=set_instead_of_inc)(node.inputs[0], y, *node.inputs[1:])
    if isinstance(op, AdvancedSubtensor1):
        return AdvancedIncSubtensor1(set_instead_of_inc=set_instead_of_inc)(node.inputs[0], y, node.inputs[1])
    if isinstance(op, AdvancedSubtensor):
        return AdvancedIncSubtensor(op.idx_list, set_instead_of_inc=set_instead_of_inc)(
            node.inputs[0], y, *node.inputs[1:]
        )
    if isinstance(op, DimShuffle) and _only_inserts_axes(op) and node.inputs[0].owner is not None:
        # x[..., None, ...]: drop the inserted axes from y, then update the inner subtensor.
        y = as_tensor_variable(y)
        if y.type.ndim > x.type.ndim:
            raise ValueError("%s: the value has %d dimensions but %s has only %d" % (what, y.type.ndim, x, x.type.ndim))
        y = DimShuffle(y.type.broadcastable, ("x",) * (x.type.ndim - y.type.ndim) + tuple(range(y.type.ndim)))(y)
        y = addbroadcast(y, *op.augment)
        y = DimShuffle(y.type.broadcastable, [i for i in range(y.type.ndim) if i not in op.augment])(y)
        return inc_subtensor(node.inputs[0], y, set_instead_of_inc=set_instead_of_inc)
    raise TypeError(
        "%s: the first argument must be the result of indexing a tensor, such as x[1:3] or x[idx], "
        "but %s was built by %s" % (what, x, "nothing (it is an input)" if op is None else op)
    )


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """Return the tensor that ``x`` was indexed from, with the indexed part replaced by ``y``.

    ``x`` must be the result of indexing, e.g. ``set_subtensor(a[1:3], y)``.
    ``y`` broadcasts to the indexed shape.  With repeated integer indices the
    last write wins (as in NumPy assignment), and the gradient with respect to
    ``y`` then reaches every copy (as in Theano).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dvector('a')
    >>> T.set_subtensor(a[1:], 5.0).eval({a: [1., 2., 3.]})
    array([1., 5., 5.])
    """
    return inc_subtensor(x, y, inplace, set_instead_of_inc=True, tolerate_inplace_aliasing=tolerate_inplace_aliasing)


from .advanced_subtensor import *  # noqa: E402,F401,F403
from .advanced_subtensor import __all__ as _adv_all  # noqa: E402

__all__ = [
    "Subtensor", "IncSubtensor", "SliceLength", "getitem", "inc_subtensor", "set_subtensor",
] + list(_adv_all)  # fmt: skip
