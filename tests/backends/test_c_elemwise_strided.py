"""The C Elemwise kernel's strided path matches NumPy and the Python linker.

The strided path merges and orders dimensions in Python and picks an inner
loop in C: all operands contiguous, some broadcast operands read once per
inner loop (stride 0), or the general strided loop.  Every broadcast pattern
of a 4-d operand, transposed, sliced, reversed and empty inputs, several
broadcast groups in one fused node and the threaded paths are compared here.
"""

import itertools

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import elemwise as c_elemwise
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.registry import c_kernel
from nettrain.tensor.elemwise import Elemwise
from nettrain.tensor.type import TensorType

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
pytestmark = [pytest.mark.c, needs_c, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
C_OPT, PY_OPT = theano.Mode(linker="c"), theano.Mode(linker="py")
RNG = np.random.default_rng(3)
# every proper subset of 4 dimensions broadcast (the empty one is the full-shape operand)
PATTERNS = [p for p in itertools.product([False, True], repeat=4) if not all(p)]


def values(dtype, shape):
    if np.dtype(dtype).kind == "f":
        return RNG.standard_normal(shape).astype(dtype)
    return RNG.integers(-50, 50, shape).astype(dtype)


def functions(inputs, outputs, c_mode=C, py_mode=PY):
    """The function compiled with both linkers; every Elemwise node of the C one has a kernel."""
    fc = theano.function(inputs, outputs, mode=c_mode)
    fp = theano.function(inputs, outputs, mode=py_mode)
    nodes = [n for n in fc.maker.fgraph.toposort() if isinstance(n.op, Elemwise)]
    assert nodes and all(c_kernel(n.op, n) is not None for n in nodes), "an Elemwise node fell back to perform"
    return fc, fp


def check(fc, fp, args, expected=None):
    rc, rp = fc(*args), fp(*args)
    expected = rp if expected is None else expected
    for a, b, e in zip(rc, rp, expected):
        assert a.dtype == b.dtype and a.shape == b.shape == np.shape(e)
        tol = 2e-6 if a.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol)
    return rc


def layouts(a):
    """``a`` itself and views of its values with other memory layouts (transposed, sliced, reversed)."""
    yield a
    perm = tuple(reversed(range(a.ndim)))
    yield np.ascontiguousarray(a.transpose(perm)).transpose(perm)  # F order
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    yield view  # every stride doubled
    rev = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
    yield rev[tuple(slice(None, None, -1) for _ in a.shape)]  # negative strides
    if a.ndim >= 2:
        swap = np.ascontiguousarray(np.swapaxes(a, 0, a.ndim - 2))
        yield np.swapaxes(swap, 0, a.ndim - 2)  # one pair of axes exchanged


# --------------------------------------------------------------- the layout helper
def test_layout_merges_a_channel_bias_into_a_loop_over_contiguous_spatial_dims():
    x = np.zeros((64, 20, 24, 24), np.float32)
    b = np.zeros(20, np.float32)[None, :, None, None]
    pshape, inv, meta = c_elemwise.layout([x, b], x.shape, [np.float32], (0, 1))
    assert pshape == x.shape and inv is None  # the output is C-contiguous
    nd = 4
    assert meta[:nd] == [1, 64, 20, 576]
    assert meta[nd : 2 * nd] == [0, 20 * 576 * 4, 576 * 4, 4]  # x
    assert meta[2 * nd : 3 * nd] == [0, 0, 4, 0]  # b: stride 0 in the inner loop
    assert meta[3 * nd :] == [0, 20 * 576 * 4, 576 * 4, 4]  # output


def test_layout_follows_a_transposed_input_and_gives_the_output_its_order():
    x = np.zeros((6, 5), np.float64).T
    pshape, inv, meta = c_elemwise.layout([x], x.shape, [np.float64], (0,))
    assert pshape == (6, 5) and inv == (1, 0)
    assert meta == [1, 30, 0, 8, 0, 8]  # both merged into one contiguous loop


def test_groups_give_one_loop_variant_per_broadcast_pattern():
    x, a, b = T.tensor4("x"), TensorType("float64", (1, None, 1, 1))("a"), TensorType("float64", (1, None, 1, 1))("b")
    node = (x + a * b).owner
    assert c_elemwise._groups(node) == ([None, 0], 1)
    inner = (a * b).owner
    assert c_elemwise._groups(inner) == ([None, None], 0)  # same shapes: nothing broadcast


