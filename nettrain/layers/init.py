"""Parameter initializers: callables ``init(shape, dtype, rng) -> numpy array``.

Randomness is reproducible: an initializer made with ``seed=`` (an int or a
``numpy.random.Generator``) always uses its own generator; otherwise it draws
from the generator the layer passes down (derived from a seed given to the
layer or one of its containers, see :meth:`nettrain.layers.Layer.initialize`),
and last from this module's global generator (:func:`set_seed`).

Examples
--------
>>> from nettrain.layers import init
>>> w = init.GlorotUniform(seed=0)((3, 2), 'float32')
>>> w.shape, w.dtype.name
((3, 2), 'float32')
>>> bool((init.GlorotUniform(seed=0)((3, 2)) == init.GlorotUniform(seed=0)((3, 2))).all())
True
"""

import zlib

import numpy as np

from ..configdefaults import config

_global_rng = np.random.default_rng()


def set_seed(seed):
    """Re-seed the global generator used by initializers that get no other generator."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)


def get_rng():
    """The global initialization generator."""
    return _global_rng


def as_generator(seed):
    """A ``numpy.random.Generator`` from an int seed, a Generator (returned as is) or None (the global one)."""
    if seed is None:
        return _global_rng
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise TypeError("seed must be a non-negative int, a numpy.random.Generator or None, got %r" % (seed,))


def derived_rng(seed, name):
    """A generator that depends only on ``seed`` and the dotted ``name`` (creation order does not matter)."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), key])))


def compute_fans(shape):
    """``(fan_in, fan_out)``: Dense weights are ``(in, out)``; conv filters ``(out, in, *kernel)``."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Base class: subclasses implement ``sample(shape, rng)`` returning float64 values."""

    def __init__(self, seed=None):
        self._own_rng = None if seed is None else as_generator(seed)

    def __call__(self, shape, dtype=None, rng=None):
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError("%s: negative dimension in shape %s" % (type(self).__name__, shape))
        gen = self._own_rng if self._own_rng is not None else (rng if rng is not None else _global_rng)
        return np.asarray(self.sample(shape, gen), dtype=dtype or config.floatX)

    def sample(self, shape, rng):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join("%s=%r" % kv for kv in vars(self).items() if not kv[0].startswith("_"))
        return "%s(%s)" % (type(self).__name__, args)


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def sample(self, shape, rng):
        return np.full(shape, self.value, dtype=np.float64)


class Normal(Initializer):
    """Normal samples of mean ``mean`` and standard deviation ``std``."""

    def __init__(self, std=0.01, mean=0.0, seed=None):
        super().__init__(seed)
        self.std, self.mean = std, mean

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)


class Uniform(Initializer):
    """Uniform samples in ``[low, high)``; ``range=r`` means ``[-r, r)``."""

    def __init__(self, range=0.01, low=None, high=None, seed=None):
        super().__init__(seed)
        self.low = -range if low is None else low
        self.high = range if high is None else high

    def sample(self, shape, rng):
        return rng.uniform(self.low, self.high, size=shape)


class GlorotUniform(Initializer):
    """Glorot & Bengio (2010): uniform in ``±gain * sqrt(6 / (fan_in + fan_out))``."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        r = self.gain * np.sqrt(6.0 / max(fan_in + fan_out, 1))
        return rng.uniform(-r, r, size=shape)


class GlorotNormal(Initializer):
    """Glorot & Bengio (2010): normal with std ``gain * sqrt(2 / (fan_in + fan_out))``."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        return rng.normal(0.0, self.gain * np.sqrt(2.0 / max(fan_in + fan_out, 1)), size=shape)


class HeUniform(Initializer):
    """He et al. (2015): uniform in ``±gain * sqrt(6 / fan_in)`` (gain 1 suits ReLU)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def sample(self, shape, rng):
        r = self.gain * np.sqrt(6.0 / max(compute_fans(shape)[0], 1))
        return rng.uniform(-r, r, size=shape)


class HeNormal(Initializer):
    """He et al. (2015): normal with std ``gain * sqrt(2 / fan_in)``."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def sample(self, shape, rng):
        return rng.normal(0.0, self.gain * np.sqrt(2.0 / max(compute_fans(shape)[0], 1)), size=shape)


class Orthogonal(Initializer):
    """Saxe et al. (2014): a (semi-)orthogonal matrix times ``gain``; shapes past 2-d are flattened
    to ``(shape[0], prod(shape[1:]))``."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError("Orthogonal needs at least 2 dimensions, got shape %s" % (shape,))
        flat = (shape[0], int(np.prod(shape[1:])))
        a = rng.normal(0.0, 1.0, size=flat)
        u, _, vt = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat else vt
        return self.gain * q.reshape(shape)


def resolve(spec):
    """An initializer from ``spec``: an Initializer, a callable, a number (Constant) or an array (copied)."""
    if isinstance(spec, Initializer) or (callable(spec) and not isinstance(spec, np.ndarray)):
        return spec
    if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        return Constant(float(spec))
    if isinstance(spec, (np.ndarray, list, tuple)):
        return _ArrayInit(np.asarray(spec))
    raise TypeError("cannot initialize a parameter from %r; give an Initializer, a number or an array" % (spec,))


class _ArrayInit(Initializer):
    """A fixed array (shape must match)."""

    def __init__(self, array):
        super().__init__()
        self.array = array

    def sample(self, shape, rng):
        if self.array.shape != shape:
            raise ValueError("initial value has shape %s but the parameter needs %s" % (self.array.shape, shape))
        return self.array.copy()


__all__ = [
    "Initializer", "Constant", "Normal", "Uniform", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
    "Orthogonal", "set_seed", "get_rng", "as_generator", "derived_rng", "compute_fans", "resolve",
]  # fmt: skip
