"""Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool (and BatchNorm over channels) against NumPy loops."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L
from nettrain.testing import verify_grad

RNG = np.random.default_rng(0)


def conv_ref(x, w, b, stride=(1, 1), pad=(0, 0), dilation=(1, 1), groups=1):
    """Cross-correlation by a direct loop over every output entry."""
    n, _, rows, cols = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    ho, wo = (rows + 2 * pad[0] - eh) // stride[0] + 1, (cols + 2 * pad[1] - ew) // stride[1] + 1
    out = np.zeros((n, f, ho, wo))
    per_group = f // groups
    for k in range(n):
        for o in range(f):
            g = o // per_group
            for i in range(ho):
                for j in range(wo):
                    r, c = i * stride[0], j * stride[1]
                    patch = xp[k, g * cg:(g + 1) * cg, r:r + eh:dilation[0], c:c + ew:dilation[1]]
                    out[k, o, i, j] = (patch * w[o]).sum() + b[o]
    return out


def pool_ref(x, ws, stride, pad, mode):
    """Max or mean over windows of ``ws``; padded entries never win a max and count only for average_inc_pad."""
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])), constant_values=fill)
    real = np.pad(np.ones(x.shape[2:]), ((pad[0], pad[0]), (pad[1], pad[1])))
    ho = (x.shape[2] + 2 * pad[0] - ws[0]) // stride[0] + 1
    wo = (x.shape[3] + 2 * pad[1] - ws[1]) // stride[1] + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            rs, cs = slice(i * stride[0], i * stride[0] + ws[0]), slice(j * stride[1], j * stride[1] + ws[1])
            win = xp[:, :, rs, cs]
            if mode == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                count = ws[0] * ws[1] if mode == "average_inc_pad" else real[rs, cs].sum()
                out[:, :, i, j] = win.sum(axis=(2, 3)) / count
    return out


def run(layer, xv, training=False):
    x = T.tensor(str(xv.dtype), shape=(None,) + xv.shape[1:], name="x")
    out, updates = layer.forward(x, training=training)
    return theano.function([x], out, updates=updates)(xv), out


# ------------------------------------------------------------------------------------------------ Conv2D
@pytest.mark.parametrize("kw", [
    dict(),
    dict(stride=2),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(padding="full"),
    dict(padding="same", dilation=2),
    dict(groups=2),
])  # fmt: skip
def test_conv2d_matches_direct_loop(kw):
    layer = L.Conv2D(4, (3, 2) if "groups" in kw else 3, seed=1, b_init=RNG.normal(size=4), **kw)
    xv = RNG.normal(size=(2, 2, 7, 6))
    out, y = run(layer, xv)
    ref = conv_ref(xv, layer.W.get_value(), layer.b.get_value(), layer.stride, layer.pad, layer.dilation,
                   layer.groups)  # fmt: skip
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert y.type.shape == (None,) + ref.shape[1:]


@pytest.mark.parametrize("kernel, dilation, stride", [(1, 1, 1), (3, 1, 1), (5, 1, 1), (3, 2, 1), (3, 1, 2)])
def test_conv2d_same_padding_keeps_spatial_size_for_odd_kernels(kernel, dilation, stride):
    layer = L.Conv2D(3, kernel, padding="same", dilation=dilation, stride=stride, seed=0)
    out, y = run(layer, RNG.normal(size=(1, 2, 9, 8)))
    expect = (-(-9 // stride), -(-8 // stride))  # ceil(n / stride), as in Keras
    assert out.shape == (1, 3) + expect and y.type.shape == (None, 3) + expect


def test_conv2d_same_padding_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd effective kernel"):
        L.Conv2D(3, 2, padding="same")


def test_conv2d_infers_in_channels_and_keeps_float32():
    layer = L.Conv2D(5, 3, activation="relu")
    out, y = run(layer, RNG.random((2, 3, 6, 6), dtype=np.float32))
    assert layer.W.get_value().shape == (5, 3, 3, 3) and layer.W.type.dtype == "float32"
    assert out.dtype == np.float32 and y.type.dtype == "float32" and (out >= 0).all()


def test_conv2d_activation_bias_and_use_bias_false():
    layer = L.Conv2D(2, 3, activation="relu", use_bias=False, seed=3)
    xv = RNG.normal(size=(1, 1, 5, 5))
    out, _ = run(layer, xv)
    assert list(layer.named_params()) == ["W"]
    np.testing.assert_allclose(out, np.maximum(conv_ref(xv, layer.W.get_value(), np.zeros(2)), 0), rtol=1e-10)


def test_conv2d_default_init_is_he_for_relu_else_glorot():
    assert isinstance(L.Conv2D(2, 3, activation="relu").W_init, L.init.HeUniform)
    assert isinstance(L.Conv2D(2, 3).W_init, L.init.GlorotUniform)
    w = L.Conv2D(8, 3, in_channels=4, activation="relu", seed=0).W.get_value()
    assert np.abs(w).max() <= np.sqrt(6.0 / (4 * 9))  # fan_in = in_channels * kh * kw


def test_conv2d_gradient_by_finite_differences():
    layer = L.Conv2D(2, 2, stride=(1, 2), padding=1, activation="tanh", in_channels=2, seed=0)
    verify_grad(lambda x: layer(x), [RNG.normal(size=(1, 2, 4, 5))])
    xv = RNG.normal(size=(2, 2, 4, 4))
    verify_grad(lambda w: L.Conv2D(2, 3, W_init=1.0, in_channels=2)(T.constant(xv)) * w.sum(), [np.ones(2)])


def test_conv2d_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="divisible by groups"):
        L.Conv2D(4, 3, groups=2, in_channels=3)
    with pytest.raises(ValueError, match="groups must be a positive int dividing"):
        L.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="padding must be"):
        L.Conv2D(3, 3, padding="half-ish")
    with pytest.raises(ValueError, match="kernel_size must be"):
        L.Conv2D(3, (3, 0))
    with pytest.raises(ValueError, match="stride must be"):
        L.Conv2D(3, 3, stride=-1)
    assert L.Conv2D(3, np.int64(3), stride=[2, 1]).kernel_size == (3, 3)
    with pytest.raises(ValueError, match="4-d"):
        L.Conv2D(3, 3)(T.dmatrix())
    with pytest.raises(ValueError, match="pass it explicitly"):
        L.Conv2D(3, 3)(T.dtensor4())
    with pytest.raises(ValueError, match="expects 2 input channels"):
        L.Conv2D(3, 3, in_channels=2)(T.tensor("float64", shape=(None, 3, 8, 8)))
    with pytest.raises(ValueError, match="does not fit"):
        L.Conv2D(3, 5, in_channels=1)(T.tensor("float64", shape=(None, 1, 4, 8)))


def test_sequential_cnn_has_dotted_names_and_static_shapes_through_flatten():
    model = L.Sequential([L.Conv2D(4, 3, activation="relu"), L.MaxPool2D(2), L.Conv2D(6, 3, padding="same"),
                          L.GlobalAvgPool(), L.Dense(3)], seed=0)  # fmt: skip
    xv = RNG.random((2, 1, 10, 10), dtype=np.float32)
    out, y = run(model, xv)
    assert list(model.named_params()) == ["conv2d0.W", "conv2d0.b", "conv2d1.W", "conv2d1.b", "dense0.W", "dense0.b"]
    assert model.layers[0].W.name == "conv2d0.W"
    assert out.shape == (2, 3) and y.type.shape == (None, 3)
    flat = L.Sequential([L.Conv2D(4, 3), L.MaxPool2D(2), L.Flatten()])(T.tensor("float32", shape=(None, 1, 10, 10)))
    assert flat.type.shape == (None, 4 * 4 * 4)


# ------------------------------------------------------------------------------------------------ pooling
@pytest.mark.parametrize("layer, mode", [
    (L.MaxPool2D(2), "max"),
    (L.MaxPool2D((3, 2), stride=(1, 2)), "max"),
    (L.MaxPool2D(3, stride=2, padding=1), "max"),
    (L.AvgPool2D(2), "average_exc_pad"),
    (L.AvgPool2D(3, stride=2, padding=1), "average_exc_pad"),
    (L.AvgPool2D(3, stride=2, padding=(1, 0), include_padding=True), "average_inc_pad"),
])  # fmt: skip
def test_pooling_matches_numpy(layer, mode):
    xv = RNG.normal(size=(2, 3, 7, 6))
    out, y = run(layer, xv)
    ref = pool_ref(xv, layer.pool_size, layer.stride, layer.padding, mode)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert y.type.shape == (None, 3) + ref.shape[2:]


def test_pooling_drops_partial_windows_and_keeps_float32():
    out, y = run(L.MaxPool2D(2), RNG.random((1, 2, 5, 5), dtype=np.float32))
    assert out.shape == (1, 2, 2, 2) and out.dtype == np.float32 and y.type.dtype == "float32"


def test_pooling_gradients_by_finite_differences():
    xv = RNG.permutation(36).reshape(1, 1, 6, 6) / 7.0  # distinct values: the max is differentiable
    verify_grad(lambda x: L.MaxPool2D(2)(x), [xv])
    verify_grad(lambda x: L.AvgPool2D(3, stride=2, padding=1)(x), [xv])


def test_pooling_bad_arguments():
    with pytest.raises(ValueError, match="smaller than pool_size"):
        L.MaxPool2D(2, padding=2)
    with pytest.raises(ValueError, match="stride must be"):
        L.AvgPool2D(2, stride=0)
    with pytest.raises(ValueError, match="4-d"):
        L.MaxPool2D(2)(T.dtensor3())
    with pytest.raises(ValueError, match="does not fit"):
        L.MaxPool2D(4)(T.tensor("float64", shape=(None, 1, 3, 8)))


def test_global_avg_pool_is_the_spatial_mean():
    xv = RNG.normal(size=(2, 3, 4, 5))
    out, y = run(L.GlobalAvgPool(), xv)
    np.testing.assert_allclose(out, xv.mean(axis=(2, 3)), rtol=1e-12)
    assert y.type.shape == (None, 3)
    with pytest.raises(ValueError, match="channels"):
        L.GlobalAvgPool()(T.dmatrix())


# ------------------------------------------------------------------------------------------------ BatchNorm
def test_batchnorm_on_images_normalizes_each_channel():
    bn = L.BatchNorm(momentum=0.5)
    xv = RNG.normal(loc=3.0, size=(4, 3, 2, 5))
    out, y = run(bn, xv, training=True)
    mu, var = xv.mean(axis=(0, 2, 3)), xv.var(axis=(0, 2, 3))
    ref = (xv - mu[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-10)
    assert y.type.shape == (None, 3, 2, 5) and list(bn.named_params()) == ["gamma", "beta", "running_mean",
                                                                            "running_var"]  # fmt: skip
    np.testing.assert_allclose(bn.running_mean.get_value(), 0.5 * mu, rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.get_value(), 0.5 + 0.5 * var, rtol=1e-10)


def test_float64_parameters_with_a_float32_input_warn_once():
    import warnings

    layer = L.Dense(3, in_units=4, dtype="float64")
    x = T.fmatrix("x")
    with pytest.warns(UserWarning, match="float64 parameters"):
        layer(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(x)  # once per layer
    lazy = L.Dense(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lazy(T.tensor("float32", shape=(None, 4))).dtype == "float32"
