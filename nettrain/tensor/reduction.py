"""Reductions: sum, prod, max, min, all, any, argmax, argmin, mean, var, std.

One op class, ``CAReduce``, covers the commutative-associative reductions;
``keepdims`` is a DimShuffle after the reduction (so rewrites see one form).
"""

import builtins

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from .type import TensorType

_REDUCERS = {
    "add": np.add.reduce,
    "mul": np.multiply.reduce,
    "maximum": np.maximum.reduce,
    "minimum": np.minimum.reduce,
    "and": np.logical_and.reduce,
    "or": np.logical_or.reduce,
}
_IDENTITY = {"add": True, "mul": True, "maximum": False, "minimum": False, "and": True, "or": True}


def _norm_axis(axis, ndim):
    """``axis`` (None, int or sequence; negatives allowed) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    if hasattr(axis, "owner") or hasattr(axis, "type"):
        from .basic import get_scalar_constant_value

        axis = (int(get_scalar_constant_value(axis)),)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError("axis %d is out of range for a %d-d tensor" % (a, ndim))
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError("repeated axis in %s" % (axis,))
    return tuple(sorted(out)) if ndim else ()


class CAReduce(Op):
    """Reduce over ``axis`` with a commutative, associative binary op."""

    __props__ = ("reducer", "axis", "dtype")

    def __init__(self, reducer, axis, dtype):
        if reducer not in _REDUCERS:
            raise ValueError("unknown reducer %r" % reducer)
        self.reducer = reducer
        self.axis = tuple(axis)
        self.dtype = dtype

    def __str__(self):
        names = {"add": "Sum", "mul": "Prod", "maximum": "Max", "minimum": "Min", "and": "All", "or": "Any"}
        name = names[self.reducer]
        return "%s{axis=%s}" % (name, list(self.axis))

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        for a in self.axis:
            if a >= x.type.ndim:
                raise ValueError("%s: axis %d out of range for %s" % (self, a, x.type))
        shape = tuple(s for i, s in enumerate(x.type.shape) if i not in self.axis)
        return Apply(self, [x], [TensorType(self.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        if not _IDENTITY[self.reducer] and builtins.any(x.shape[a] == 0 for a in self.axis):
            raise ValueError("%s of an empty dimension has no identity (input shape %s)" % (self, x.shape))
        dt = node.outputs[0].type.numpy_dtype
        if self.reducer in ("add", "mul"):
            r = _REDUCERS[self.reducer](x, axis=self.axis, dtype=dt) if self.axis else x.astype(dt)
        else:
            # with no axis to reduce, copy: the output must not alias the input
            r = _REDUCERS[self.reducer](x, axis=self.axis) if self.axis else x.copy()
        output_storage[0][0] = np.asarray(r, dtype=dt)

    def infer_shape(self, node, input_shapes):
        (s,) = input_shapes
        return [tuple(d for i, d in enumerate(s) if i not in self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        (z,) = outputs
        (gz,) = output_grads
        if not x.type.dtype.startswith(("float", "complex")) or self.reducer in ("and", "or"):
            return [None]
        gz_b = _expand(gz, x.type.ndim, self.axis)
        from . import math as m

        if self.reducer == "add":
            return [m.fill(x, gz_b)]
        if self.reducer == "mul":
            return [_prod_grad(x, _expand(z, x.type.ndim, self.axis), gz_b, self.axis)]
        # max / min: the gradient goes to every element equal to the extremum.
        z_b = _expand(z, x.type.ndim, self.axis)
        return [m.cast(m.eq(x, z_b), x.type.dtype) * gz_b]

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, [self(inputs[0])], output_grads)


def _expand(v, ndim, axis):
    """Re-insert the reduced axes of ``v`` as length-1 dimensions."""
    from .elemwise import DimShuffle

    order = []
    j = 0
    for i in range(ndim):
        if i in axis:
            order.append("x")
        else:
            order.append(j)
            j += 1
    return DimShuffle(v.type.broadcastable, order)(v)


def _prod_grad(x, z_b, gz_b, axis):
    """d prod / dx_i = prod of the others, exact also when x holds zeros."""
    from . import math as m

    is_zero = m.eq(x, 0)
    nz = CAReduce("add", axis, "int64")(m.cast(is_zero, "int64"))
    nz_b = _expand(nz, x.type.ndim, axis)
    x_nozero = m.switch(is_zero, 1, x)
    prod_nozero = _expand(CAReduce("mul", axis, x.type.dtype)(x_nozero), x.type.ndim, axis)
    # no zeros: z / x; one zero: product of the rest at the zero, 0 elsewhere;
    # two or more zeros: 0 everywhere.
    g = m.switch(m.eq(nz_b, 0), z_b / x_nozero, m.switch(m.and_(m.eq(nz_b, 1), is_zero), prod_nozero, 0))
    return gz_b * g


def _sum_dtype(dtype, reducer):
    if reducer in ("and", "or"):
        return "bool"
    if reducer in ("maximum", "minimum"):
        return dtype
    # NumPy: small ints and bools accumulate in the platform integer.
    kind = np.dtype(dtype).kind
    if kind == "b" or (kind == "i" and np.dtype(dtype).itemsize < 8):
        return "int64"
    if kind == "u" and np.dtype(dtype).itemsize < 8:
        return "uint64"
    return dtype


def _reduce(reducer, x, axis, keepdims, dtype=None):
    from .basic import as_tensor_variable, cast

    x = as_tensor_variable(x)
    ax = _norm_axis(axis, x.type.ndim)
    out_dtype = dtype if dtype is not None else _sum_dtype(x.type.dtype, reducer)
    if reducer in ("maximum", "minimum") and dtype is not None and dtype != x.type.dtype:
        x = cast(x, dtype)
    r = CAReduce(reducer, ax, np.dtype(out_dtype).name)(x)
    if keepdims:
        r = _expand(r, x.type.ndim, ax)
    return r


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis`` (all axes by default).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.sum(x, axis=0, keepdims=True).eval({x: [[1., 2.], [3., 4.]]})
    array([[4., 6.]])
    """
    return _reduce("add", x, axis, keepdims, dtype)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over ``axis``."""
    return _reduce("mul", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``."""
    return _reduce("maximum", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``."""
    return _reduce("minimum", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """True where every element along ``axis`` is non-zero."""
    return _reduce("and", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    """True where some element along ``axis`` is non-zero."""
    return _reduce("or", x, axis, keepdims)


class Argmax(Op):
    """Index of the maximum (``which='max'``) or minimum along one or all axes."""

    __props__ = ("axis", "which")

    def __init__(self, axis, which="max"):
        self.axis = axis
        self.which = which

    def make_node(self, x):
        from .basic import as_tensor_variable

        x = as_tensor_variable(x)
        if self.axis is None:
            shape = ()
        else:
            shape = tuple(s for i, s in enumerate(x.type.shape) if i != self.axis)
        return Apply(self, [x], [TensorType("int64", shape)()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        f = np.argmax if self.which == "max" else np.argmin
        output_storage[0][0] = np.asarray(f(x, axis=self.axis), dtype=np.int64)

    def infer_shape(self, node, input_shapes):
        if self.axis is None:
            return [()]
        return [tuple(d for i, d in enumerate(input_shapes[0]) if i != self.axis)]

    def grad(self, inputs, output_grads):
        return [inputs[0].zeros_like()]


def _arg(which, x, axis, keepdims):
    from .basic import as_tensor_variable
    from .shape import flatten

    x = as_tensor_variable(x)
    if axis is None or (isinstance(axis, (list, tuple)) and len(axis) == x.type.ndim and x.type.ndim > 1):
        r = Argmax(None, which)(flatten(x, 1) if x.type.ndim != 1 else x)
        ax = tuple(range(x.type.ndim))
    else:
        ax = _norm_axis(axis, x.type.ndim)
        if len(ax) != 1:
            raise ValueError("arg%s over several (but not all) axes is not supported: %s" % (which, axis))
        r = Argmax(ax[0], which)(x)
    if keepdims:
        r = _expand(r, x.type.ndim, ax)
    return r


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along ``axis`` (flattened when None)."""
    return _arg("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along ``axis`` (flattened when None)."""
    return _arg("min", x, axis, keepdims)


def max_and_argmax(x, axis=None, keepdims=False):
    """Theano's ``max_and_argmax``: both results."""
    return max(x, axis, keepdims), argmax(x, axis, keepdims)


def _count(x, axis):
    """Number of elements reduced over ``axis`` as a symbolic scalar."""
    from .basic import as_tensor_variable
    from .shape import shape_i

    ax = _norm_axis(axis, x.type.ndim)
    n = None
    for a in ax:
        term = shape_i(x, a)
        n = term if n is None else n * term
    return n if n is not None else as_tensor_variable(1)


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean over ``axis``; integer inputs give floatX-or-float64."""
    from .basic import as_tensor_variable, cast
    from .math import true_div

    x = as_tensor_variable(x)
    s = sum(x, axis=axis, keepdims=keepdims, dtype=dtype)
    if not s.type.dtype.startswith(("float", "complex")):
        s = cast(s, "float64")
    n = _count(x, axis)
    return true_div(s, cast(n, s.type.dtype))


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis`` (``ddof`` as in NumPy)."""
    from .basic import as_tensor_variable, cast

    x = as_tensor_variable(x)
    if not x.type.dtype.startswith(("float", "complex")):
        x = cast(x, "float64")
    centered = x - mean(x, axis=axis, keepdims=True)
    ss = sum(centered * centered, axis=axis, keepdims=keepdims)
    n = cast(_count(x, axis), x.type.dtype)
    if ddof:
        n = n - ddof
    return ss / n


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over ``axis``."""
    from .math import sqrt

    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


__all__ = [
    "CAReduce", "Argmax", "sum", "prod", "max", "min", "all", "any", "argmax", "argmin",
    "max_and_argmax", "mean", "var", "std",
]  # fmt: skip
