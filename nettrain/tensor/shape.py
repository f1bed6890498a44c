"""Shape ops: shape, shape_i, specify_shape, reshape, flatten, squeeze, expand_dims,
and Theano's broadcast-pattern helpers (addbroadcast, unbroadcast, patternbroadcast).
"""

import numpy as np

from ..graph.basic import Apply, Constant
from ..graph.op import Op
from .type import TensorType


def _check_axes(axes, ndim, name):
    """``axes`` as non-negative ints; out-of-range or repeated axes raise ValueError."""
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError("%s: axis %d is out of range for a %d-d tensor" % (name, a, ndim))
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("%s: repeated axis in %s" % (name, tuple(axes)))
    return out


class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    __props__ = ()

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.type.ndim,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0].shape, dtype=np.int64)

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[0].type.ndim,)]

    def grad(self, inputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


class Shape_i(Op):
    """Length of dimension ``i`` as an int64 scalar."""

    __props__ = ("i",)

    def __init__(self, i):
        self.i = int(i)

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        if not 0 <= self.i < x.type.ndim:
            raise ValueError("Shape_i(%d) of a %d-d tensor" % (self.i, x.type.ndim))
        return Apply(self, [x], [TensorType("int64", ())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0].shape[self.i], dtype=np.int64)

    def infer_shape(self, node, input_shapes):
        return [()]

    def grad(self, inputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


def shape(x):
    """Symbolic shape of ``x`` (an int64 vector)."""
    return Shape()(x)


def shape_i(x, i):
    """Symbolic length of dimension ``i`` of ``x`` (a constant when static)."""
    from .basic import as_tensor_variable, constant

    x = as_tensor_variable(x)
    s = x.type.shape[i]
    if s is not None:
        return constant(np.asarray(s, dtype=np.int64))
    return Shape_i(i % x.type.ndim)(x)


def shape_tuple(x):
    """A tuple of symbolic scalars, one per dimension (constants when static)."""
    return tuple(shape_i(x, i) for i in range(x.type.ndim))


class SpecifyShape(Op):
    """Assert the static ``shape`` (None = any) at run time; a view of ``x``."""

    __props__ = ("shape",)
    view_map = {0: [0]}

    def __init__(self, shape):
        self.shape = tuple(None if s is None else int(s) for s in shape)

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        if x.type.ndim != len(self.shape):
            raise TypeError("specify_shape: %s has %d dimensions, not %d" % (x, x.type.ndim, len(self.shape)))
        shape = []
        for s, o in zip(self.shape, x.type.shape):
            if s is not None and o is not None and s != o:
                raise ValueError("specify_shape: %s has static shape %s, not %s" % (x, x.type.shape, self.shape))
            shape.append(s if s is not None else o)
        return Apply(self, [x], [TensorType(x.type.dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        for s, a in zip(self.shape, x.shape):
            if s is not None and s != a:
                raise ValueError(
                    "specify_shape: expected shape (%s), got %s"
                    % (", ".join("?" if s is None else str(s) for s in self.shape), x.shape)
                )
        output_storage[0][0] = x

    def infer_shape(self, node, input_shapes):
        return [tuple(s if s is not None else i for s, i in zip(self.shape, input_shapes[0]))]

    def grad(self, inputs, output_grads):
        return [output_grads[0]]

    def R_op(self, inputs, eval_points):
        return [eval_points[0]]


def specify_shape(x, shape):
    """``x`` with a known static ``shape`` (checked at run time)."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    shape = tuple(_static_entry(s) for s in shape)
    if len(shape) != x.type.ndim:
        raise TypeError("specify_shape: %s has %d dimensions, not %d" % (x, x.type.ndim, len(shape)))
    if x.type.shape == shape or all(s is None for s in shape):
        return x
    return SpecifyShape(shape)(x)


def _static_entry(s):
    """A static shape entry: an int, None, or a constant int scalar."""
    if s is None:
        return None
    if isinstance(s, Constant) and np.ndim(s.data) == 0 and np.asarray(s.data).dtype.kind in "iu":
        return int(s.data)
    if isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)):
        return int(s)
    raise TypeError("specify_shape: shape entries must be ints or None (not symbolic), got %r" % (s,))


class Unbroadcast(Op):
    """Forget that the given dimensions have length 1 (a view of ``x``)."""

    __props__ = ("axes",)
    view_map = {0: [0]}

    def __init__(self, axes):
        self.axes = tuple(sorted(int(a) for a in axes))

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        shape = tuple(None if i in self.axes else s for i, s in enumerate(x.type.shape))
        return Apply(self, [x], [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def grad(self, inputs, output_grads):
        (x,) = inputs
        g = output_grads[0]
        return [specify_shape(g, x.type.shape) if g.type.shape != x.type.shape else g]


def addbroadcast(x, *axes):
    """Declare the given dimensions of ``x`` to have length 1 (checked at run time)."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    shape = list(x.type.shape)
    for a in _check_axes(axes, x.type.ndim, "addbroadcast"):
        shape[a] = 1
    return specify_shape(x, tuple(shape))


def unbroadcast(x, *axes):
    """Forget that the given dimensions of ``x`` have length 1."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    axes = [a for a in _check_axes(axes, x.type.ndim, "unbroadcast") if x.type.shape[a] == 1]
    if not axes:
        return x
    return Unbroadcast(axes)(x)


def patternbroadcast(x, broadcastable):
    """Give ``x`` exactly the broadcastable pattern ``broadcastable``."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    if len(broadcastable) != x.type.ndim:
        raise ValueError("patternbroadcast: pattern %s for a %d-d tensor" % (broadcastable, x.type.ndim))
    to_add = [i for i, b in enumerate(broadcastable) if b and x.type.shape[i] != 1]
    to_drop = [i for i, b in enumerate(broadcastable) if not b and x.type.shape[i] == 1]
    if to_add:
        x = addbroadcast(x, *to_add)
    if to_drop:
        x = unbroadcast(x, *to_drop)
    return x


class Reshape(Op):
    """Reshape to ``ndim`` dimensions given by a symbolic int vector."""

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shp):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        shp = as_tensor_variable(shp, ndim=1)
        if not shp.type.dtype.startswith(("int", "uint")):
            raise TypeError("reshape: the new shape must be integers, got %s" % shp.type)
        vals = _known_entries(shp, self.ndim)
        if vals is not None:
            if len(vals) != self.ndim:
                raise ValueError("reshape: shape %s does not have %d entries" % (vals, self.ndim))
            if sum(1 for v in vals if v == -1) > 1:
                raise ValueError("reshape: at most one -1 in the new shape %s" % (vals,))
            if any(v is not None and v < -1 for v in vals):
                raise ValueError("reshape: negative dimension in the new shape %s" % (vals,))
            static = [v if v is not None and v >= 0 else None for v in vals]
            known = x.type.shape
            if None not in known and -1 in vals and vals.count(None) == 0:
                total = int(np.prod(known))
                rest = int(np.prod([v for v in static if v is not None]))
                if rest and total % rest == 0:
                    static[vals.index(-1)] = total // rest
            if None not in known and None not in static and int(np.prod(known)) != int(np.prod(static)):
                raise ValueError("reshape: cannot reshape a tensor of static shape %s into %s" % (x.type.shape, vals))
        elif getattr(shp.owner, "op", None) is not None and hasattr(shp.owner.op, "static_values"):
            static = list(shp.owner.op.static_values(shp.owner))
        else:
            static = [None] * self.ndim
        return Apply(self, [x, shp], [TensorType(x.type.dtype, tuple(static))()])

    def perform(self, node, inputs, output_storage):
        x, shp = inputs
        if len(shp) != self.ndim:
            raise ValueError("shape %s has %d entries, expected %d" % (tuple(shp), len(shp), self.ndim))
        try:
            output_storage[0][0] = np.reshape(x, shp)
        except ValueError as e:
            raise ValueError(
                "cannot reshape an array of shape %s into shape %s: %s" % (x.shape, tuple(int(s) for s in shp), e)
            ) from None

    def infer_shape(self, node, input_shapes):
        from .basic import as_tensor_variable, cast
        from .math import eq, int_div, neg, switch
        from .subtensor import getitem

        shp = node.inputs[1]
        entries = [getitem(shp, i) for i in range(self.ndim)]
        static = node.outputs[0].type.shape
        if all(s is not None for s in static):
            return [tuple(as_tensor_variable(np.int64(s)) for s in static)]
        # A -1 entry stands for the size of x divided by the product of the others.
        total = as_tensor_variable(np.int64(1))
        for d in input_shapes[0]:
            total = total * cast(as_tensor_variable(d), "int64")
        requested = as_tensor_variable(np.int64(1))
        for e in entries:
            requested = requested * e
        missing = int_div(total, neg(requested))
        out = []
        for s, e in zip(static, entries):
            out.append(as_tensor_variable(np.int64(s)) if s is not None else switch(eq(e, -1), missing, e))
        return [tuple(out)]

    def grad(self, inputs, output_grads):
        x, shp = inputs
        return [reshape(output_grads[0], shape(x), ndim=x.type.ndim), None]

    def connection_pattern(self, node):
        return [[True], [False]]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], inputs[1])]


def stacked_scalars(v):
    """The scalars that ``stack`` joined into the vector ``v``, or None if ``v`` is not such a stack."""
    from .elemwise import DimShuffle
    from .join import Join

    def one(p):
        op = getattr(p.owner, "op", None)
        return p.owner.inputs[0] if isinstance(op, DimShuffle) and op.new_order == ("x",) else None

    op = getattr(v.owner, "op", None)
    parts = v.owner.inputs if isinstance(op, Join) and op.axis == 0 else [v]
    scalars = [one(p) for p in parts]
    return None if any(s is None for s in scalars) else scalars


def _known_entries(shp, ndim):
    """The entries of the shape vector ``shp`` (int, or None when symbolic), or None if not readable."""
    if isinstance(shp, Constant):
        return [int(v) for v in shp.data]
    scalars = stacked_scalars(shp)
    if scalars is None:
        return None
    return [int(c.data) if isinstance(c, Constant) else None for c in scalars]


def reshape(x, newshape, ndim=None):
    """Symbolic ``numpy.reshape``; ``newshape`` may mix ints and scalars.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> x.reshape((2, -1)).eval({x: [1., 2., 3., 4.]})
    array([[1., 2.],
           [3., 4.]])
    """
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    if isinstance(newshape, (int, np.integer)):
        newshape = (int(newshape),)
    if isinstance(newshape, (list, tuple)):
        if ndim is None:
            ndim = len(newshape)
        if all(isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) for s in newshape):
            shp = as_tensor_variable(np.asarray(newshape, dtype=np.int64))
        else:
            from .alloc import _int_scalar
            from .join import stack

            shp = stack([_int_scalar(s, "reshape: shape") for s in newshape])
    else:
        shp = as_tensor_variable(newshape)
        if ndim is None:
            ndim = shp.type.shape[0]
            if ndim is None:
                raise ValueError("reshape: give ndim= when the new shape is a symbolic vector of unknown length")
    if shp.type.ndim != 1:
        raise TypeError("reshape: the new shape must be a vector, got %s" % shp.type)
    return Reshape(ndim)(x, shp)


