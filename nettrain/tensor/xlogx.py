"""Theano's ``T.xlogx``: ``x * log(x)`` and ``x * log(y)`` that are 0 where ``x`` is 0.

Entropies and cross-entropies of probabilities that can be exactly 0 (as in
DeepLearningTutorials' rnnrbm monitor) need ``0 * log(0) = 0``, not nan.
"""

from .basic import as_tensor_variable
from .math import eq, log, switch


def xlogx(x):
    """``x * log(x)``, 0 where ``x == 0``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.xlogx.xlogx(x).eval({x: [0.0, 1.0]})
    array([0., 0.])
    """
    x = as_tensor_variable(x)
    # log of 1 where x is 0, so neither the value nor the gradient sees log(0)
    return x * log(switch(eq(x, 0), 1, x))


def xlogy0(x, y):
    """``x * log(y)``, 0 where ``x == 0`` (whatever ``y``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x, y = T.dvectors('x', 'y')
    >>> T.xlogx.xlogy0(x, y).eval({x: [0.0, 2.0], y: [0.0, 1.0]})
    array([0., 0.])
    """
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    return x * log(switch(eq(x, 0), 1, y))


__all__ = ["xlogx", "xlogy0"]
