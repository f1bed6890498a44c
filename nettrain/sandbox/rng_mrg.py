"""Theano path ``nettrain.sandbox.rng_mrg``: ``MRG_RandomStreams``.

nettrain does not implement Theano's MRG31k3p generator: ``MRG_RandomStreams``
has its API and semantics (one generator state per random variable, advanced
by a default update; the same seed gives the same numbers) but draws from the
same NumPy Philox generators as :class:`~nettrain.tensor.shared_randomstreams.RandomStreams`,
so its numbers differ from Theano's for the same seed.  ``nstreams`` is accepted
and ignored.
"""

from ..tensor.random.streams import RandomStreams


class MRG_RandomStreams(RandomStreams):
    """Theano's ``MRG_RandomStreams`` API on nettrain's random streams.

    Parameters
    ----------
    seed : int or sequence of ints
        Seed of every generator (Theano's default is 12345).

    Examples
    --------
    >>> import nettrain as theano
    >>> from nettrain.sandbox.rng_mrg import MRG_RandomStreams
    >>> srng = MRG_RandomStreams(seed=42)
    >>> f = theano.function([], srng.normal((3,), avg=1.0, std=0.1, truncate=True))
    >>> f().shape
    (3,)
    """

    def __init__(self, seed=12345, namespace="rng"):
        if isinstance(seed, (list, tuple)):
            seed = [int(s) for s in seed]
        super().__init__(seed, namespace=namespace)

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None, name=None):
        """Uniform samples in ``[low, high)``."""
        return super().uniform(size, low, high, ndim=ndim, dtype=dtype, name=name)

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None, truncate=False, name=None):
        """Normal samples; ``truncate=True`` redraws those beyond two standard deviations."""
        if truncate:
            return self.truncated_normal(size, avg, std, ndim=ndim, dtype=dtype, name=name)
        return super().normal(size, avg, std, ndim=ndim, dtype=dtype, name=name)

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None, name=None):
        """Normal samples within ``avg +- 2 std``."""
        from ..tensor.random.streams import _float

        return self._draw("truncated_normal", size, ndim, [avg, std], _float(dtype), name=name)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None, name=None, **kwargs):
        """Binomial counts (``n=1``: a 0/1 mask with ones at rate ``p``)."""
        return super().binomial(size, n, p, ndim=ndim, dtype=dtype, prob=kwargs.pop("prob", None), name=name)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None, name=None):
        """One multinomial draw per row of the matrix ``pvals``: counts of the same shape (one-hot for ``n=1``)."""
        if pvals is None:
            raise TypeError("multinomial: pvals must be given (a matrix, one row per distribution)")
        # as in Theano, size and ndim are ignored: the shape is the shape of pvals
        return super().multinomial(None, n, pvals, dtype=dtype, name=name)

    def choice(self, size=1, a=None, replace=True, p=None, ndim=None, dtype="int64", nstreams=None, name=None):
        """For each row of the probability matrix ``p``, ``size`` category indices (shape ``(rows, size)``).

        ``a`` must be None: the categories are ``arange(p.shape[1])``, as in Theano.
        """
        if a is not None:
            raise TypeError("MRG_RandomStreams.choice: a must be None (categories are arange(p.shape[1]))")
        if p is None:
            raise TypeError("MRG_RandomStreams.choice: p (a matrix of probabilities, one row per draw) is required")
        return self._draw("choice_rows", size, None, [p], dtype, (("replace", bool(replace)),), name=name)

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None,
                                   name=None):  # fmt: skip
        """Theano's older name: ``choice(size=n, p=pvals, replace=False)``."""
        return self.choice(n, None, False, pvals, ndim=ndim, dtype=dtype, name=name)


__all__ = ["MRG_RandomStreams"]
