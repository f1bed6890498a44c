"""BLAS specialization: Gemm/Gemv/Ger ops and the rewrites that make them from dot + arithmetic."""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.graph.rewriting import registered_rewriters
from nettrain.tensor.blas import Dot, Gemm, Gemv, Ger, gemm, gemv, ger
from nettrain.tensor.elemwise import Elemwise
from nettrain.tensor.type import TensorType
from nettrain.testing import verify_grad

RNG = np.random.default_rng(7)
NO_REWRITE = nettrain.Mode(optimizer=None)
TOL = {"float32": 1e-5, "float64": 1e-12}


def _val(*shape, dtype="float64"):
    return RNG.normal(size=shape).astype(dtype)


def _var(dtype, *shape):
    return TensorType(dtype, shape)()


def _ops(f):
    return [type(n.op) for n in f.maker.fgraph.toposort()]


def _compile_both(inputs, outputs):
    return tuple(nettrain.function(inputs, outputs, mode=m, on_unused_input="ignore") for m in ("FAST_RUN", NO_REWRITE))


def _n_sums(f):
    return sum(isinstance(n.op, Elemwise) and type(n.op.scalar_op).__name__ in ("Add", "Sub")
               for n in f.maker.fgraph.toposort())  # fmt: skip


def _check(inputs, output, values, expected, op_class, sums_left=0):
    """FAST_RUN uses ``op_class`` (no Dot, no extra sum left) and agrees with no-rewrite mode and NumPy."""
    fast, slow = _compile_both(inputs, output)
    ops = _ops(fast)
    assert op_class in ops and Dot not in ops, ops
    assert _n_sums(fast) == sums_left
    got = fast(*values)
    dtype = output.type.dtype
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, slow(*values), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(got, expected, rtol=10 * TOL[dtype], atol=10 * TOL[dtype])


# ------------------------------------------------------------------ rewrites


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias_first", [False, True])
def test_dot_plus_bias_row_becomes_gemm(dtype, bias_first):
    x, w, b = _var(dtype, None, None), _var(dtype, None, None), _var(dtype, None)
    out = b + T.dot(x, w) if bias_first else T.dot(x, w) + b
    xv, wv, bv = _val(3, 4, dtype=dtype), _val(4, 5, dtype=dtype), _val(5, dtype=dtype)
    _check([x, w, b], out, [xv, wv, bv], xv @ wv + bv, Gemm)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sum_of_several_terms_takes_one_dot_into_gemm(dtype):
    x, w, z, u = (_var(dtype, None, None) for _ in range(4))
    out = z + T.dot(x, w) + u
    vals = [_val(3, 4, dtype=dtype), _val(4, 2, dtype=dtype), _val(3, 2, dtype=dtype), _val(3, 2, dtype=dtype)]
    # z + u is summed first and becomes gemm's z
    _check([x, w, z, u], out, vals, vals[2] + vals[0] @ vals[1] + vals[3], Gemm, sums_left=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "build, reference",
    [
        (lambda W, X, D, lr, b: W - lr * T.dot(X.T, D), lambda W, X, D, lr, b: W - lr * X.T @ D),
        (lambda W, X, D, lr, b: b * W + lr * T.dot(X.T, D), lambda W, X, D, lr, b: b * W + lr * X.T @ D),
        (lambda W, X, D, lr, b: W - T.dot(X.T, D), lambda W, X, D, lr, b: W - X.T @ D),
        (lambda W, X, D, lr, b: T.dot(X.T, D) * lr * 2 - W, lambda W, X, D, lr, b: X.T @ D * lr * 2 - W),
        (lambda W, X, D, lr, b: -T.dot(X.T, D) + b * W, lambda W, X, D, lr, b: -(X.T @ D) + b * W),
        (lambda W, X, D, lr, b: W - 0.5 * T.dot(X.T, D), lambda W, X, D, lr, b: W - 0.5 * X.T @ D),
    ],
    ids=["sgd_update", "scaled_both", "minus_dot", "dot_minus_z", "neg_dot", "constant_alpha"],
)
def test_scaled_dot_updates_become_gemm(dtype, build, reference):
    W, X, D = (_var(dtype, None, None) for _ in range(3))
    lr, b = _var(dtype), _var(dtype)
    vals = [_val(4, 3, dtype=dtype), _val(5, 4, dtype=dtype), _val(5, 3, dtype=dtype)]
    vals += [np.asarray(0.1, dtype), np.asarray(0.9, dtype)]
    _check([W, X, D, lr, b], build(W, X, D, lr, b), vals, reference(*vals), Gemm)


def test_gemm_rewrite_keeps_a_dot_that_is_read_elsewhere():
    x, w, z = (T.dmatrix() for _ in range(3))
    d = T.dot(x, w)
    fast, slow = _compile_both([x, w, z], [d + z, d * 2])
    assert Gemm not in _ops(fast) and Dot in _ops(fast)
    vals = [_val(2, 3), _val(3, 4), _val(2, 4)]
    for got, want in zip(fast(*vals), slow(*vals)):
        np.testing.assert_allclose(got, want)


