"""Random streams: generator states as shared variables, distributions, seeding, symbolic sizes."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.sandbox.rng_mrg import MRG_RandomStreams
from nettrain.tensor.random import (
    RandomGeneratorSharedVariable,
    RandomVariable,
    generator_state_from_arrays,
    generator_state_to_arrays,
)
from nettrain.tensor.shared_randomstreams import RandomStreams


def _draws(seed):
    srng = RandomStreams(seed)
    f = theano.function([], [srng.uniform((3,)), srng.normal((2, 2)), srng.binomial((4,), p=0.3)])
    return [f(), f()]


# ----------------------------------------------------------- determinism
def test_same_seed_gives_same_samples_and_different_seeds_differ():
    a, b, c = _draws(42), _draws(42), _draws(43)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0][0], c[0][0])


def test_same_seed_gives_same_samples_in_another_process():
    code = (
        "import nettrain as theano\n"
        "from nettrain.tensor.shared_randomstreams import RandomStreams\n"
        "s = RandomStreams(7)\n"
        "f = theano.function([], s.normal((5,)))\n"
        "f()\n"
        "print(repr(f().tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    srng = RandomStreams(7)
    f = theano.function([], srng.normal((5,)))
    f()
    assert eval(out) == f().tolist()


def test_function_called_twice_gives_different_samples():
    srng = RandomStreams(1)
    f = theano.function([], srng.uniform((10,)))
    a, b = f(), f()
    assert not np.array_equal(a, b)


def test_no_default_updates_repeats_the_same_sample_and_explicit_updates_advance():
    srng = RandomStreams(1)
    u = srng.uniform((4,))
    frozen = theano.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    moving = theano.function([], u, no_default_updates=True, updates=srng.updates())
    assert not np.array_equal(moving(), moving())


def test_random_op_never_mutates_its_input_generator():
    srng = RandomStreams(3)
    u = srng.uniform((3,))
    node = u.owner
    gen = np.random.Generator(np.random.Philox(5))
    before = gen.bit_generator.state
    storage = [[None], [None]]
    node.op.perform(node, [gen] + [i.data for i in node.inputs[1:]], storage)
    assert gen.bit_generator.state["state"]["counter"].tolist() == before["state"]["counter"].tolist()
    assert storage[0][0] is not gen and storage[1][0].shape == (3,)
    assert not node.op.do_constant_folding(node)


# ---------------------------------------------------------- distributions
def test_uniform_and_normal_moments_of_a_million_samples():
    srng = RandomStreams(11)
    u = theano.function([], srng.uniform((1000000,), low=-1.0, high=3.0, dtype="float64"))()
    n = theano.function([], srng.normal((1000000,), avg=2.0, std=0.5, dtype="float64"))()
    assert u.dtype == np.float64 and u.min() >= -1.0 and u.max() < 3.0
    np.testing.assert_allclose([u.mean(), u.var()], [1.0, 16.0 / 12.0], atol=0.01)
    np.testing.assert_allclose([n.mean(), n.std()], [2.0, 0.5], atol=0.005)


def test_binomial_dropout_mask_keeps_the_requested_fraction():
    srng = RandomStreams(5)
    x = T.matrix("x")
    keep = 0.8
    mask = srng.binomial(size=x.shape, p=keep, dtype=theano.config.floatX)
    f = theano.function([x], [mask, x * mask / keep])
    xv = np.ones((500, 400), dtype=theano.config.floatX)
    m, dropped = f(xv)
    assert m.shape == xv.shape and m.dtype == np.dtype(theano.config.floatX)
    assert set(np.unique(m).tolist()) <= {0.0, 1.0}
    assert abs(m.mean() - keep) < 0.005
    np.testing.assert_allclose(dropped, m / keep, rtol=1e-6)


def test_binomial_with_symbolic_probability_and_n():
    srng = RandomStreams(2)
    p = T.dvector("p")
    out = srng.binomial(n=10, p=p)
    assert out.type.dtype == "int64" and out.type.ndim == 1
    res = theano.function([p], out)(np.array([0.0, 1.0, 0.5]))
    assert res[0] == 0 and res[1] == 10 and 0 <= res[2] <= 10


def test_dropout_gradient_is_the_mask():
    srng = RandomStreams(4)
    x = T.dmatrix("x")
    mask = srng.binomial(size=x.shape, p=0.5, dtype="float64")
    g = T.grad((x * mask).sum(), x)
    f = theano.function([x], [mask, g], no_default_updates=True)
    m, gv = f(np.ones((3, 4)))
    np.testing.assert_array_equal(m, gv)


def test_integers_are_exclusive_and_random_integers_inclusive():
    srng = RandomStreams(0)
    a = theano.function([], srng.integers(2, 5, size=(2000,)))()
    b = theano.function([], srng.random_integers((2000,), low=2, high=5))()
    assert set(a.tolist()) == {2, 3, 4} and a.dtype == np.int64
    assert set(b.tolist()) == {2, 3, 4, 5}


def test_choice_permutation_multinomial_and_shuffle_row_elements():
    srng = RandomStreams(9)
    c = theano.function([], srng.choice((1000,), a=3, p=[0.0, 0.5, 0.5]))()
    assert set(c.tolist()) == {1, 2}
    no_repl = theano.function([], srng.choice((5,), a=5, replace=False))()
    from_vector = theano.function([], srng.choice((50,), a=np.array([0.5, 1.5])))()
    assert from_vector.dtype == np.float64 and set(from_vector.tolist()) == {0.5, 1.5}
    assert sorted(no_repl.tolist()) == list(range(5))
    perm = theano.function([], srng.permutation((3,), n=6))()
    assert perm.shape == (3, 6) and all(sorted(r) == list(range(6)) for r in perm.tolist())
    pv = T.dmatrix("pv")
    counts = theano.function([pv], srng.multinomial(n=4, pvals=pv))(np.array([[0.2, 0.8], [1.0, 0.0]]))
    np.testing.assert_array_equal(counts.sum(axis=1), [4, 4])
    np.testing.assert_array_equal(counts[1], [4, 0])
    x = T.dmatrix("x")
    xv = np.arange(12.0).reshape(3, 4)
    sh = theano.function([x], srng.shuffle_row_elements(x))(xv)
    np.testing.assert_array_equal(np.sort(sh, axis=1), xv)


# ----------------------------------------------------------------- sizes
def test_symbolic_sizes_shape_vector_mixed_tuple_and_vector_with_ndim():
    srng = RandomStreams(1)
    x = T.dmatrix("x")
    n = T.lscalar("n")
    v = T.lvector("v")
    a = srng.uniform(x.shape)
    b = srng.normal((n, 3))
    c = srng.uniform(v, ndim=2)
    d = srng.uniform(n)
    assert b.type.shape == (None, 3) and c.type.ndim == 2 and d.type.ndim == 1
    f = theano.function([x, n, v], [a, b, c, d])
    ra, rb, rc, rd = f(np.zeros((2, 5)), 4, np.array([3, 2]))
    assert (ra.shape, rb.shape, rc.shape, rd.shape) == ((2, 5), (4, 3), (3, 2), (4,))
    shapes = b.owner.op.infer_shape(b.owner, [None] + [()] * (len(b.owner.inputs) - 1))[1]
    assert theano.function([n], T.stack(list(shapes)))(4).tolist() == [4, 3]


def test_size_none_broadcasts_the_parameters():
    srng = RandomStreams(1)
    low = T.dmatrix("low")
    u = srng.uniform(low=low, high=low + 1)
    assert u.type.ndim == 2
    lv = np.arange(6.0).reshape(2, 3)
    res = theano.function([low], u)(lv)
    assert res.shape == (2, 3) and np.all((res >= lv) & (res < lv + 1))
    assert theano.function([], srng.normal())().shape == ()


def test_shape_of_a_sample_does_not_draw():
    srng = RandomStreams(1)
    n = T.lscalar("n")
    u = srng.uniform((n, 2))
    f = theano.function([n], u.shape, no_default_updates=True, mode="FAST_RUN")
    assert not any(isinstance(nd.op, RandomVariable) for nd in f.maker.fgraph.toposort())
    np.testing.assert_array_equal(f(3), [3, 2])


def test_bad_sizes_and_parameters_raise_clear_errors():
    srng = RandomStreams(1)
    with pytest.raises(TypeError, match="integers"):
        srng.uniform((2.5, 3))
    with pytest.raises(ValueError, match="ndim=3"):
        srng.uniform((2, 3), ndim=3)
    with pytest.raises(TypeError, match="n must be an integer|integer tensor"):
        srng.binomial((2,), n=T.dscalar("n"))
    with pytest.raises(ValueError, match="do not fit size"):
        srng.uniform((3,), low=T.dmatrix())
    with pytest.raises(ValueError, match="non-negative"):
        RandomStreams(-1)


# ----------------------------------------------------- state and seeding
def test_state_round_trip_through_get_value_and_set_value():
    srng = RandomStreams(21)
    u = srng.uniform((4,))
    f = theano.function([], u)
    state = srng.state_updates[0][0]
    f()
    saved = state.get_value()
    second = f()
    f()
    state.set_value(saved)
    np.testing.assert_array_equal(f(), second)


def test_get_value_is_a_deep_copy_and_borrow_is_not():
    srng = RandomStreams(21)
    srng.uniform((4,))
    state = srng.state_updates[0][0]
    g = state.get_value()
    g.random(5)  # advancing the copy must not touch the shared state
    assert (
        state.get_value().bit_generator.state["state"]["counter"].tolist()
        != g.bit_generator.state["state"]["counter"].tolist()
    )
    assert state.get_value(borrow=True) is state.container[0]


def test_seed_reseeds_every_generator_like_a_fresh_streams_object():
    srng = RandomStreams(1)
    f = theano.function([], [srng.uniform((3,)), srng.normal((3,))])
    f()
    srng.seed(99)
    fresh = RandomStreams(99)
    g = theano.function([], [fresh.uniform((3,)), fresh.normal((3,))])
    for a, b in zip(f(), g()):
        np.testing.assert_array_equal(a, b)
    srng.seed()  # back to the construction seed
    again = RandomStreams(1)
    h = theano.function([], [again.uniform((3,)), again.normal((3,))])
    for a, b in zip(f(), h()):
        np.testing.assert_array_equal(a, b)


def test_state_variables_have_dotted_names_and_default_updates():
    srng = RandomStreams(1)
    srng.uniform((2,))
    srng.normal((2,), name="noise")
    names = [s.name for s in srng.state_variables]
    assert names == ["rng.0", "rng.noise"]
    for state, new in srng.updates():
        assert isinstance(state, RandomGeneratorSharedVariable) and state.default_update is new
    with pytest.raises(ValueError, match="already exists"):
        srng.normal((2,), name="noise")


def test_generator_state_arrays_round_trip_and_shared_constructor():
    gen = np.random.Generator(np.random.Philox(3))
    gen.random(7)
    arrays = generator_state_to_arrays(gen)
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    back = generator_state_from_arrays(arrays)
    np.testing.assert_array_equal(back.random(4), gen.random(4))
    s = theano.shared(np.random.default_rng(0), name="g")
    assert isinstance(s, RandomGeneratorSharedVariable)
    with pytest.raises(TypeError, match="Generator"):
        s.set_value(np.zeros(3))
    with pytest.raises(TypeError, match="no shared variable type accepts"):
        theano.shared(object())


def test_compiled_function_with_random_state_pickles():
    srng = RandomStreams(8)
    f = theano.function([], srng.uniform((3,)))
    g = pickle.loads(pickle.dumps(f))
    assert g().shape == (3,)


def test_float32_samples_under_floatx_float32():
    with theano.config.change_flags(floatX="float32"):
        srng = RandomStreams(3)
        u, n = srng.uniform((3,)), srng.normal((3,), avg=1.0)
        assert u.type.dtype == "float32" and n.type.dtype == "float32"
        ru, rn = theano.function([], [u, n])()
    assert ru.dtype == np.float32 and rn.dtype == np.float32


# ------------------------------------------------------------------- MRG
def test_mrg_random_streams_api():
    srng = MRG_RandomStreams(seed=12)
    u = srng.uniform((4,), low=1.0, high=2.0)
    t = srng.normal((5000,), std=1.0, truncate=True)
    b = srng.binomial((3,), p=1.0)
    pv = T.dmatrix("pv")
    m = srng.multinomial(pvals=pv)
    c = srng.choice(size=2, p=pv[:1], replace=False)
    f = theano.function([pv], [u, t, b, m, c])
    ru, rt, rb, rm, rc = f(np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    assert np.all((ru >= 1) & (ru < 2)) and np.abs(rt).max() <= 2.0
    np.testing.assert_array_equal(rb, [1, 1, 1])
    np.testing.assert_array_equal(rm.sum(axis=1), [1, 1])
    assert rc.shape == (1, 2) and sorted(rc[0].tolist()) == [0, 1]
    again = MRG_RandomStreams(seed=12).uniform((4,), low=1.0, high=2.0)
    np.testing.assert_array_equal(theano.function([], again)(), ru)
    with pytest.raises(TypeError, match="a must be None"):
        srng.choice(size=1, a=3, p=pv)


def test_generator_state_arrays_round_trip_pcg64_with_128_bit_integers():
    from nettrain.tensor.random.type import generator_state_from_arrays, generator_state_to_arrays

    g = np.random.default_rng(0)
    g.random(5)
    h = generator_state_from_arrays(generator_state_to_arrays(g))
    np.testing.assert_array_equal(g.random(4), h.random(4))