def flatten(x, ndim=1, outdim=None):
    """Keep the first ``ndim - 1`` dimensions and flatten the rest into one."""
    from .basic import as_tensor_variable

    if outdim is not None:
        ndim = outdim
    x = as_tensor_variable(x)
    if not 1 <= ndim <= max(x.type.ndim, 1):
        raise ValueError("flatten: ndim must be in [1, %d], got %d" % (max(x.type.ndim, 1), ndim))
    if x.type.ndim == ndim:
        return x
    dims = [shape_i(x, i) for i in range(ndim - 1)] + [-1]
    out = reshape(x, dims, ndim=ndim)
    static = list(x.type.shape[: ndim - 1])
    rest = x.type.shape[ndim - 1 :]
    static.append(int(np.prod(rest)) if None not in rest else None)
    return specify_shape(out, tuple(static))


def squeeze(x, axis=None):
    """Drop length-1 dimensions (those known statically, or the given ``axis``)."""
    from .basic import as_tensor_variable
    from .elemwise import DimShuffle

    x = as_tensor_variable(x)
    if axis is None:
        drop = [i for i, s in enumerate(x.type.shape) if s == 1]
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        drop = sorted(_check_axes(axes, x.type.ndim, "squeeze"))
        not_one = [a for a in drop if x.type.shape[a] != 1]
        if not_one:
            x = addbroadcast(x, *not_one)
    return DimShuffle(x.type.broadcastable, [i for i in range(x.type.ndim) if i not in drop])(x)


