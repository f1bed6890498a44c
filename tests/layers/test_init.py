"""Initializers: statistics, shapes, dtypes, seeding."""

import numpy as np
import pytest

from nettrain.layers import init


def test_glorot_uniform_range_and_reproducibility():
    w = init.GlorotUniform(seed=0)((200, 300), "float32")
    r = np.sqrt(6 / 500)
    assert w.dtype == np.float32 and w.shape == (200, 300)
    assert np.abs(w).max() <= r and np.abs(w).max() > 0.95 * r
    np.testing.assert_array_equal(w, init.GlorotUniform(seed=0)((200, 300), "float32"))


@pytest.mark.parametrize("ini, std", [
    (init.GlorotNormal(seed=1), np.sqrt(2 / 700)),
    (init.HeNormal(seed=1), np.sqrt(2 / 300)),
    (init.HeUniform(seed=1), np.sqrt(6 / 300) / np.sqrt(3)),
    (init.Normal(0.1, seed=1), 0.1),
    (init.Uniform(0.3, seed=1), 0.3 / np.sqrt(3)),
])  # fmt: skip
def test_random_initializers_have_expected_std(ini, std):
    w = ini((300, 400), "float64")
    assert abs(w.std() / std - 1) < 0.02
    assert abs(w.mean()) < 0.05 * std


def test_conv_fans_use_receptive_field():
    assert init.compute_fans((8, 4, 3, 3)) == (36, 72)


def test_orthogonal_is_orthogonal():
    q = init.Orthogonal(seed=0)((5, 5), "float64")
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-12)
    wide = init.Orthogonal(gain=2.0, seed=0)((3, 6), "float64")
    np.testing.assert_allclose(wide @ wide.T, 4 * np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.Orthogonal()((3,))


def test_constant_and_resolve():
    np.testing.assert_array_equal(init.Constant(2.5)((2,), "float32"), [2.5, 2.5])
    assert isinstance(init.resolve(0), init.Constant)
    np.testing.assert_array_equal(init.resolve([1.0, 2.0])((2,), "float64"), [1.0, 2.0])
    with pytest.raises(ValueError, match="needs"):
        init.resolve([1.0, 2.0])((3,))
    with pytest.raises(TypeError, match="cannot initialize"):
        init.resolve("zeros")


def test_generator_passed_down_is_used():
    a = init.GlorotUniform()((3, 3), "float64", rng=np.random.default_rng(4))
    b = init.GlorotUniform()((3, 3), "float64", rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_derived_rng_depends_on_seed_and_name_only():
    a = init.derived_rng(1, "dense0.W").random(3)
    np.testing.assert_array_equal(a, init.derived_rng(1, "dense0.W").random(3))
    assert not np.array_equal(a, init.derived_rng(1, "dense1.W").random(3))
    assert not np.array_equal(a, init.derived_rng(2, "dense0.W").random(3))
