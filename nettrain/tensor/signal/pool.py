"""Pooling over the trailing dimensions: ``pool_2d``, ``pool_3d`` and their ops.

``Pool`` computes max / sum / average pooling over the last ``len(ws)``
dimensions of a tensor with any number of leading dimensions.  Its gradient
ops are ``MaxPoolGrad`` and ``AveragePoolGrad``; ``MaxPoolGradGrad`` is the
gradient of ``MaxPoolGrad`` with respect to its output gradient.

Unlike Theano's ops, window size, stride and padding are op parameters
(Python ints), not symbolic inputs; ``pool_2d`` sends sizes known only at
run time to :class:`~.pool_symbolic.SymbolicPool`.  Every ``perform`` loops over the
offsets inside one window (``prod(ws)`` strided slices of the whole batch),
never over pixels.

Ties in max pooling: the gradient goes to the *first* maximal element of a
window in row-major window order (Theano gave it to every tied element, so
two equal maxima received the gradient twice).  Padding never wins a max.
"""

import numpy as np

from ...graph.basic import Apply
from ...graph.grad import disconnected_type
from ...graph.op import Op
from ..type import TensorType

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _int_tuple(v, nd, name):
    t = tuple(int(a) for a in (v if isinstance(v, (tuple, list, np.ndarray)) else (v,) * nd))
    if len(t) != nd:
        raise ValueError("pool: %s must have %d entries, got %r" % (name, nd, v))
    return t


