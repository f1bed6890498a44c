"""Fused softmax + categorical crossentropy on integer targets.

The stabilizing rewrite turns ``categorical_crossentropy(softmax(x), y)``
into ``CrossentropySoftmax1Hot(x, y)``, whose value is computed from
``log_softmax`` (finite for any logits) and whose gradient is
``g * (softmax(x) - onehot(y))`` (op ``CrossentropySoftmax1HotDx``).
"""

import numpy as np

from ...graph.basic import Apply
from ...graph.op import Op
from ..type import TensorType
from .crossentropy import _check_indices, _check_rows


def _log_softmax_rows(x):
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    xs = x - m
    with np.errstate(divide="ignore"):
        return xs - np.log(np.sum(np.exp(xs), axis=1, keepdims=True))


class CrossentropySoftmax1Hot(Op):
    """``-log_softmax(x)[i, y[i]]`` per row ``i``."""

    __props__ = ()

    def make_node(self, x, y):
        from ..basic import as_tensor_variable

        x, y = as_tensor_variable(x), as_tensor_variable(y)
        if x.type.ndim != 2 or not x.type.dtype.startswith("float"):
            raise TypeError("CrossentropySoftmax1Hot: logits must be a float matrix, got %s" % x.type)
        if y.type.ndim != 1 or not y.type.dtype.startswith(("int", "uint")):
            raise TypeError("CrossentropySoftmax1Hot: class indices must be an integer vector, got %s" % y.type)
        n = x.type.shape[0] if x.type.shape[0] is not None else y.type.shape[0]
        return Apply(self, [x, y], [TensorType(x.type.dtype, (n,))()])

    def perform(self, node, inputs, output_storage):
        x, y = inputs
        _check_rows("crossentropy_softmax_1hot", x, y)
        _check_indices("crossentropy_softmax_1hot", x.shape[1], y)
        ls = _log_softmax_rows(x)
        output_storage[0][0] = np.asarray(-ls[np.arange(x.shape[0]), y], dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[0][0],)]

    def grad(self, inputs, output_grads):
        from .softmax_ops import softmax

        x, y = inputs
        return [CrossentropySoftmax1HotDx()(output_grads[0], softmax(x), y), None]


class CrossentropySoftmax1HotDx(Op):
    """``g[:, None] * (sm - onehot(y))``: the gradient of the fused crossentropy w.r.t. the logits.

    ``g`` may have static length 1 (one weight for every row, e.g. the ``1/n`` of a mean).
    """

    __props__ = ()

    def make_node(self, g, sm, y):
        from ..basic import as_tensor_variable

        g, sm, y = (as_tensor_variable(v) for v in (g, sm, y))
        if g.type.ndim != 1 or sm.type.ndim != 2 or y.type.ndim != 1:
            raise TypeError("CrossentropySoftmax1HotDx: expected a vector, a matrix and an integer vector")
        dtype = np.result_type(g.type.numpy_dtype, sm.type.numpy_dtype).name
        return Apply(self, [g, sm, y], [TensorType(dtype, sm.type.shape)()])

    def perform(self, node, inputs, output_storage):
        g, sm, y = inputs
        _check_rows("crossentropy_softmax_1hot_dx", sm, y)
        if g.shape[0] not in (sm.shape[0], 1) or (g.shape[0] == 1 and node.inputs[0].type.shape[0] != 1
                                                   and sm.shape[0] != 1):  # fmt: skip
            raise ValueError("crossentropy_softmax_1hot_dx: %d row weights for %d rows" % (g.shape[0], sm.shape[0]))
        _check_indices("crossentropy_softmax_1hot_dx", sm.shape[1], y)
        out = np.array(sm, dtype=node.outputs[0].type.numpy_dtype)
        out[np.arange(sm.shape[0]), y] -= 1
        out *= np.asarray(g)[:, None]
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def grad(self, inputs, output_grads):
        # out = g[:, None] * (sm - onehot(y)) is linear in g and in sm: second derivatives
        # (Hessians, R_op) of the fused crossentropy go through here
        from ..reduction import sum as _sum
        from .crossentropy import _one_hot

        g, sm, y = inputs
        (gz,) = output_grads
        dg = _sum(gz * (sm - _one_hot(y, sm)), axis=1)
        if g.type.shape[0] == 1:
            dg = _sum(dg, axis=0, keepdims=True)
        return [dg.astype(g.type.dtype), (gz * g.dimshuffle(0, "x")).astype(sm.type.dtype), None]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


crossentropy_softmax_1hot_fused = CrossentropySoftmax1Hot()
crossentropy_softmax_1hot_dx = CrossentropySoftmax1HotDx()

__all__ = ["CrossentropySoftmax1Hot", "CrossentropySoftmax1HotDx"]
