"""Cross-entropies: categorical (one-hot/probability targets or integer class
indices), binary, binary on logits, and the fused softmax + 1-hot form.

Integer class indices go through ``CrossentropyCategorical1Hot``, whose
gradient is the op ``CrossentropyCategorical1HotGrad`` (a scatter into a
zero matrix), as in Theano.
"""

import numpy as np

from ...graph.basic import Apply
from ...graph.op import Op
from ..type import TensorType


def _check_indices(name, k, y):
    """Raise IndexError naming the first class index outside ``[0, k)``."""
    bad = (y < 0) | (y >= k)
    if bad.any():
        i = int(np.argmax(bad))
        raise IndexError("%s: class index %d (at position %d) is out of range for %d classes" % (name, y[i], i, k))


def _check_rows(name, c, y):
    if c.shape[0] != y.shape[0]:
        raise ValueError(
            "%s: coding_dist of shape %s and class indices of shape %s have different numbers of rows"
            % (name, c.shape, y.shape)
        )


class CrossentropyCategorical1Hot(Op):
    """``-log(coding_dist[i, y[i]])`` for each row ``i`` (``y`` integer class indices)."""

    __props__ = ()

    def make_node(self, coding_dist, true_one_of_n):
        from ..basic import as_tensor_variable

        c, y = as_tensor_variable(coding_dist), as_tensor_variable(true_one_of_n)
        if c.type.ndim != 2:
            raise TypeError("CrossentropyCategorical1Hot: coding_dist must be a matrix, got %s" % c.type)
        if y.type.ndim != 1 or not y.type.dtype.startswith(("int", "uint")):
            raise TypeError("CrossentropyCategorical1Hot: class indices must be an integer vector, got %s" % y.type)
        n_c, n_y = c.type.shape[0], y.type.shape[0]
        if n_c is not None and n_y is not None and n_c != n_y:
            raise ValueError("CrossentropyCategorical1Hot: %d rows of coding_dist but %d class indices" % (n_c, n_y))
        return Apply(self, [c, y], [TensorType(c.type.dtype, (n_c if n_c is not None else n_y,))()])

    def perform(self, node, inputs, output_storage):
        c, y = inputs
        _check_rows("crossentropy_categorical_1hot", c, y)
        _check_indices("crossentropy_categorical_1hot", c.shape[1], y)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -np.log(c[np.arange(c.shape[0]), y])
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[0][0],)]

    def grad(self, inputs, output_grads):
        c, y = inputs
        return [crossentropy_categorical_1hot_grad(output_grads[0], c, y), None]

    def R_op(self, inputs, eval_points):
        from ..basic import ones_like
        from ..reduction import sum as _sum

        c, y = inputs
        if eval_points[0] is None:
            return [None]
        # CrossentropyCategorical1HotGrad(1, c, y) is -1/c at [i, y[i]], 0 elsewhere.
        weights = crossentropy_categorical_1hot_grad(ones_like(y, dtype=c.type.dtype), c, y)
        return [_sum(eval_points[0] * weights, axis=1)]


class CrossentropyCategorical1HotGrad(Op):
    """Zeros of ``coding_dist``'s shape with ``-g_y[i] / coding_dist[i, y[i]]`` at ``[i, y[i]]``."""

    __props__ = ()

    def make_node(self, g_y, coding_dist, true_one_of_n):
        from ..basic import as_tensor_variable

        g, c, y = (as_tensor_variable(v) for v in (g_y, coding_dist, true_one_of_n))
        if g.type.ndim != 1 or c.type.ndim != 2 or y.type.ndim != 1:
            raise TypeError("CrossentropyCategorical1HotGrad: expected a vector, a matrix and an integer vector, "
                            "got %s, %s and %s" % (g.type, c.type, y.type))  # fmt: skip
        if not y.type.dtype.startswith(("int", "uint")):
            raise TypeError("CrossentropyCategorical1HotGrad: class indices must be integers, got %s" % y.type)
        dtype = np.result_type(g.type.numpy_dtype, c.type.numpy_dtype).name
        return Apply(self, [g, c, y], [TensorType(dtype, c.type.shape)()])

    def perform(self, node, inputs, output_storage):
        g, c, y = inputs
        _check_rows("crossentropy_categorical_1hot_grad", c, y)
        _check_indices("crossentropy_categorical_1hot_grad", c.shape[1], y)
        out = np.zeros(c.shape, dtype=node.outputs[0].type.numpy_dtype)
        rows = np.arange(c.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows, y] = -g / c[rows, y]
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        from ..basic import cast, ones_like
        from ..reduction import sum as _sum

        g, c, y = inputs
        (gz,) = output_grads
        # The output is linear in g, and d out[i, y_i] / d c[i, y_i] = -out[i, y_i] / c[i, y_i].
        g_g = _sum(gz * self(ones_like(g), c, y), axis=1)
        g_c = -gz * outputs[0] / c
        return [cast(g_g, g.type.dtype), cast(g_c, c.type.dtype), None]

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, [self(*inputs)], output_grads)