def _out_len(n, w, s, p, ignore_border):
    """Number of windows along one axis of length ``n`` (int or symbolic scalar), as Theano counts them."""
    symbolic = not isinstance(n, (int, np.integer))
    if symbolic:
        from ..math import maximum, minimum
    else:
        maximum, minimum = max, min
    if ignore_border:
        return maximum((n + 2 * p - w) // s + 1, 0)
    if s >= w:
        return (n - 1) // s + 1
    # The last window starts before the end of the axis; an empty axis has no windows.
    return minimum(maximum((n - 1 - w) // s + 1, 0) + 1, n)


class _PoolBase(Op):
    """Shared parameters and geometry of the pooling ops."""

    __props__ = ("ws", "stride", "pad", "ignore_border", "mode")

    def __init__(self, ws, stride=None, pad=None, ignore_border=True, mode="max"):
        if mode == "max_deterministic":  # Theano's alias; max pooling here is always deterministic
            mode = "max"
        if mode not in MODES:
            raise ValueError(
                "Pool mode parameter only support 'max', 'sum', 'average_inc_pad' and 'average_exc_pad'. Got %s"
                % (mode,)
            )
        nd = len(ws) if isinstance(ws, (tuple, list, np.ndarray)) else 2
        self.ws = _int_tuple(ws, nd, "ws")
        self.stride = self.ws if stride is None else _int_tuple(stride, nd, "stride")
        self.pad = (0,) * nd if pad is None else _int_tuple(pad, nd, "pad")
        self.ignore_border = bool(ignore_border)
        self.mode = mode
        if min(self.ws) < 1 or min(self.stride) < 1 or min(self.pad) < 0:
            raise ValueError("pool: ws and stride must be positive and pad non-negative, got ws=%s stride=%s pad=%s"
                             % (self.ws, self.stride, self.pad))  # fmt: skip
        if any(self.pad) and not self.ignore_border:
            raise NotImplementedError("padding works only with ignore_border=True")
        if any(p >= w for p, w in zip(self.pad, self.ws)):
            raise NotImplementedError("padding must be smaller than strides")  # Theano's message: pad < ws

    @property
    def nd(self):
        return len(self.ws)

    def out_dims(self, img_shape):
        """Pooled lengths for the trailing ``nd`` entries of ``img_shape`` (ints, symbolic or None)."""
        return tuple(
            None if n is None else _out_len(n, w, s, p, self.ignore_border)
            for n, w, s, p in zip(img_shape[-self.nd:], self.ws, self.stride, self.pad)
        )

    def _check_input(self, x, label="input"):
        from ..basic import as_tensor_variable

        x = as_tensor_variable(x)
        if x.type.ndim < self.nd:
            raise TypeError("%s: the %s must have at least %d dimensions, got %s" % (self, label, self.nd, x.type))
        return x

    # ---- NumPy helpers shared by the perform methods
    def _padded(self, a, out, fill):
        """``a`` inside a buffer that holds the padding and every (partial) window; returns a if none is needed."""
        lead, img = a.shape[: a.ndim - self.nd], a.shape[a.ndim - self.nd:]
        lens = tuple(max(n + 2 * p, (o - 1) * s + w) for n, o, w, s, p in zip(img, out, self.ws, self.stride, self.pad))
        if lens == img and not any(self.pad):
            return a
        buf = np.full(lead + lens, fill, dtype=a.dtype)
        buf[self._interior(img)] = a
        return buf

    def _interior(self, img):
        """Index of the real image inside a padded buffer."""
        return (Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(self.pad, img))

    def _offsets(self, out):
        """``(k, index)`` per window offset: ``buf[index]`` is element k (row-major) of every window."""
        for k, off in enumerate(np.ndindex(*self.ws)):
            yield k, (Ellipsis,) + tuple(slice(d, d + s * (o - 1) + 1, s) for d, s, o in zip(off, self.stride, out))

    def _counts(self, img, out):
        """Number of elements each window averages over (padding included for 'average_inc_pad')."""
        total = np.ones((1,) * self.nd)
        for i, (n, o, w, s, p) in enumerate(zip(img, out, self.ws, self.stride, self.pad)):
            start = np.arange(o) * s
            end = np.minimum(start + w, n + 2 * p)
            if self.mode != "average_inc_pad":
                start, end = np.maximum(start, p), np.minimum(end, n + p)
            total = total * (end - start).reshape((o,) + (1,) * (self.nd - 1 - i))
        return total

    def _argmax(self, x, out):
        """Flat window offset of the first maximal element of every window (padding never wins)."""
        buf = self._padded(x, out, _lowest(x.dtype))
        check_valid = buf is not x
        if check_valid:
            valid = self._padded(np.ones(x.shape[x.ndim - self.nd:], dtype=bool), out, False)
        best = idx = best_valid = None
        for k, sl in self._offsets(out):
            v = buf[sl]
            if best is None:
                best, idx = v.copy(), np.zeros(v.shape, dtype=np.intp)
                best_valid = valid[sl] if check_valid else None
                continue
            better = v > best
            if x.dtype.kind == "f":  # a NaN is the max (as np.max says); the first NaN wins
                better |= np.isnan(v) & ~np.isnan(best)
            if check_valid:
                better = valid[sl] & (better | ~best_valid)
                best_valid = best_valid | valid[sl]
            best = np.where(better, v, best)
            idx[better] = k
        return idx


def _lowest(dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False


def _grad_type(gz, out_shape):
    """Output type of a gradient op: ``gz``'s dtype with the given static shape."""
    return TensorType(gz.type.dtype, tuple(out_shape))()


class Pool(_PoolBase):
    """Max / sum / average pooling over the last ``len(ws)`` dimensions (see :func:`pool_2d`)."""

    def make_node(self, x):
        x = self._check_input(x)
        shape = x.type.shape[: x.type.ndim - self.nd] + self.out_dims(x.type.shape)
        return Apply(self, [x], [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        dtype = node.outputs[0].type.numpy_dtype
        img, out = x.shape[x.ndim - self.nd:], self.out_dims(x.shape)
        if 0 in out:
            output_storage[0][0] = np.zeros(x.shape[: x.ndim - self.nd] + out, dtype=dtype)
            return
        buf = self._padded(x, out, _lowest(x.dtype) if self.mode == "max" else 0)
        z = None
        for _, sl in self._offsets(out):
            if z is None:
                z = buf[sl].copy() if self.mode == "max" else buf[sl].astype(_acc_dtype(x.dtype))
            elif self.mode == "max":
                np.maximum(z, buf[sl], out=z)
            else:
                z += buf[sl]
        if self.mode.startswith("average"):
            z = z / self._counts(img, out)
        output_storage[0][0] = np.asarray(z, dtype=dtype)

    def infer_shape(self, node, input_shapes):
        (s,) = input_shapes
        return [tuple(s[: len(s) - self.nd]) + self.out_dims(s)]

    def grad(self, inputs, output_grads):
        from ..basic import cast

        (x,) = inputs
        gz = output_grads[0]
        if x.type.dtype.startswith("float"):
            gz = cast(gz, x.type.dtype)
        if self.mode == "max":
            return [MaxPoolGrad(self.ws, self.stride, self.pad, self.ignore_border)(x, gz)]
        return [AveragePoolGrad(self.ws, self.stride, self.pad, self.ignore_border, self.mode)(x, gz)]

    def R_op(self, inputs, eval_points):
        (ev,) = eval_points
        if ev is None:
            return [None]
        if self.mode == "max":
            return [MaxPoolGradGrad(self.ws, self.stride, self.pad, self.ignore_border)(inputs[0], ev)]
        return [self(ev)]

    @staticmethod
    def out_shape(imgshape, ws=None, ignore_border=False, stride=None, pad=None, ndim=2, ds=None, st=None,
                  padding=None):  # fmt: skip
        """Theano's ``Pool.out_shape``: the output shape for an input shape (ints)."""
        op = Pool(_first(ws, ds, "ws", "ds"), _first(stride, st, "stride", "st"),
                  _first(pad, padding, "pad", "padding"), ignore_border)  # fmt: skip
        if op.nd != ndim:
            raise ValueError("Pool.out_shape: ws has %d entries but ndim is %d" % (op.nd, ndim))
        return list(imgshape[: len(imgshape) - ndim]) + list(op.out_dims(tuple(imgshape)))


def _acc_dtype(dtype):
    """Accumulator for sums: float16 sums in float32, small integers in 64 bits (cast back at the end)."""
    if dtype.kind == "f":
        return np.float32 if dtype.itemsize < 4 else dtype
    return np.uint64 if dtype.kind == "u" else np.int64


class MaxPoolGrad(_PoolBase):
    """Gradient of max pooling: ``gz`` routed to the first maximal element of each window of ``x``."""

    __props__ = ("ws", "stride", "pad", "ignore_border")

    def __init__(self, ws, stride=None, pad=None, ignore_border=True):
        super().__init__(ws, stride, pad, ignore_border, "max")

    def make_node(self, x, gz):
        x, gz = self._check_input(x), self._check_input(gz, "output gradient")
        if x.type.ndim != gz.type.ndim:
            raise TypeError("%s: x %s and gz %s need the same ndim" % (self, x.type, gz.type))
        return Apply(self, [x, gz], [_grad_type(gz, x.type.shape)])

    def perform(self, node, inputs, output_storage):
        x, gz = inputs
        gx = _scatter(self, x, gz, lambda k, idx, g: np.where(idx == k, g, 0), node.outputs[0].type.numpy_dtype)
        output_storage[0][0] = gx

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        from ..basic import zeros_like

        x, gz = inputs
        (g,) = output_grads
        # Piecewise constant in x; linear in gz with adjoint "gather at the argmax".
        return [zeros_like(x), MaxPoolGradGrad(self.ws, self.stride, self.pad, self.ignore_border)(x, g)]


class AveragePoolGrad(_PoolBase):
    """Gradient of sum / average pooling: each window spreads ``gz`` (divided by its count) over its elements."""

    def __init__(self, ws, stride=None, pad=None, ignore_border=True, mode="average_inc_pad"):
        super().__init__(ws, stride, pad, ignore_border, mode)
        if mode == "max":
            raise ValueError("AveragePoolGrad: mode must be 'sum', 'average_inc_pad' or 'average_exc_pad', got 'max'")

    def make_node(self, x, gz):
        x, gz = self._check_input(x), self._check_input(gz, "output gradient")
        if x.type.ndim != gz.type.ndim:
            raise TypeError("%s: x %s and gz %s need the same ndim" % (self, x.type, gz.type))
        return Apply(self, [x, gz], [_grad_type(gz, x.type.shape)])

    def perform(self, node, inputs, output_storage):
        x, gz = inputs
        if self.mode != "sum":
            gz = gz / self._counts(x.shape[x.ndim - self.nd:], gz.shape[gz.ndim - self.nd:])
        output_storage[0][0] = _scatter(self, x, gz, lambda k, idx, g: g, node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[False], [True]]  # x only gives the shape

    def grad(self, inputs, output_grads):
        from ..basic import cast

        x, gz = inputs
        (g,) = output_grads
        # Linear in gz; its adjoint is the pooling itself.
        return [disconnected_type(), cast(Pool(self.ws, self.stride, self.pad, self.ignore_border, self.mode)(g),
                                          gz.type.dtype)]  # fmt: skip


class MaxPoolGradGrad(_PoolBase):
    """``ggx`` gathered at the argmax of every window of ``x`` (the R-op of max pooling)."""

    __props__ = ("ws", "stride", "pad", "ignore_border")

    def __init__(self, ws, stride=None, pad=None, ignore_border=True):
        super().__init__(ws, stride, pad, ignore_border, "max")

    def make_node(self, x, ggx):
        x, ggx = self._check_input(x), self._check_input(ggx, "gradient")
        if x.type.ndim != ggx.type.ndim:
            raise TypeError("%s: x %s and ggx %s need the same ndim" % (self, x.type, ggx.type))
        shape = x.type.shape[: x.type.ndim - self.nd] + self.out_dims(x.type.shape)
        return Apply(self, [x, ggx], [_grad_type(ggx, shape)])

    def perform(self, node, inputs, output_storage):
        x, ggx = inputs
        out = self.out_dims(x.shape)
        z = np.zeros(x.shape[: x.ndim - self.nd] + out, dtype=node.outputs[0].type.numpy_dtype)
        if 0 not in out:
            idx = self._argmax(x, out)
            buf = self._padded(ggx, out, 0)
            for k, sl in self._offsets(out):
                z = np.where(idx == k, buf[sl], z)
        output_storage[0][0] = np.asarray(z, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, node, input_shapes):
        s = input_shapes[0]
        return [tuple(s[: len(s) - self.nd]) + self.out_dims(s)]

    def grad(self, inputs, output_grads):
        from ..basic import zeros_like

        x, ggx = inputs
        (g,) = output_grads
        return [zeros_like(x), MaxPoolGrad(self.ws, self.stride, self.pad, self.ignore_border)(x, g)]


def _scatter(op, x, gz, contribution, dtype):
    """Sum ``contribution(k, argmax, gz)`` of every window back onto the positions of ``x``."""
    out = op.out_dims(x.shape)
    if gz.shape[gz.ndim - op.nd:] != out:
        raise ValueError("%s: output gradient of shape %s does not match the pooled shape %s of x %s"
                         % (op, gz.shape, out, x.shape))  # fmt: skip
    if 0 in out:
        return np.zeros(x.shape, dtype=dtype)
    idx = op._argmax(x, out) if op.mode == "max" else None
    buf = op._padded(np.zeros(x.shape, dtype=dtype), out, 0)
    for k, sl in op._offsets(out):
        buf[sl] += contribution(k, idx, gz)  # offsets inside one slice are distinct, so += is safe
    return np.ascontiguousarray(buf[op._interior(x.shape[x.ndim - op.nd:])], dtype=dtype)


def _first(new, old, new_name, old_name):
    """Theano's renamed keywords (``ds`` -> ``ws``, ``st`` -> ``stride``, ``padding`` -> ``pad``)."""
    if old is None:
        return new
    if new is not None:
        raise ValueError("You can't provide a tuple value to both '%s' and '%s'. Please provide a value only to "
                         "'%s'." % (new_name, old_name, new_name))  # fmt: skip
    return old


def _pool_nd(nd, name, input, ws, ignore_border, stride, pad, mode, ds, st, padding):
    from ..basic import as_tensor_variable

    ws = _first(ws, ds, "ws", "ds")
    if ws is None:
        raise ValueError("You must provide a tuple value for the window size.")
    stride = _first(stride, st, "stride", "st")
    pad = _first(None if pad is not None and not any(pad) else pad, padding, "pad", "padding")  # (0, 0) = not given
    input = as_tensor_variable(input)
    if input.type.ndim < nd:
        raise NotImplementedError("%s requires a dimension >= %d" % (name, nd))
    from .pool_symbolic import SymbolicPool, static_ints

    static = [None if s is None else _int_tuple(s, nd, what)  # checks the length
              for s, what in zip((static_ints(v, nd) for v in (ws, stride, pad)), ("ws", "stride", "pad"))]  # fmt: skip
    if static[0] is None or (stride is not None and static[1] is None) or (pad is not None and static[2] is None):
        # sizes known only at run time (Theano allowed symbolic ws/stride/pad)
        stride = ws if stride is None else stride
        pad = (0,) * nd if pad is None else pad
        return SymbolicPool(nd, ignore_border, mode)(input, ws, stride, pad)
    return Pool(static[0], static[1], static[2], ignore_border, mode)(input)


def pool_2d(input, ws=None, ignore_border=True, stride=None, pad=(0, 0), mode="max", ds=None, st=None,
            padding=None):  # fmt: skip
    """Pool the last two dimensions of ``input`` (any number of leading dimensions).

    Parameters
    ----------
    input : tensor with ndim >= 2
    ws : (int, int)
        Window size (``ds`` is Theano's old name).
    ignore_border : bool
        True: only windows that fit entirely (in the padded image).  False:
        also the partial windows at the bottom / right edge.  (Theano 1.0
        warned and used False when this was not given; the default here is True.)
    stride : (int, int), optional
        Step between windows; defaults to ``ws`` (``st`` is Theano's old name).
    pad : (int, int)
        Zeros added on both sides of each pooled dimension; needs
        ``ignore_border=True`` and ``pad < ws`` (``padding`` is the old name).
    mode : {'max', 'sum', 'average_inc_pad', 'average_exc_pad'}
        'average_inc_pad' counts padding in the divisor, 'average_exc_pad'
        does not.  For 'max' padding never wins.

    Returns
    -------
    tensor of ``input``'s dtype.  Max-pooling gradients go to the first
    maximal element of a window (row-major order) when there are ties.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.tensor.signal.pool import pool_2d
    >>> x = T.dmatrix('x')
    >>> pool_2d(x, ws=(2, 2), ignore_border=False).eval({x: np.arange(9.).reshape(3, 3)})
    array([[4., 5.],
           [7., 8.]])
    """
    return _pool_nd(2, "pool_2d", input, ws, ignore_border, stride, pad, mode, ds, st, padding)


def pool_3d(input, ws=None, ignore_border=True, stride=None, pad=(0, 0, 0), mode="max", ds=None, st=None,
            padding=None):  # fmt: skip
    """Pool the last three dimensions of ``input``; parameters as in :func:`pool_2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.tensor.signal.pool import pool_3d
    >>> x = T.tensor3('x')
    >>> pool_3d(x, ws=(2, 2, 2), mode='sum').eval({x: np.ones((2, 2, 2))})
    array([[[8.]]])
    """
    return _pool_nd(3, "pool_3d", input, ws, ignore_border, stride, pad, mode, ds, st, padding)


def max_pool_2d_same_size(input, patch_size):
    """Keep the maximum of every non-overlapping ``patch_size`` patch and zero the rest (same shape as input).

    With ties only the first maximal element (row-major) of a patch is kept.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.tensor.signal.pool import max_pool_2d_same_size
    >>> x = T.dmatrix('x')
    >>> max_pool_2d_same_size(x, (2, 2)).eval({x: [[1., 2.], [4., 3.]]})
    array([[0., 0.],
           [4., 0.]])
    """
    from ..basic import as_tensor_variable

    input = as_tensor_variable(input)
    ws = _int_tuple(patch_size, 2, "patch_size")
    return MaxPoolGrad(ws, ws, (0, 0), True)(input, Pool(ws, ws, (0, 0), True)(input))


__all__ = ["pool_2d", "pool_3d", "max_pool_2d_same_size", "Pool", "MaxPoolGrad", "AveragePoolGrad", "MaxPoolGradGrad"]
