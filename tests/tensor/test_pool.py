"""Pooling (``nettrain.tensor.signal.pool``) against a direct NumPy loop reference, gradients and errors."""

import warnings

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.tensor.signal.pool import (
    AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool, max_pool_2d_same_size, pool_2d, pool_3d,
)  # fmt: skip
from nettrain.testing import check_infer_shape, verify_grad

RNG = np.random.default_rng(3)
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def _ref_out_len(n, w, s, p, ignore_border):
    if ignore_border:
        return max((n + 2 * p - w) // s + 1, 0)
    if s >= w:
        return (n - 1) // s + 1
    return max(0, (n - 1 - w + s) // s) + 1


def _ref_pool(x, ws, ignore_border, stride, pad, mode):
    """Theano's Pool.perform, element by element."""
    nd = len(ws)
    lead, img = x.shape[:-nd], x.shape[-nd:]
    padded = tuple(n + 2 * p for n, p in zip(img, pad))
    y = np.zeros(lead + padded, dtype=x.dtype)
    y[(Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(pad, img))] = x
    out = tuple(_ref_out_len(n, w, s, p, ignore_border) for n, w, s, p in zip(img, ws, stride, pad))
    z = np.zeros(lead + out, dtype=np.float64)
    func = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    for k in np.ndindex(*lead):
        for r in np.ndindex(*out):
            sl = []
            for i in range(nd):
                start = r[i] * stride[i]
                end = min(start + ws[i], padded[i])
                if mode != "average_inc_pad":
                    start, end = max(start, pad[i]), min(end, padded[i] - pad[i])
                sl.append(slice(start, end))
            z[k + r] = func(y[k][tuple(sl)])
    return z


def _ref_max_grad(x, gz, ws, ignore_border, stride, pad):
    """Gradient of max pooling: gz goes to the first maximal element (row-major) of each window."""
    nd = len(ws)
    img = x.shape[-nd:]
    gx = np.zeros(x.shape)
    for k in np.ndindex(*x.shape[:-nd]):
        for r in np.ndindex(*gz.shape[-nd:]):
            best = None
            for off in np.ndindex(*ws):
                pos = tuple(r[i] * stride[i] + off[i] - pad[i] for i in range(nd))
                if all(0 <= pos[i] < img[i] for i in range(nd)) and (best is None or x[k + pos] > x[k + best]):
                    best = pos
            gx[k + best] += gz[k + r]
    return gx


CASES = [  # shape, ws, stride, ignore_border, pad
    ((2, 3, 5, 7), (2, 2), None, True, (0, 0)),
    ((2, 3, 5, 7), (2, 2), None, False, (0, 0)),
    ((3, 5, 7), (3, 2), (1, 1), True, (0, 0)),  # stride smaller than ws
    ((3, 5, 7), (3, 2), (1, 2), False, (0, 0)),
    ((2, 5, 7), (2, 3), (3, 4), True, (0, 0)),  # stride larger than ws
    ((2, 5, 7), (2, 3), (3, 4), False, (0, 0)),
    ((1, 2, 2, 5, 6), (3, 3), (2, 2), True, (1, 2)),  # 5-d with padding
    ((2, 6, 5), (3, 3), (2, 1), True, (2, 1)),
    ((4, 4), (4, 4), None, False, (0, 0)),  # one window covering everything
]


@pytest.mark.parametrize("shape,ws,stride,ignore_border,pad", CASES)
def test_pool_2d_matches_loop_reference_for_every_mode(shape, ws, stride, ignore_border, pad):
    x = T.TensorType("float64", (None,) * len(shape))("x")
    outs = [pool_2d(x, ws, ignore_border, stride, pad, mode) for mode in MODES]
    xv = RNG.normal(size=shape)
    got = nettrain.function([x], outs)(xv)
    for mode, g in zip(MODES, got):
        ref = _ref_pool(xv, ws, ignore_border, stride or ws, pad, mode)
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-12, err_msg=mode)


def test_pool_3d_matches_loop_reference():
    x = T.tensor4("x")
    xv = RNG.normal(size=(2, 4, 5, 3))
    outs = [pool_3d(x, (2, 3, 2), False, (2, 2, 1), mode=mode) for mode in MODES]
    for mode, g in zip(MODES, nettrain.function([x], outs)(xv)):
        np.testing.assert_allclose(g, _ref_pool(xv, (2, 3, 2), False, (2, 2, 1), (0, 0, 0), mode), err_msg=mode)


@pytest.mark.parametrize("dtype", ["float32", "int32", "uint8"])
def test_pool_preserves_dtype(dtype):
    x = T.TensorType(dtype, (None, None))("x")
    xv = RNG.integers(0, 9, size=(4, 5)).astype(dtype)
    for mode in MODES:
        out = pool_2d(x, (2, 2), ignore_border=False, mode=mode)
        assert out.dtype == dtype
        res = out.eval({x: xv})
        assert res.dtype == dtype
        ref = _ref_pool(xv.astype(np.float64), (2, 2), False, (2, 2), (0, 0), mode)
        np.testing.assert_allclose(res, ref.astype(dtype), rtol=1e-6, err_msg=mode)


def test_pool_static_shape_and_infer_shape():
    x = T.TensorType("float64", (2, 3, 5, 7))("x")
    assert pool_2d(x, (2, 3), ignore_border=False).type.shape == (2, 3, 3, 3)
    assert pool_2d(x, (2, 3), ignore_border=True, pad=(1, 1)).type.shape == (2, 3, 3, 3)
    y = T.tensor4("y")
    yv = RNG.normal(size=(2, 3, 5, 7))
    for ib, pad in [(True, (1, 0)), (False, (0, 0))]:
        out = pool_2d(y, (3, 2), ib, (1, 2), pad)
        check_infer_shape(out, [y], [yv])
        gz = T.tensor4("gz")
        gzv = RNG.normal(size=out.eval({y: yv}).shape)
        for op in (MaxPoolGrad((3, 2), (1, 2), pad, ib), AveragePoolGrad((3, 2), (1, 2), pad, ib, "sum")):
            check_infer_shape(op(y, gz), [y, gz], [yv, gzv])
        check_infer_shape(MaxPoolGradGrad((3, 2), (1, 2), pad, ib)(y, y), [y], [yv])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ws,stride,ignore_border,pad", [((2, 2), (1, 1), False, (0, 0)),
                                                         ((3, 2), (2, 3), True, (1, 1))])  # fmt: skip