crossentropy_categorical_1hot = CrossentropyCategorical1Hot()
crossentropy_categorical_1hot_grad = CrossentropyCategorical1HotGrad()


def _one_hot(y, like):
    """A matrix shaped like ``like`` with 1 at ``[i, y[i]]`` and 0 elsewhere."""
    from ..basic import ones_like

    # -(-1) / 1 = 1 at the picked entries: the gradient op is exactly a scatter.
    return crossentropy_categorical_1hot_grad(-ones_like(y, dtype=like.type.dtype), ones_like(like), y)


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy between a predicted distribution and the true one, per row.

    ``true_dist`` is either a matrix of probabilities (one-hot or not):
    ``-sum(true_dist * log(coding_dist), axis=-1)``; or an integer vector of
    class indices: ``-log(coding_dist[i, true_dist[i]])``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> p, y = T.dmatrix('p'), T.ivector('y')
    >>> T.nnet.categorical_crossentropy(p, y).eval({p: [[0.5, 0.5]], y: [1]})
    array([0.69314718])
    """
    from ..basic import as_tensor_variable
    from ..math import log
    from ..reduction import sum as _sum

    c, t = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if t.type.ndim == c.type.ndim:
        return -_sum(t * log(c), axis=-1)
    if t.type.ndim == c.type.ndim - 1:
        return crossentropy_categorical_1hot(c, t)
    raise TypeError(
        "categorical_crossentropy: true_dist must be a distribution like coding_dist (%s) or a vector of class "
        "indices, got %s" % (c.type, t.type)
    )


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))`` elementwise.

    ``output`` holds probabilities; on logits use ``sigmoid_binary_crossentropy``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> o, t = T.dvector('o'), T.dvector('t')
    >>> T.nnet.binary_crossentropy(o, t).eval({o: [0.5], t: [1.]})
    array([0.69314718])
    """
    from ..basic import as_tensor_variable
    from ..math import log, log1p

    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return -(target * log(output) + (1 - target) * log1p(-output))


def sigmoid_binary_crossentropy(output, target):
    """``binary_crossentropy(sigmoid(output), target)`` on logits, computed stably
    as ``softplus(output) - output * target``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x, t = T.dvector('x'), T.dvector('t')
    >>> T.nnet.sigmoid_binary_crossentropy(x, t).eval({x: [1000., 0.], t: [1., 1.]})
    array([0.        , 0.69314718])
    """
    from ..basic import as_tensor_variable
    from ..math import softplus

    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return softplus(output) - output * target


def crossentropy_softmax_1hot(x, y_idx):
    """Softmax of the rows of ``x`` and the negative log-likelihood of classes ``y_idx``.

    Returns ``(nll, sm)``; ``nll`` comes from ``log_softmax``, so it stays
    finite for large logits.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x, y = T.dmatrix('x'), T.ivector('y')
    >>> nll, sm = T.nnet.crossentropy_softmax_1hot(x, y)
    >>> nll.eval({x: [[0., 1000.]], y: [0]})
    array([1000.])
    """
    from ..basic import as_tensor_variable
    from ..reduction import sum as _sum
    from .softmax_ops import log_softmax, softmax

    from .softmax_crossentropy import CrossentropySoftmax1Hot

    x, y_idx = as_tensor_variable(x), as_tensor_variable(y_idx)
    if x.type.ndim != 2:
        raise TypeError("crossentropy_softmax_1hot: x must be a matrix, got %s" % x.type)
    if not x.type.dtype.startswith("float"):
        logp = log_softmax(x)
        return -_sum(logp * _one_hot(y_idx, logp), axis=1), softmax(x)
    # the fused op: one kernel forward, one for the gradient (g * (softmax(x) - onehot(y)))
    return CrossentropySoftmax1Hot()(x, y_idx), softmax(x)


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """``crossentropy_softmax_1hot(x + b, y_idx)`` with ``b`` a vector added to each row."""
    return crossentropy_softmax_1hot(x + b, y_idx)


__all__ = [
    "CrossentropyCategorical1Hot", "CrossentropyCategorical1HotGrad", "crossentropy_categorical_1hot",
    "crossentropy_categorical_1hot_grad", "categorical_crossentropy", "binary_crossentropy",
    "sigmoid_binary_crossentropy", "crossentropy_softmax_1hot", "crossentropy_softmax_1hot_with_bias",
]  # fmt: skip
