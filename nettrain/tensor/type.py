"""TensorType: dtype plus static shape (Theano's ``broadcastable`` pattern)."""

import numpy as np

from ..configdefaults import config
from ..graph.basic import Type, Variable

_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
)  # fmt: skip

_NDIM_NAMES = {0: "scalar", 1: "vector", 2: "matrix", 3: "tensor3", 4: "tensor4", 5: "tensor5"}


def normalize_dtype(dtype):
    """``'floatX'`` -> config.floatX; any NumPy spelling -> canonical name."""
    if dtype is None or dtype == "floatX":
        return config.floatX
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError("unknown dtype %r" % (dtype,)) from None
    if name not in _DTYPES:
        raise TypeError("dtype %r is not supported; use one of %s" % (dtype, ", ".join(_DTYPES)))
    return name


def _is_bool_pattern(shape):
    """True for a non-empty sequence of Python or NumPy bools (Theano's broadcastable pattern)."""
    try:
        entries = list(shape)
    except TypeError:
        return False
    return bool(entries) and all(isinstance(s, (bool, np.bool_)) for s in entries)


class TensorType(Type):
    """An n-dimensional array type.

    Parameters
    ----------
    dtype : str
        NumPy dtype name (``'floatX'`` means ``config.floatX``).
    shape : tuple of int or None
        Static shape; ``None`` is an unknown length, ``1`` a broadcastable one.
        A tuple of bools is Theano's positional ``broadcastable`` pattern
        (``TensorType('float32', (True, False))`` has shape ``(1, None)``).
    broadcastable : tuple of bool
        Theano's spelling: ``True`` means a dimension of length 1.

    Examples
    --------
    >>> from nettrain.tensor.type import TensorType
    >>> row = TensorType('float32', broadcastable=(True, False))
    >>> row.shape, row.ndim
    ((1, None), 2)
    """

    def __init__(self, dtype, shape=None, broadcastable=None, name=None):
        self.dtype = normalize_dtype(dtype)
        if shape is None and broadcastable is None:
            raise TypeError("TensorType needs a shape or a broadcastable pattern")
        if shape is not None and broadcastable is None and _is_bool_pattern(shape):
            # Theano's positional ``TensorType(dtype, broadcastable)``: a bool is
            # never a length, so (True, False) is the pattern, not the shape (1, 0).
            shape, broadcastable = None, shape
        if shape is None:
            shape = tuple(1 if b else None for b in broadcastable)
        else:
            shape = tuple(None if s is None else int(s) for s in shape)
            for s in shape:
                if s is not None and s < 0:
                    raise ValueError("static shape entries must be >= 0 or None, got %r" % (shape,))
        self.shape = shape
        self.ndim = len(shape)
        self.broadcastable = tuple(s == 1 for s in shape)
        self.name = name
        self.numpy_dtype = np.dtype(self.dtype)

    # ------------------------------------------------------------ identity
    def __eq__(self, other):
        return type(self) is type(other) and self.dtype == other.dtype and self.shape == other.shape

    def __hash__(self):
        return hash((type(self), self.dtype, self.shape))

    def __str__(self):
        if self.name:
            return self.name
        if all(s is None for s in self.shape) and self.ndim in _NDIM_NAMES:
            kind = _NDIM_NAMES[self.ndim]
        else:
            kind = "shape=(%s%s)" % (
                ", ".join("?" if s is None else str(s) for s in self.shape),
                "," if self.ndim == 1 else "",
            )
        return "TensorType(%s, %s)" % (self.dtype, kind)

    __repr__ = __str__

    def describe(self):
        """Short human text such as ``float32 matrix`` or ``int64 (?, 1)``."""
        if all(s is None for s in self.shape) and self.ndim in _NDIM_NAMES:
            return "%s %s" % (self.dtype, _NDIM_NAMES[self.ndim])
        return "%s array of shape (%s)" % (self.dtype, ", ".join("?" if s is None else str(s) for s in self.shape))

    def clone(self, dtype=None, shape=None, broadcastable=None):
        if dtype is None:
            dtype = self.dtype
        if shape is None and broadcastable is None:
            shape = self.shape
        return TensorType(dtype, shape=shape, broadcastable=broadcastable)

    # -------------------------------------------------------------- values
    def filter(self, value, strict=False, allow_downcast=None):
        """Return ``value`` as an ndarray of this type or raise TypeError."""
        if type(value) is np.ndarray and value.dtype == self.numpy_dtype:
            arr = value
        elif getattr(value, "is_device_array", False):
            # a backend's device array (CUDA) is taken as is: converting would copy it to the host
            if value.dtype != self.numpy_dtype:
                raise TypeError("expected dtype %s, got a device array of dtype %s (cast it first)"
                                % (self.dtype, value.dtype))  # fmt: skip
            arr = value
        elif strict:
            if not isinstance(value, np.ndarray):
                raise TypeError("expected a numpy.ndarray, got %s" % type(value).__name__)
            raise TypeError("expected dtype %s, got %s" % (self.dtype, value.dtype))
        else:
            arr = self._convert(value, allow_downcast)
        if arr.ndim != self.ndim:
            raise TypeError(
                "wrong number of dimensions: expected %d (%s), got %d (shape %s)"
                % (self.ndim, self.describe(), arr.ndim, arr.shape)
            )
        for i, (s, a) in enumerate(zip(self.shape, arr.shape)):
            if s is not None and s != a:
                raise TypeError(
                    "dimension %d has length %d but the type requires %d (static shape %s, value shape %s)"
                    % (i, a, s, self.shape, arr.shape)
                )
        return arr

    def _convert(self, value, allow_downcast):
        target = self.numpy_dtype
        if isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
            arr = np.asarray(value)
            if arr.dtype == target:
                return arr
            if allow_downcast or np.can_cast(arr.dtype, target, "safe"):
                return arr.astype(target)
            if arr.dtype.kind in "iu" and target.kind in "iu" and allow_downcast is None:
                # int64 labels into an int32 input: fine when every value fits.
                info = np.iinfo(target)
                if arr.size == 0 or (arr.min() >= info.min and arr.max() <= info.max):
                    return arr.astype(target)
                raise TypeError(
                    "integer values outside the range of %s (min %s, max %s)" % (self.dtype, arr.min(), arr.max())
                )
            raise TypeError(
                "value of dtype %s cannot be converted to %s without loss; cast it first (e.g. "
                "x.astype(%r)) or pass allow_input_downcast=True" % (arr.dtype, self.dtype, self.dtype)
            )
        if isinstance(value, Variable):
            raise TypeError("got the symbolic variable %s where a value is needed; compile a function of it "
                            "(or pass it in `givens`)" % (value,))  # fmt: skip
        # Python scalars and (nested) lists.
        try:
            arr = np.asarray(value)
        except Exception as e:  # noqa: BLE001 - any conversion failure becomes a TypeError
            raise TypeError("cannot convert %r to an array: %s" % (type(value).__name__, e)) from None
        if arr.dtype == object:
            raise TypeError("cannot convert a %s to a %s array" % (type(value).__name__, self.dtype))
        if arr.dtype == target:
            return arr
        if allow_downcast or np.can_cast(arr.dtype, target, "safe"):
            return arr.astype(target)
        # Python floats into any float type (Theano's rule), Python ints into
        # any integer or float type when every value fits exactly.
        if arr.dtype.kind == "f" and target.kind in "fc" and allow_downcast is None:
            return arr.astype(target)
        if arr.dtype.kind in "iub" and target.kind in "iuf":
            conv = arr.astype(target)
            if np.array_equal(conv.astype(arr.dtype), arr):
                return conv
            raise TypeError("integer value %r does not fit in %s" % (value, self.dtype))
        raise TypeError(
            "value of dtype %s cannot be converted to %s without loss; cast it first or pass "
            "allow_input_downcast=True" % (arr.dtype, self.dtype)
        )

    def values_eq(self, a, b):
        return a.shape == b.shape and np.array_equal(a, b)

    def values_eq_approx(self, a, b, rtol=None, atol=None):
        if a.shape != b.shape:
            return False
        if self.dtype.startswith(("float", "complex")):
            tol = 1e-4 if self.dtype in ("float32", "float16", "complex64") else 1e-8
            return np.allclose(a, b, rtol=rtol or tol, atol=atol or tol, equal_nan=True)
        return np.array_equal(a, b)

    def constant_key(self, data):
        """A hashable key for merging equal constants."""
        return (self.dtype, data.shape, data.tobytes() if data.size <= 1024 else id(data))

    def format_constant(self, data):
        if data.ndim == 0:
            return str(data.item())
        if data.size <= 8:
            return np.array2string(data, separator=",").replace("\n", "")
        return "Constant{%s %s}" % (self.dtype, data.shape)

    # ---------------------------------------------------------- variables
    def make_variable(self, name=None):
        from .variable import TensorVariable

        return TensorVariable(self, None, name=name)

    def make_constant_like(self, value):
        from .basic import constant

        return constant(np.asarray(value, dtype=self.dtype))

    def is_super(self, other):
        """True when every value of ``other`` is also a value of this type."""
        return (
            isinstance(other, TensorType)
            and self.dtype == other.dtype
            and self.ndim == other.ndim
            and all(s is None or s == o for s, o in zip(self.shape, other.shape))
        )

    def convert_variable(self, var):
        """``var`` as this type: as is when more specific, else with a shape check."""
        vt = var.type
        if vt == self or self.is_super(vt):
            return var
        if isinstance(vt, TensorType) and vt.dtype == self.dtype and vt.ndim == self.ndim:
            if all(s is None or o is None or s == o for s, o in zip(self.shape, vt.shape)):
                from .shape import specify_shape

                return specify_shape(var, self.shape)
        return None

    def filter_gradient(self, var, g):
        """Make the gradient ``g`` of ``var`` have ``var``'s dtype and shape."""
        if getattr(g.type, "ndim", None) != self.ndim:
            raise TypeError(
                "gradient of %s has %s dimensions but the variable has %d"
                % (var, getattr(g.type, "ndim", "?"), self.ndim)
            )
        if self.dtype.startswith(("float", "complex")) and g.type.dtype != self.dtype:
            from .basic import cast

            g = cast(g, self.dtype)
        if g.type.shape != self.shape:
            conv = self.convert_variable(g)
            if conv is not None:
                g = conv
        return g
