"""Convolution: the forward ops ``Conv2d`` / ``Conv3d`` and ``T.nnet.conv2d`` / ``conv3d``.

Theano's semantics: input ``(batch, channels, *spatial)``, filters
``(out_channels, in_channels // num_groups, *kernel)``; ``border_mode`` is
``'valid'``, ``'full'``, ``'half'``, an int or a tuple of ints (symmetric zero
padding); ``subsample`` is the stride; ``filter_flip=True`` is a true
convolution (the kernel is flipped), ``False`` a cross-correlation.

``perform`` uses im2col: a strided window view of the padded input is copied
once into a ``(groups, positions, in_channels * kernel)`` matrix and multiplied
by the filters with one batched ``np.matmul``, so NumPy's BLAS does the work.
The gradients are ops of their own (:mod:`.conv_grad`) so backends can give
them kernels; each is differentiable in turn through the other two.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...graph.basic import Apply
from ...graph.op import Op
from ..type import TensorType

_MODES = ("valid", "full", "half")


# ------------------------------------------------------------------ parameters
def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _norm_border_mode(border_mode, convdim, name):
    """``'valid'``, ``'full'``, ``'half'`` or a tuple of ``convdim`` non-negative ints (all-zero -> 'valid')."""
    if isinstance(border_mode, str):
        if border_mode in _MODES:
            return border_mode
    else:
        pads = (border_mode,) * convdim if _is_int(border_mode) else border_mode
        if isinstance(pads, (tuple, list)) and len(pads) == convdim and all(_is_int(p) and p >= 0 for p in pads):
            pads = tuple(int(p) for p in pads)
            return "valid" if not any(pads) else pads
    raise ValueError("%s: border_mode must be 'valid', 'full', 'half', a non-negative int or a tuple of %d of them, "
                     "got %r" % (name, convdim, border_mode))  # fmt: skip


def _norm_ints(value, convdim, what, name):
    """A tuple of ``convdim`` positive ints (``subsample``, ``filter_dilation``)."""
    vals = (value,) * convdim if _is_int(value) else value
    if isinstance(vals, (tuple, list)) and len(vals) == convdim and all(_is_int(v) and v >= 1 for v in vals):
        return tuple(int(v) for v in vals)
    raise ValueError("%s: %s must be a tuple of %d positive ints, got %r" % (name, what, convdim, value))


def _norm_groups(num_groups, name):
    if not _is_int(num_groups) or num_groups < 1:
        raise ValueError("%s: num_groups must be a positive int, got %r" % (name, num_groups))
    return int(num_groups)


# -------------------------------------------------------------------- geometry
# These work on Python ints and on symbolic int64 scalars alike (infer_shape).
def _pads(border_mode, kshape, dilation):
    """Zero padding on each side of every spatial dimension."""
    pads = []
    for i, (k, d) in enumerate(zip(kshape, dilation)):
        dk = (k - 1) * d + 1
        if border_mode == "valid":
            pads.append(0)
        elif border_mode == "full":
            pads.append(dk - 1)
        elif border_mode == "half":
            pads.append(dk // 2)
        else:
            pads.append(border_mode[i])
    return pads


def _out_shape(ishape, kshape, border_mode, subsample, dilation):
    """Output spatial lengths ``(i + 2 p - dilated_k) // s + 1``; None where unknown."""
    out = []
    for n, (i, k, s, d) in enumerate(zip(ishape, kshape, subsample, dilation)):
        if i is None or k is None:
            out.append(None)
            continue
        (p,) = _pads(border_mode if border_mode in _MODES else border_mode[n : n + 1], [k], [d])
        out.append((i + 2 * p - ((k - 1) * d + 1)) // s + 1)
    return out


def _static_kpads(border_mode, kshape, dilation):
    """Padding when it is known statically (explicit, or from a static kernel shape); None entries otherwise."""
    if isinstance(border_mode, tuple) or border_mode == "valid":
        return _pads(border_mode, [1] * len(kshape), dilation)
    return [None if k is None else p for k, p in zip(kshape, _pads(border_mode, [k or 1 for k in kshape], dilation))]


def _check_fits(op, ishape, kshape):
    """Raise if a (dilated) filter is larger than the padded input (static or run-time lengths)."""
    pads = _static_kpads(op.border_mode, kshape, op.filter_dilation)
    for i, k, p, d in zip(ishape, kshape, pads, op.filter_dilation):
        if i is not None and k is not None and p is not None and i + 2 * p < (k - 1) * d + 1:
            raise ValueError("%s: the filters (spatial shape %s, dilation %s) are larger than the padded input "
                             "(spatial shape %s, padding %s)"
                             % (op, tuple(kshape), op.filter_dilation, tuple(ishape), tuple(pads)))  # fmt: skip


def _check_channels(op, in_channels, filter_channels, out_channels):
    """Raise for channel counts that do not fit ``num_groups`` (None = unknown)."""
    g = op.num_groups
    if in_channels is not None and in_channels % g:
        raise ValueError("%s: %d input channels are not divisible by num_groups=%d" % (op, in_channels, g))
    if out_channels is not None and out_channels % g:
        raise ValueError("%s: %d output channels (filters) are not divisible by num_groups=%d" % (op, out_channels, g))
    if in_channels is not None and filter_channels is not None and in_channels != filter_channels * g:
        raise ValueError("%s: the input has %d channels but the filters expect %d (in_channels/num_groups=%d "
                         "x num_groups=%d)" % (op, in_channels, filter_channels * g, filter_channels, g))  # fmt: skip


# ------------------------------------------------------------- numpy kernels
def _flip(w, convdim):
    """Reverse the spatial axes of a filter bank (true convolution <-> correlation)."""
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * convdim]