def test_pool_gradient_by_finite_differences(mode, ws, stride, ignore_border, pad):
    xv = RNG.permutation(2 * 5 * 6).reshape(2, 5, 6) / 7.0  # distinct values: no ties for max
    verify_grad(lambda x: pool_2d(x, ws, ignore_border, stride, pad, mode), [xv])


@pytest.mark.parametrize("ws,stride,ignore_border,pad", [((2, 3), (1, 2), False, (0, 0)),
                                                         ((3, 3), (2, 2), True, (2, 1))])  # fmt: skip
def test_max_pool_gradient_matches_first_argmax_reference(ws, stride, ignore_border, pad):
    x = T.dtensor3("x")
    xv = RNG.integers(-2, 2, size=(2, 5, 6)).astype(np.float64)  # many ties
    out = pool_2d(x, ws, ignore_border, stride, pad)
    gzv = RNG.normal(size=out.eval({x: xv}).shape)
    got = T.grad((out * gzv).sum(), x).eval({x: xv})
    np.testing.assert_allclose(got, _ref_max_grad(xv, gzv, ws, ignore_border, stride, pad))


def test_max_pool_ties_route_gradient_to_first_element_in_row_major_order():
    x = T.dmatrix("x")
    g = T.grad(pool_2d(x, (2, 2)).sum(), x).eval({x: np.ones((4, 4))})
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(g, expected)
    # Padding never wins, even against -inf in the image.
    g = T.grad(pool_2d(x, (2, 2), pad=(1, 1)).sum(), x).eval({x: np.full((2, 2), -np.inf)})
    np.testing.assert_array_equal(g, np.ones((2, 2)))


def test_max_pool_padding_never_wins():
    x = T.dmatrix("x")
    xv = -np.arange(1.0, 10.0).reshape(3, 3)
    got = pool_2d(x, (2, 2), pad=(1, 1)).eval({x: xv})
    np.testing.assert_array_equal(got, [[-1, -2], [-4, -5]])


