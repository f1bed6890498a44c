"""Batch normalization (``T.nnet.bn``) against NumPy, gradients by finite differences, and errors."""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.tensor.nnet import bn
from nettrain.testing import check_infer_shape, verify_grad

RNG = np.random.default_rng(11)


def _np_train(x, gamma, beta, axes, eps, factor, rm, rv):
    mean = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    out = (x - mean) * gamma * invstd + beta
    m = x.size / mean.size
    return out, mean, invstd, rm * (1 - factor) + mean * factor, rv * (1 - factor) + m / (m - 1) * var * factor


def test_batch_normalization_train_per_activation_matches_numpy_with_running_averages():
    x, g, b, rm, rv = T.dmatrix("x"), T.dvector("g"), T.dvector("b"), T.dvector("rm"), T.dvector("rv")
    res = bn.batch_normalization_train(x, g, b, "per-activation", 1e-3, 0.3, rm, rv)
    assert len(res) == 5 and [r.ndim for r in res] == [2, 1, 1, 1, 1]
    xv, gv, bv, rmv, rvv = RNG.normal(size=(6, 3)), RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3), \
        RNG.uniform(0.5, 2, size=3)  # fmt: skip
    got = nettrain.function([x, g, b, rm, rv], list(res))(xv, gv, bv, rmv, rvv)
    ref = _np_train(xv, gv, bv, (0,), 1e-3, 0.3, rmv, rvv)
    for name, a, r in zip(["out", "mean", "invstd", "running_mean", "running_var"], got, ref):
        np.testing.assert_allclose(a, r.reshape(a.shape), rtol=1e-10, err_msg=name)


def test_batch_normalization_train_spatial_matches_numpy_and_updates_shared_running_stats():
    x = T.tensor4("x")
    gv, bv = RNG.normal(size=3), RNG.normal(size=3)
    rm, rv = nettrain.shared(np.zeros(3)), nettrain.shared(np.ones(3))
    out, mean, invstd, nrm, nrv = bn.batch_normalization_train(x, gv, bv, "spatial", running_mean=rm, running_var=rv)
    f = nettrain.function([x], [out, mean, invstd], updates=[(rm, nrm), (rv, nrv)])
    xv = RNG.normal(size=(2, 3, 4, 5))
    got = f(xv)
    ref = _np_train(xv, gv.reshape(1, 3, 1, 1), bv.reshape(1, 3, 1, 1), (0, 2, 3), 1e-4, 0.1,
                    np.zeros((1, 3, 1, 1)), np.ones((1, 3, 1, 1)))  # fmt: skip
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-10)
    np.testing.assert_allclose(got[1], ref[1].ravel(), rtol=1e-10)
    np.testing.assert_allclose(got[2], ref[2].ravel(), rtol=1e-10)
    np.testing.assert_allclose(rm.get_value(), ref[3].ravel(), rtol=1e-10)
    np.testing.assert_allclose(rv.get_value(), ref[4].ravel(), rtol=1e-10)  # unbiased: m / (m - 1) with m = 40


def test_batch_normalization_train_with_broadcastable_params_and_custom_axes():
    x = T.dtensor3("x")
    g = T.TensorType("float64", (1, None, 1))("g")
    b = T.TensorType("float64", (1, None, 1))("b")
    out, mean, invstd = bn.batch_normalization_train(x, g, b, axes=(2, 0))
    assert mean.type.shape == (1, None, 1)
    xv, gv, bv = RNG.normal(size=(3, 2, 4)), RNG.normal(size=(1, 2, 1)), RNG.normal(size=(1, 2, 1))
    got = nettrain.function([x, g, b], [out, mean, invstd])(xv, gv, bv)
    ref = _np_train(xv, gv, bv, (0, 2), 1e-4, 0.1, 0, 0)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-10)
    check_infer_shape(out, [x, g, b], [xv, gv, bv])
    check_infer_shape(mean, [x, g, b], [xv, gv, bv])


@pytest.mark.parametrize("axes,shape", [("per-activation", (5, 3)), ("spatial", (3, 2, 2, 3))])
def test_batch_normalization_train_gradient_wrt_inputs_gamma_beta(axes, shape):
    c = shape[1]
    pt = [RNG.normal(size=shape), RNG.normal(size=c), RNG.normal(size=c)]
    verify_grad(lambda x, g, b: bn.batch_normalization_train(x, g, b, axes)[0], pt)


