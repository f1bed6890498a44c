"""pool_2d with symbolic ws / stride / pad (Theano allowed them): same values and gradients as the static op."""

import numpy as np
import pytest

import nettrain
import nettrain.tensor as T
from nettrain.tensor.signal.pool import Pool, pool_2d
from nettrain.tensor.signal.pool_symbolic import SymbolicPool
from nettrain.testing import check_infer_shape

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("ignore_border,pad", [(True, (1, 0)), (False, (0, 0))])
def test_symbolic_sizes_match_the_static_op_with_gradients(mode, ignore_border, pad):
    x, ws, st = T.dtensor4("x"), T.ivector("ws"), T.ivector("st")
    xv = RNG.normal(size=(2, 3, 7, 6))
    sym = pool_2d(x, ws=ws, stride=st, pad=pad, ignore_border=ignore_border, mode=mode)
    ref = pool_2d(x, ws=(3, 2), stride=(2, 1), pad=pad, ignore_border=ignore_border, mode=mode)
    assert isinstance(sym.owner.op, SymbolicPool) and isinstance(ref.owner.op, Pool)
    got = nettrain.function([x, ws, st], [sym, T.grad((sym**2).sum(), x)])(xv, [3, 2], [2, 1])
    want = nettrain.function([x], [ref, T.grad((ref**2).sum(), x)])(xv)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    check_infer_shape(sym, [x, ws, st], [xv, np.array([3, 2], "int32"), np.array([2, 1], "int32")])


def test_sizes_computed_from_the_input_shape_and_constant_sizes_stay_static():
    x = T.dtensor4("x")
    # Lasagne's SpatialPyramidPoolingLayer: windows from the (run-time) image size
    y = pool_2d(x, ws=((x.shape[2] + 1) // 2, (x.shape[3] + 1) // 2), stride=(x.shape[2] // 2, x.shape[3] // 2))
    xv = RNG.normal(size=(1, 2, 5, 4))  # ws (3, 2), stride (2, 2)
    want = nettrain.function([x], pool_2d(x, ws=(3, 2), stride=(2, 2)))(xv)
    np.testing.assert_array_equal(nettrain.function([x], y)(xv), want)
    assert isinstance(pool_2d(x, ws=(2, T.constant(2))).owner.op, Pool)
    # Lasagne's probe: symbolic ws and stride with pad=None must build
    assert isinstance(pool_2d(T.tensor4(), ws=T.ivector(), stride=T.ivector(), ignore_border=True, pad=None).owner.op,
                      SymbolicPool)  # fmt: skip


def test_bad_symbolic_sizes_are_clear_errors():
    x, ws = T.dtensor4("x"), T.ivector("ws")
    f = nettrain.function([x, ws], pool_2d(x, ws=ws))
    with pytest.raises(ValueError, match="3 entries at run time"):
        f(np.ones((1, 1, 4, 4)), [2, 2, 2])
    with pytest.raises(ValueError, match="positive"):
        f(np.ones((1, 1, 4, 4)), [0, 2])
    with pytest.raises(TypeError, match="integers"):
        pool_2d(x, ws=T.dvector())
