"""TensorVariable and friends: NumPy-style operators on symbolic arrays.

Operators forward to the op-family modules; the imports happen inside the
methods because those modules import this one.
"""

import numpy as np

from ..graph.basic import Constant, SharedVariable, Variable
from . import scalar_op as _ps

#: ops whose results refuse ``bool()`` (so ``a < b < c`` is caught, not silently wrong)
_COMPARISONS = (_ps.LT, _ps.GT, _ps.LE, _ps.GE, _ps.EQ, _ps.NEQ)


class _TensorOps:
    """Operators and NumPy-like methods shared by all tensor variables."""

    # -------------------------------------------------------- arithmetic
    def __add__(self, other):
        from .math import add

        return add(self, other)

    def __radd__(self, other):
        from .math import add

        return add(other, self)

    def __sub__(self, other):
        from .math import sub

        return sub(self, other)

    def __rsub__(self, other):
        from .math import sub

        return sub(other, self)

    def __mul__(self, other):
        from .math import mul

        return mul(self, other)

    def __rmul__(self, other):
        from .math import mul

        return mul(other, self)

    def __truediv__(self, other):
        from .math import true_div

        return true_div(self, other)

    def __rtruediv__(self, other):
        from .math import true_div

        return true_div(other, self)

    def __floordiv__(self, other):
        from .math import int_div

        return int_div(self, other)

    def __rfloordiv__(self, other):
        from .math import int_div

        return int_div(other, self)

    def __mod__(self, other):
        from .math import mod

        return mod(self, other)

    def __rmod__(self, other):
        from .math import mod

        return mod(other, self)

    def __pow__(self, other):
        from .math import pow

        return pow(self, other)

    def __rpow__(self, other):
        from .math import pow

        return pow(other, self)

    def __neg__(self):
        from .math import neg

        return neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        from .math import abs

        return abs(self)

    def __matmul__(self, other):
        from .linalg import matmul

        return matmul(self, other)

    def __rmatmul__(self, other):
        from .linalg import matmul

        return matmul(other, self)

    # --------------------------------------------- comparisons and logic
    def __lt__(self, other):
        from .math import lt

        return lt(self, other)

    def __le__(self, other):
        from .math import le

        return le(self, other)

    def __gt__(self, other):
        from .math import gt

        return gt(self, other)

    def __ge__(self, other):
        from .math import ge

        return ge(self, other)

    def __and__(self, other):
        from .math import and_

        return and_(self, other)

    __rand__ = __and__

    def __or__(self, other):
        from .math import or_

        return or_(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        from .math import xor

        return xor(self, other)

    __rxor__ = __xor__

    def __invert__(self):
        from .math import invert

        return invert(self)

    # ``==`` keeps identity semantics (variables are dict keys); use T.eq.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __bool__(self):
        """True, as in Theano (``if not W:`` tests for None), except for a comparison's result.

        ``a < b < c`` is Python's ``(a < b) and (b < c)``: it asks for the truth
        value of ``a < b``, which is only known at run time, so that raises.
        """
        node = self.owner
        if node is not None and isinstance(getattr(node.op, "scalar_op", None), _COMPARISONS):
            raise TypeError(
                "a symbolic variable has no truth value; use nettrain.tensor.switch / ifelse for conditions "
                "and T.eq / T.neq for comparisons"
            )
        return True

    def __len__(self):
        n = self.type.shape[0] if self.type.ndim else None
        if n is None:
            raise TypeError("len() of a symbolic variable is unknown until run time; use x.shape[0]")
        return n

    def __iter__(self):
        n = self.type.shape[0] if self.type.ndim else None
        if n is None:
            raise TypeError("cannot iterate over a symbolic variable of unknown length; use scan or x[i]")
        for i in range(n):
            yield self[i]

    # ---------------------------------------------------------- indexing
    def __getitem__(self, idx):
        from .subtensor import getitem

        return getitem(self, idx)

    def __setitem__(self, idx, value):
        raise TypeError("symbolic variables are immutable; use T.set_subtensor(x[idx], value)")

    # -------------------------------------------------------- attributes
    @property
    def ndim(self):
        return self.type.ndim

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def shape(self):
        from .shape import shape

        return shape(self)

    @property
    def size(self):
        from .math import prod

        return prod(self.shape)

    @property
    def T(self):
        from .elemwise import transpose

        return transpose(self)

    def transpose(self, *axes):
        from .elemwise import transpose

        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        return transpose(self, axes or None)

    def dimshuffle(self, *pattern):
        from .elemwise import DimShuffle

        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return DimShuffle(self.type.broadcastable, pattern)(self)

    def reshape(self, *shape, ndim=None):
        from .shape import reshape

        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        from .shape import flatten

        return flatten(self, ndim)

    def astype(self, dtype):
        from .basic import cast

        return cast(self, dtype)

    def squeeze(self, axis=None):
        from .shape import squeeze

        return squeeze(self, axis)

    def repeat(self, repeats, axis=None):
        from .extra_ops import repeat

        return repeat(self, repeats, axis)

    # -------------------------------------------------------- reductions
    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        from .math import sum

        return sum(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        from .math import prod

        return prod(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        from .math import mean

        return mean(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def var(self, axis=None, ddof=0, keepdims=False, corrected=False):
        from .math import var

        return var(self, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected)

    def std(self, axis=None, ddof=0, keepdims=False, corrected=False):
        from .math import std

        return std(self, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected)

    def max(self, axis=None, keepdims=False):
        from .math import max

        return max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        from .math import min

        return min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        from .math import argmax

        return argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        from .math import argmin

        return argmin(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        from .math import all

        return all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        from .math import any

        return any(self, axis=axis, keepdims=keepdims)

    def norm(self, L, axis=None, keepdims=False):
        from .math import abs, pow, sqrt, sum

        if L == 1:
            return sum(abs(self), axis=axis, keepdims=keepdims)
        if L == 2:
            return sqrt(sum(self * self, axis=axis, keepdims=keepdims))
        return pow(sum(pow(abs(self), L), axis=axis, keepdims=keepdims), 1.0 / L)

    # ------------------------------------------------------------- other
    def dot(self, other):
        from .linalg import dot

        return dot(self, other)

    def __dot__(self, other):
        return self.dot(other)

    def clip(self, a_min, a_max):
        from .math import clip

        return clip(self, a_min, a_max)

    def round(self, mode=None):
        from .math import round

        return round(self, mode)

    def copy(self, name=None):
        from .math import tensor_copy

        out = tensor_copy(self)
        out.name = name
        return out

    def zeros_like(self, dtype=None):
        from .basic import zeros_like

        return zeros_like(self, dtype=dtype)

    def ones_like(self, dtype=None):
        from .basic import ones_like

        return ones_like(self, dtype=dtype)

    def sqrt(self):
        from .math import sqrt

        return sqrt(self)

    def exp(self):
        from .math import exp

        return exp(self)

    def log(self):
        from .math import log

        return log(self)

    def nonzero(self, return_matrix=False):
        from .subtensor import nonzero

        return nonzero(self, return_matrix=return_matrix)

    def sort(self, axis=-1):
        from .sort import sort

        return sort(self, axis)

    def argsort(self, axis=-1):
        from .sort import argsort

        return argsort(self, axis)

    def cumsum(self, axis=None):
        from .extra_ops import cumsum

        return cumsum(self, axis)

    def __array__(self, dtype=None, copy=None):
        # NumPy asks for this when a symbolic variable sits in data it converts,
        # e.g. ``np.prod([n, 2])`` over a shape with a symbolic entry: like any
        # Python object (and as under Theano) the variable becomes an element of
        # an object array, and NumPy's object loops build the symbolic
        # expression.  A numeric array cannot be had before a function runs.
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise TypeError("cannot convert the symbolic variable %s to a NumPy array; compile a function first"
                            % self)  # fmt: skip
        out = np.empty((), dtype=object)
        out[()] = self
        return out

    __array_priority__ = 1000


class TensorVariable(_TensorOps, Variable):
    """A symbolic n-dimensional array (the result of an op, or an input)."""


class TensorConstant(_TensorOps, Constant):
    """A constant array.  ``weak`` marks Python scalars (NumPy 2 promotion)."""

    def __init__(self, type, data, name=None, weak=False):
        Constant.__init__(self, type, data, name)
        self.weak = weak

    def clone(self, name=None):
        cp = TensorConstant(self.type, self.data, self.name if name is None else name, getattr(self, "weak", False))
        return cp

    def signature(self):
        return (self.type, self.type.constant_key(self.data))

    @property
    def value(self):
        return self.data


#: set by the CUDA backend: ``placer(value)`` returns the value where ``config.device`` wants it
#: (a device array for float32 on a GPU), so the tensor layer needs no import of a backend
DEVICE_PLACER = [None]


class TensorSharedVariable(_TensorOps, SharedVariable):
    """A shared array; ``get_value`` / ``set_value`` read and write it.

    With ``config.device = 'cuda'`` a float32 value lives in device memory;
    ``get_value()`` still returns a NumPy array (``return_internal_type=True``
    gives the device array).
    """

    def get_value(self, borrow=False, return_internal_type=False):
        v = self.container[0]
        if getattr(v, "is_device_array", False):
            return v if return_internal_type else v.get()
        return super().get_value(borrow, return_internal_type)

    def set_value(self, new_value, borrow=False):
        if getattr(new_value, "is_device_array", False):
            t = self.type
            if new_value.dtype != t.numpy_dtype or new_value.ndim != t.ndim or any(
                    s is not None and s != a for s, a in zip(t.shape, new_value.shape)):  # fmt: skip
                raise TypeError("set_value of shared variable %r: a device array of dtype %s and shape %s does not "
                                "fit %s" % (self.name or self.auto_name, new_value.dtype, new_value.shape,
                                            t.describe()))  # fmt: skip
            self.container[0] = new_value if borrow else new_value.copy()
            return
        super().set_value(new_value, borrow)
        self.place()

    def place(self):
        """Move the value where ``config.device`` wants it (a no-op on the CPU)."""
        placer = DEVICE_PLACER[0]
        if placer is not None:
            self.container[0] = placer(self.container[0])
