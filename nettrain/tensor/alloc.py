"""Array construction: alloc, zeros, ones, full, arange, eye, identity_like, tri, tril, triu.

Shapes may be given as ints, symbolic int scalars, lists mixing both, or a
symbolic int vector of known length (such as ``x.shape``).
"""

import numpy as np

from ..configdefaults import config
from ..graph.basic import Apply, Constant, Variable
from ..graph.op import Op
from .type import TensorType, normalize_dtype


# ------------------------------------------------------------ shape helpers
def _int_scalar(d, what="shape"):
    """``d`` (int or 0-d integer tensor) as an int64 scalar variable."""
    from .basic import as_tensor_variable, cast

    if isinstance(d, (bool, np.bool_)) or (isinstance(d, (float, np.floating))):
        raise TypeError("%s entries must be integers, got %r" % (what, d))
    if isinstance(d, (int, np.integer)):
        return as_tensor_variable(np.asarray(d, dtype=np.int64))
    d = as_tensor_variable(d)
    if d.type.ndim != 0:
        raise TypeError("%s entries must be scalars, got %s" % (what, d.type))
    if not d.type.dtype.startswith(("int", "uint")):
        raise TypeError("%s entries must be integers, got %s" % (what, d.type))
    return cast(d, "int64")


def _vector_elements(v):
    """The entries of a symbolic int vector as scalars, read off the graph when possible."""
    from .shape import Shape, shape_i, stacked_scalars

    if isinstance(v, Constant):
        return [_int_scalar(int(e)) for e in v.data]
    op = getattr(v.owner, "op", None)
    if isinstance(op, Shape):  # x.shape: use Shape_i (constants where static)
        x = v.owner.inputs[0]
        return [shape_i(x, i) for i in range(x.type.ndim)]
    scalars = stacked_scalars(v)  # stack([a, b, ...]) of scalars
    if scalars is not None:
        return [_int_scalar(p) for p in scalars]
    n = v.type.shape[0]
    if n is None:
        raise ValueError("the length of the symbolic shape vector %s is unknown; give a list of scalars" % v)
    from .subtensor import getitem

    return [_int_scalar(getitem(v, i)) for i in range(n)]


def as_shape_scalars(shape, what="shape"):
    """``shape`` (int, scalar, list of both, or int vector) as a list of int64 scalars."""
    from .basic import as_tensor_variable

    if isinstance(shape, (list, tuple)):
        return [_int_scalar(d, what) for d in shape]
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        return [_int_scalar(d, what) for d in shape.tolist()]
    if isinstance(shape, Variable) or isinstance(shape, np.ndarray):
        v = as_tensor_variable(shape)
        if v.type.ndim == 0:
            return [_int_scalar(v, what)]
        if v.type.ndim != 1:
            raise TypeError("%s must be a vector of integers, got %s" % (what, v.type))
        if not v.type.dtype.startswith(("int", "uint")):
            raise TypeError("%s entries must be integers, got %s" % (what, v.type))
        return _vector_elements(v)
    return [_int_scalar(shape, what)]


def _static_int(v):
    """The Python int of a constant scalar, else None."""
    if isinstance(v, Constant) and np.ndim(v.data) == 0:
        return int(v.data)
    return None


# -------------------------------------------------------------------- Alloc
class Alloc(Op):
    """Broadcast ``value`` to the shape given by int scalar inputs (a fresh array).

    As in elementwise ops, a dimension of ``value`` is only broadcast when its
    static length is 1; leading dimensions are added as needed.
    """

    __props__ = ()

    def make_node(self, value, *dims):
        from .basic import as_tensor_variable

        v = as_tensor_variable(value)
        dims = [_int_scalar(d) for d in dims]
        if v.type.ndim > len(dims):
            raise TypeError(
                "Alloc: the value has %d dimensions but the shape only %d; the value cannot have more dimensions "
                "than the result" % (v.type.ndim, len(dims))
            )
        static = [_static_int(d) for d in dims]
        for s in static:
            if s is not None and s < 0:
                raise ValueError(
                    "Alloc: negative dimension in shape %s" % [d if d is not None else "?" for d in static]
                )
        offset = len(dims) - v.type.ndim
        for j, vs in enumerate(v.type.shape):
            i = offset + j
            if vs is None or vs == 1:
                continue
            if static[i] is not None and static[i] != vs:
                raise ValueError(
                    "Alloc: a value of static shape %s cannot fill shape %s (dimension %d)" % (v.type.shape, static, i)
                )
            static[i] = vs  # a non-broadcast value dimension fixes the output length
        return Apply(self, [v, *dims], [TensorType(v.type.dtype, tuple(static))()])

    def perform(self, node, inputs, output_storage):
        v, *dims = inputs
        shape = tuple(int(d) for d in dims)
        if any(d < 0 for d in shape):
            raise ValueError("Alloc: negative dimension in shape %s" % (shape,))
        offset = len(shape) - v.ndim
        for j, (vs, static) in enumerate(zip(v.shape, node.inputs[0].type.shape)):
            if static != 1 and vs != shape[offset + j]:
                raise ValueError(
                    "Alloc: cannot fill shape %s with a value of shape %s: dimension %d of the value has length %d "
                    "and is not broadcastable (only dimensions of static length 1 broadcast)" % (shape, v.shape, j, vs)
                )
        out = np.empty(shape, dtype=node.outputs[0].type.numpy_dtype)
        out[...] = v
        output_storage[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [tuple(node.inputs[1:])]

    def grad(self, inputs, output_grads):
        from .basic import cast
        from .reduction import sum
        from .shape import specify_shape

        v = inputs[0]
        (gz,) = output_grads
        n_new = gz.type.ndim - v.type.ndim
        if not v.type.dtype.startswith(("float", "complex")):
            return [None] + [None] * (len(inputs) - 1)
        # Sum over the broadcast dimensions of the value, then over the new leading ones.
        bc = [n_new + j for j, s in enumerate(v.type.shape) if s == 1]
        g = gz
        if bc:
            g = sum(g, axis=bc, keepdims=True)
        if n_new:
            g = sum(g, axis=tuple(range(n_new)))
        g = cast(g, v.type.dtype)
        if g.type.shape != v.type.shape:
            g = specify_shape(g, v.type.shape)
        return [g] + [None] * (len(inputs) - 1)

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]