# ------------------------------------------------------- broadcast patterns x layouts
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_every_4d_broadcast_pattern_and_layout_matches_numpy(dtype):
    x = TensorType(dtype, (None,) * 4)("x")
    ys = [TensorType(dtype, tuple(1 if p else None for p in pat))("y%d" % i) for i, pat in enumerate(PATTERNS)]
    outs = [T.maximum(x + y, y * 2) if dtype != "int32" else x * y - y for y in ys]
    fc, fp = functions([x] + ys, outs)
    shape = (3, 4, 5, 6)
    xv = values(dtype, shape)
    yv = [values(dtype, tuple(1 if p else s for p, s in zip(pat, shape))) for pat in PATTERNS]

    def expect(a, bs):
        return [np.maximum(a + b, b * 2) if dtype != "int32" else a * b - b for b in bs]

    for xl in layouts(xv):
        check(fc, fp, [xl] + yv, expect(xv, yv))
    for ls in zip(*[list(layouts(y)) for y in yv]):
        check(fc, fp, [xv] + list(ls), expect(xv, yv))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_common_layouts_bias_row_column_transposed_and_3d(dtype):
    m, v, col = T.matrix("m", dtype=dtype), T.vector("v", dtype=dtype), T.col("c", dtype=dtype)
    m2, x3, r3 = T.matrix("m2", dtype=dtype), T.tensor3("x3", dtype=dtype), TensorType(dtype, (None, 1, None))("r3")
    outs = [m + v, m * col, m - m2, x3 + v, x3 * r3 + v]
    fc, fp = functions([m, v, col, m2, x3, r3], outs)
    for shape in [(7, 5), (1, 9), (33, 1), (128, 260)]:
        mv, vv, cv = values(dtype, shape), values(dtype, shape[1:]), values(dtype, shape[:1] + (1,))
        m2v = values(dtype, shape[::-1]).T  # transposed
        xv = values(dtype, (4,) + shape)
        rv = xv[:, :1].copy()
        x_sliced = np.repeat(xv, 2, axis=1)[:, ::2]
        want = [mv + vv, mv * cv, mv - m2v, xv + vv, xv * rv + vv]
        check(fc, fp, [mv, vv, cv, m2v, xv, rv], want)
        check(fc, fp, [mv.T.copy().T, vv, cv, m2v, x_sliced, rv.T.copy().T], want)
        rev = [a[::-1].copy()[::-1] for a in (mv, vv, cv)]
        check(fc, fp, rev + [m2v, xv[:, ::-1].copy()[:, ::-1], rv[:, :, ::-1].copy()[:, :, ::-1]], want)


def test_empty_dimensions_in_every_position_give_empty_results():
    x, b = T.ftensor4("x"), TensorType("float32", (1, None, 1, None))("b")
    fc, fp = functions([x, b], [x + b, T.exp(x) * b])
    for d in range(4):
        shape = [3, 4, 5, 6]
        shape[d] = 0
        xv = values("float32", tuple(shape))
        bv = values("float32", (1, shape[1], 1, shape[3]))
        rc = check(fc, fp, [xv, bv], [xv + bv, np.exp(xv) * bv])
        assert rc[0].shape == tuple(shape)
        check(fc, fp, [xv.transpose(3, 2, 1, 0).copy().transpose(3, 2, 1, 0), bv], [xv + bv, np.exp(xv) * bv])


def test_fused_node_with_more_broadcast_patterns_than_loop_variants():
    # x + a(1,C,1,1) * b(N,1,1,1) - c(1,1,H,W) + d(1,1,1,W): four patterns, more than MAX_GROUPS
    x = T.dtensor4("x")
    a, b = TensorType("float64", (1, None, 1, 1))("a"), TensorType("float64", (None, 1, 1, 1))("b")
    c, d = TensorType("float64", (1, 1, None, None))("c"), TensorType("float64", (1, 1, 1, None))("d")
    e = T.tanh(x + a * b - c) * d + x
    fc, fp = functions([x, a, b, c, d], [e], C_OPT, PY_OPT)
    assert len(fc.maker.fgraph.toposort()) == 1  # one fused Elemwise
    assert c_elemwise.MAX_GROUPS < 4
    shape = (3, 4, 5, 6)
    args = [values("float64", shape), values("float64", (1, 4, 1, 1)), values("float64", (3, 1, 1, 1)),
            values("float64", (1, 1, 5, 6)), values("float64", (1, 1, 1, 6))]  # fmt: skip
    want = [np.tanh(args[0] + args[1] * args[2] - args[3]) * args[4] + args[0]]
    check(fc, fp, args, want)
    for xl in layouts(args[0]):
        check(fc, fp, [xl] + args[1:], want)
    check(fc, fp, [args[0].transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)] + args[1:], want)


