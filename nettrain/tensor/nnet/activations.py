"""Elementwise activations under Theano's names, built from elementwise math.

``sigmoid`` and ``softplus`` are scalar ops of :mod:`nettrain.tensor.math`
(overflow-free) and are re-exported by ``nettrain.tensor.nnet``.
"""

import numpy as np

from ...graph.basic import Variable
from .. import math as m
from ..basic import as_tensor_variable

# Constants of Klambauer et al. (2017), "Self-Normalizing Neural Networks".
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def relu(x, alpha=0):
    """Rectified linear unit; with ``alpha != 0`` the leaky form ``x if x > 0 else alpha * x``.

    ``alpha`` may be a number or a symbolic tensor (Theano's ``relu``).
    As in Theano, whose ``relu`` was plain arithmetic, NumPy data in gives
    NumPy data out (Lasagne's ``rectify`` is applied to arrays in its tests).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.relu(x, alpha=0.1).eval({x: [-2., 3.]})
    array([-0.2,  3. ])
    >>> T.nnet.relu(np.array([-2., 3.]))
    array([0., 3.])
    """
    if not isinstance(x, Variable) and not isinstance(alpha, Variable):
        x = np.asarray(x)
        return np.maximum(x, 0) if alpha == 0 else np.where(x > 0, x, alpha * x)
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return m.maximum(x, 0)
    # Theano's identity: f1 * x + f2 * |x| equals x for x > 0 and alpha * x otherwise.
    f1 = 0.5 * (1 + alpha)
    f2 = 0.5 * (1 - alpha)
    return f1 * x + f2 * m.abs(x)


def elu(x, alpha=1):
    """Exponential linear unit: ``x if x > 0 else alpha * (exp(x) - 1)``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.elu(x).eval({x: [0., 2.]})
    array([0., 2.])
    """
    x = as_tensor_variable(x)
    # expm1 of min(x, 0): the unused branch never overflows, so its gradient
    # (multiplied by 0 in the switch) cannot turn into inf * 0 = NaN.
    return m.switch(m.gt(x, 0), x, alpha * m.expm1(m.minimum(x, 0)))


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalizing constants.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.selu(x).eval({x: [0.]})
    array([0.])
    """
    return SELU_SCALE * elu(x, SELU_ALPHA)


def softsign(x):
    """``x / (1 + |x|)``.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.softsign(x).eval({x: [1., -3.]})
    array([ 0.5 , -0.75])
    """
    x = as_tensor_variable(x)
    return x / (1 + m.abs(x))


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)`` (Theano's slope and shift).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.hard_sigmoid(x).eval({x: [-5., 0., 1.]})
    array([0. , 0.5, 0.7])
    """
    x = as_tensor_variable(x)
    return m.clip(x * 0.2 + 0.5, 0, 1)


def ultra_fast_sigmoid(x):
    """Theano's fast sigmoid approximation; here it is the exact ``sigmoid``.

    Theano used a piecewise approximation (max error about 0.02) for speed;
    elementwise fusion makes the exact, overflow-free sigmoid as cheap, so
    nettrain returns exact values.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> T.nnet.ultra_fast_sigmoid(x).eval({x: [0.]})
    array([0.5])
    """
    return m.sigmoid(x)


__all__ = ["relu", "elu", "selu", "softsign", "hard_sigmoid", "ultra_fast_sigmoid"]