def expand_dims(x, axis):
    """Insert a length-1 dimension at ``axis``."""
    from .basic import as_tensor_variable
    from .elemwise import DimShuffle

    x = as_tensor_variable(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = x.type.ndim + len(axes)
    axes = sorted(_check_axes(axes, nd, "expand_dims"))
    order = []
    j = 0
    for i in range(nd):
        if i in axes:
            order.append("x")
        else:
            order.append(j)
            j += 1
    return DimShuffle(x.type.broadcastable, order)(x)


def shape_padleft(x, n_ones=1):
    """Prepend ``n_ones`` broadcastable (length-1) dimensions.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.shape_padleft(T.dmatrix(), 2).type.shape
    (1, 1, None, None)
    """
    return expand_dims(x, tuple(range(n_ones))) if n_ones else x


def shape_padright(x, n_ones=1):
    """Append ``n_ones`` broadcastable (length-1) dimensions.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.shape_padright(T.dvector()).type.shape
    (None, 1)
    """
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    return expand_dims(x, tuple(range(x.type.ndim, x.type.ndim + n_ones))) if n_ones else x


def shape_padaxis(x, axis):
    """Insert one broadcastable dimension at ``axis`` (negative counts from the end, like ``np.expand_dims``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.shape_padaxis(T.dmatrix(), -1).type.shape
    (None, None, 1)
    """
    return expand_dims(x, axis)


__all__ = [
    "Shape", "Shape_i", "SpecifyShape", "Reshape", "Unbroadcast", "shape", "shape_i", "shape_tuple",
    "specify_shape", "reshape", "flatten", "squeeze", "expand_dims", "addbroadcast", "unbroadcast",
    "patternbroadcast", "shape_padleft", "shape_padright", "shape_padaxis",
]  # fmt: skip
