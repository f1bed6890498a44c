"""Testing helpers: ``verify_grad`` checks symbolic gradients by finite differences."""

import numpy as np


class GradientError(AssertionError):
    """The symbolic gradient disagrees with finite differences."""

    def __init__(self, arg, abs_err, rel_err, analytic, numeric, abs_tol, rel_tol):
        self.arg = arg
        self.abs_err = abs_err
        self.rel_err = rel_err
        self.analytic = analytic
        self.numeric = numeric
        pos = (
            np.unravel_index(int(np.argmax(np.minimum(abs_err, rel_err))), np.shape(abs_err))
            if np.ndim(abs_err)
            else ()
        )
        super().__init__(
            "gradient of input %d is wrong: max abs error %.3g (tol %.3g), max rel error %.3g (tol %.3g); "
            "worst at index %s: symbolic %r vs numeric %r"
            % (arg, np.max(abs_err), abs_tol, np.max(rel_err), rel_tol, pos,
               np.asarray(analytic)[pos] if np.ndim(analytic) else analytic,
               np.asarray(numeric)[pos] if np.ndim(numeric) else numeric)
        )  # fmt: skip


_DEFAULTS = {  # dtype: (eps, abs_tol, rel_tol)
    "float64": (1e-7, 1e-4, 1e-4),
    "float32": (1e-2, 5e-2, 5e-2),
    "float16": (1e-1, 1.0, 1.0),
}


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, out_type=None, abs_tol=None, rel_tol=None, mode=None,
                cast_to_output_type=False):  # fmt: skip
    """Check ``T.grad`` of ``fun`` at the point ``pt`` by central differences.

    ``fun`` takes symbolic tensors (one per entry of ``pt``) and returns one
    symbolic tensor.  Its output is projected on a random tensor so that
    every output element contributes; the gradient of that projection is
    compared to finite differences.  Raises :class:`GradientError`.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.testing import verify_grad
    >>> verify_grad(lambda x: T.tanh(x) * x, [np.array([0.3, -1.2])])
    """
    from .compile.function import function
    from .graph.grad import grad
    from .tensor.basic import constant
    from .tensor.type import TensorType

    if not isinstance(pt, (list, tuple)):
        raise TypeError("verify_grad: pt must be a list of arrays, got %s" % type(pt).__name__)
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.kind != "f":
            raise TypeError("verify_grad: point %d has dtype %s; only float inputs can be checked" % (i, p.dtype))
    rng = rng if rng is not None else np.random.default_rng(42)
    if isinstance(rng, np.random.RandomState):
        uniform = rng.uniform
    else:
        uniform = rng.uniform
    dtype = max((p.dtype.name for p in pt), key=lambda d: np.dtype(d).itemsize)
    d_eps, d_abs, d_rel = _DEFAULTS.get(dtype, _DEFAULTS["float64"])
    eps = eps or d_eps
    abs_tol = abs_tol if abs_tol is not None else d_abs
    rel_tol = rel_tol if rel_tol is not None else d_rel

    sym = [TensorType(p.dtype, shape=(None,) * p.ndim)("input%d" % i) for i, p in enumerate(pt)]
    out = fun(*sym)
    if isinstance(out, (list, tuple)):
        raise TypeError("verify_grad: fun must return one variable, got %d" % len(out))
    f_out = function(sym, out, mode=mode, on_unused_input="ignore")
    o_val = np.asarray(f_out(*pt))
    for _ in range(n_tests):
        proj = uniform(0.5, 1.5, size=o_val.shape).astype(out.dtype if out.dtype.startswith("float") else "float64")
        cost = (out * constant(proj)).sum()
        grads = grad(cost, sym, disconnected_inputs="ignore")
        f_cost = function(sym, cost, mode=mode, on_unused_input="ignore")
        f_grad = function(sym, grads, mode=mode, on_unused_input="ignore")
        analytic = f_grad(*pt)
        for i, p in enumerate(pt):
            num = np.zeros(p.shape, dtype=np.float64)
            flat = p.reshape(-1)
            numf = num.reshape(-1)
            for j in range(flat.size):
                args_p = [q.copy() for q in pt]
                args_m = [q.copy() for q in pt]
                args_p[i].reshape(-1)[j] = flat[j] + eps
                args_m[i].reshape(-1)[j] = flat[j] - eps
                numf[j] = (float(f_cost(*args_p)) - float(f_cost(*args_m))) / (2 * eps)
            a = np.asarray(analytic[i], dtype=np.float64)
            if a.shape != num.shape:
                raise GradientError(i, np.inf, np.inf, a, num, abs_tol, rel_tol)
            abs_err = np.abs(a - num)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(num), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if np.any(bad) or not np.all(np.isfinite(a)):
                raise GradientError(i, abs_err, rel_err, a, num, abs_tol, rel_tol)


