"""Convolution ops (conv2d, conv3d and their gradient ops) against direct NumPy/SciPy references."""

import itertools

import numpy as np
import pytest
from scipy import signal

import nettrain
import nettrain.tensor as T
from nettrain.tensor.nnet import (
    Conv2d, Conv2dGradInputs, Conv2dGradWeights, conv2d, conv2d_grad_wrt_inputs, conv2d_grad_wrt_weights, conv3d,
)  # fmt: skip
from nettrain.testing import check_infer_shape, verify_grad

RNG = np.random.default_rng(11)


def _rand(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def _pads(border_mode, kshape, dilation):
    dks = [(k - 1) * d + 1 for k, d in zip(kshape, dilation)]
    if border_mode == "valid":
        return [0] * len(kshape)
    if border_mode == "full":
        return [dk - 1 for dk in dks]
    if border_mode == "half":
        return [dk // 2 for dk in dks]
    return [border_mode] * len(kshape) if isinstance(border_mode, int) else list(border_mode)


def ref_conv(x, w, border_mode="valid", subsample=None, filter_flip=True, filter_dilation=None, num_groups=1):
    """Direct convolution: a loop over every output element (any number of spatial dims)."""
    nd = x.ndim - 2
    subsample = subsample or (1,) * nd
    dil = filter_dilation or (1,) * nd
    kshape = w.shape[2:]
    pads = _pads(border_mode, kshape, dil)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads])
    if filter_flip:
        w = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    dks = [(k - 1) * d + 1 for k, d in zip(kshape, dil)]
    oshape = [(i - dk) // s + 1 for i, dk, s in zip(xp.shape[2:], dks, subsample)]
    n, f, cg = x.shape[0], w.shape[0], w.shape[1]
    out = np.zeros([n, f] + oshape)
    for b, o in itertools.product(range(n), range(f)):
        grp = o // (f // num_groups)
        for pos in itertools.product(*[range(k) for k in oshape]):
            win = xp[(b, slice(grp * cg, (grp + 1) * cg))
                     + tuple(slice(p * s, p * s + dk, d) for p, s, dk, d in zip(pos, subsample, dks, dil))]  # fmt: skip
            out[(b, o) + pos] = np.sum(win * w[o])
    return out


def _eval(expr, inputs, values):
    return nettrain.function(inputs, expr)(*values)


@pytest.mark.parametrize("border_mode", ["valid", "full", "half", 1, (2, 1), (0, 0)])
@pytest.mark.parametrize("filter_flip", [True, False])
def test_conv2d_border_modes_and_flip_match_direct_reference(border_mode, filter_flip):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    xv, wv = _rand(2, 3, 6, 7), _rand(4, 3, 3, 2)
    res = _eval(conv2d(x, w, border_mode=border_mode, filter_flip=filter_flip), [x, w], [xv, wv])
    np.testing.assert_allclose(res, ref_conv(xv, wv, border_mode, filter_flip=filter_flip), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "border_mode,subsample,dilation,groups,cin,cout",
    [("valid", (2, 2), (1, 1), 1, 3, 2), ("half", (2, 3), (1, 1), 1, 2, 3), ("full", (3, 1), (1, 1), 1, 2, 2),
     ("valid", (1, 1), (2, 2), 1, 2, 3), ("half", (1, 1), (2, 3), 1, 2, 2), ((1, 2), (2, 1), (2, 1), 1, 2, 2),
     ("valid", (1, 1), (1, 1), 2, 4, 6), ("full", (2, 2), (1, 2), 2, 4, 2), ("half", (1, 1), (1, 1), 4, 4, 4),
     ("half", (2, 1), (1, 1), 3, 3, 6)],
)  # fmt: skip
@pytest.mark.parametrize("filter_flip", [True, False])
def test_conv2d_strides_dilations_groups_match_direct_reference(border_mode, subsample, dilation, groups, cin, cout,
                                                                filter_flip):  # fmt: skip
    x, w = T.dtensor4("x"), T.dtensor4("w")
    xv, wv = _rand(2, cin, 7, 8), _rand(cout, cin // groups, 3, 2)
    params = dict(border_mode=border_mode, subsample=subsample, filter_flip=filter_flip, filter_dilation=dilation,
                  num_groups=groups)  # fmt: skip
    res = _eval(conv2d(x, w, **params), [x, w], [xv, wv])
    np.testing.assert_allclose(res, ref_conv(xv, wv, **params), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_conv2d_matches_scipy_convolve2d_and_correlate2d(mode):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    xv, wv = _rand(1, 1, 7, 6), _rand(1, 1, 3, 4)
    conv = _eval(conv2d(x, w, border_mode=mode), [x, w], [xv, wv])
    corr = _eval(conv2d(x, w, border_mode=mode, filter_flip=False), [x, w], [xv, wv])
    np.testing.assert_allclose(conv[0, 0], signal.convolve2d(xv[0, 0], wv[0, 0], mode=mode), rtol=1e-10)
    np.testing.assert_allclose(corr[0, 0], signal.correlate2d(xv[0, 0], wv[0, 0], mode=mode), rtol=1e-10)


def test_conv2d_half_with_odd_filters_is_scipy_same():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    xv, wv = _rand(1, 1, 6, 5), _rand(1, 1, 3, 5)
    res = _eval(conv2d(x, w, border_mode="half"), [x, w], [xv, wv])
    np.testing.assert_allclose(res[0, 0], signal.convolve2d(xv[0, 0], wv[0, 0], mode="same"), rtol=1e-10)


def test_conv2d_sums_over_input_channels_like_scipy():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    xv, wv = _rand(1, 3, 5, 5), _rand(2, 3, 2, 2)
    res = _eval(conv2d(x, w), [x, w], [xv, wv])
    for f in range(2):
        expected = sum(signal.convolve2d(xv[0, c], wv[f, c], mode="valid") for c in range(3))
        np.testing.assert_allclose(res[0, f], expected, rtol=1e-10)


def test_depthwise_conv2d_convolves_each_channel_with_its_own_filters():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    xv, wv = _rand(2, 3, 5, 5), _rand(6, 1, 3, 3)  # two filters per channel
    res = _eval(conv2d(x, w, border_mode="half", num_groups=3), [x, w], [xv, wv])
    for f in range(6):
        expected = signal.convolve2d(xv[1, f // 2], wv[f, 0], mode="same")
        np.testing.assert_allclose(res[1, f], expected, rtol=1e-10)


@pytest.mark.parametrize(
    "params",
    [dict(), dict(border_mode="half", subsample=(2, 2), filter_flip=False),
     dict(border_mode="full", filter_dilation=(2, 1)), dict(border_mode=(1, 0), subsample=(2, 1), num_groups=2)],
)  # fmt: skip
def test_conv2d_gradients_match_finite_differences(params):
    cin = 2 * params.get("num_groups", 1)
    xv, wv = _rand(2, cin, 5, 5), _rand(2, 2, 3, 2)
    verify_grad(lambda x, w: conv2d(x, w, **params), [xv, wv])


@pytest.mark.parametrize(
    "params",
    [dict(subsample=(2, 2)), dict(border_mode="half", filter_dilation=(1, 2), filter_flip=False, num_groups=2)],
)  # fmt: skip
def test_gradient_ops_are_differentiable_for_second_derivatives(params):
    groups = params.get("num_groups", 1)
    xv, wv = _rand(1, 2 * groups, 5, 6), _rand(2, 2, 2, 3)
    gy = _rand(*ref_conv(xv, wv, **params).shape)
    verify_grad(lambda w, g: conv2d_grad_wrt_inputs(g, w, xv.shape, **params), [wv, gy])
    verify_grad(lambda x, g: conv2d_grad_wrt_weights(x, g, wv.shape, **params), [xv, gy])


def test_second_derivative_of_a_conv_cost_matches_finite_differences():
    def fn(x, w):
        (gx,) = T.grad((T.tanh(conv2d(x, w, border_mode="half")) ** 2).sum(), [x])
        return gx

    verify_grad(fn, [_rand(1, 2, 4, 4), _rand(2, 2, 3, 3)])


def _numeric_grads(f, args, proj, eps=1e-6):
    """Central-difference gradients of ``sum(f(*args) * proj)`` w.r.t. every argument."""
    grads = []
    for a in args:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            hi = np.sum(f(*args) * proj)
            a[idx] = old - eps
            lo = np.sum(f(*args) * proj)
            a[idx] = old
            g[idx] = (hi - lo) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize(
    "params",
    [dict(border_mode="valid", subsample=(2, 2)), dict(border_mode="full", filter_dilation=(2, 2), num_groups=2)],
)  # fmt: skip
def test_gradient_ops_compute_finite_difference_gradients_of_the_forward_conv(params):
    groups = params.get("num_groups", 1)
    xv, wv = _rand(2, 2 * groups, 5, 5), _rand(2 * groups, 2, 2, 3)
    gyv = _rand(*ref_conv(xv, wv, **params).shape)
    num_x, num_w = _numeric_grads(lambda a, b: ref_conv(a, b, **params), [xv.copy(), wv.copy()], gyv)
    w, gy, x = T.dtensor4("w"), T.dtensor4("gy"), T.dtensor4("x")
    gx = Conv2dGradInputs(**params)(w, gy, 5, 5)
    gw = Conv2dGradWeights(**params)(x, gy, 2, 3)
    res_x, res_w = nettrain.function([x, w, gy], [gx, gw])(xv, wv, gyv)
    np.testing.assert_allclose(res_x, num_x, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res_w, num_w, rtol=1e-6, atol=1e-7)


def test_grad_inputs_gives_zeros_where_strides_skip_the_input():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    gx = T.grad(conv2d(x, w, subsample=(2, 2)).sum(), x)  # 6x6 input, 3x3 filter: rows/cols 5 are never read
    res = _eval(gx, [x, w], [_rand(1, 1, 6, 6), np.ones((1, 1, 3, 3))])
    assert res.shape == (1, 1, 6, 6)
    np.testing.assert_array_equal(res[0, 0, 5], 0)
    np.testing.assert_array_equal(res[0, 0, :, 5], 0)
    # Rows/cols 0-4 are read by one or (row/col 2, the overlap of two windows) two outputs.
    np.testing.assert_array_equal(res[0, 0, 1, :5], [1, 1, 2, 1, 1])
    np.testing.assert_array_equal(res[0, 0, 2, :5], [2, 2, 4, 2, 2])


def test_rop_of_conv2d_is_the_directional_derivative():
    x, w, ex, ew = T.dtensor4("x"), T.dtensor4("w"), T.dtensor4("ex"), T.dtensor4("ew")
    y = conv2d(x, w, border_mode="half", subsample=(2, 1))
    xv, wv, exv, ewv = _rand(1, 2, 4, 4), _rand(3, 2, 3, 3), _rand(1, 2, 4, 4), _rand(3, 2, 3, 3)
    res = _eval(T.Rop(y, [x, w], [ex, ew]), [x, w, ex, ew], [xv, wv, exv, ewv])
    ref = ref_conv(exv, wv, "half", (2, 1)) + ref_conv(xv, ewv, "half", (2, 1))
    np.testing.assert_allclose(res, ref, rtol=1e-10, atol=1e-12)


def test_conv2d_keeps_float32_in_forward_and_gradients():
    x, w = T.ftensor4("x"), T.ftensor4("w")
    y = conv2d(x, w, border_mode="half")
    gx, gw = T.grad(y.sum(), [x, w])
    assert y.dtype == gx.dtype == gw.dtype == "float32"
    xv, wv = _rand(2, 2, 5, 5, dtype="float32"), _rand(3, 2, 3, 3, dtype="float32")
    res = nettrain.function([x, w], [y, gx, gw])(xv, wv)
    assert [r.dtype for r in res] == ["float32"] * 3
    np.testing.assert_allclose(res[0], ref_conv(xv.astype("float64"), wv.astype("float64"), "half"), rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_conv2d_upcasts_mixed_and_integer_inputs():
    assert conv2d(T.ftensor4(), T.dtensor4()).dtype == "float64"
    x, w = T.itensor4("x"), T.dtensor4("w")
    res = _eval(conv2d(x, w), [x, w], [np.ones((1, 1, 3, 3), dtype="int32"), np.ones((1, 1, 2, 2))])
    np.testing.assert_array_equal(res, np.full((1, 1, 2, 2), 4.0))


def test_conv2d_static_output_shape_from_types_and_from_hints():
    x = T.TensorType("float64", (None, 3, 9, 8))("x")
    w = T.TensorType("float64", (4, 3, 3, 3))("w")
    assert conv2d(x, w, subsample=(2, 2)).type.shape == (None, 4, 4, 3)
    assert conv2d(x, w, border_mode="full", filter_dilation=(2, 1)).type.shape == (None, 4, 13, 10)
    assert conv2d(x, w, border_mode="half").type.shape == (None, 4, 9, 8)
    x4, w4 = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x4, w4, input_shape=(5, 3, T.constant(9), 8), filter_shape=(4, 3, x4.shape[0], 3), border_mode=(1, 1))
    assert y.type.shape == (None, 4, None, 8)  # the batch entry of input_shape is only a hint
    assert conv2d(x4, w4, image_shape=(None, 3, 9, 8), filter_shape=(4, 3, 3, 3)).type.shape == (None, 4, 7, 6)
    gx, gw = T.grad(conv2d(x, w, subsample=(2, 2)).sum(), [x, w])
    assert gx.type.shape == (None, 3, 9, 8) and gw.type.shape == (4, 3, 3, 3)


def test_conv2d_checks_shape_hints_when_run_except_the_batch_size():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    f = nettrain.function([x, w], conv2d(x, w, input_shape=(2, 1, 5, 5)))
    with pytest.raises(ValueError, match="specify_shape"):
        f(np.ones((3, 1, 6, 5)), np.ones((1, 1, 2, 2)))
    # a smaller last batch than the hard-coded batch size is fine, as in Theano
    assert f(np.ones((3, 1, 5, 5)), np.ones((1, 1, 2, 2))).shape == (3, 1, 4, 4)


@pytest.mark.parametrize(
    "params", [dict(), dict(border_mode="full", subsample=(2, 3)), dict(border_mode="half", filter_dilation=(2, 1)),
               dict(border_mode=(2, 1), subsample=(3, 2), num_groups=2)],
)  # fmt: skip
def test_infer_shape_of_conv_and_gradient_ops(params):
    groups = params.get("num_groups", 1)
    x, w, gy = T.dtensor4("x"), T.dtensor4("w"), T.dtensor4("gy")
    xv, wv = _rand(2, 2 * groups, 7, 6), _rand(2 * groups, 2, 3, 2)
    gyv = _rand(*ref_conv(xv, wv, **params).shape)
    check_infer_shape(Conv2d(**params)(x, w), [x, w], [xv, wv])
    check_infer_shape(Conv2dGradInputs(**params)(w, gy, x.shape[2], x.shape[3]), [w, gy, x], [wv, gyv, xv])
    check_infer_shape(Conv2dGradWeights(**params)(x, gy, w.shape[2], w.shape[3]), [x, gy, w], [xv, gyv, wv])


def test_conv2d_grad_wrt_inputs_is_a_transposed_convolution():
    gy, w, x = T.dtensor4("gy"), T.dtensor4("w"), T.dtensor4("x")
    up = conv2d_grad_wrt_inputs(gy, w, x.shape, border_mode="half", subsample=(2, 2))
    gyv, wv, xv = _rand(1, 3, 3, 3), _rand(3, 2, 3, 3), np.zeros((1, 2, 6, 6))
    res = _eval(up, [gy, w, x], [gyv, wv, xv])
    # <up, v> == <gy, conv(v)> for every v: the adjoint of the strided convolution.
    v = _rand(1, 2, 6, 6)
    np.testing.assert_allclose(np.sum(res * v), np.sum(gyv * ref_conv(v, wv, "half", (2, 2))), rtol=1e-10)


def test_conv3d_matches_direct_reference_and_finite_differences():
    x, w = T.dtensor5("x"), T.dtensor5("w")
    xv, wv = _rand(1, 2, 4, 5, 3), _rand(4, 1, 2, 3, 2)
    params = dict(border_mode=(1, 0, 1), subsample=(2, 1, 1), filter_dilation=(1, 1, 2), num_groups=2)
    res = _eval(conv3d(x, w, **params), [x, w], [xv, wv])
    np.testing.assert_allclose(res, ref_conv(xv, wv, **params), rtol=1e-10, atol=1e-12)
    xs, ws = _rand(1, 1, 3, 3, 2), _rand(2, 1, 2, 2, 1)
    verify_grad(lambda a, b: conv3d(a, b, border_mode="half", filter_flip=False), [xs, ws])


def test_conv_ops_compare_by_normalized_parameters():
    assert Conv2d() == Conv2d(border_mode=(0, 0), subsample=[1, 1], filter_dilation=1)
    assert Conv2d(border_mode=2) == Conv2d(border_mode=(2, 2))
    assert Conv2d(filter_flip=False) != Conv2d()


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [(dict(border_mode="same"), ValueError, "border_mode"), (dict(border_mode=(1, -1)), ValueError, "border_mode"),
     (dict(border_mode=(1, 1, 1)), ValueError, "border_mode"), (dict(subsample=(0, 1)), ValueError, "subsample"),
     (dict(filter_dilation=(1,)), ValueError, "filter_dilation"), (dict(num_groups=0), ValueError, "num_groups"),
     (dict(unshared=True), NotImplementedError, "unshared")],
)  # fmt: skip
def test_conv2d_rejects_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        conv2d(T.dtensor4(), T.dtensor4(), **kwargs)


def test_conv2d_rejects_mismatched_channels_and_groups_statically():
    x = T.TensorType("float64", (None, 3, 8, 8))()
    with pytest.raises(ValueError, match="input has 3 channels but the filters expect 2"):
        conv2d(x, T.TensorType("float64", (4, 2, 3, 3))())
    with pytest.raises(ValueError, match="3 input channels are not divisible by num_groups=2"):
        conv2d(x, T.dtensor4(), num_groups=2)
    with pytest.raises(ValueError, match="5 output channels .* not divisible by num_groups=3"):
        conv2d(x, T.TensorType("float64", (5, 1, 3, 3))(), num_groups=3)
    with pytest.raises(TypeError, match="4-d tensors"):
        conv2d(T.dmatrix(), T.dtensor4())


def test_conv2d_rejects_filters_larger_than_the_padded_input():
    x = T.TensorType("float64", (None, 1, 4, 4))()
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, T.TensorType("float64", (1, 1, 5, 3))())
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, T.TensorType("float64", (1, 1, 3, 3))(), filter_dilation=(2, 2))
    assert conv2d(x, T.TensorType("float64", (1, 1, 5, 3))(), border_mode=(1, 0)).type.shape[2:] == (2, 2)


def test_conv2d_reports_mismatched_shapes_at_run_time():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    f = nettrain.function([x, w], conv2d(x, w))
    with pytest.raises(ValueError, match="input has 3 channels but the filters expect 2"):
        f(np.ones((1, 3, 5, 5)), np.ones((1, 2, 3, 3)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        f(np.ones((1, 1, 2, 5)), np.ones((1, 1, 3, 3)))


def test_gradient_ops_reject_an_output_gradient_of_the_wrong_shape():
    w, gy = T.TensorType("float64", (1, 1, 3, 3))(), T.TensorType("float64", (1, 1, 4, 4))()
    with pytest.raises(ValueError, match="output gradient has spatial shape"):
        Conv2dGradInputs()(w, gy, 5, 5)
    with pytest.raises(TypeError, match="integer scalars"):
        Conv2dGradInputs()(w, gy, 6.0, 6)
    x, g = T.dtensor4("x"), T.dtensor4("g")
    f = nettrain.function([x, g], Conv2dGradWeights()(x, g, 3, 3))
    with pytest.raises(ValueError, match="output gradient has spatial shape"):
        f(np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3)))


def test_empty_batches_and_filter_banks_give_empty_results_and_zero_gradients():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = T.nnet.conv2d(x, w, border_mode="half")
    f = nettrain.function([x, w], [y, T.grad(y.sum(), x), T.grad(y.sum(), w)], mode=nettrain.Mode(linker="py"))
    out, gx, gw = f(np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3)))
    assert out.shape == (0, 3, 5, 5) and gx.shape == (0, 2, 5, 5) and not gw.any() and gw.shape == (3, 2, 3, 3)
    out, gx, gw = f(np.ones((2, 2, 5, 5)), np.ones((0, 2, 3, 3)))
    assert out.shape == (2, 0, 5, 5) and not gx.any() and gw.shape == (0, 2, 3, 3)


