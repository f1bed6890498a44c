"""``T.xlogx.xlogx`` / ``xlogy0``: x log x and x log y with 0 where x is 0 (Theano's module path)."""

import numpy as np

import nettrain as theano
from nettrain import tensor as T


def test_xlogx_and_xlogy0_are_zero_where_x_is_zero_and_match_numpy_elsewhere():
    x, y = T.dvectors("x", "y")
    f = theano.function([x, y], [T.xlogx.xlogx(x), T.xlogx.xlogy0(x, y)])
    xv = np.array([0.0, 0.5, 1.0, 2.0])
    yv = np.array([0.0, 0.25, 3.0, 0.5])
    a, b = f(xv, yv)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_allclose(a, np.where(xv == 0, 0, xv * np.log(xv)))
        np.testing.assert_allclose(b, np.where(xv == 0, 0, xv * np.log(yv)))


def test_xlogy0_gradient_is_finite_where_x_is_zero():
    x, y = T.dvectors("x", "y")
    gx, gy = T.grad(T.xlogx.xlogy0(x, y).sum(), [x, y])
    f = theano.function([x, y], [gx, gy])
    xv, yv = np.array([0.0, 2.0]), np.array([0.0, 4.0])
    a, b = f(xv, yv)
    np.testing.assert_allclose(a, [0.0, np.log(4.0)])
    np.testing.assert_allclose(b, [0.0, 0.5])