__all__ = ["verify_grad", "GradientError", "check_infer_shape", "op_names", "check_rewritten"]


def check_infer_shape(out, inputs, values, mode=None):
    """Assert that ``out``'s op ``infer_shape``, evaluated, equals the shape of the computed ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.testing import check_infer_shape
    >>> x = T.dmatrix('x')
    >>> check_infer_shape(x.sum(axis=0), [x], [np.ones((2, 3))])
    """
    from .compile.function import function
    from .tensor.basic import as_tensor_variable
    from .tensor.shape import shape_tuple

    node = out.owner
    in_shapes = [shape_tuple(i) if hasattr(i.type, "ndim") else None for i in node.inputs]
    shapes = node.op.infer_shape(node, in_shapes)[node.outputs.index(out)]
    f = function(inputs, [out] + [as_tensor_variable(d) for d in shapes], mode=mode, on_unused_input="ignore")
    res = f(*values)
    got = tuple(int(d) for d in res[1:])
    if np.shape(res[0]) != got:
        raise AssertionError("infer_shape of %s gives %s but the computed output has shape %s"
                             % (node.op, got, np.shape(res[0])))  # fmt: skip


def op_names(f):
    """Class names of a compiled function's ops, in execution order, with Elemwise and fused
    programs opened up (``['Exp', 'Mul', 'CAReduce']``); for tests of rewrites.

    Examples
    --------
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.testing import op_names
    >>> x = T.dvector('x')
    >>> op_names(theano.function([x], T.exp(x) * 2))
    ['Exp', 'Mul']
    """
    from .tensor.composite import Composite
    from .tensor.elemwise import Elemwise

    names = []
    for node in f.maker.fgraph.toposort():
        op = node.op
        if isinstance(op, Elemwise) and isinstance(op.scalar_op, Composite):
            names.extend(type(step).__name__ for step, _, _ in op.scalar_op.program)
        elif isinstance(op, Elemwise):
            names.append(type(op.scalar_op).__name__)
        else:
            names.append(type(op).__name__)
    return names


def check_rewritten(inputs, output, values, expected, rtol=1e-12):
    """Compile ``output`` with (FAST_RUN) and without rewrites; both must equal ``expected``
    (same dtype and shape).  Returns the FAST_RUN function, for checks of its graph.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> from nettrain.testing import check_rewritten, op_names
    >>> x = T.dvector('x')
    >>> f = check_rewritten([x], x * 1, [np.ones(2)], np.ones(2))
    >>> op_names(f)
    []
    """
    from .compile.function import function
    from .compile.mode import Mode

    fast = function(inputs, output, mode="FAST_RUN")
    ref = function(inputs, output, mode=Mode(optimizer=None))
    for r in (fast(*values), ref(*values)):
        assert r.dtype == np.asarray(expected).dtype and r.shape == np.shape(expected), (r.dtype, r.shape)
        np.testing.assert_allclose(r, expected, rtol=rtol, equal_nan=True)
    return fast