def test_gemm_rewrite_skips_a_sum_that_broadcasts_the_product():
    x, w, z = _var("float64", 1, None), T.dmatrix(), T.dmatrix()  # dot(x, w) has static shape (1, ?)
    fast, slow = _compile_both([x, w, z], T.dot(x, w) + z)
    assert Gemm not in _ops(fast)
    vals = [_val(1, 3), _val(3, 4), _val(5, 4)]
    np.testing.assert_allclose(fast(*vals), vals[0] @ vals[1] + vals[2])


def test_mixed_precision_sum_is_not_specialized():
    x, w, z = T.fmatrix(), T.fmatrix(), T.dmatrix()  # float32 dot + float64 z is a float64 sum
    fast, _ = _compile_both([x, w, z], T.dot(x, w) + z)
    assert Gemm not in _ops(fast)
    xi, wi = T.imatrix(), T.imatrix()  # integers are not BLAS types
    fast, _ = _compile_both([xi, wi], T.dot(xi, wi) + 1)
    assert Gemm not in _ops(fast)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_vector_dot_plus_vector_becomes_gemv(dtype):
    A, x, z, a = _var(dtype, None, None), _var(dtype, None), _var(dtype, None), _var(dtype)
    vals = [_val(3, 4, dtype=dtype), _val(4, dtype=dtype), _val(3, dtype=dtype), np.asarray(0.3, dtype)]
    _check([A, x, z, a], z - a * T.dot(A, x), vals, vals[2] - vals[3] * (vals[0] @ vals[1]), Gemv)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_matrix_dot_plus_vector_becomes_gemv_of_transpose(dtype):
    A, x, z = _var(dtype, None, None), _var(dtype, None), _var(dtype, None)
    vals = [_val(3, 4, dtype=dtype), _val(3, dtype=dtype), _val(4, dtype=dtype)]
    _check([A, x, z], T.dot(x, A) + z, vals, vals[1] @ vals[0] + vals[2], Gemv)


def test_lone_matrix_vector_dot_stays_dot():
    A, x = T.dmatrix(), T.dvector()
    fast, _ = _compile_both([A, x], T.dot(A, x))
    assert _ops(fast) == [Dot]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_plus_scaled_outer_becomes_ger(dtype):
    A, x, y, a = _var(dtype, None, None), _var(dtype, None), _var(dtype, None), _var(dtype)
    vals = [_val(3, 4, dtype=dtype), _val(3, dtype=dtype), _val(4, dtype=dtype), np.asarray(0.3, dtype)]
    _check([A, x, y, a], A + a * T.outer(x, y), vals, vals[0] + vals[3] * np.outer(vals[1], vals[2]), Ger)
    # a dot of a column and a row is the same product; outer minus a matrix too
    col, row = x.dimshuffle(0, "x"), y.dimshuffle("x", 0)
    _check([A, x, y], T.dot(col, row) - A, vals[:3], np.outer(vals[1], vals[2]) - vals[0], Ger)


def test_blas_rewrites_are_registered_in_specialize_with_a_rule():
    names = {rw.name: rw for rw in registered_rewriters("specialize")}
    for name in ("local_dot_add_to_gemm", "local_dot_add_to_gemv", "local_outer_add_to_ger"):
        assert name in names and "->" in names[name].rule and "fast_run" in names[name].tags


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_sgd_step_uses_gemm_and_matches_unrewritten_training(dtype):
    def build(mode):
        rng = np.random.default_rng(0)
        params = [
            nettrain.shared(rng.normal(size=(4, 6)).astype(dtype), name="W1"),
            nettrain.shared(np.zeros(6, dtype), name="b1"),
            nettrain.shared(rng.normal(size=(6, 3)).astype(dtype), name="W2"),
            nettrain.shared(np.zeros(3, dtype), name="b2"),
        ]
        X, y = T.matrix("X", dtype=dtype), T.ivector("y")
        h = T.nnet.relu(T.dot(X, params[0]) + params[1])
        p = T.nnet.softmax(T.dot(h, params[2]) + params[3])
        cost = T.nnet.categorical_crossentropy(p, y).mean()
        lr = np.asarray(0.1, dtype)
        updates = [(q, q - lr * g) for q, g in zip(params, T.grad(cost, params))]
        return nettrain.function([X, y], cost, updates=updates, mode=mode), params

    fast, fast_params = build("FAST_RUN")
    slow, slow_params = build(NO_REWRITE)
    # two forward products with bias, two weight updates
    assert _ops(fast).count(Gemm) == 4
    Xv, yv = _val(8, 4, dtype=dtype), RNG.integers(0, 3, size=8).astype("int32")
    tol = 100 * TOL[dtype]
    for _ in range(3):
        np.testing.assert_allclose(fast(Xv, yv), slow(Xv, yv), rtol=tol, atol=tol)
    for a, b in zip(fast_params, slow_params):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=tol, atol=tol)


