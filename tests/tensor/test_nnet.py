"""nnet activations, softmax family and crossentropies against NumPy references."""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.tensor.nnet import (
    CrossentropyCategorical1Hot, CrossentropyCategorical1HotGrad, LogSoftmax, Softmax, SoftmaxGrad,
    binary_crossentropy, categorical_crossentropy, crossentropy_softmax_1hot, elu, hard_sigmoid, log_softmax,
    logsoftmax, relu, selu, sigmoid, sigmoid_binary_crossentropy, softmax, softmax_with_bias, softplus, softsign,
    ultra_fast_sigmoid,
)  # fmt: skip
from nettrain.testing import verify_grad

RNG = np.random.default_rng(7)


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _probs(n=4, k=3):
    p = RNG.uniform(0.1, 1.0, size=(n, k))
    return p / p.sum(axis=1, keepdims=True)


def test_sigmoid_and_softplus_are_reexported_from_math():
    assert sigmoid is T.sigmoid and softplus is T.softplus
    x = T.dvector("x")
    np.testing.assert_allclose(T.nnet.sigmoid(x).eval({x: [0.0]}), [0.5])


@pytest.mark.parametrize(
    "fn,ref",
    [(relu, lambda v: np.maximum(v, 0)), (lambda x: relu(x, 0.1), lambda v: np.where(v > 0, v, 0.1 * v)),
     (elu, lambda v: np.where(v > 0, v, np.expm1(v))),
     (lambda x: elu(x, 0.5), lambda v: np.where(v > 0, v, 0.5 * np.expm1(v))),
     (selu, lambda v: 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * np.expm1(v))),
     (softsign, lambda v: v / (1 + np.abs(v))), (hard_sigmoid, lambda v: np.clip(0.2 * v + 0.5, 0, 1)),
     (ultra_fast_sigmoid, lambda v: 1 / (1 + np.exp(-v)))],
)  # fmt: skip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_match_numpy_and_keep_float_dtype(fn, ref, dtype):
    v = np.array([-800.0, -3.0, -0.5, 0.25, 2.0, 800.0], dtype=dtype)
    x = T.vector("x", dtype=dtype)
    res = nettrain.function([x], fn(x))(v)
    assert res.dtype == dtype
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(res, ref(v.astype("float64")), rtol=1e-5, atol=1e-7)


def test_relu_accepts_a_symbolic_alpha():
    x, a = T.dvector("x"), T.dscalar("a")
    np.testing.assert_allclose(relu(x, a).eval({x: [-2.0, 3.0], a: 0.25}), [-0.5, 3.0])


@pytest.mark.parametrize("fn", [relu, lambda x: relu(x, 0.2), elu, selu, softsign])
def test_activation_gradients(fn):
    verify_grad(fn, [np.array([-1.5, -0.3, 0.4, 2.0])])


def test_elu_gradient_is_finite_for_large_inputs():
    x = T.dvector("x")
    g = nettrain.function([x], T.grad(elu(x).sum(), x))(np.array([1000.0, -1000.0]))
    np.testing.assert_array_equal(g, [1.0, 0.0])


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_and_log_softmax_match_numpy(axis, dtype):
    v = RNG.normal(size=(3, 4)).astype(dtype)
    x = T.matrix("x", dtype=dtype)
    f = nettrain.function([x], [softmax(x, axis=axis), log_softmax(x, axis=axis)])
    sm, lsm = f(v)
    assert sm.dtype == dtype and lsm.dtype == dtype
    ref = _np_softmax(v.astype("float64"), axis)
    np.testing.assert_allclose(sm, ref, rtol=1e-5)
    np.testing.assert_allclose(lsm, np.log(ref), rtol=1e-5)