def alloc(value, *shape):
    """Broadcast ``value`` to ``shape`` (a new array; Theano's ``T.alloc``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> n = T.lscalar('n')
    >>> T.alloc(1.5, n, 2).eval({n: 2})
    array([[1.5, 1.5],
           [1.5, 1.5]])
    """
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        s = shape[0]
        if isinstance(s, (list, tuple, np.ndarray)) or getattr(getattr(s, "type", None), "ndim", 0) == 1:
            shape = s
    return Alloc()(value, *as_shape_scalars(list(shape) if isinstance(shape, tuple) else shape))


def zeros(shape, dtype=None):
    """Zeros of the given (possibly symbolic) ``shape``; ``dtype`` defaults to floatX.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.zeros(x.shape).eval({x: [[1., 2.]]})
    array([[0., 0.]])
    """
    return alloc(np.zeros((), dtype=normalize_dtype(dtype)), as_shape_scalars(shape))


def ones(shape, dtype=None):
    """Ones of the given (possibly symbolic) ``shape``; ``dtype`` defaults to floatX.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.ones((2,), dtype='int32').eval()
    array([1, 1], dtype=int32)
    """
    return alloc(np.ones((), dtype=normalize_dtype(dtype)), as_shape_scalars(shape))


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value`` (NumPy's ``full``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.full((2,), 7).eval()
    array([7, 7])
    """
    from .basic import as_tensor_variable, cast

    v = as_tensor_variable(fill_value)
    if dtype is not None:
        v = cast(v, dtype)
    return alloc(v, as_shape_scalars(shape))


# ------------------------------------------------------------------- ARange
class ARange(Op):
    """``numpy.arange(start, stop, step)`` with symbolic scalar bounds."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = normalize_dtype(dtype)

    def make_node(self, start, stop, step):
        from .basic import as_tensor_variable

        inputs = [as_tensor_variable(a) for a in (start, stop, step)]
        for name, a in zip(("start", "stop", "step"), inputs):
            if a.type.ndim != 0:
                raise TypeError("arange: %s must be a scalar, got %s" % (name, a.type))
            if a.type.dtype.startswith("complex"):
                raise TypeError("arange: %s must be real, got %s" % (name, a.type))
        length = None
        if all(isinstance(a, Constant) for a in inputs):
            if inputs[2].data == 0:
                raise ValueError("arange: step must not be zero")
            length = len(np.arange(*[a.data for a in inputs], dtype=self.dtype))
        return Apply(self, inputs, [TensorType(self.dtype, (length,))()])

    def perform(self, node, inputs, output_storage):
        start, stop, step = inputs
        if step == 0:
            raise ValueError("arange: step must not be zero")
        output_storage[0][0] = np.arange(start, stop, step, dtype=self.dtype)

    def infer_shape(self, node, input_shapes):
        from .basic import cast, constant
        from .math import ceil, maximum

        if node.outputs[0].type.shape[0] is not None:
            return [(constant(np.int64(node.outputs[0].type.shape[0])),)]
        start, stop, step = node.inputs
        n = ceil(cast(stop - start, "float64") / cast(step, "float64"))
        return [(maximum(cast(n, "int64"), 0),)]

    def L_op(self, inputs, outputs, output_grads):
        from .basic import cast
        from .reduction import sum

        if not self.dtype.startswith("float"):
            return [None, None, None]
        (gz,) = output_grads
        # out[i] = start + i * step; ``stop`` only changes the length.
        idx = cast(ARange("int64")(0, _length(outputs[0]), 1), self.dtype)
        start, _, step = inputs
        return [cast(sum(gz), start.type.dtype) if start.type.dtype.startswith("float") else None, None,
                cast(sum(gz * idx), step.type.dtype) if step.type.dtype.startswith("float") else None]  # fmt: skip

    def connection_pattern(self, node):
        return [[True], [False], [True]]


def _length(v):
    from .shape import shape_i

    return shape_i(v, 0)


def _arange_dtype(inputs):
    """NumPy's arange dtype (ints give int64, floats float64), but float32 under floatX=float32
    when no input is float64 (Theano's 'numpy+floatX' rule).  Python scalars are weak."""

    def probe(a, v):
        return type(a.data.item())(v) if getattr(a, "weak", False) else np.array(v, dtype=a.type.dtype)

    for a in inputs:
        if a.type.dtype == "bool":
            raise TypeError("arange: bounds must be numbers, not bool (%s)" % a)
    dt = np.arange(probe(inputs[0], 0), probe(inputs[1], 1), probe(inputs[2], 1)).dtype
    explicit_f64 = any(a.type.dtype == "float64" and not getattr(a, "weak", False) for a in inputs)
    if dt == np.float64 and config.floatX == "float32" and not explicit_f64:
        return "float32"
    return dt.name


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (NumPy's ``arange``; symbolic bounds allowed).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> n = T.lscalar('n')
    >>> T.arange(n).eval({n: 4})
    array([0, 1, 2, 3])
    """
    from .basic import as_tensor_variable

    if stop is None:
        start, stop = 0, start
    inputs = [as_tensor_variable(a) for a in (start, stop, step)]
    dtype = normalize_dtype(dtype) if dtype is not None else _arange_dtype(inputs)
    return ARange(dtype)(*inputs)


# ----------------------------------------------------------- Eye and Tri
class Eye(Op):
    """``numpy.eye(n, m, k)`` with symbolic int scalars."""

    __props__ = ("dtype",)
    _fn = staticmethod(np.eye)

    def __init__(self, dtype=None):
        self.dtype = normalize_dtype(dtype)

    def make_node(self, n, m, k):
        n, m = _int_scalar(n, "n"), _int_scalar(m, "m")
        k = _int_scalar(k, "k")
        shape = (_static_int(n), _static_int(m))
        if any(s is not None and s < 0 for s in shape):
            raise ValueError("%s: negative dimension %s" % (type(self).__name__, shape))
        return Apply(self, [n, m, k], [TensorType(self.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        n, m, k = (int(a) for a in inputs)
        if n < 0 or m < 0:
            raise ValueError("%s: negative dimension (%d, %d)" % (type(self).__name__, n, m))
        output_storage[0][0] = self._fn(n, m, k, dtype=self.dtype)

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[0], node.inputs[1])]

    def grad(self, inputs, output_grads):
        return [None, None, None]

    def connection_pattern(self, node):
        return [[False], [False], [False]]


class Tri(Eye):
    """``numpy.tri(n, m, k)``: ones at and below the ``k``-th diagonal."""

    _fn = staticmethod(lambda n, m, k, dtype: np.tri(n, m, k, dtype=dtype))


def eye(n, m=None, k=0, dtype=None):
    """A 2-D array with ones on the ``k``-th diagonal; ``dtype`` defaults to floatX.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.eye(2, dtype='int64').eval()
    array([[1, 0],
           [0, 1]])
    """
    return Eye(dtype)(n, n if m is None else m, k)


def identity_like(x):
    """The identity matrix with the shape and dtype of the matrix ``x``."""
    from .basic import as_tensor_variable
    from .shape import shape_i

    x = as_tensor_variable(x)
    if x.type.ndim != 2:
        raise TypeError("identity_like: expected a matrix, got %s" % x.type)
    return eye(shape_i(x, 0), shape_i(x, 1), 0, dtype=x.type.dtype)


def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the ``k``-th diagonal (NumPy's ``tri``); ``dtype`` defaults to floatX.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> T.tri(2, dtype='int64').eval()
    array([[1, 0],
           [1, 1]])
    """
    return Tri(dtype)(N, N if M is None else M, k)


def _tri_mask(m, k, name):
    from .basic import as_tensor_variable
    from .shape import shape_i

    m = as_tensor_variable(m)
    if m.type.ndim < 2:
        raise ValueError("%s: expected at least 2 dimensions, got %s" % (name, m.type))
    return m, tri(shape_i(m, -2), shape_i(m, -1), k, dtype="bool")


def tril(m, k=0):
    """Zero the elements above the ``k``-th diagonal of the last two axes (NumPy's ``tril``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.tril(x).eval({x: [[1., 2.], [3., 4.]]})
    array([[1., 0.],
           [3., 4.]])
    """
    from .math import switch

    m, mask = _tri_mask(m, k, "tril")
    return switch(mask, m, 0)  # a select, not a product: keeps inf/nan out of the zeros


def triu(m, k=0):
    """Zero the elements below the ``k``-th diagonal of the last two axes (NumPy's ``triu``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.triu(x).eval({x: [[1., 2.], [3., 4.]]})
    array([[1., 2.],
           [0., 4.]])
    """
    from .math import switch

    m, mask = _tri_mask(m, k - 1, "triu")
    return switch(mask, 0, m)


__all__ = [
    "Alloc", "ARange", "Eye", "Tri", "alloc", "zeros", "ones", "full", "arange", "eye", "identity_like",
    "tri", "tril", "triu",
]  # fmt: skip
