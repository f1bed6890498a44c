"""Elemwise (a scalar op mapped over broadcast arrays) and DimShuffle.

Broadcasting follows Theano: inputs of lower rank get leading length-1
dimensions, and a dimension may only be broadcast when its static length is
1.  A run-time length of 1 in a dimension not known to be 1 is an error (as
in Theano), which keeps gradients exact: the sum over broadcast dimensions
is decided when the graph is built.
"""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..graph.utils import describe_value
from .type import TensorType


class DimShuffle(Op):
    """Reorder, drop (length-1) and insert (``'x'``) dimensions.

    ``DimShuffle(input_broadcastable, new_order)`` as in Theano, e.g.
    ``('x', 1, 0)`` puts a new length-1 axis first and swaps the others.
    """

    __props__ = ("input_ndim", "new_order")
    view_map = {0: [0]}

    def __init__(self, input_broadcastable, new_order):
        if isinstance(input_broadcastable, int):
            self.input_ndim = input_broadcastable
            bc = None
        else:
            bc = tuple(input_broadcastable)
            self.input_ndim = len(bc)
        new_order = tuple("x" if d == "x" else int(d) for d in new_order)
        kept = [d for d in new_order if d != "x"]
        for d in kept:
            if not 0 <= d < self.input_ndim:
                raise ValueError("DimShuffle: axis %d out of range for a %d-d input" % (d, self.input_ndim))
        if len(set(kept)) != len(kept):
            raise ValueError("DimShuffle: repeated axis in %s" % (new_order,))
        self.new_order = new_order
        self.shuffle = tuple(kept)
        self.drop = tuple(i for i in range(self.input_ndim) if i not in kept)
        if bc is not None:
            for d in self.drop:
                if not bc[d]:
                    raise ValueError(
                        "DimShuffle: cannot drop dimension %d, which is not known to have length 1" % d
                    )
        self.augment = tuple(i for i, d in enumerate(new_order) if d == "x")

    def __str__(self):
        return "DimShuffle{%s}" % ",".join(str(d) for d in self.new_order)

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        if x.type.ndim != self.input_ndim:
            raise TypeError("DimShuffle%s expects a %d-d input, got %s" % (self.new_order, self.input_ndim, x.type))
        for d in self.drop:
            if x.type.shape[d] != 1:
                raise ValueError(
                    "DimShuffle: cannot drop dimension %d of %s, which is not known to have length 1" % (d, x.type)
                )
        shape = tuple(1 if d == "x" else x.type.shape[d] for d in self.new_order)
        return Apply(self, [x], [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        res = x.transpose(self.shuffle + self.drop) if (self.shuffle + self.drop) != tuple(range(x.ndim)) else x
        shape = list(x.shape[d] for d in self.shuffle)
        for i in self.augment:
            shape.insert(i, 1)
        if len(shape) != res.ndim or self.drop:
            res = res.reshape(shape)
        output_storage[0][0] = res

    def infer_shape(self, node, input_shapes):
        (ishp,) = input_shapes
        return [tuple(1 if d == "x" else ishp[d] for d in self.new_order)]

    def grad(self, inputs, output_grads):
        (x,) = inputs
        (gz,) = output_grads
        from .reduction import sum as _sum

        if self.augment:
            gz = _sum(gz, axis=self.augment)
        # gz now has the kept axes in ``shuffle`` order; undo the permutation
        # and re-insert the dropped length-1 axes.
        order = []
        for i in range(self.input_ndim):
            if i in self.shuffle:
                order.append(self.shuffle.index(i))
            else:
                order.append("x")
        g = DimShuffle(gz.type.broadcastable, order)(gz)
        return [g]

    def R_op(self, inputs, eval_points):
        return [self(eval_points[0])] if eval_points[0] is not None else [None]


def transpose(x, axes=None):
    """Reverse (or permute by ``axes``) the dimensions of ``x``."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError("transpose: axes %s are not a permutation of %d dimensions" % (axes, x.ndim))
    if axes == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.type.broadcastable, axes)(x)


def _broadcast_shape(op, inputs):
    """Static output shape of broadcasting ``inputs`` (same ndim), or raise."""
    ndim = inputs[0].type.ndim
    out = []
    for d in range(ndim):
        lengths = [i.type.shape[d] for i in inputs]
        known = {s for s in lengths if s is not None and s != 1}
        if len(known) > 1:
            raise ValueError(
                "%s: input shapes %s cannot be broadcast together (dimension %d has lengths %s)"
                % (op, ", ".join(str(tuple("?" if s is None else s for s in i.type.shape)) for i in inputs), d,
                   sorted(known))
            )
        if known:
            out.append(known.pop())
        elif all(s == 1 for s in lengths):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


class Elemwise(Op):
    """Apply ``scalar_op`` elementwise with broadcasting."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op, name=None):
        self.scalar_op = scalar_op
        self.name = name

    def __str__(self):
        return "Elemwise{%s}" % self.scalar_op

    def make_node(self, *inputs):
        from .basic import as_tensor_variable, cast, constant

        sop = self.scalar_op
        if sop.nin != -1 and len(inputs) != sop.nin:
            raise TypeError("%s takes %d inputs, got %d" % (self, sop.nin, len(inputs)))
        if not inputs:
            raise TypeError("%s needs at least one input" % self)
        inputs = [as_tensor_variable(i) for i in inputs]
        # NumPy 2 promotion: Python scalars ("weak" constants) take the dtype
        # of the arrays they meet, so fvector * 0.1 stays float32.
        strong = [i.type.dtype for i in inputs if not getattr(i, "weak", False)]
        if strong and len(strong) < len(inputs):
            new = []
            for i in inputs:
                if getattr(i, "weak", False):
                    pyval = i.data.item()
                    try:
                        dt = np.result_type(*strong, pyval).name
                    except OverflowError:
                        dt = np.result_type(*strong, np.asarray(pyval)).name
                    if dt != i.type.dtype:
                        try:
                            with np.errstate(over="raise"):
                                i = constant(np.asarray(pyval, dtype=dt))
                        except (OverflowError, FloatingPointError):
                            i = constant(np.asarray(pyval))
                new.append(i)
            inputs = new
        if sop.bool_as_int:
            inputs = [cast(i, "int8") if i.type.dtype == "bool" else i for i in inputs]
        ndim = max(i.type.ndim for i in inputs)
        aligned = []
        for i in inputs:
            if i.type.ndim < ndim:
                k = ndim - i.type.ndim
                i = DimShuffle(i.type.broadcastable, ("x",) * k + tuple(range(i.type.ndim)))(i)
            aligned.append(i)
        shape = _broadcast_shape(self, aligned)
        out_dtypes = sop.output_dtypes(*[i.type.dtype for i in aligned])
        outputs = [TensorType(dt, shape)() for dt in out_dtypes]
        return Apply(self, aligned, outputs)

    def perform(self, node, inputs, output_storage):
        shapes = [i.shape for i in inputs]
        s0 = shapes[0]
        for s in shapes[1:]:
            if s != s0:
                self._check_shapes(node, inputs)
                break
        if node.outputs[0].type.dtype == "float32" and all(i.dtype.itemsize == 1 for i in inputs):
            # NumPy would compute exp(int8) etc. in float16; our output is
            # float32, so compute in float32 to get float32 accuracy.
            inputs = [i.astype(np.float32) if i.dtype.kind in "biu" else i for i in inputs]
        with np.errstate(all="ignore"):
            res = self.scalar_op.impl(*inputs)
        if len(node.outputs) == 1:
            res = (res,)
        for out, r, storage in zip(node.outputs, res, output_storage):
            dt = out.type.numpy_dtype
            if type(r) is not np.ndarray or r.dtype != dt:
                r = np.asarray(r, dtype=dt)
            storage[0] = r

    def _check_shapes(self, node, inputs):
        ndim = len(inputs[0].shape)
        for d in range(ndim):
            lengths = set()
            for var, val in zip(node.inputs, inputs):
                if var.type.shape[d] != 1:
                    lengths.add(val.shape[d])
                elif val.shape[d] != 1:
                    raise ValueError(
                        "input of static length 1 in dimension %d has run-time length %d" % (d, val.shape[d])
                    )
            if len(lengths) > 1:
                raise ValueError(
                    "input shapes %s do not match in dimension %d (only dimensions known to have length 1, "
                    "e.g. made with dimshuffle('x', ...) or a row/col type, broadcast)"
                    % (", ".join(describe_value(v) for v in inputs), d)
                )

    def infer_shape(self, node, input_shapes):
        out = []
        for d in range(node.outputs[0].type.ndim):
            if node.outputs[0].type.shape[d] is not None:
                out.append(node.outputs[0].type.shape[d])
                continue
            cand = [s[d] for v, s in zip(node.inputs, input_shapes) if v.type.shape[d] != 1]
            out.append(cand[0])
        return [tuple(out)] * len(node.outputs)

    def L_op(self, inputs, outputs, output_grads):
        from .basic import cast
        from .reduction import sum as _sum

        grads = self.scalar_op.grad(inputs, outputs, output_grads)
        res = []
        out_shape = outputs[0].type.shape
        for x, g in zip(inputs, grads):
            if g is None or not x.type.dtype.startswith(("float", "complex")):
                res.append(None)
                continue
            if _is_null(g):
                res.append(g)
                continue
            # Sum over the dimensions along which x was broadcast.
            axes = tuple(
                d for d in range(x.type.ndim) if x.type.shape[d] == 1 and (g.type.shape[d] != 1 or out_shape[d] != 1)
            )
            if axes:
                g = _sum(g, axis=axes, keepdims=True)
            if g.type.dtype != x.type.dtype:
                g = cast(g, x.type.dtype)
            res.append(g)
        return res

    def grad(self, inputs, output_grads):
        outputs = self.make_node(*inputs).outputs
        return self.L_op(inputs, outputs, output_grads)


def _is_null(g):
    from ..graph.grad import NullType

    return isinstance(getattr(g, "type", None), NullType)


__all__ = ["Elemwise", "DimShuffle", "transpose"]