# ------------------------------------------------------------------ ops


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_gemv_ger_match_numpy_keep_dtype_and_leave_inputs_alone(dtype):
    vals = [_val(1, 4, dtype=dtype), _val(3, 5, dtype=dtype), _val(5, 4, dtype=dtype), _val(3, dtype=dtype),
            _val(5, dtype=dtype), np.asarray(0.5, dtype), np.asarray(-2.0, dtype)]  # fmt: skip
    z, x, y, u, v, a, b = vals
    copies = [c.copy() for c in vals]
    Z, X, Y = _var(dtype, 1, None), _var(dtype, None, None), _var(dtype, None, None)
    U, V, A, B = _var(dtype, None), _var(dtype, None), _var(dtype), _var(dtype)
    outs = [gemm(Z, A, X, Y, B), gemv(U, A, X, V, B), ger(X, A, U, V)]
    g1, g2, g3 = nettrain.function([Z, X, Y, U, V, A, B], outs, mode=NO_REWRITE)(*vals)
    tol = 10 * TOL[dtype]
    np.testing.assert_allclose(g1, b * z + a * (x @ y), rtol=tol, atol=tol)  # z broadcasts as a row
    np.testing.assert_allclose(g2, b * u + a * (x @ v), rtol=tol, atol=tol)
    np.testing.assert_allclose(g3, x + a * np.outer(u, v), rtol=tol, atol=tol)
    assert g1.dtype == g2.dtype == g3.dtype == dtype and g1.shape == (3, 4)
    for val, c in zip(vals, copies):
        np.testing.assert_array_equal(val, c)


def test_alpha_and_beta_are_inputs_not_properties():
    z, x, y = T.dmatrix(), T.dmatrix(), T.dmatrix()
    n1, n2 = gemm.make_node(z, 0.1, x, y, 1.0), gemm.make_node(z, 0.01, x, y, 0.5)
    assert n1.op == n2.op and len(n1.inputs) == 5 and n1.inputs[1].type.ndim == 0
    # an integer alpha is cast to the operands' dtype
    assert gemm(T.fmatrix(), 2, T.fmatrix(), T.fmatrix(), 1).dtype == "float32"


def test_gemm_gemv_ger_infer_shape_without_computing():
    z, x, y, v = T.dmatrix(), T.dmatrix(), T.dmatrix(), T.dvector()
    outs = [gemm(z, 1.0, x, y, 1.0).shape, gemv(v, 1.0, x, v, 1.0).shape, ger(x, 1.0, v, v).shape]
    f = nettrain.function([z, x, y, v], outs, on_unused_input="ignore")
    assert not {Gemm, Gemv, Ger} & set(_ops(f))
    got = f(_val(2, 3), _val(2, 5), _val(5, 3), _val(2))
    assert [tuple(s) for s in got] == [(2, 3), (2,), (2, 2)]


def test_gemm_gemv_ger_reject_bad_operands():
    m, v, s = T.dmatrix(), T.dvector(), T.dscalar()
    with pytest.raises(TypeError, match="gemm: x must be 2-d"):
        gemm(m, 1.0, v, m, 1.0)
    with pytest.raises(TypeError, match="gemm: z, x, y must have one float dtype"):
        gemm(m, 1.0, T.fmatrix(), m, 1.0)
    with pytest.raises(TypeError, match="gemv: alpha must be a 0-d tensor"):
        gemv(v, v, m, v, 1.0)
    with pytest.raises(TypeError, match="ger: A, x, y must have one float dtype"):
        ger(T.imatrix(), s, T.ivector(), T.ivector())
    with pytest.raises(ValueError, match="gemm: z of shape \\(3, \\?\\) does not match"):
        gemm(_var("float64", 3, None), 1.0, _var("float64", 2, None), m, 1.0)
    f = nettrain.function([m, v], gemv(v, 1.0, m, v, 1.0))
    with pytest.raises(ValueError, match="gemv: z of shape \\(2,\\) does not match the product's shape \\(3,\\)"):
        f(_val(3, 2), _val(2))
    with pytest.raises(ValueError, match="gemv: shapes \\(3, 2\\) and \\(3,\\) are not aligned"):
        f(_val(3, 2), _val(3))


def test_gemm_gradient_with_broadcast_bias_row():
    verify_grad(lambda z, a, x, y, b: gemm(z.dimshuffle("x", 0), a, x, y, b),
                [_val(3), np.asarray(0.7), _val(2, 4), _val(4, 3), np.asarray(-1.3)])  # fmt: skip


def test_gemm_gradient_with_full_z():
    verify_grad(gemm, [_val(2, 3), np.asarray(1.5), _val(2, 4), _val(4, 3), np.asarray(0.4)])


def test_gemv_gradient():
    verify_grad(gemv, [_val(3), np.asarray(0.7), _val(3, 4), _val(4), np.asarray(-1.3)])


def test_ger_gradient():
    verify_grad(ger, [_val(2, 3), np.asarray(0.7), _val(2), _val(3)])