def test_multiple_outputs_of_different_dtypes_with_a_permuted_layout():
    x, n = T.dtensor3("x"), T.ltensor3("n")
    outs = [x * n + 1, T.exp(x) * T.cast(T.gt(n, 0), "float64"), (n // 2) % 3]
    fc, fp = functions([x, n], outs, C_OPT, PY_OPT)
    xv, nv = values("float64", (4, 5, 6)), values("int64", (4, 5, 6))
    want = [xv * nv + 1, np.exp(xv) * (nv > 0), (nv // 2) % 3]
    xt = np.ascontiguousarray(xv.transpose(2, 0, 1)).transpose(1, 2, 0)
    nt = np.ascontiguousarray(nv.transpose(2, 0, 1)).transpose(1, 2, 0)
    rc = check(fc, fp, [xt, nt], want)
    # the outputs follow the inputs' memory order, like NumPy's ufuncs
    assert all(r.transpose(2, 0, 1).flags.c_contiguous for r in rc)
    check(fc, fp, [xv, nv[:, ::-1].copy()[:, ::-1]], want)


def test_large_inputs_take_the_threaded_strided_paths():
    # libm bodies split over threads above NT_PAR_MIN_HEAVY (1 << 18) elements: few outer
    # iterations (inner loop in chunks), many outer iterations, and a 1-d strided loop
    x, b, col = T.dtensor4("x"), TensorType("float64", (1, None, 1, 1))("b"), T.dcol("c")
    m, v = T.dmatrix("m"), T.dvector("v")
    fc, fp = functions([x, b, m, col, v], [T.exp(x * b), T.tanh(m) * col, T.exp(v)])
    xv, bv = values("float64", (2, 2, 300, 300)) / 4, values("float64", (1, 2, 1, 1))
    mv, cv = values("float64", (700, 500)), values("float64", (700, 1))
    vv = values("float64", 600_000)[::2] / 4
    want = [np.exp(xv * bv), np.tanh(mv) * cv, np.exp(vv)]
    check(fc, fp, [xv, bv, mv, cv, vv], want)
    check(fc, fp, [xv[:, :, ::-1].copy()[:, :, ::-1], bv, mv.T.copy().T, cv, vv[::-1].copy()[::-1]], want)


def test_shape_errors_match_the_python_linker_after_a_layout_is_cached():
    x, y, b = T.ftensor4("x"), T.ftensor4("y"), TensorType("float32", (1, None, 1, 1))("b")
    fc, fp = functions([x, y, b], [x * y + b])
    xv, yv, bv = values("float32", (2, 3, 4, 5)), values("float32", (2, 3, 4, 5)), values("float32", (1, 3, 1, 1))
    check(fc, fp, [xv, yv, bv], [xv * yv + bv])
    for bad in [(xv, yv, values("float32", (1, 4, 1, 1))), (xv, values("float32", (2, 3, 4, 6)), bv),
                (xv, yv.T.copy().T[:, :, :, :4], bv)]:  # fmt: skip
        with pytest.raises(ValueError) as ec:
            fc(*bad)
        with pytest.raises(ValueError) as ep:
            fp(*bad)
        assert "do not match" in str(ep.value)
        assert str(ep.value).splitlines()[0] in str(ec.value)
    check(fc, fp, [xv, yv, bv], [xv * yv + bv])


def test_earlier_results_are_not_overwritten_by_later_calls():
    x, b = T.ftensor4("x"), TensorType("float32", (1, None, 1, 1))("b")
    fc, _ = functions([x, b], [T.maximum(x + b, 0)])
    xv, bv = values("float32", (16, 8, 32, 32)), values("float32", (1, 8, 1, 1))  # above the pool size
    first = fc(xv, bv)[0]
    keep = first.copy()
    for xl in layouts(xv):
        fc(xl * 2, bv)
    np.testing.assert_array_equal(first, keep)
    np.testing.assert_allclose(first, np.maximum(xv + bv, 0), rtol=2e-6)
