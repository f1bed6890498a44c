"""Rewrites of ``rewriting/specialize.py``: constant powers and divisions by constants."""

import functools

import numpy as np
import pytest

from nettrain import tensor as T
from nettrain.testing import check_rewritten, op_names

RNG = np.random.default_rng(5)


_ops = op_names


_check = functools.partial(check_rewritten, rtol=1e-15)


@pytest.mark.parametrize(
    "p, op",
    [(2, "Sqr"), (0.5, "Sqrt"), (-1, "Reciprocal"), (3, "Mul"), (-2, "Reciprocal"), (-0.5, "Reciprocal")],
)
def test_constant_power_becomes_a_cheaper_op(p, op):
    x = T.dvector("x")
    xv = RNG.uniform(0.5, 2.0, size=4)
    f = _check([x], x**p, [xv], xv**p, rtol=1e-14)
    assert "Pow" not in _ops(f) and op in _ops(f)
    assert f.maker.fgraph.rewrite_log.counts()["local_pow_specialize"] == 1


def test_power_one_is_the_base():
    x = T.dvector("x")
    xv = RNG.normal(size=3)
    f = _check([x], x**1, [xv], xv)
    assert _ops(f) == []


def test_other_constant_powers_are_kept():
    x = T.dvector("x")
    xv = RNG.uniform(0.5, 2.0, size=3)
    f = _check([x], x**1.7, [xv], xv**1.7)
    assert _ops(f) == ["Pow"]


def test_power_by_a_variable_is_kept():
    x, y = T.dvectors("x", "y")
    xv, yv = RNG.uniform(0.5, 2.0, size=3), RNG.normal(size=3)
    f = _check([x, y], x**y, [xv, yv], xv**yv)
    assert _ops(f) == ["Pow"]


def test_square_of_int32_with_a_float_exponent_is_computed_in_float64():
    i = T.ivector("i")
    iv = np.array([100000, -3], dtype="int32")
    # int32 ** 2.0 is a float64 power: 1e10, not an int32 square that wraps around
    _check([i], i**2.0, [iv], iv.astype("float64") ** 2)
    _check([i], i**3.0, [iv], iv.astype("float64") ** 3)


def test_square_of_float32_with_a_float64_exponent_is_computed_in_float64():
    x = T.fvector("x")
    xv = np.array([1e20, 3.0], dtype="float32")
    _check([x], x ** np.float64(2), [xv], xv.astype("float64") ** 2)


def test_integer_powers_are_not_specialized():
    i = T.ivector("i")
    iv = np.array([3, -2], dtype="int32")
    f = _check([i], i**2, [iv], iv**2)
    assert "Sqr" not in _ops(f)


def test_power_of_a_row_by_a_matrix_of_twos_keeps_the_matrix_shape():
    r = T.drow("r")
    rv = RNG.normal(size=(1, 3))
    _check([r], r ** T.constant(np.full((2, 3), 2.0)), [rv], np.broadcast_to(rv**2, (2, 3)))


def test_float32_power_stays_float32():
    x = T.fvector("x")
    xv = RNG.uniform(0.5, 2.0, size=3).astype("float32")
    _check([x], x**-2, [xv], (1 / xv**2).astype("float32"), rtol=1e-6)


@pytest.mark.parametrize("c", [2.0, 0.25, -4.0, 2.0**-20])
def test_division_by_a_power_of_two_becomes_an_exact_multiplication(c):
    x = T.dvector("x")
    xv = RNG.normal(size=5)
    f = _check([x], x / c, [xv], xv / c, rtol=0)
    assert _ops(f) == ["Mul"]
    assert f.maker.fgraph.rewrite_log.counts()["local_div_by_constant_to_mul"] == 1


@pytest.mark.parametrize("c", [3.0, 0.1, 0.0])
def test_division_by_other_constants_is_kept_so_results_are_bit_identical(c):
    x = T.dvector("x")
    xv = RNG.normal(size=5)
    with np.errstate(divide="ignore"):
        want = xv / c
    f = _check([x], x / c, [xv], want, rtol=0)
    assert _ops(f) == ["TrueDiv"]


def test_integer_divided_by_two_is_a_float():
    i = T.ivector("i")
    iv = np.array([3, -5], dtype="int32")
    _check([i], i / 2, [iv], iv / 2)
    b = T.bvector("b")
    bv = np.array([3, -5], dtype="int8")
    out = b / 2
    _check([b], out, [bv], np.array([1.5, -2.5], dtype=out.dtype))


def test_float32_divided_by_two_stays_float32():
    x = T.fvector("x")
    xv = RNG.normal(size=3).astype("float32")
    f = _check([x], x / 2, [xv], xv / np.float32(2), rtol=0)
    assert _ops(f) == ["Mul"]
