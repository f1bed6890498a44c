"""Optimizers against NumPy update rules (float32 and float64), convergence, clipping, state names, dtypes."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import optimizers as O

A = np.array([[1.0, 3.0], [0.5, 2.0]])
C = np.array([[1.0, -2.0], [0.5, 3.0]])


def quad_grad(w):
    """Gradient of ``0.5 * sum(A * (w - C) ** 2)``: the minimum is at C."""
    return A * (w - C)


def numpy_steps(name, kw, w, n):
    """Run ``n`` steps of the reference rule in float64; returns the trajectory."""
    lr = kw.get("lr")
    s = {k: np.zeros_like(w) for k in ("v", "m", "a", "d")}
    out = []
    for t in range(1, n + 1):
        g = quad_grad(w)
        if name == "sgd":
            w = w - lr * g
        elif name in ("momentum", "nesterov"):
            mu = kw["momentum"]
            s["v"] = mu * s["v"] - lr * g
            w = w + (mu * s["v"] - lr * g if name == "nesterov" else s["v"])
        elif name == "adagrad":
            s["a"] = s["a"] + g**2
            w = w - lr * g / (np.sqrt(s["a"]) + 1e-7)
        elif name == "rmsprop":
            s["a"] = 0.9 * s["a"] + 0.1 * g**2
            w = w - lr * g / (np.sqrt(s["a"]) + 1e-7)
        elif name == "adadelta":
            s["a"] = 0.95 * s["a"] + 0.05 * g**2
            step = g * np.sqrt(s["d"] + 1e-6) / np.sqrt(s["a"] + 1e-6)
            s["d"] = 0.95 * s["d"] + 0.05 * step**2
            w = w - lr * step
        elif name in ("adam", "adamw"):
            s["m"] = 0.9 * s["m"] + 0.1 * g
            s["v"] = 0.999 * s["v"] + 0.001 * g**2
            step = (s["m"] / (1 - 0.9**t)) / (np.sqrt(s["v"] / (1 - 0.999**t)) + 1e-8)
            if name == "adamw":
                step = step + kw["weight_decay"] * w
            w = w - lr * step
        out.append(w)
    return out


CASES = [
    ("sgd", O.SGD, {"lr": 0.1}),
    ("momentum", O.Momentum, {"lr": 0.05, "momentum": 0.9}),
    ("nesterov", O.Nesterov, {"lr": 0.05, "momentum": 0.9}),
    ("momentum", O.SGD, {"lr": 0.05, "momentum": 0.5}),
    ("nesterov", O.SGD, {"lr": 0.05, "momentum": 0.5, "nesterov": True}),
    ("adagrad", O.Adagrad, {"lr": 0.5}),
    ("rmsprop", O.RMSprop, {"lr": 0.05}),
    ("adadelta", O.Adadelta, {"lr": 1.0}),
    ("adam", O.Adam, {"lr": 0.1}),
    ("adamw", O.AdamW, {"lr": 0.1, "weight_decay": 0.1}),
]


def _setup(cls, kw, dtype):
    w = theano.shared(np.zeros((2, 2), dtype=dtype), name="layer.W")
    loss = 0.5 * (T.constant(A.astype(dtype)) * T.sqr(w - T.constant(C.astype(dtype)))).sum()
    opt = cls(**kw)
    updates = opt.get_updates(loss, [w])
    return w, opt, updates, theano.function([], loss, updates=updates)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, cls, kw", CASES)
def test_optimizer_matches_numpy_rule(name, cls, kw, dtype):
    w, opt, updates, step = _setup(cls, kw, dtype)
    ref = numpy_steps(name, kw, np.zeros((2, 2)), 4)
    for expected in ref:
        step()
        got = w.get_value()
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12 if dtype == "float64" else 2e-5, atol=1e-6)
    assert opt.iterations.get_value() == 4
    assert all(k.type.dtype == v.type.dtype for k, v in updates.items())
    assert opt.lr.type.dtype == dtype


@pytest.mark.parametrize("cls, kw, steps", [
    (O.SGD, {"lr": 0.3}, 200),
    (O.Momentum, {"lr": 0.1}, 200),
    (O.Nesterov, {"lr": 0.1}, 200),
    (O.Adagrad, {"lr": 1.0}, 400),
    (O.RMSprop, {"lr": 0.01}, 600),
    (O.Adadelta, {"lr": 20.0}, 600),
    (O.Adam, {"lr": 0.1}, 400),
    (O.AdamW, {"lr": 0.1, "weight_decay": 0.0}, 400),
])  # fmt: skip
def test_optimizer_converges_to_quadratic_minimum(cls, kw, steps):
    w, _, _, step = _setup(cls, kw, "float64")
    for _ in range(steps):
        step()
    np.testing.assert_allclose(w.get_value(), C, atol=0.05)


def test_float32_update_graph_has_no_float64():
    w, _, _, step = _setup(O.Adam, {"lr": 0.1, "clipnorm": 1.0}, "float32")
    bad = [n for n in step.maker.fgraph.toposort() for o in n.outputs if getattr(o.type, "dtype", "") == "float64"]
    assert bad == []


def test_state_names_are_dotted_and_complete():
    w = theano.shared(np.zeros(2), name="block1.dense.W")
    b = theano.shared(np.zeros(2), name="block1.dense.b")
    opt = O.Adam()
    opt.get_updates((w**2).sum() + (b**2).sum(), [w, b])
    assert list(opt.named_state()) == [
        "adam.lr", "adam.iterations", "adam.m.block1.dense.W", "adam.v.block1.dense.W", "adam.m.block1.dense.b",
        "adam.v.block1.dense.b",
    ]  # fmt: skip
    for name, var in opt.named_state().items():
        assert var.name == name


def test_params_dict_and_precomputed_grads():
    w = theano.shared(np.array([1.0, 2.0]))
    opt = O.SGD(lr=0.5, name="opt")
    updates = opt.get_updates(params={"enc.W": w}, grads={"enc.W": T.constant(np.array([1.0, 1.0]))})
    theano.function([], updates=updates)()
    np.testing.assert_allclose(w.get_value(), [0.5, 1.5])
    assert "opt.iterations" in opt.named_state()
    opt2 = O.SGD(lr=1.0)
    u2 = opt2.get_updates([T.constant(np.array([2.0, 0.0]))], [w])
    theano.function([], updates=u2)()
    np.testing.assert_allclose(w.get_value(), [-1.5, 1.5])


def test_clipnorm_scales_all_gradients_by_global_norm():
    a = theano.shared(np.zeros(2), name="a")
    b = theano.shared(np.zeros(1), name="b")
    ga, gb = np.array([3.0, 0.0]), np.array([4.0])  # global norm 5
    opt = O.SGD(lr=1.0, clipnorm=1.0)
    theano.function([], updates=opt.get_updates([T.constant(ga), T.constant(gb)], [a, b]))()
    np.testing.assert_allclose(a.get_value(), -ga / 5)
    np.testing.assert_allclose(b.get_value(), -gb / 5)
    c = theano.shared(np.zeros(2), name="c")
    opt = O.SGD(lr=1.0, clipnorm=10.0)  # below the threshold: unchanged
    theano.function([], updates=opt.get_updates([T.constant(ga)], [c]))()
    np.testing.assert_allclose(c.get_value(), -ga)


def test_clipvalue_clips_each_entry():
    w = theano.shared(np.zeros(3), name="w")
    opt = O.SGD(lr=1.0, clipvalue=0.5)
    theano.function([], updates=opt.get_updates([T.constant(np.array([2.0, -0.1, -3.0]))], [w]))()
    np.testing.assert_allclose(w.get_value(), [-0.5, 0.1, 0.5])


def test_lr_is_shared_and_changes_take_effect():
    w = theano.shared(np.zeros(1, dtype="float32"), name="w")
    opt = O.SGD(lr=1.0)
    step = theano.function([], updates=opt.get_updates([T.constant(np.ones(1, dtype="float32"))], [w]))
    step()
    opt.lr.set_value(np.float32(0.25))
    step()
    np.testing.assert_allclose(w.get_value(), [-1.25])


def test_adamw_skips_decay_of_unregularizable_params():
    w = theano.shared(np.ones(1), name="w")
    b = theano.shared(np.ones(1), name="b")
    b.tag.regularizable = False
    opt = O.AdamW(lr=0.1, weight_decay=0.5)
    zero = T.constant(np.zeros(1))
    theano.function([], updates=opt.get_updates([zero, zero], [w, b]))()
    np.testing.assert_allclose(w.get_value(), [0.95])
    np.testing.assert_allclose(b.get_value(), [1.0])


def test_bad_arguments_are_clear_errors():
    w1 = theano.shared(np.zeros(1), name="w")
    w2 = theano.shared(np.zeros(1), name="w")
    with pytest.raises(ValueError, match="several parameters are named"):
        O.Adam().get_updates((w1 + w2).sum(), [w1, w2])
    with pytest.raises(ValueError, match="2 gradients for 1 parameters"):
        O.SGD().get_updates([T.constant(np.zeros(1))] * 2, [w1])
    with pytest.raises(ValueError, match="momentum must be"):
        O.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="clipnorm must be positive"):
        O.Adam(clipnorm=0)
    with pytest.raises(TypeError, match="needs a loss"):
        O.Adam().get_updates(params=[w1])
