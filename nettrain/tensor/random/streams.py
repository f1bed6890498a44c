"""``RandomStreams``: Theano's factory of random variables with updatable generator states.

Every call (``uniform``, ``normal``, ...) makes a new generator state, held
by a shared variable named ``rng.<name or index>``, and a random node drawing
from it.  The shared variable's ``default_update`` is the node's new-state
output, so each call of a compiled function draws fresh numbers.
"""

import numpy as np

from ...configdefaults import config
from ...graph.basic import Variable
from ..type import normalize_dtype
from .op import random_variable
from .type import random_generator_constructor


def _seed_sequence(seed):
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError("seed must be a non-negative integer (or None for a random seed), got %d" % seed)
    return np.random.SeedSequence(None if seed is None else seed)


class RandomStreams:
    """Symbolic random streams (Theano's ``shared_randomstreams.RandomStreams``).

    Parameters
    ----------
    seed : int, optional
        Seeds every generator (the i-th generator made gets the i-th child of
        ``numpy.random.SeedSequence(seed)``); None draws a seed from the OS.
    namespace : str
        Prefix of the generator state names (``'rng'`` gives ``rng.0``, ``rng.dropout1``).

    Examples
    --------
    >>> import nettrain as theano
    >>> from nettrain.tensor.shared_randomstreams import RandomStreams
    >>> srng = RandomStreams(seed=234)
    >>> u = srng.uniform((2, 2))
    >>> f = theano.function([], u)
    >>> a, b = f(), f()
    >>> bool((a != b).all()), a.shape
    (True, (2, 2))
    """

    def __init__(self, seed=None, namespace="rng"):
        self.default_instance_seed = seed
        self.namespace = namespace
        self.gen_seedgen = _seed_sequence(seed)
        #: ``(shared generator state, new state expression)`` per random variable made
        self.state_updates = []
        self._names = set()

    # ------------------------------------------------------------ states
    def updates(self):
        """The ``(state, new state)`` pairs (also applied as default updates)."""
        return list(self.state_updates)

    @property
    def state_variables(self):
        """The shared generator states, in creation order."""
        return [s for s, _ in self.state_updates]

    def seed(self, seed=None):
        """Re-seed every generator as a new ``RandomStreams(seed)`` making the same calls would.

        ``seed=None`` reuses the seed given at construction.
        """
        if seed is None:
            seed = self.default_instance_seed
        self.gen_seedgen = _seed_sequence(seed)
        for i, (state, _) in enumerate(self.state_updates):
            state.set_value(self._generator(i), borrow=True)

    def _generator(self, i):
        """The i-th generator: seeded by the i-th child of ``gen_seedgen`` (as ``spawn`` would make it)."""
        ss = self.gen_seedgen
        child = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (i,), pool_size=ss.pool_size)
        return np.random.Generator(np.random.Philox(child))

    def __getitem__(self, item):
        """The current generator of the shared state ``item`` (a copy)."""
        return item.get_value()

    def __setitem__(self, item, val):
        item.set_value(val)

    def gen(self, dist, size, params, dtype, kwargs=(), name=None, ndim=None, event_ndim=0):
        """Make a random variable of distribution ``dist`` on a new generator state.

        ``ndim`` is the number of dimensions of ``size`` (needed when ``size`` is a
        symbolic vector of unknown length); ``event_ndim`` the number the distribution
        adds after them (1 for ``permutation`` and ``multinomial``).
        """
        i = len(self.state_updates)
        label = "%s.%s" % (self.namespace, name if name is not None else i)
        if label in self._names:
            raise ValueError("RandomStreams: a random stream named %r already exists" % label)
        size = _size_scalars(size, ndim, dist)
        state = random_generator_constructor(self._generator(i), name=label, borrow=True)
        new_state, out = random_variable(dist, state, size, params, dtype, kwargs)
        if ndim is not None and out.type.ndim != ndim + event_ndim:
            raise ValueError("%s: ndim=%d but the sample has %d dimensions" % (dist, ndim, out.type.ndim - event_ndim))
        # registered only now, so that a call that fails leaves the streams unchanged
        self._names.add(label)
        state.default_update = new_state
        new_state.name = "%s.update" % state.name
        out.rng = state  # Theano's attributes on a random variable
        out.update = (state, new_state)
        self.state_updates.append((state, new_state))
        return out

    def _draw(self, dist, size, ndim, params, dtype, kwargs=(), name=None):
        return self.gen(dist, size, params, dtype, kwargs, name, ndim)

    # ----------------------------------------------------- distributions
    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None, name=None):
        """Uniform samples in ``[low, high)``; dtype defaults to ``config.floatX``.

        ``size`` may be a tuple of ints and symbolic scalars or an int vector
        such as ``x.shape``; None gives the broadcast shape of ``low`` and ``high``.
        """
        return self._draw("uniform", size, ndim, [low, high], _float(dtype), name=name)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, name=None):
        """Normal samples of mean ``avg`` and standard deviation ``std``.

        On the CUDA device (``config.device='cuda'``) the samples come from a
        Box-Muller transform of the same Philox stream: reproducible from the
        seed but not the CPU's numbers (NumPy's ziggurat is sequential).
        Uniform and Bernoulli (``binomial`` with ``n=1``) draws are identical on
        both.
        """
        return self._draw("normal", size, ndim, [avg, std], _float(dtype), name=name)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", prob=None, name=None):
        """Binomial counts of ``n`` trials of success probability ``p`` (a dropout mask for ``n=1``).

        Examples
        --------
        >>> import nettrain.tensor as T
        >>> from nettrain.tensor.shared_randomstreams import RandomStreams
        >>> x = T.dmatrix('x')
        >>> mask = RandomStreams(1).binomial(size=x.shape, p=0.8, dtype=x.dtype)
        >>> dropped = x * mask / 0.8
        """
        if prob is not None:
            p = prob  # Theano's old spelling
        return self._draw("binomial", size, ndim, [n, p], dtype, name=name)

    def poisson(self, size=None, lam=1.0, ndim=None, dtype="int64", name=None):
        """Poisson counts of rate ``lam``."""
        return self._draw("poisson", size, ndim, [lam], dtype, name=name)

    def integers(self, low, high=None, size=None, dtype="int64", name=None):
        """Integers in ``[low, high)`` (NumPy's ``Generator.integers``); ``high=None`` gives ``[0, low)``."""
        if high is None:
            low, high = 0, low
        return self._draw("integers", size, None, [low, high], dtype, name=name)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64", name=None):
        """Integers in ``[low, high]``, both ends included (Theano's convention)."""
        from ..basic import as_tensor_variable

        high = as_tensor_variable(high) + 1 if isinstance(high, Variable) else np.asarray(high) + 1
        return self._draw("integers", size, ndim, [low, high], dtype, name=name)

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype=None, name=None):
        """Samples from the entries of the vector ``a`` (or from ``arange(a)``), with probabilities ``p``.

        ``dtype`` defaults to int64 for an integer ``a`` and to ``a``'s dtype otherwise.
        """
        from ..basic import as_tensor_variable

        if dtype is None:
            a_dtype = as_tensor_variable(a).type.dtype
            dtype = "int64" if a_dtype.startswith(("int", "uint")) else a_dtype
        params = [a] if p is None else [a, p]
        return self._draw("choice", size, ndim, params, dtype, (("replace", bool(replace)),), name=name)

    def permutation(self, size=None, n=1, ndim=None, dtype="int64", name=None):
        """Random permutations of ``arange(n)``; the sample has shape ``size + (n,)``."""
        return self.gen("permutation", size, [n], dtype, name=name, ndim=ndim, event_ndim=1)

    def multinomial(self, size=None, n=1, pvals=(0.5, 0.5), ndim=None, dtype="int64", name=None):
        """Counts of ``n`` draws among ``len(pvals)`` categories; shape ``size + (len(pvals),)``.

        ``pvals`` may have leading batch dimensions (one distribution per row).
        """
        return self.gen("multinomial", size, [n, pvals], dtype, name=name, ndim=ndim, event_ndim=1)

    def shuffle_row_elements(self, input, name=None):
        """``input`` with the entries of each row (along the last axis) randomly permuted."""
        from ..basic import as_tensor_variable

        x = as_tensor_variable(input)
        if x.type.ndim < 1:
            raise TypeError("shuffle_row_elements needs at least one dimension, got %s" % x.type)
        return self._draw("permuted", None, None, [x], x.type.dtype, name=name)


def _float(dtype):
    dtype = normalize_dtype(dtype if dtype is not None else config.floatX)
    return dtype


def _size_scalars(size, ndim, what):
    """``size`` as a list of int64 scalars, or None."""
    from ..alloc import as_shape_scalars
    from ..basic import as_tensor_variable

    if size is None:
        return None
    if isinstance(size, Variable) and ndim is not None and getattr(size.type, "ndim", None) == 1:
        if size.type.shape[0] is None:  # unknown length: ndim says how many entries to read
            return as_shape_scalars([size[i] for i in range(ndim)], "%s size" % what)
    if isinstance(size, (int, np.integer)) or (isinstance(size, Variable) and as_tensor_variable(size).ndim == 0):
        size = [size]
    try:
        return as_shape_scalars(size, "%s size" % what)
    except ValueError as e:
        raise ValueError("%s (or pass ndim=)" % e) from None


__all__ = ["RandomStreams"]
