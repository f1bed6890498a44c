"""Pooling whose window size, stride or padding is symbolic (Theano's ``pool_2d(x, ws=T.ivector())``).

``pool_2d`` / ``pool_3d`` build the static ops of :mod:`.pool` whenever the
sizes are known when the graph is built (ints or constants); only sizes that
depend on run-time values (``x.shape[2] // 4``, an ``ivector`` input) come
here.  :class:`SymbolicPool` takes ``ws``, ``stride`` and ``pad`` as int64
vector inputs and, at every call, runs the NumPy code of the static op made
from their values, so its results are exactly :class:`~.pool.Pool`'s.  There
are no C or CUDA kernels: the backends fall back to ``perform``.
"""

import numpy as np

from ...graph.basic import Apply, Variable
from ...graph.grad import disconnected_type
from ...graph.op import Op
from ..type import TensorType
from .pool import MODES, AveragePoolGrad, MaxPoolGrad, Pool


def static_ints(v, nd):
    """``v`` (int, sequence of ints / scalars, or vector) as a tuple of Python ints, or None if any is symbolic."""
    from ..basic import NotScalarConstantError, get_scalar_constant_value
    from ..variable import TensorConstant

    if v is None:
        return None
    if isinstance(v, TensorConstant) and v.type.ndim == 1:
        return tuple(int(a) for a in v.data)
    if isinstance(v, Variable):
        return None if v.type.ndim == 1 else static_ints([v], nd)
    entries = list(v) if isinstance(v, (tuple, list, np.ndarray)) else [v] * nd
    out = []
    for e in entries:
        try:
            out.append(int(get_scalar_constant_value(e)))
        except (NotScalarConstantError, TypeError, ValueError):
            return None
    return tuple(out)


def int_vector(v, nd, what):
    """``v`` as a symbolic int64 vector of ``nd`` entries (a scalar is repeated)."""
    from ..basic import as_tensor_variable, cast
    from ..join import stack

    if isinstance(v, (tuple, list, np.ndarray)):
        if len(v) != nd:
            raise ValueError("pool: %s must have %d entries, got %r" % (what, nd, v))
        v = stack([cast(as_tensor_variable(e), "int64") for e in v])
    v = as_tensor_variable(v)
    if v.type.ndim == 0:
        v = stack([v] * nd)
    if v.type.ndim != 1 or v.type.dtype[:3] not in ("int", "uin"):
        raise TypeError("pool: %s must be integers (an int vector or a tuple of int scalars), got %s" % (what, v.type))
    if v.type.shape[0] is not None and v.type.shape[0] != nd:
        raise ValueError("pool: %s must have %d entries, got a vector of %d" % (what, nd, v.type.shape[0]))
    return cast(v, "int64") if v.type.dtype != "int64" else v


def _symbolic_out_len(n, w, s, p, ignore_border):
    """``pool._out_len`` for symbolic window, stride and padding."""
    from ..math import maximum, minimum, switch

    if ignore_border:
        return maximum((n + 2 * p - w) // s + 1, 0)
    return switch(s >= w, (n - 1) // s + 1, minimum(maximum((n - 1 - w) // s + 1, 0) + 1, n))


class SymbolicPool(Op):
    """``Pool`` with ``ws``, ``stride`` and ``pad`` as int64 vector inputs: ``(x, ws, stride, pad) -> pooled``."""

    __props__ = ("nd", "ignore_border", "mode")

    def __init__(self, nd=2, ignore_border=True, mode="max"):
        if mode == "max_deterministic":
            mode = "max"
        if mode not in MODES:
            raise ValueError("pool mode must be one of %s, got %r" % (", ".join(MODES), mode))
        self.nd, self.ignore_border, self.mode = int(nd), bool(ignore_border), mode

    def static_op(self, ws, stride, pad):
        """The static :class:`Pool` for one call's values (it checks them)."""
        for what, v in (("ws", ws), ("stride", stride), ("pad", pad)):
            if len(v) != self.nd:
                raise ValueError("%s: %s has %d entries at run time, expected %d" % (self, what, len(v), self.nd))
        return Pool(tuple(ws), tuple(stride), tuple(pad), self.ignore_border, self.mode)

    def make_node(self, x, ws, stride, pad):
        from ..basic import as_tensor_variable

        x = as_tensor_variable(x)
        if x.type.ndim < self.nd:
            raise TypeError("%s: the input must have at least %d dimensions, got %s" % (self, self.nd, x.type))
        sizes = [int_vector(v, self.nd, what) for v, what in ((ws, "ws"), (stride, "stride"), (pad, "pad"))]
        shape = x.type.shape[: x.type.ndim - self.nd] + (None,) * self.nd
        return Apply(self, [x, *sizes], [TensorType(x.type.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, ws, stride, pad = inputs
        self.static_op(ws, stride, pad).perform(node, [x], output_storage)

    def infer_shape(self, node, input_shapes):
        s = input_shapes[0]
        ws, stride, pad = node.inputs[1:]
        lens = s[len(s) - self.nd:]
        out = [_symbolic_out_len(n, ws[i], stride[i], pad[i], self.ignore_border) for i, n in enumerate(lens)]
        return [tuple(s[: len(s) - self.nd]) + tuple(out)]

    def connection_pattern(self, node):
        return [[True], [False], [False], [False]]

    def grad(self, inputs, output_grads):
        from ..basic import cast

        x, ws, stride, pad = inputs
        gz = output_grads[0]
        if x.type.dtype.startswith("float"):
            gz = cast(gz, x.type.dtype)
        gx = SymbolicPoolGrad(self.nd, self.ignore_border, self.mode)(x, gz, ws, stride, pad)
        return [gx, disconnected_type(), disconnected_type(), disconnected_type()]


class SymbolicPoolGrad(Op):
    """Gradient of :class:`SymbolicPool` w.r.t. its input: ``(x, gz, ws, stride, pad) -> gx``."""

    __props__ = ("nd", "ignore_border", "mode")

    def __init__(self, nd=2, ignore_border=True, mode="max"):
        self.nd, self.ignore_border, self.mode = int(nd), bool(ignore_border), mode

    def make_node(self, x, gz, ws, stride, pad):
        from ..basic import as_tensor_variable

        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        if x.type.ndim != gz.type.ndim:
            raise TypeError("%s: x %s and gz %s need the same ndim" % (self, x.type, gz.type))
        sizes = [int_vector(v, self.nd, what) for v, what in ((ws, "ws"), (stride, "stride"), (pad, "pad"))]
        return Apply(self, [x, gz, *sizes], [TensorType(gz.type.dtype, x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        x, gz, ws, stride, pad = inputs
        SymbolicPool(self.nd, self.ignore_border, self.mode).static_op(ws, stride, pad)  # checks the values
        ws, stride, pad = tuple(ws), tuple(stride), tuple(pad)
        if self.mode == "max":
            op = MaxPoolGrad(ws, stride, pad, self.ignore_border)
        else:
            op = AveragePoolGrad(ws, stride, pad, self.ignore_border, self.mode)
        op.perform(node, [x, gz], output_storage)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[self.mode == "max"], [True], [False], [False], [False]]

    def grad(self, inputs, output_grads):
        raise NotImplementedError(
            "second derivatives of pooling with symbolic ws/stride/pad are not implemented; "
            "give them as ints to get the static pooling ops"
        )


__all__ = ["SymbolicPool", "SymbolicPoolGrad"]
