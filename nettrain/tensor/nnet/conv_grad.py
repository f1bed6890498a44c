"""Gradients of convolution as ops of their own, so backends can give them kernels.

``ConvGradInputs(kern, topgrad, *input_spatial_shape)`` is the gradient of
``Conv(x, kern)`` with respect to ``x`` (a "transposed convolution"), and
``ConvGradWeights(input, topgrad, *filter_spatial_shape)`` the gradient with
respect to the filters.  The spatial shape is an input because with strides
several input sizes give the same output size.

All three ops are bilinear in their two tensor inputs, so each one's gradient
is expressed with the other two: for ``B(x, w) = Conv(x, w)``,
``<g, GradInputs(w, gy)> = <Conv(g, w), gy>`` and
``<g, GradWeights(x, gy)> = <Conv(x, g), gy>``; second derivatives work.
"""

import itertools

import numpy as np

from ...graph.basic import Apply
from ..type import TensorType
from .conv import BaseConv, Conv2d, Conv3d, _check_channels, _flip, _im2col, _like, _out_shape, _pads, _sum


def _check_topgrad(op, gy_shape, ishape, kshape):
    """Raise unless ``topgrad``'s spatial shape is the forward output shape for these input and filter shapes."""
    expected = _out_shape(ishape, kshape, op.border_mode, op.subsample, op.filter_dilation)
    for e, o in zip(expected, gy_shape):
        if e is not None and o is not None and e != o:
            raise ValueError("%s: the output gradient has spatial shape %s, but input %s and filters %s give %s"
                             % (op, tuple(gy_shape), tuple(ishape), tuple(kshape), tuple(expected)))  # fmt: skip


