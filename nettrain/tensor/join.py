"""Joining and splitting: concatenate/join, stack, split."""

import numpy as np

from ..graph.basic import Apply, Constant
from ..graph.op import Op
from .type import TensorType


class Join(Op):
    """Concatenate tensors of equal ndim along ``axis``."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        from .basic import as_tensor_variable

        if not tensors:
            raise ValueError("join needs at least one tensor")
        tensors = [as_tensor_variable(t) for t in tensors]
        ndim = tensors[0].type.ndim
        if ndim == 0:
            raise TypeError("cannot join 0-d tensors; use stack")
        for t in tensors:
            if t.type.ndim != ndim:
                raise TypeError("join: all tensors need %d dimensions, got %s" % (ndim, [x.type.ndim for x in tensors]))
        if not 0 <= self.axis < ndim:
            raise ValueError("join: axis %d out of range for %d-d tensors" % (self.axis, ndim))
        dtype = np.result_type(*[t.type.dtype for t in tensors]).name
        shape = []
        for d in range(ndim):
            lens = [t.type.shape[d] for t in tensors]
            if d == self.axis:
                shape.append(sum(lens) if None not in lens else None)
            else:
                known = {s for s in lens if s is not None}
                if len(known) > 1:
                    raise ValueError("join: static lengths %s differ in dimension %d" % (sorted(known), d))
                shape.append(known.pop() if known else None)
        return Apply(self, tensors, [TensorType(dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        try:
            r = np.concatenate(inputs, axis=self.axis)
        except ValueError as e:
            raise ValueError("cannot join arrays of shapes %s along axis %d: %s"
                             % ([i.shape for i in inputs], self.axis, e)) from None  # fmt: skip
        output_storage[0][0] = r.astype(node.outputs[0].type.numpy_dtype, copy=False)

    def infer_shape(self, node, input_shapes):
        out = list(input_shapes[0])
        total = input_shapes[0][self.axis]
        for s in input_shapes[1:]:
            total = total + s[self.axis]
        out[self.axis] = total
        return [tuple(out)]

    def grad(self, inputs, output_grads):
        from .shape import shape_i

        (gz,) = output_grads
        sizes = [shape_i(x, self.axis) for x in inputs]
        parts = split(gz, sizes, len(inputs), axis=self.axis)
        if len(inputs) == 1:
            parts = [parts] if not isinstance(parts, list) else parts
        res = []
        for x, g in zip(inputs, parts):
            if not x.type.dtype.startswith(("float", "complex")):
                res.append(None)
                continue
            from .basic import cast
            from .shape import specify_shape

            g = cast(g, x.type.dtype)
            if g.type.shape != x.type.shape:
                g = specify_shape(g, x.type.shape)
            res.append(g)
        return res

    def R_op(self, inputs, eval_points):
        if any(e is None for e in eval_points):
            return [None]
        return [self(*eval_points)]


def concatenate(tensor_list, axis=0):
    """Join tensors along an existing ``axis`` (NumPy's ``concatenate``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> a = T.dvector('a')
    >>> T.concatenate([a, a]).eval({a: [1., 2.]})
    array([1., 2., 1., 2.])
    """
    from .basic import as_tensor_variable

    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError("concatenate takes a list of tensors, got %s" % type(tensor_list).__name__)
    tensors = [as_tensor_variable(t) for t in tensor_list]
    if not tensors:
        raise ValueError("concatenate of an empty list")
    ndim = tensors[0].type.ndim
    if ndim == 0:
        raise TypeError("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError("concatenate: axis %d out of range for %d-d tensors" % (axis, ndim))
    if len(tensors) == 1:
        return tensors[0]
    return Join(axis % ndim)(*tensors)


def join(axis, *tensors):
    """Theano's ``join(axis, *tensors)``."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    if isinstance(axis, Constant) and np.ndim(axis.data) == 0:
        axis = int(axis.data)
    elif not isinstance(axis, (int, np.integer)):
        raise TypeError(
            "join: the axis must be an int or a constant, got %r (symbolic axes are not supported)" % (axis,)
        )
    return concatenate(list(tensors), axis=axis)


def stack(tensors, *more, axis=0):
    """Join tensors along a new ``axis``.

    ``stack([x, y], axis)`` is NumPy's form; Theano's older ``stack(x, y, z)``
    (the tensors as separate arguments, along axis 0) is accepted too.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x, y = T.dscalars('x', 'y')
    >>> T.stack([x, y]).eval({x: 1.0, y: 2.0})
    array([1., 2.])
    >>> T.stack(x, y, x).eval({x: 1.0, y: 2.0})
    array([1., 2., 1.])
    """
    from .basic import as_tensor_variable
    from .shape import expand_dims

    if isinstance(tensors, (list, tuple)):
        if len(more) > 1:
            raise TypeError("stack(tensors, axis) takes 2 positional arguments, got %d" % (1 + len(more)))
        if more:
            axis = more[0]
    else:
        tensors = [tensors, *more]
    if not tensors:
        raise ValueError("stack of an empty list")
    tensors = [as_tensor_variable(t) for t in tensors]
    ndim = tensors[0].type.ndim
    for t in tensors:
        if t.type.ndim != ndim:
            raise TypeError("stack: all tensors need the same ndim, got %s" % [x.type.ndim for x in tensors])
    axis = int(axis)
    if not -(ndim + 1) <= axis <= ndim:
        raise ValueError("stack: axis %d out of range" % axis)
    axis %= ndim + 1
    expanded = [expand_dims(t, axis) for t in tensors]
    if len(expanded) == 1:
        return expanded[0]
    return Join(axis)(*expanded)


class Split(Op):
    """Split along ``axis`` into ``len_splits`` pieces of symbolic sizes."""

    __props__ = ("len_splits", "axis")

    def __init__(self, len_splits, axis):
        self.len_splits = int(len_splits)
        self.axis = int(axis)

    def make_node(self, x, splits):
        from .basic import as_tensor_variable
        from .shape import _known_entries

        x = as_tensor_variable(x)
        splits = as_tensor_variable(splits, ndim=1)
        if not splits.type.dtype.startswith(("int", "uint")):
            raise TypeError("split: sizes must be integers, got %s" % splits.type)
        if not 0 <= self.axis < x.type.ndim:
            raise ValueError("split: axis %d out of range for %s" % (self.axis, x.type))
        known = _known_entries(splits, self.len_splits)
        static = known if known is not None else [None] * self.len_splits
        if len(static) != self.len_splits:
            raise ValueError("split: %d sizes given for %d splits" % (len(static), self.len_splits))
        n = x.type.shape[self.axis]
        if any(v is not None and v < 0 for v in static) or (n is not None and None not in static and sum(static) != n):
            raise ValueError("split: sizes %s do not add up to the length %s of axis %d" % (static, n, self.axis))
        outs = []
        for k in range(self.len_splits):
            shape = list(x.type.shape)
            shape[self.axis] = int(static[k]) if static[k] is not None else None
            outs.append(TensorType(x.type.dtype, tuple(shape))())
        return Apply(self, [x, splits], outs)

    def perform(self, node, inputs, output_storage):
        x, splits = inputs
        if len(splits) != self.len_splits:
            raise ValueError("split: %d sizes given, expected %d" % (len(splits), self.len_splits))
        if int(np.sum(splits)) != x.shape[self.axis] or np.any(splits < 0):
            raise ValueError(
                "split: sizes %s do not add up to the length %d of axis %d"
                % ([int(v) for v in splits], x.shape[self.axis], self.axis)
            )
        idx = np.cumsum(splits)[:-1]
        for out, piece in zip(output_storage, np.split(x, idx, axis=self.axis)):
            out[0] = piece.copy()

    def infer_shape(self, node, input_shapes):
        from .subtensor import getitem

        res = []
        for k in range(self.len_splits):
            s = list(input_shapes[0])
            s[self.axis] = getitem(node.inputs[1], k)
            res.append(tuple(s))
        return res

    def grad(self, inputs, output_grads):
        x, splits = inputs
        outs = self.make_node(x, splits).outputs
        gs = [g if g is not None else o.zeros_like() for g, o in zip(output_grads, outs)]
        return [concatenate(gs, axis=self.axis) if len(gs) > 1 else gs[0], None]

    def connection_pattern(self, node):
        return [[True] * self.len_splits, [False] * self.len_splits]


def split(x, splits_size, n_splits, axis=0):
    """Split ``x`` along ``axis`` into ``n_splits`` parts of sizes ``splits_size``.

    ``splits_size`` is a list of ints or int scalars, or an int vector.  Returns
    a list for ``n_splits > 1`` and the variable itself for 1, as Theano.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> a, b = T.split(x, [1, 2], 2)
    >>> b.eval({x: [1., 2., 3.]})
    array([2., 3.])
    """
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    if isinstance(splits_size, (list, tuple)):
        if len(splits_size) != n_splits:
            raise ValueError("split: %d sizes for n_splits=%d" % (len(splits_size), n_splits))
        if all(isinstance(s, (int, np.integer)) for s in splits_size):
            splits = as_tensor_variable(np.asarray(splits_size, dtype=np.int64))
        else:
            from .alloc import _int_scalar

            splits = stack([_int_scalar(s, "split: sizes") for s in splits_size])
    else:
        splits = as_tensor_variable(splits_size)
    if x.type.ndim == 0 or not -x.type.ndim <= int(axis) < x.type.ndim:
        raise ValueError("split: axis %d is out of range for %s" % (int(axis), x.type))
    axis = int(axis) % x.type.ndim
    return Split(n_splits, axis)(x, splits)


__all__ = ["Join", "Split", "concatenate", "join", "stack", "split"]