def test_batch_normalization_train_gradient_through_mean_invstd_and_running_outputs():
    def fun(x, g, b, rm, rv):
        out, mean, invstd, nrm, nrv = bn.batch_normalization_train(x, g, b, "per-activation", 1e-2, 0.2, rm, rv)
        return out * (mean * invstd + nrm * nrv).dimshuffle("x", 0)

    pt = [RNG.normal(size=(4, 3)), RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3),
          RNG.uniform(0.5, 2, size=3)]  # fmt: skip
    verify_grad(fun, pt)
    # epsilon and the averaging factor as symbolic scalars
    xv = pt[0]

    def fun2(eps, f):
        res = bn.batch_normalization_train(xv, np.ones(3), np.zeros(3), "per-activation", eps, f, np.zeros(3),
                                           np.ones(3))  # fmt: skip
        return res[0] * res[2] + res[3] + res[4]

    verify_grad(fun2, [np.array(0.1), np.array(0.3)])


def test_batch_normalization_train_second_order_gradient():
    xv, gv = RNG.normal(size=(4, 2)), RNG.normal(size=2)

    def fun(x, g):
        out = bn.batch_normalization_train(x, g, np.zeros(2))[0]
        return T.grad((out ** 3).sum(), x)

    verify_grad(fun, [xv, gv])


@pytest.mark.parametrize("axes,shape", [("per-activation", (4, 3)), ("spatial", (2, 3, 2, 2))])
def test_batch_normalization_test_matches_numpy_and_gradients(axes, shape):
    c = shape[1]
    x = T.TensorType("float64", (None,) * len(shape))("x")
    g, b, m, v = (T.dvector(n) for n in "gbmv")
    out = bn.batch_normalization_test(x, g, b, m, v, axes, epsilon=1e-3)
    xv = RNG.normal(size=shape)
    gv, bv, mv, vv = RNG.normal(size=c), RNG.normal(size=c), RNG.normal(size=c), RNG.uniform(0.5, 2, size=c)
    bc = (1, c) + (1,) * (len(shape) - 2)
    ref = (xv - mv.reshape(bc)) * gv.reshape(bc) / np.sqrt(vv.reshape(bc) + 1e-3) + bv.reshape(bc)
    np.testing.assert_allclose(out.eval({x: xv, g: gv, b: bv, m: mv, v: vv}), ref, rtol=1e-10)
    verify_grad(lambda *a: bn.batch_normalization_test(*a, axes=axes, epsilon=1e-3), [xv, gv, bv, mv, vv])


def test_batch_normalization_preserves_float32():
    x, g, b = T.fmatrix("x"), T.fvector("g"), T.fvector("b")
    out, mean, invstd = bn.batch_normalization_train(x, g, b)
    f = nettrain.function([x, g, b], [out, mean, invstd])
    res = f(*(RNG.normal(size=s).astype("float32") for s in [(4, 2), 2, 2]))
    assert [r.dtype for r in res] == [np.float32] * 3
    assert bn.batch_normalization_test(x, g, b, g, g).dtype == "float32"


@pytest.mark.parametrize("mode", ["low_mem", "high_mem"])
def test_batch_normalization_plain_formula(mode):
    x, g, b, m, s = (T.dmatrix(n) for n in "xgbms")
    vals = [RNG.normal(size=(3, 2)) for _ in range(4)] + [RNG.uniform(0.5, 2, size=(3, 2))]
    xv, gv, bv, mv, sv = vals
    got = bn.batch_normalization(x, g, b, m, s, mode=mode).eval(dict(zip([x, g, b, m, s], vals)))
    np.testing.assert_allclose(got, (xv - mv) * gv / sv + bv)


def test_batch_normalization_errors():
    x, g = T.dmatrix("x"), T.dvector("g")
    with pytest.raises(ValueError, match="invalid axes"):
        bn.batch_normalization_train(x, g, g, axes="channel")
    with pytest.raises(ValueError, match="axes should be less than ndim"):
        bn.batch_normalization_train(x, g, g, axes=(2,))
    with pytest.raises(ValueError, match="at least one normalization axis"):
        bn.batch_normalization_test(x, g, g, g, g, axes=())
    with pytest.raises(ValueError, match="gamma must have 2 dimensions"):
        bn.batch_normalization_train(T.dtensor3("x3"), g, g, axes=(0,))
    with pytest.raises(ValueError, match="both be given or both be None"):
        bn.batch_normalization_train(x, g, g, running_mean=g)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        bn.batch_normalization_train(x, g, g, epsilon=0)
    with pytest.raises(ValueError, match='mode must be either "low_mem", "high_mem"'):
        bn.batch_normalization(x, g, g, g, g, mode="fast")
    with pytest.raises(TypeError, match="static length 1 along axes"):
        bn.AbstractBatchNormTrain((0,))(x, x, x)
    with pytest.raises(TypeError, match="inputs must be float"):
        bn.AbstractBatchNormInference((0,))(T.imatrix("i"), x, x, x, x)