def _im2col(op, x, kshape):
    """Windows of the zero-padded ``x`` as a ``(G, N * P, C/G * K)`` matrix, and the output spatial shape."""
    nd, g = len(kshape), op.num_groups
    pads = _pads(op.border_mode, kshape, op.filter_dilation)
    _check_fits(op, x.shape[2:], kshape)
    if any(pads):
        x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads])
    dks = tuple((k - 1) * d + 1 for k, d in zip(kshape, op.filter_dilation))
    win = sliding_window_view(x, dks, axis=tuple(range(2, 2 + nd)))
    # Keep every s-th window position and every d-th tap inside a window (stride, dilation).
    win = win[(slice(None),) * 2 + tuple(slice(None, None, s) for s in op.subsample)
              + tuple(slice(None, None, d) for d in op.filter_dilation)]  # fmt: skip
    n, c = x.shape[:2]
    oshape = win.shape[2 : 2 + nd]
    win = win.reshape((n, g, c // g) + oshape + tuple(kshape))
    # (N, G, Cg, *O, *K) -> (G, N, *O, Cg, *K); the reshape below is the one copy (im2col).
    perm = (1, 0) + tuple(range(3, 3 + nd)) + (2,) + tuple(range(3 + nd, 3 + 2 * nd))
    # explicit sizes, not -1: NumPy cannot infer a length next to an empty batch
    cols = win.transpose(perm).reshape(g, n * int(np.prod(oshape)), (c // g) * int(np.prod(kshape)))
    return cols, oshape


def _conv_forward(op, x, w):
    """``Conv(x, w)``: one batched matmul over groups of the im2col matrix and the filters."""
    nd, g = op.convdim, op.num_groups
    _check_channels(op, x.shape[1], w.shape[1], w.shape[0])
    if op.filter_flip:
        w = _flip(w, nd)
    cols, oshape = _im2col(op, x, w.shape[2:])
    f, n = w.shape[0], x.shape[0]
    wmat = w.reshape(g, f // g, cols.shape[2]).transpose(0, 2, 1)  # (G, Cg*K, Fg)
    out = np.matmul(cols, wmat)  # (G, N*P, Fg)
    out = out.reshape((g, n, int(np.prod(oshape)), f // g)).transpose(1, 0, 3, 2).reshape((n, f) + oshape)
    return out


# ------------------------------------------------------------------------ ops
class BaseConv(Op):
    """Shared parameters and checks of the forward and gradient convolution ops."""

    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups")
    convdim = 2

    # Theano's argument order, so that ``AbstractConv2d(imshp, kshp, ...)`` calls work unchanged
    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=None, filter_flip=True,
                 filter_dilation=None, num_groups=1, unshared=False):  # fmt: skip
        name = type(self).__name__
        nd = self.convdim
        self.border_mode = _norm_border_mode(border_mode, nd, name)
        self.subsample = _norm_ints((1,) * nd if subsample is None else subsample, nd, "subsample", name)
        self.filter_flip = bool(filter_flip)
        self.filter_dilation = _norm_ints((1,) * nd if filter_dilation is None else filter_dilation, nd,
                                          "filter_dilation", name)  # fmt: skip
        self.num_groups = _norm_groups(num_groups, name)
        if unshared:
            raise NotImplementedError("%s: unshared (locally connected) convolution is not implemented" % name)
        # Theano's shape hints (``AbstractConv2d(imshp=, kshp=)``): the full shapes of the
        # convolution's input and filters, entries None where unknown.  They are not
        # properties (equal ops whatever the hints) but promises: make_node checks them.
        self.imshp = self._hint(imshp, "imshp")
        self.kshp = self._hint(kshp, "kshp")

    def _hint(self, hint, what):
        if hint is None:
            return None
        hint = tuple(hint)
        if len(hint) != 2 + self.convdim:
            raise ValueError("%s: %s needs %d entries, got %r" % (type(self).__name__, what, 2 + self.convdim, hint))
        return hint

    def _hinted(self, x, hint, what):
        """``x`` with the static shape a hint promises (checked at run time; imshp's batch entry is only a hint)."""
        if hint is None:
            return x
        return _apply_hint(x, hint, "input_shape" if what == "imshp" else "filter_shape", type(self).__name__)

    def _check_spatial_hint(self, static, hint, what):
        """Raise if a known spatial-shape argument disagrees with the hint's spatial entries."""
        if hint is None:
            return
        for s, h in zip(static, hint[2:]):
            h = _static_hint(h)
            if s is not None and h is not None and s != h:
                raise ValueError("%s: the spatial shape %s disagrees with %s=%s" % (self, tuple(static), what, hint))

    def _spatial_args(self, shape):
        """The spatial-shape arguments, also given as one sequence or one symbolic vector (Theano's call)."""
        if len(shape) != 1:
            return shape
        (one,) = shape
        if isinstance(one, (list, tuple, np.ndarray)):
            return tuple(one)
        if getattr(getattr(one, "type", None), "ndim", 0) == 1:
            return tuple(one[i] for i in range(self.convdim))
        return shape

    def params(self):
        """The constructor arguments, to build the sibling ops of the same convolution."""
        return {p: getattr(self, p) for p in self.__props__}

    def _tensors(self, *xs):
        """Inputs as tensors of ``2 + convdim`` dims and one common float dtype."""
        from ..basic import as_tensor_variable, cast

        xs = [as_tensor_variable(x) for x in xs]
        for x in xs:
            if x.type.ndim != 2 + self.convdim:
                raise TypeError("%s needs %d-d tensors, got %s" % (self, 2 + self.convdim, x.type))
        dtype = np.result_type(*[x.type.numpy_dtype for x in xs])
        dtype = dtype.name if dtype.kind == "f" else "float64"
        return [x if x.type.dtype == dtype else cast(x, dtype) for x in xs], dtype

    def _shape_scalars(self, shape):
        """Spatial-shape inputs of the gradient ops: int scalars, and their static values (None if symbolic)."""
        from ..basic import as_tensor_variable, get_scalar_constant_value

        if len(shape) != self.convdim:
            raise ValueError("%s needs %d spatial lengths, got %d" % (self, self.convdim, len(shape)))
        out, static = [], []
        for s in shape:
            s = as_tensor_variable(s)
            if s.type.ndim != 0 or s.type.dtype[:3] not in ("int", "uin"):
                raise TypeError("%s: spatial lengths must be integer scalars, got %s" % (self, s.type))
            out.append(s)
            try:
                static.append(int(get_scalar_constant_value(s)))
            except ValueError:
                static.append(None)
        return out, static


class Conv(BaseConv):
    """Forward convolution of ``input (N, C, *spatial)`` with ``filters (F, C / num_groups, *kernel)``."""

    def make_node(self, x, w):
        (x, w), dtype = self._tensors(x, w)
        x, w = self._hinted(x, self.imshp, "imshp"), self._hinted(w, self.kshp, "kshp")
        _check_channels(self, x.type.shape[1], w.type.shape[1], w.type.shape[0])
        ishape, kshape = x.type.shape[2:], w.type.shape[2:]
        _check_fits(self, ishape, kshape)
        oshape = _out_shape(ishape, kshape, self.border_mode, self.subsample, self.filter_dilation)
        return Apply(self, [x, w], [TensorType(dtype, (x.type.shape[0], w.type.shape[0], *oshape))()])

    def perform(self, node, inputs, output_storage):
        out = _conv_forward(self, *inputs)
        output_storage[0][0] = np.ascontiguousarray(out, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        xs, ws = input_shapes
        oshape = _out_shape(xs[2:], ws[2:], self.border_mode, self.subsample, self.filter_dilation)
        return [(xs[0], ws[0], *oshape)]

    def grad(self, inputs, output_grads):
        from ..shape import shape_tuple
        from .conv_grad import family

        x, w = inputs
        (gy,) = output_grads
        _, grad_inputs, grad_weights = family(self.convdim)
        gx = grad_inputs(**self.params())(w, gy, *shape_tuple(x)[2:])
        gw = grad_weights(**self.params())(x, gy, *shape_tuple(w)[2:])
        return [_like(gx, x), _like(gw, w)]

    def R_op(self, inputs, eval_points):
        x, w = inputs
        ex, ew = eval_points
        terms = ([self(ex, w)] if ex is not None else []) + ([self(x, ew)] if ew is not None else [])
        return [_sum(terms)]


def _like(g, x):
    """``g`` cast to ``x``'s dtype (gradients keep their input's dtype)."""
    from ..basic import cast

    return g if g.type.dtype == x.type.dtype else cast(g, x.type.dtype)


def _sum(terms):
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


class Conv2d(Conv):
    """2-d convolution ``(N, C, H, W) * (F, C/G, kh, kw) -> (N, F, oh, ow)``."""

    convdim = 2


class Conv3d(Conv):
    """3-d convolution ``(N, C, D, H, W) * (F, C/G, kd, kh, kw) -> (N, F, od, oh, ow)``."""

    convdim = 3


# ------------------------------------------------------------- public functions
def _apply_hint(x, hint, what, name):
    """``x`` with the static shape promised by an ``input_shape`` / ``filter_shape`` hint (checked at run time)."""
    from ..basic import as_tensor_variable
    from ..shape import specify_shape

    x = as_tensor_variable(x)
    if hint is None:
        return x
    hint = tuple(hint)
    if len(hint) != x.type.ndim:
        raise ValueError("%s: %s has %d entries but the tensor has %d dimensions"
                         % (name, what, len(hint), x.type.ndim))  # fmt: skip
    static = [_static_hint(h) for h in hint]
    if what == "input_shape":
        # Theano programs often hard-code the batch size and then feed a smaller last batch:
        # the batch entry is a hint only, never checked
        static[0] = None
    return specify_shape(x, tuple(static))


def _static_hint(h):
    """An int for literal or constant entries; None for the rest (Theano used them only to pick implementations)."""
    from ..basic import get_scalar_constant_value

    if _is_int(h):
        return int(h)
    try:
        v = get_scalar_constant_value(h)
    except ValueError:
        return None
    return int(v) if _is_int(v) else None


def _conv(op_class, name, input, filters, input_shape, filter_shape, **params):
    op = op_class(**params)
    x = _apply_hint(input, input_shape, "input_shape", name)
    w = _apply_hint(filters, filter_shape, "filter_shape", name)
    return op(x, w)


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1),
           filter_flip=True, image_shape=None, filter_dilation=(1, 1), num_groups=1, unshared=False):  # fmt: skip
    """2-d convolution of a batch of images with a bank of filters (Theano's ``T.nnet.conv2d``).

    Parameters
    ----------
    input : 4-d tensor ``(batch, channels, rows, cols)``
    filters : 4-d tensor ``(out_channels, channels // num_groups, filter_rows, filter_cols)``
    input_shape, filter_shape : tuple of 4 ints or None, optional
        Known shapes (None entries unknown). They make the output's static shape
        known; unlike Theano they are checked when the function runs.
    border_mode : {'valid', 'full', 'half'} or int or (int, int)
        ``'valid'``: no padding; ``'full'``: pad by ``filter - 1``; ``'half'``:
        pad by ``filter // 2`` (same size for odd filters and stride 1); ints:
        symmetric zero padding per side.
    subsample : (int, int)
        Stride.
    filter_flip : bool
        True (default) flips the filters: a true convolution. False computes a
        cross-correlation, like most deep-learning libraries.
    image_shape : deprecated alias of ``input_shape``.
    filter_dilation : (int, int)
        Spacing between filter taps (atrous convolution).
    num_groups : int
        Grouped convolution: the channels split into ``num_groups`` groups,
        each convolved with its own ``out_channels // num_groups`` filters
        (``num_groups == channels`` is a depthwise convolution).

    Returns
    -------
    4-d tensor ``(batch, out_channels, out_rows, out_cols)`` of the input's
    float dtype, with ``out = (in + 2 * pad - dilation * (filter - 1) - 1) // stride + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, w = T.dtensor4('x'), T.dtensor4('w')
    >>> y = T.nnet.conv2d(x, w, border_mode='half')
    >>> y.eval({x: np.ones((1, 1, 3, 3)), w: np.ones((1, 1, 3, 3))})[0, 0]
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]])
    """
    if unshared:
        raise NotImplementedError("conv2d: unshared (locally connected) convolution is not supported")
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: give input_shape or its deprecated alias image_shape, not both")
        input_shape = image_shape
    return _conv(Conv2d, "conv2d", input, filters, input_shape, filter_shape, border_mode=border_mode,
                 subsample=subsample, filter_flip=filter_flip, filter_dilation=filter_dilation,
                 num_groups=num_groups)  # fmt: skip


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1, 1),
           filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):  # fmt: skip
    """3-d convolution of a batch of volumes with a bank of filters (Theano's ``T.nnet.conv3d``).

    Same parameters as :func:`conv2d` with one more spatial dimension: input
    ``(batch, channels, depth, rows, cols)``, filters ``(out_channels,
    channels // num_groups, filter_depth, filter_rows, filter_cols)``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x, w = T.dtensor5('x'), T.dtensor5('w')
    >>> T.nnet.conv3d(x, w, border_mode='full').eval({x: np.ones((1, 1, 2, 2, 2)), w: np.ones((1, 1, 2, 2, 2))}).shape
    (1, 1, 3, 3, 3)
    """
    return _conv(Conv3d, "conv3d", input, filters, input_shape, filter_shape, border_mode=border_mode,
                 subsample=subsample, filter_flip=filter_flip, filter_dilation=filter_dilation,
                 num_groups=num_groups)  # fmt: skip


# The gradient ops import this module's helpers, so they come last; `from .conv import *` gives both.
from .conv_grad import *  # noqa: E402,F401,F403
from .conv_grad import __all__ as _grad_all  # noqa: E402

__all__ = ["BaseConv", "Conv", "Conv2d", "Conv3d", "conv2d", "conv3d"] + _grad_all