def test_second_order_gradients_through_grad_ops():
    xv = RNG.permutation(30).reshape(5, 6) / 3.0
    for mode, ib, pad in [("max", False, (0, 0)), ("max", True, (1, 1)), ("average_exc_pad", True, (1, 0)),
                          ("sum", False, (0, 0))]:  # fmt: skip
        x = T.constant(xv)

        def fun(w, mode=mode, ib=ib, pad=pad, x=x):
            # The gradient w.r.t. x is MaxPoolGrad / AveragePoolGrad, linear in w.
            return T.grad((pool_2d(x, (2, 3), ib, (1, 2), pad, mode) * w).sum(), x)

        wv = RNG.normal(size=pool_2d(x, (2, 3), ib, (1, 2), pad, mode).eval().shape)
        verify_grad(fun, [wv])


def test_max_pool_grad_grad_gathers_at_argmax_and_r_op():
    x, v = T.dmatrix("x"), T.dmatrix("v")
    xv = RNG.permutation(20).reshape(4, 5).astype(np.float64)
    vv = RNG.normal(size=(4, 5))
    op = MaxPoolGradGrad((2, 2), None, None, False)
    got = op(x, v).eval({x: xv, v: vv})
    eps = 1e-6
    f = nettrain.function([x], pool_2d(x, (2, 2), ignore_border=False))
    np.testing.assert_allclose(got, (f(xv + eps * vv) - f(xv - eps * vv)) / (2 * eps), rtol=1e-6)
    for mode in ("max", "average_inc_pad"):
        out = pool_2d(x, (2, 2), ignore_border=False, mode=mode)
        rop = T.Rop(out, x, v).eval({x: xv, v: vv})
        g = nettrain.function([x], out)
        np.testing.assert_allclose(rop, (g(xv + eps * vv) - g(xv - eps * vv)) / (2 * eps), rtol=1e-6)


def test_max_pool_2d_same_size_keeps_first_patch_maximum():
    x = T.dtensor3("x")
    xv = np.array([[[1, 5, 5, 0, 9], [2, 3, 1, 5, 9], [7, 7, 7, 7, 9]]], dtype=np.float64)
    got = max_pool_2d_same_size(x, (2, 2)).eval({x: xv})
    expected = np.zeros_like(xv)
    expected[0, 0, 1] = 5
    expected[0, 0, 2] = 5  # the patch [[5, 0], [1, 5]] keeps its first 5
    np.testing.assert_array_equal(got, expected)


def test_pool_theano_aliases_ds_st_padding():
    x = T.dmatrix("x")
    xv = RNG.normal(size=(5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = pool_2d(x, ds=(2, 2), st=(1, 1), padding=(1, 1), mode="average_exc_pad").eval({x: xv})
    new = pool_2d(x, ws=(2, 2), stride=(1, 1), pad=(1, 1), mode="average_exc_pad").eval({x: xv})
    np.testing.assert_array_equal(old, new)
    assert Pool.out_shape((2, 3, 5, 7), (2, 3), ignore_border=False) == [2, 3, 3, 3]
    assert Pool((2, 2), mode="max_deterministic") == Pool((2, 2))


def test_pool_errors():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="Pool mode parameter only support"):
        pool_2d(x, (2, 2), mode="mean")
    with pytest.raises(NotImplementedError, match="padding must be smaller"):
        pool_2d(x, (2, 2), pad=(2, 0))
    with pytest.raises(NotImplementedError, match="padding works only with ignore_border=True"):
        pool_2d(x, (2, 2), ignore_border=False, pad=(1, 1))
    with pytest.raises(ValueError, match="window size"):
        pool_2d(x)
    with pytest.raises(ValueError, match="both 'ws' and 'ds'"):
        pool_2d(x, ws=(2, 2), ds=(2, 2))
    with pytest.raises(NotImplementedError, match="dimension >= 2"):
        pool_2d(T.dvector("v"), (2, 2))
    with pytest.raises(ValueError, match="must have 2 entries"):
        pool_2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="positive"):
        pool_2d(x, (2, 2), stride=(0, 1))
    gz = T.dmatrix("gz")
    f = nettrain.function([x, gz], MaxPoolGrad((2, 2))(x, gz))
    with pytest.raises(ValueError, match="does not match the pooled shape"):
        f(np.ones((4, 4)), np.ones((3, 2)))
