"""Layer tree: tagged parameters, dotted names, seeding, Sequential, explicit updates."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import layers as L
from nettrain.layers import init


class Block(L.Layer):
    """Two dense layers assigned as attributes (functional composition)."""

    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.dense = L.Dense(n, in_units=n)
        self.norm = L.BatchNorm(n)

    def forward(self, x, training=False):
        h, _ = self.dense.forward(x, training)
        return self.norm.forward(h, training)


def test_named_params_use_dotted_paths_and_set_variable_names():
    model = L.Sequential([Block(3, name="block1"), L.Dense(2, name="head")])
    x = T.tensor("float64", shape=(None, 3))
    model(x)
    names = list(model.named_params())
    assert names == ["block1.dense.W", "block1.dense.b", "block1.norm.gamma", "block1.norm.beta",
                     "block1.norm.running_mean", "block1.norm.running_var", "head.W", "head.b"]  # fmt: skip
    for name, var in model.named_params().items():
        assert var.name == name
    assert model.params() == list(model.named_params().values())


def test_sequential_names_children_per_class():
    model = L.Sequential([L.Dense(2, in_units=2), L.Dropout(0.1), L.Dense(2), L.Dropout(0.1)])
    assert list(model.children()) == ["dense0", "dropout0", "dense1", "dropout1"]


def test_param_tags_and_filters():
    model = L.Sequential([L.Dense(2, in_units=3), L.BatchNorm(2)])
    assert list(model.named_params(trainable=True)) == ["dense0.W", "dense0.b", "batchnorm0.gamma", "batchnorm0.beta"]
    assert list(model.named_state()) == ["batchnorm0.running_mean", "batchnorm0.running_var"]
    assert list(model.named_params(regularizable=True)) == ["dense0.W"]
    w = model[0].W
    assert w.tag.trainable and w.tag.regularizable
    assert not model[1].running_mean.tag.trainable
    assert model.count_params() == 3 * 2 + 2 + 4 * 2


def test_same_seed_gives_same_params_and_different_seed_differs():
    def make(seed):
        m = L.Sequential([L.Dense(4, in_units=3), L.Dense(2)], seed=seed)
        m(T.tensor("float64", shape=(None, 3)))  # builds the lazy second layer
        return {k: v.get_value() for k, v in m.named_params().items()}

    a, b, c = make(7), make(7), make(8)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["dense0.W"], c["dense0.W"])
    assert not np.array_equal(a["dense1.W"], c["dense1.W"])


def test_initialize_resets_params_reproducibly():
    m = L.Sequential([L.Dense(4, in_units=3), L.Dense(2, in_units=4)])
    m.initialize(3)
    first = m[0].W.get_value()
    m[0].W.set_value(np.zeros((3, 4)))
    m.initialize(3)
    np.testing.assert_array_equal(m[0].W.get_value(), first)
    np.testing.assert_array_equal(m[0].b.get_value(), 0)


def test_global_seed_makes_unseeded_layers_reproducible():
    init.set_seed(5)
    a = L.Dense(3, in_units=2).W.get_value()
    init.set_seed(5)
    b = L.Dense(3, in_units=2).W.get_value()
    np.testing.assert_array_equal(a, b)


def test_custom_layer_the_lasagne_way():
    class Scale(L.Layer):
        def __init__(self, n):
            super().__init__()
            self.s = self.add_param("s", 2.0, (n,), regularizable=False)

        def forward(self, x, training=False):
            return x * self.s, {}

    layer = Scale(2)
    x = T.dmatrix("x")
    loss = layer(x).sum()
    g = T.grad(loss, layer.params())
    f = theano.function([x], g[0])
    np.testing.assert_allclose(f(np.array([[1.0, 2.0], [3.0, 4.0]])), [4.0, 6.0])


def test_call_refuses_to_drop_updates():
    bn = L.BatchNorm(2)
    with pytest.raises(ValueError, match="would drop the state updates"):
        bn(T.dmatrix(), training=True)


def test_duplicate_and_bad_names_are_rejected():
    m = L.Sequential([L.Dense(2, in_units=2, name="a")])
    with pytest.raises(ValueError, match="already has a child"):
        m.append(L.Dense(2, name="a"))
    with pytest.raises(ValueError, match="without dots"):
        L.Layer().add_param("a.b", 0.0, (1,))
    with pytest.raises(TypeError, match="seed must be"):
        L.Dense(2, seed="x")


def test_sequential_merges_updates_of_children():
    model = L.Sequential([L.BatchNorm(2), L.BatchNorm(2)])
    _, updates = model.forward(T.dmatrix(), training=True)
    assert sorted(v.name for v in updates) == [
        "batchnorm0.running_mean", "batchnorm0.running_var", "batchnorm1.running_mean", "batchnorm1.running_var",
    ]  # fmt: skip


def test_renaming_when_a_built_model_is_nested():
    inner = L.Sequential([L.Dense(2, in_units=2)])
    assert inner[0].W.name == "dense0.W"
    outer = L.Sequential([inner], name="net")
    assert inner[0].W.name == "sequential0.dense0.W"
    assert list(outer.named_params()) == ["sequential0.dense0.W", "sequential0.dense0.b"]


def test_float32_mlp_trains_the_lasagne_way():
    from nettrain import losses, optimizers

    rng = np.random.default_rng(0)
    xv = rng.normal(size=(64, 4)).astype("float32")
    yv = (xv[:, 0] + xv[:, 1] > 0).astype("int32")
    model = L.Sequential([L.Dense(16, activation="relu"), L.BatchNorm(), L.Dropout(0.1), L.Dense(2)], seed=0)
    x, y = T.tensor("float32", shape=(None, 4)), T.ivector("y")
    out, updates = model.forward(x, training=True)
    loss = losses.categorical_crossentropy(out, y) + 1e-4 * losses.l2_penalty(model)
    opt = optimizers.Adam(lr=0.05)
    updates.update(opt.get_updates(loss, model.params(trainable=True)))
    assert all(k.type.dtype == v.type.dtype for k, v in updates.items())
    train = theano.function([x, y], loss, updates=updates)
    first = float(train(xv, yv))
    for _ in range(30):
        last = float(train(xv, yv))
    assert last < 0.5 * first
    predict = theano.function([x], model(x))
    assert predict(xv).dtype == np.float32
    assert (predict(xv).argmax(1) == yv).mean() > 0.9
    assert "adam.m.dense0.W" in opt.named_state()


def test_reassigning_a_child_attribute_replaces_it():
    block = Block(2)
    block.dense = L.Dense(2, in_units=2, b_init=None)
    assert list(block.named_params()) == ["dense.W", "norm.gamma", "norm.beta", "norm.running_mean",
                                          "norm.running_var"]  # fmt: skip