def test_grad_weights_with_mismatched_batches_names_both_counts():
    from nettrain.tensor.nnet.conv_grad import Conv2dGradWeights

    x, gy = T.dtensor4("x"), T.dtensor4("gy")
    f = nettrain.function([x, gy], Conv2dGradWeights()(x, gy, 3, 3), mode=nettrain.Mode(linker="py"))
    with pytest.raises(ValueError, match="4 images but the output gradient 3"):
        f(np.ones((4, 2, 5, 5)), np.ones((3, 3, 3, 3)))


# ------------------------------------------------- Theano's abstract_conv names
def test_abstract_conv_ops_take_theanos_hints_and_one_shape_argument():
    from nettrain.tensor.nnet import abstract_conv

    w, gy, x = T.dtensor4("w"), T.dtensor4("gy"), T.dtensor4("x")
    wv, gyv, xv = _rand(2, 3, 3, 3), _rand(1, 2, 3, 3), _rand(1, 3, 7, 7)
    ref = nettrain.function([w, gy], Conv2dGradInputs(subsample=(2, 2))(w, gy, 7, 7))(wv, gyv)
    # Theano's positional order (imshp, kshp, border_mode, subsample, ...), the spatial shape as a
    # tuple or as one symbolic vector (Lasagne's TransposedConv2DLayer)
    op = abstract_conv.AbstractConv2d_gradInputs((None, 3, 7, 7), (2, 3, 3, 3), "valid", (2, 2))
    assert op == Conv2dGradInputs(subsample=(2, 2))
    np.testing.assert_allclose(nettrain.function([w, gy], op(w, gy, (7, 7)))(wv, gyv), ref)
    np.testing.assert_allclose(nettrain.function([w, gy, x], op(w, gy, x.shape[2:]))(wv, gyv, xv), ref)
    gw = abstract_conv.AbstractConv2d_gradWeights(kshp=(2, 3, 3, 3), subsample=(2, 2))(x, gy, (3, 3))
    np.testing.assert_allclose(nettrain.function([x, gy], gw)(xv, gyv),
                               nettrain.function([x, gy], Conv2dGradWeights(subsample=(2, 2))(x, gy, 3, 3))(xv, gyv))
    # hints are promises: a known shape that disagrees is an error, at build or at run time
    with pytest.raises(ValueError, match="imshp"):
        abstract_conv.AbstractConv2d_gradInputs(imshp=(1, 3, 8, 8))(w, gy, (7, 7))
    f = nettrain.function([w, gy], abstract_conv.AbstractConv2d_gradInputs(kshp=(2, 3, 5, 5))(w, gy, (7, 7)))
    with pytest.raises(Exception, match="shape"):
        f(wv, gyv)
    with pytest.raises(NotImplementedError, match="unshared"):
        abstract_conv.AbstractConv2d(unshared=True)