def _grad_weights(op, x, gy, kshape):
    """``dCost/dw[f, c, k] = sum_{n, p} gy[n, f, p] * window(x)[n, c, p, k]``: one batched matmul."""
    g, n, f = op.num_groups, x.shape[0], gy.shape[1]
    if gy.shape[0] != n:
        raise ValueError("%s: the input has %d images but the output gradient %d" % (op, n, gy.shape[0]))
    _check_channels(op, x.shape[1], None, f)
    _check_topgrad(op, gy.shape[2:], x.shape[2:], kshape)
    cols, _ = _im2col(op, x, kshape)  # (G, N*P, Cg*K)
    p = int(np.prod(gy.shape[2:]))
    gmat = gy.reshape(n, g, f // g, p).transpose(1, 2, 0, 3).reshape(g, f // g, n * p)  # (G, Fg, N*P)
    gw = np.matmul(gmat, cols).reshape((f, x.shape[1] // g) + tuple(kshape))
    return _flip(gw, op.convdim) if op.filter_flip else gw


def _grad_inputs(op, w, gy, ishape):
    """Scatter ``gy @ filters`` back onto the padded input, one kernel tap at a time (col2im)."""
    nd, g = op.convdim, op.num_groups
    f, cg, kshape = w.shape[0], w.shape[1], w.shape[2:]
    n, oshape = gy.shape[0], gy.shape[2:]
    if gy.shape[1] != f:
        raise ValueError("%s: the output gradient has %d channels but there are %d filters" % (op, gy.shape[1], f))
    _check_channels(op, None, cg, f)
    _check_topgrad(op, oshape, ishape, kshape)
    if op.filter_flip:
        w = _flip(w, nd)
    p = int(np.prod(oshape))
    gmat = gy.reshape(n, g, f // g, p).transpose(1, 0, 3, 2).reshape(g, n * p, f // g)  # (G, N*P, Fg)
    dcols = np.matmul(gmat, w.reshape(g, f // g, cg * int(np.prod(kshape))))  # (G, N*P, Cg*K)
    # (G, N, *O, Cg, *K) -> (N, G*Cg, *K, *O): one (N, C, *O) block per kernel tap.
    dcols = dcols.reshape((g, n) + oshape + (cg,) + kshape)
    perm = (1, 0, 2 + nd) + tuple(range(3 + nd, 3 + 2 * nd)) + tuple(range(2, 2 + nd))
    dcols = dcols.transpose(perm).reshape((n, g * cg) + kshape + oshape)
    pads = _pads(op.border_mode, kshape, op.filter_dilation)
    gx = np.zeros((n, g * cg) + tuple(i + 2 * p for i, p in zip(ishape, pads)), dtype=dcols.dtype)
    for taps in itertools.product(*[range(k) for k in kshape]):
        sl = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                   for t, d, s, o in zip(taps, op.filter_dilation, op.subsample, oshape))  # fmt: skip
        gx[(slice(None), slice(None)) + sl] += dcols[(slice(None), slice(None)) + taps]
    return gx[(slice(None), slice(None)) + tuple(slice(p, p + i) for p, i in zip(pads, ishape))]


class ConvGradInputs(BaseConv):
    """Gradient of the convolution w.r.t. its input: ``(kern, topgrad, *input_spatial_shape) -> (N, C, *spatial)``."""

    def make_node(self, kern, topgrad, *shape):
        (kern, topgrad), dtype = self._tensors(kern, topgrad)
        kern = self._hinted(kern, self.kshp, "kshp")
        shape, static = self._shape_scalars(self._spatial_args(shape))
        self._check_spatial_hint(static, self.imshp, "imshp")
        f, cg = kern.type.shape[:2]
        fy = topgrad.type.shape[1]
        if f is not None and fy is not None and f != fy:
            raise ValueError("%s: the output gradient has %d channels but there are %d filters" % (self, fy, f))
        _check_channels(self, None, cg, f)
        _check_topgrad(self, topgrad.type.shape[2:], static, kern.type.shape[2:])
        channels = None if cg is None else cg * self.num_groups
        out = TensorType(dtype, (topgrad.type.shape[0], channels, *static))
        return Apply(self, [kern, topgrad, *shape], [out()])

    def perform(self, node, inputs, output_storage):
        w, gy, *shape = inputs
        gx = _grad_inputs(self, w, gy, tuple(int(s) for s in shape))
        output_storage[0][0] = np.ascontiguousarray(gx, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        ws, gys = input_shapes[:2]
        return [(gys[0], ws[1] * self.num_groups, *node.inputs[2:])]

    def connection_pattern(self, node):
        return [[True], [True]] + [[False]] * self.convdim

    def grad(self, inputs, output_grads):
        from ..shape import shape_tuple

        w, gy = inputs[:2]
        (g,) = output_grads
        conv, _, grad_weights = family(self.convdim)
        gw = grad_weights(**self.params())(g, gy, *shape_tuple(w)[2:])
        ggy = conv(**self.params())(g, w)
        return [_like(gw, w), _like(ggy, gy)] + [None] * self.convdim

    def R_op(self, inputs, eval_points):
        w, gy, *shape = inputs
        ew, egy = eval_points[:2]
        terms = ([self(ew, gy, *shape)] if ew is not None else []) + ([self(w, egy, *shape)] if egy is not None else [])
        return [_sum(terms)]


class ConvGradWeights(BaseConv):
    """Gradient of the convolution w.r.t. its filters: ``(input, topgrad, *filter_spatial_shape) -> (F, C/G, *K)``."""

    def make_node(self, x, topgrad, *shape):
        (x, topgrad), dtype = self._tensors(x, topgrad)
        x = self._hinted(x, self.imshp, "imshp")
        shape, static = self._shape_scalars(self._spatial_args(shape))
        self._check_spatial_hint(static, self.kshp, "kshp")
        c, f = x.type.shape[1], topgrad.type.shape[1]
        nx, ny = x.type.shape[0], topgrad.type.shape[0]
        if nx is not None and ny is not None and nx != ny:
            raise ValueError("%s: the input has batch size %d but the output gradient %d" % (self, nx, ny))
        _check_channels(self, c, None, f)
        _check_topgrad(self, topgrad.type.shape[2:], x.type.shape[2:], static)
        cg = None if c is None else c // self.num_groups
        out = TensorType(dtype, (f, cg, *static))
        return Apply(self, [x, topgrad, *shape], [out()])

    def perform(self, node, inputs, output_storage):
        x, gy, *shape = inputs
        gw = _grad_weights(self, x, gy, tuple(int(s) for s in shape))
        output_storage[0][0] = np.ascontiguousarray(gw, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        xs, gys = input_shapes[:2]
        return [(gys[1], xs[1] // self.num_groups, *node.inputs[2:])]

    def connection_pattern(self, node):
        return [[True], [True]] + [[False]] * self.convdim

    def grad(self, inputs, output_grads):
        from ..shape import shape_tuple

        x, gy = inputs[:2]
        (g,) = output_grads
        conv, grad_inputs, _ = family(self.convdim)
        gx = grad_inputs(**self.params())(g, gy, *shape_tuple(x)[2:])
        ggy = conv(**self.params())(x, g)
        return [_like(gx, x), _like(ggy, gy)] + [None] * self.convdim

    def R_op(self, inputs, eval_points):
        x, gy, *shape = inputs
        ex, egy = eval_points[:2]
        terms = ([self(ex, gy, *shape)] if ex is not None else []) + ([self(x, egy, *shape)] if egy is not None else [])
        return [_sum(terms)]


class Conv2dGradInputs(ConvGradInputs):
    """Gradient of :class:`Conv2d` w.r.t. its input."""

    convdim = 2


class Conv2dGradWeights(ConvGradWeights):
    """Gradient of :class:`Conv2d` w.r.t. its filters."""

    convdim = 2


class Conv3dGradInputs(ConvGradInputs):
    """Gradient of :class:`Conv3d` w.r.t. its input."""

    convdim = 3


class Conv3dGradWeights(ConvGradWeights):
    """Gradient of :class:`Conv3d` w.r.t. its filters."""

    convdim = 3


_FAMILIES = {2: (Conv2d, Conv2dGradInputs, Conv2dGradWeights), 3: (Conv3d, Conv3dGradInputs, Conv3dGradWeights)}


def family(convdim):
    """``(forward, grad-inputs, grad-weights)`` op classes of a convolution of ``convdim`` spatial dims."""
    return _FAMILIES[convdim]


def _grad_call(which, name, a, b, shape, nd, params):
    from ..basic import as_tensor_variable

    shape = as_tensor_variable(shape) if not isinstance(shape, (list, tuple)) else shape
    if isinstance(shape, (list, tuple)):
        if len(shape) != 2 + nd:
            raise ValueError("%s: the shape needs %d entries, got %d" % (name, 2 + nd, len(shape)))
        spatial = list(shape[2:])
    else:
        spatial = [shape[i] for i in range(2, 2 + nd)]  # a symbolic shape vector
    return family(nd)[which](**params)(a, b, *spatial)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None, border_mode="valid",
                           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):  # fmt: skip
    """Gradient of :func:`conv2d` w.r.t. its input: a transposed convolution ("deconvolution").

    ``input_shape`` is the full 4-entry shape of the convolution's input (ints
    or symbolic scalars, or a symbolic shape vector); it decides the output's
    size, which strides leave ambiguous.  ``filter_shape`` is accepted for
    Theano compatibility and ignored.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> gy, w = T.dtensor4('gy'), T.dtensor4('w')
    >>> up = T.nnet.conv2d_grad_wrt_inputs(gy, w, (1, 1, 4, 4), subsample=(2, 2))
    >>> up.eval({gy: np.ones((1, 1, 2, 2)), w: np.ones((1, 1, 1, 1))})[0, 0]
    array([[1., 0., 1., 0.],
           [0., 0., 0., 0.],
           [1., 0., 1., 0.],
           [0., 0., 0., 0.]])
    """
    params = dict(border_mode=border_mode, subsample=subsample, filter_flip=filter_flip,
                  filter_dilation=filter_dilation, num_groups=num_groups)  # fmt: skip
    return _grad_call(1, "conv2d_grad_wrt_inputs", filters, output_grad, input_shape, 2, params)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None, border_mode="valid",
                            subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):  # fmt: skip
    """Gradient of :func:`conv2d` w.r.t. its filters, for filters of the 4-entry ``filter_shape``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, gy = T.dtensor4('x'), T.dtensor4('gy')
    >>> gw = T.nnet.conv2d_grad_wrt_weights(x, gy, (1, 1, 2, 2), filter_flip=False)
    >>> gw.eval({x: np.arange(9.0).reshape(1, 1, 3, 3), gy: np.ones((1, 1, 2, 2))})[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    params = dict(border_mode=border_mode, subsample=subsample, filter_flip=filter_flip,
                  filter_dilation=filter_dilation, num_groups=num_groups)  # fmt: skip
    return _grad_call(2, "conv2d_grad_wrt_weights", input, output_grad, filter_shape, 2, params)


__all__ = [
    "ConvGradInputs", "ConvGradWeights", "Conv2dGradInputs", "Conv2dGradWeights", "Conv3dGradInputs",
    "Conv3dGradWeights", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
]  # fmt: skip