def test_softmax_of_rows_of_plus_minus_1000_is_finite():
    v = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0]])
    x = T.dmatrix("x")
    sm, lsm, g = nettrain.function([x], [softmax(x), log_softmax(x), T.grad(log_softmax(x)[:, 0].sum(), x)])(v)
    assert np.all(np.isfinite(sm)) and np.all(np.isfinite(lsm)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(sm, _np_softmax(v))
    np.testing.assert_allclose(lsm[0], [0.0, -2000.0, -1000.0])
    np.testing.assert_allclose(sm.sum(axis=1), 1.0)


def test_softmax_works_on_vectors_and_3d_tensors():
    v = RNG.normal(size=(5,))
    x = T.dvector("x")
    out = softmax(x, axis=-1)
    assert out.type.ndim == 1
    np.testing.assert_allclose(out.eval({x: v}), _np_softmax(v))
    t = T.dtensor3("t")
    w = RNG.normal(size=(2, 3, 4))
    np.testing.assert_allclose(softmax(t, axis=1).eval({t: w}), _np_softmax(w, 1))


def test_softmax_gradient_is_its_own_op():
    x = T.dmatrix("x")
    g = T.grad((softmax(x) * T.constant(RNG.normal(size=(2, 3)))).sum(), x)
    assert isinstance(g.owner.op, SoftmaxGrad)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax_gradients(axis):
    v = RNG.normal(size=(3, 4))
    verify_grad(lambda x: softmax(x, axis=axis), [v])
    verify_grad(lambda x: log_softmax(x, axis=axis), [v])


def test_softmax_second_derivative_through_softmax_grad():
    w = T.constant(RNG.normal(size=(2, 3)))
    verify_grad(lambda x: T.grad(((softmax(x) * w).sum()) ** 2, x), [RNG.normal(size=(2, 3))])


def test_softmax_grad_r_op_and_log_softmax_r_op_match_finite_differences():
    x, v = T.dmatrix("x"), T.dmatrix("v")
    xv, vv = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    eps = 1e-6
    for op in (Softmax(1), LogSoftmax(1)):
        (r,) = op.R_op([x], [v])
        fd = (op(x).eval({x: xv + eps * vv}) - op(x).eval({x: xv - eps * vv})) / (2 * eps)
        np.testing.assert_allclose(r.eval({x: xv, v: vv}), fd, rtol=1e-5, atol=1e-8)


def test_logsoftmax_alias_and_softmax_with_bias():
    assert logsoftmax is log_softmax
    x, b = T.dmatrix("x"), T.dvector("b")
    xv, bv = RNG.normal(size=(2, 3)), RNG.normal(size=(3,))
    np.testing.assert_allclose(softmax_with_bias(x, b).eval({x: xv, b: bv}), _np_softmax(xv + bv))
    verify_grad(softmax_with_bias, [xv, bv])


def test_softmax_bad_axis_is_a_clear_error():
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        softmax(T.dmatrix(), axis=2)


def test_integer_and_one_hot_categorical_crossentropy_agree_with_numpy():
    p = _probs()
    y = np.array([0, 2, 1, 2], dtype="int32")
    c, yi, yo = T.dmatrix("c"), T.ivector("y"), T.dmatrix("yo")
    f = nettrain.function([c, yi, yo], [categorical_crossentropy(c, yi), categorical_crossentropy(c, yo)])
    by_index, by_onehot = f(p, y, np.eye(3)[y])
    expected = -np.log(p[np.arange(4), y])
    np.testing.assert_allclose(by_index, expected)
    np.testing.assert_allclose(by_onehot, expected)
    assert isinstance(categorical_crossentropy(c, yi).owner.op, CrossentropyCategorical1Hot)


def test_categorical_crossentropy_gradients():
    y = T.constant(np.array([0, 2, 1, 2], dtype="int64"))
    verify_grad(lambda c: categorical_crossentropy(c, y), [_probs()])
    verify_grad(categorical_crossentropy, [_probs(), _probs()])
    # second order goes through CrossentropyCategorical1HotGrad's own gradient
    verify_grad(lambda c: T.grad((categorical_crossentropy(c, y) ** 2).sum(), c), [_probs()])


def test_crossentropy_class_index_out_of_range_names_the_index():
    c, y = T.dmatrix("c"), T.ivector("y")
    f = nettrain.function([c, y], categorical_crossentropy(c, y))
    with pytest.raises(IndexError, match="class index 3 .*position 1.* 3 classes"):
        f(_probs(2, 3), np.array([0, 3], dtype="int32"))
    with pytest.raises(IndexError, match="class index -1"):
        f(_probs(2, 3), np.array([-1, 0], dtype="int32"))


def test_categorical_crossentropy_rejects_mismatched_inputs():
    with pytest.raises(TypeError, match="class indices"):
        categorical_crossentropy(T.dmatrix(), T.dscalar())
    with pytest.raises(TypeError, match="integer vector"):
        categorical_crossentropy(T.dmatrix(), T.dvector())
    c, y = T.dmatrix("c"), T.ivector("y")
    f = nettrain.function([c, y], categorical_crossentropy(c, y))
    with pytest.raises(ValueError, match="different numbers of rows"):
        f(_probs(2, 3), np.array([0, 1, 2], dtype="int32"))


def test_binary_crossentropy_matches_numpy_and_gradient():
    o, t = RNG.uniform(0.05, 0.95, size=(5,)), RNG.uniform(0, 1, size=(5,))
    ov, tv = T.dvector("o"), T.dvector("t")
    res = binary_crossentropy(ov, tv).eval({ov: o, tv: t})
    np.testing.assert_allclose(res, -(t * np.log(o) + (1 - t) * np.log(1 - o)))
    verify_grad(binary_crossentropy, [o, t])


def test_sigmoid_binary_crossentropy_is_stable_and_matches_binary_crossentropy():
    x, t = T.dvector("x"), T.dvector("t")
    xv, tv = RNG.normal(size=(5,)), RNG.uniform(0, 1, size=(5,))
    f = nettrain.function([x, t], [sigmoid_binary_crossentropy(x, t), binary_crossentropy(sigmoid(x), t)])
    a, b = f(xv, tv)
    np.testing.assert_allclose(a, b)
    big = sigmoid_binary_crossentropy(x, t).eval({x: [1000.0, -1000.0, 1000.0], t: [1.0, 0.0, 0.0]})
    np.testing.assert_allclose(big, [0.0, 0.0, 1000.0])
    verify_grad(sigmoid_binary_crossentropy, [xv, tv])


def test_crossentropy_softmax_1hot_returns_stable_nll_and_softmax():
    x, y = T.dmatrix("x"), T.ivector("y")
    xv = np.array([[0.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    yv = np.array([0, 2], dtype="int32")
    nll, sm = nettrain.function([x, y], list(crossentropy_softmax_1hot(x, y)))(xv, yv)
    np.testing.assert_allclose(sm, _np_softmax(xv))
    ref = [1000.0, -np.log(_np_softmax(xv[1])[2])]
    np.testing.assert_allclose(nll, ref)
    yc = T.constant(np.array([1, 0, 2], dtype="int32"))
    verify_grad(lambda a: crossentropy_softmax_1hot(a, yc)[0], [RNG.normal(size=(3, 4))])


def test_crossentropy_softmax_1hot_equals_categorical_crossentropy_of_softmax():
    x, y = T.dmatrix("x"), T.ivector("y")
    xv, yv = RNG.normal(size=(4, 3)), np.array([2, 0, 1, 1], dtype="int32")
    a = crossentropy_softmax_1hot(x, y)[0].eval({x: xv, y: yv})
    b = categorical_crossentropy(softmax(x), y).eval({x: xv, y: yv})
    np.testing.assert_allclose(a, b)


def test_infer_shape_of_softmax_and_crossentropy_ops():
    x, dy, y, g = T.dmatrix("x"), T.dmatrix("dy"), T.ivector("y"), T.dvector("g")
    values = {x: _probs(4, 3), dy: RNG.normal(size=(4, 3)), y: np.array([0, 1, 2, 0], dtype="int32"), g: np.ones(4)}
    outs = [
        Softmax(1)(x), LogSoftmax(0)(x), SoftmaxGrad(1)(dy, x), CrossentropyCategorical1Hot()(x, y),
        CrossentropyCategorical1HotGrad()(g, x, y),
    ]  # fmt: skip
    for out in outs:
        node = out.owner
        inferred = node.op.infer_shape(node, [T.shape_tuple(i) for i in node.inputs])[0]
        f = nettrain.function([x, dy, y, g], [T.as_tensor_variable(s) for s in inferred], on_unused_input="ignore")
        expected = nettrain.function([x, dy, y, g], out, on_unused_input="ignore")(*values.values()).shape
        assert tuple(int(s) for s in f(*values.values())) == expected


def test_crossentropy_softmax_1hot_is_the_fused_op_and_has_second_derivatives():
    from nettrain.tensor.nnet import crossentropy_softmax_1hot
    from nettrain.tensor.nnet.softmax_crossentropy import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx

    y = np.array([0, 2, 1, 2], dtype=np.int32)
    xv = RNG.normal(size=(4, 3))
    x = T.dmatrix("x")
    nll = crossentropy_softmax_1hot(x, y)[0]
    assert isinstance(nll.owner.op, CrossentropySoftmax1Hot)
    g = T.grad(nll.mean(), x)
    f = nettrain.function([x], g)
    assert any(isinstance(n.op, CrossentropySoftmax1HotDx) for n in f.maker.fgraph.toposort())
    z = xv - xv.max(1, keepdims=True)
    sm = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(f(xv), (sm - np.eye(3)[y]) / 4, rtol=1e-12)
    w = RNG.normal(size=(4, 3))
    # d/dx of <grad, w> exercises CrossentropySoftmax1HotDx.grad (row weights of static length 1 and full)
    verify_grad(lambda x: T.grad(crossentropy_softmax_1hot(x, y)[0].mean(), x) * w, [xv])
    verify_grad(lambda x: T.grad((crossentropy_softmax_1hot(x, y)[0] * T.arange(1, 5)).sum(), x) * w, [xv])


def test_relu_of_numpy_data_is_numpy_data_as_in_theano():
    a = np.array([-2.0, 0.5], dtype="float32")
    out = T.nnet.relu(a)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.5])
    np.testing.assert_allclose(T.nnet.relu(a, alpha=0.1), [-0.2, 0.5], rtol=1e-6)


def test_softmax_of_a_vector_without_axis_is_a_row_as_in_theano():
    # DeepLearningTutorials' rnnslu indexes the scanned softmax of a vector as s[:, 0, :]
    v = RNG.normal(size=(5,))
    x = T.dvector("x")
    for fn in (softmax, log_softmax):
        out = fn(x)
        assert out.type.ndim == 2 and out.type.shape[0] == 1
    np.testing.assert_allclose(softmax(x).eval({x: v}), _np_softmax(v)[None, :])
    np.testing.assert_allclose(log_softmax(x).eval({x: v}), np.log(_np_softmax(v))[None, :])
    m = T.dmatrix("m")
    assert softmax(m).type.ndim == 2 and softmax(T.dtensor3("t")).type.ndim == 3

