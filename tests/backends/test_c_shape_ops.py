"""Runners of the C linker for indexing, shape and copy ops match ``perform``.

Each node is run through its C-linker runner (a compiled gather/scatter
kernel, or a lean Python runner) and through ``perform`` on the same values:
results must have equal dtype, shape and values, views must stay views, and
bad input must raise the same exception with the same message.  Whole
functions (an embedding lookup with its gradient step) are compared between
the C and Python linkers.
"""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.compiler import build_library
from nettrain.backends.c.registry import c_kernel
from nettrain.backends.python import storage_plan
from nettrain.graph.fg import FunctionGraph
from nettrain.tensor.advanced_subtensor import AdvancedIncSubtensor1, AdvancedSubtensor1
from nettrain.tensor.elemwise import DimShuffle
from nettrain.tensor.subtensor import SliceLength
from nettrain.tensor.type import TensorType

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a working C compiler and cffi")
pytestmark = [pytest.mark.c, needs_c, pytest.mark.filterwarnings("error::RuntimeWarning")]

C, PY = theano.Mode(linker="c", optimizer=None), theano.Mode(linker="py", optimizer=None)
RNG = np.random.default_rng(11)
_LIBS = {}


def runner(node):
    """The C linker's runner for ``node`` (compiling its kernel when it has C source); fails if there is none."""
    k = c_kernel(node.op, node)
    assert k is not None, "no C-linker runner for %s" % node.op
    if not k.source:
        return k.bind(None, None)
    if k.source not in _LIBS:
        src, cdef, names = c_linker.function_source([k])
        ffi, lib = build_library(src, cdef)
        _LIBS[k.source] = (getattr(lib, names[0]), ffi, lib)
    fn, ffi, _ = _LIBS[k.source]
    return k.bind(fn, ffi)


def same(var, args, view=None):
    """Run ``var``'s node with its runner and with ``perform``; compare results or errors."""
    node = var.owner
    run = runner(node)
    want, got = [[None] for _ in node.outputs], [[None] for _ in node.outputs]
    before = [np.array(a, copy=True) for a in args]
    try:
        node.op.perform(node, list(args), want)
    except Exception as e:  # noqa: BLE001 - the runner must raise the same
        with pytest.raises(type(e)) as ec:
            run(node, list(args), got)
        assert str(ec.value) == str(e)
        return None
    run(node, list(args), got)
    for w, g in zip(want, got):
        w, g = w[0], g[0]
        assert type(g) is type(w) is np.ndarray
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_array_equal(g, w)
        if view is not None:
            assert np.shares_memory(g, args[0]) == view
    for a, b in zip(args, before):  # inputs are never modified
        np.testing.assert_array_equal(a, b)
    return [g[0] for g in got]


def rand(dtype, *shape):
    if np.dtype(dtype).kind == "f":
        return RNG.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return RNG.integers(0, 2, shape).astype(bool)
    return RNG.integers(-100, 100, shape).astype(dtype)


def layouts(a):
    """``a`` and copies of its values with other memory layouts."""
    yield a
    yield np.asfortranarray(a)
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    v = big[tuple(slice(None, None, 2) for _ in a.shape)]
    v[...] = a
    yield v
    if a.ndim:
        r = np.ascontiguousarray(a[::-1])
        yield r[::-1]


# ------------------------------------------------------------------- views
@pytest.mark.parametrize("order", [("x", 0), (0, "x"), (1, 0), ("x", 0, "x", "x"), (0,), (1, "x", 0), ()])
def test_dimshuffle_runner_matches_perform_for_every_kind_of_order(order):
    nd = max([d for d in order if d != "x"], default=-1) + 1
    bc = [False] * nd
    if order == ():
        bc = [True, True]
    if order == (0,):
        bc = [False, True]  # drops the broadcastable second axis
        nd = 2
    x = TensorType("float32", tuple(1 if b else None for b in bc))("x")
    var = x.dimshuffle(*order)
    shape = tuple(1 if b else 3 + i for i, b in enumerate(bc))
    for a in layouts(rand("float32", *shape)):
        same(var, [a], view=a.size > 0)
    if order == (0,):  # a dropped axis of run-time length 2: the reference's reshape error
        same(var, [rand("float32", 3, 2)])


def test_dimshuffle_of_a_scalar_and_to_a_scalar_gives_arrays():
    s = T.lscalar("s")
    r = same(s.dimshuffle("x", "x"), [np.array(7)])
    assert r[0].shape == (1, 1)
    c = TensorType("float64", (1, 1))("c")
    r = same(c.dimshuffle(), [np.ones((1, 1))])
    assert r[0].shape == () and type(r[0]) is np.ndarray


def test_subtensor_runner_handles_constant_and_symbolic_indices_and_bounds():
    x = T.ftensor3("x")
    i, j, k = T.lscalar("i"), T.lscalar("j"), T.lscalar("k")
    xv = rand("float32", 5, 6, 7)
    cases = [(x[1:, ::-2], []), (x[2], []), (x[-1, 1:4, 3], []), (x[i], [2]), (x[i:j:k], [4, 0, -2]),
             (x[:, i, j:], [1, -3]), (x[i, j, k], [1, 2, 3]), (x[::i], [2])]  # fmt: skip
    for var, vals in cases:
        for a in layouts(xv):
            r = same(var, [a] + [np.array(v, dtype=np.int64) for v in vals], view=True)
            assert r is not None
    for var, vals in [(x[7], []), (x[:, -7], []), (x[i], [5]), (x[:, i, j], [0, -8]), (x[::i], [0])]:
        assert same(var, [xv] + [np.array(v, dtype=np.int64) for v in vals]) is None  # raised like perform


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_inc_and_set_subtensor_runners_work_on_a_copy(dtype):
    x = T.matrix("x", dtype=dtype)
    y, row, i = T.matrix("y", dtype=dtype), T.row("r", dtype=dtype), T.lscalar("i")
    xv, i2 = rand(dtype, 6, 8), np.array(2, dtype=np.int64)
    cases = [(T.set_subtensor(x[1:4, ::2], y), [rand(dtype, 3, 4)]),
             (T.inc_subtensor(x[1:4, ::2], y), [rand(dtype, 3, 4)]),
             (T.inc_subtensor(x[:, 2:], row), [rand(dtype, 1, 6)]),
             (T.set_subtensor(x[i], y[0]), [rand(dtype, 8), i2]),
             (T.inc_subtensor(x[i, i], np.asarray(5, dtype)), [np.asarray(5, dtype), i2, i2])]  # fmt: skip
    for var, rest in cases:
        for a in layouts(xv):
            assert same(var, [a] + rest, view=False) is not None
    assert same(cases[1][0], [xv, rand(dtype, 3, 3)]) is None  # y does not match the indexed shape
    assert same(cases[3][0], [xv, rand(dtype, 8), np.array(6)]) is None  # index out of bounds
    assert same(cases[4][0], [xv, np.asarray(5, dtype), i2, np.array(-9)]) is None


def test_inc_subtensor_of_a_large_tensor_reuses_buffers_without_clobbering_results():
    x, y = T.fmatrix("x"), T.fmatrix("y")
    var = T.inc_subtensor(x[:, :10], y)
    node, run = var.owner, runner(var.owner)
    xv = rand("float32", 512, 256)  # 512 KiB: above the pool's size
    results = []
    for k in range(4):
        cell = [None]
        run(node, [xv, np.full((512, 10), k, np.float32)], [cell])
        results.append(cell[0])
    for k, r in enumerate(results):
        want = xv.copy()
        want[:, :10] += k
        np.testing.assert_array_equal(r, want)


# ---------------------------------------------------------- gather / scatter
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16", "bool", "complex128"])
@pytest.mark.parametrize("idtype", ["int32", "int64", "uint8", "int8"])
def test_advanced_subtensor1_gathers_rows_like_numpy(dtype, idtype):
    x, v = TensorType(dtype, (None, None, None))("x"), TensorType(dtype, (None,))("v")
    i = TensorType(idtype, (None,))("i")
    xv, vv = rand(dtype, 9, 3, 4), rand(dtype, 9)
    iv = np.array([0, 8, 3, 3, -1, -9, 2] if idtype[0] != "u" else [0, 8, 3, 3, 2], dtype=idtype)
    for a in layouts(xv):
        r = same(x[i], [a, iv], view=False)
        np.testing.assert_array_equal(r[0], xv[iv])
    for ix in [iv, np.repeat(iv, 2)[::2], iv[:0]]:
        same(x[i], [xv, ix])
        same(v[i], [vv, ix])
    same(x[i], [np.zeros((9, 0, 4), dtype), iv])  # empty rows
    for bad in ([9], [0, -10], [3, 100]) if idtype != "uint8" else ([9], [200]):
        if max(abs(b) for b in bad) < np.iinfo(idtype).max:
            assert same(x[i], [xv, np.array(bad, dtype=idtype)]) is None
            assert same(v[i], [vv, np.array(bad, dtype=idtype)]) is None
    assert same(x[i], [np.zeros((0, 3, 4), dtype), np.array([0], dtype=idtype)]) is None


def test_uint64_indices_beyond_int64_wrap_in_a_gather_and_are_out_of_range_in_a_scatter():
    x, i = T.fmatrix("x"), TensorType("uint64", (None,))("i")
    xv = rand("float32", 4, 3)
    same(x[i], [xv, np.array([3, 0], np.uint64)])
    r = same(x[i], [xv, np.array([2**64 - 1, 2**64 - 4], np.uint64)])  # NumPy reads them as -1, -4
    np.testing.assert_array_equal(r[0], xv[[-1, -4]])
    assert same(x[i], [xv, np.array([2**64 - 5], np.uint64)]) is None
    y = T.fmatrix("y")
    assert same(T.inc_subtensor(x[i], y), [xv, rand("float32", 1, 3), np.array([2**64 - 1], np.uint64)]) is None
    same(T.inc_subtensor(x[i], y), [xv, rand("float32", 2, 3), np.array([3, 3], np.uint64)])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64"])
def test_advanced_inc_subtensor1_accumulates_repeated_indices_in_order(dtype):
    x, y, i = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype), T.ivector("i")
    xv = rand(dtype, 7, 5)
    iv = np.array([1, 6, 1, -1, 0, 1, 3], np.int32)
    yv = rand(dtype, 7, 5) if dtype != "int8" else np.full((7, 5), 100, np.int8)  # int8 sums wrap
    for var in [T.inc_subtensor(x[i], y), T.set_subtensor(x[i], y)]:
        for a in layouts(xv):
            for b in layouts(yv):
                same(var, [a, b, iv], view=False)
        same(var, [xv, yv[:0], iv[:0]])
        same(var, [xv, yv[::2], np.repeat(iv, 2)[::4]])
    r = same(T.inc_subtensor(x[i], y), [xv, yv, iv])[0]
    want = xv.copy()
    np.add.at(want, iv, yv)
    np.testing.assert_array_equal(r, want)  # bit for bit: the same additions in the same order


def test_advanced_inc_subtensor1_broadcasts_y_along_static_length_one_dimensions():
    x, i = T.dtensor3("x"), T.lvector("i")
    xv, iv = rand("float64", 6, 3, 4), np.array([5, 0, 5, 2])
    for pattern, shape in [((1, None, None), (1, 3, 4)), ((None, 1, 1), (4, 1, 1)), ((1, 1, 1), (1, 1, 1)),
                           ((None, 1, None), (4, 1, 4)), ((None, None, None), (4, 3, 4))]:  # fmt: skip
        y = TensorType("float64", pattern)("y")
        for var in [T.inc_subtensor(x[i], y), T.set_subtensor(x[i], y)]:
            yv = rand("float64", *shape)
            for b in layouts(yv):
                same(var, [xv, b, iv])
    # a value that does not match (and is not statically broadcastable) raises the reference's error
    y = T.dtensor3("y")
    assert same(T.inc_subtensor(x[i], y), [xv, rand("float64", 4, 1, 4), iv]) is None
    assert same(T.inc_subtensor(x[i], y), [xv, rand("float64", 3, 3, 4), iv]) is None
    # out-of-range indices are reported before the value's shape, as perform does
    assert same(T.inc_subtensor(x[i], y), [xv, rand("float64", 3, 3, 4), np.array([6, 0, 1, 2])]) is None
    assert same(T.inc_subtensor(x[i], y), [xv, rand("float64", 4, 3, 4), np.array([0, -7, 1, 2])]) is None


def test_advanced_set_subtensor1_on_bools_and_vectors():
    b, by, i = T.bmatrix("b"), T.bmatrix("by"), T.lvector("i")
    bm = TensorType("bool", (None, None))("bm")
    bmy = TensorType("bool", (None, None))("bmy")
    same(T.set_subtensor(bm[i], bmy), [rand("bool", 4, 3), rand("bool", 2, 3), np.array([3, 1])])
    same(T.inc_subtensor(b[i], by), [rand("int8", 4, 3), rand("int8", 2, 3), np.array([3, 3])])
    v, vy = T.fvector("v"), T.fvector("vy")
    same(T.inc_subtensor(v[i], vy), [rand("float32", 10), rand("float32", 4), np.array([9, 9, 0, -10])])
    assert same(T.inc_subtensor(v[i], vy), [rand("float32", 10), rand("float32", 1), np.array([10])]) is None


# ---------------------------------------------------------------- copies
def test_alloc_join_split_reshape_shape_and_slice_length_runners():
    x, y, s, t = T.fmatrix("x"), T.fmatrix("y"), T.lscalar("s"), T.lscalar("t")
    xv, yv = rand("float32", 4, 6), rand("float32", 4, 3)
    i64 = np.int64
    same(T.alloc(np.float32(1.5), s, t), [np.array(1.5, np.float32), np.array(3), np.array(5)])
    same(T.alloc(np.float32(1.5), s, t), [np.array(1.5, np.float32), np.array(300), np.array(500)])  # pooled
    same(T.alloc(np.float32(1.5), s, t), [np.array(1.5, np.float32), np.array(-1), np.array(5)])  # error
    v = T.fvector("v")
    same(T.alloc(v, s, 6), [rand("float32", 6), np.array(3), np.array(6)])
    same(T.alloc(v, s, 6), [rand("float32", 5), np.array(3), np.array(6)])  # error
    for axis in (0, 1):
        var = T.concatenate([x, x * 1, x[:, :2]] if axis else [x, x[:1], x[2:]], axis=axis)
        same(var, [xv, xv, xv[:, :2]] if axis else [xv, xv[:1], xv[2:]])
    cat = T.concatenate([x, y], axis=1)
    same(cat, [xv, yv])
    same(cat, [xv.T, yv[:3]])  # shapes differ off the axis: the reference's error
    big = rand("float32", 300, 300)
    same(cat, [big, big[:, :7]])  # pooled output
    mixed = T.concatenate([x, T.lmatrix("l")], axis=0).owner
    assert c_kernel(mixed.op, mixed) is None  # mixed dtypes: perform converts
    parts = T.split(x, [2, 1, 3], 3, axis=1)
    for p in parts:
        same(p, [xv, np.array([2, 1, 3])])
    sp = T.split(x, T.lvector("sz"), 2, axis=0)[0]
    same(sp, [xv, np.array([1, 3])])
    same(sp, [xv, np.array([5, -1])])  # negative size: error
    same(sp, [xv, np.array([1, 2])])  # does not add up: error
    for shp in ([24], [-1], [2, 12], [3, -1], [5, 5]):
        same(x.reshape(T.as_tensor_variable(np.array(shp, i64)), ndim=len(shp)), [xv, np.array(shp, i64)])
        same(x.reshape(T.lvector("shp"), ndim=len(shp)), [xv.T, np.array(shp, i64)])
    same(x.reshape(T.lvector("shp"), ndim=2), [xv, np.array([24], i64)])  # wrong length: error
    same(x.shape, [xv])
    same(x.shape[1], [xv.T])
    same(x.dimshuffle("x", 0, 1).shape[0], [xv[None]])
    for pattern, vals in [((None, 4, None), [10]), ((1, None, -2), [10, 7]), ((None, None, None), [0]),
                          (("?", "?", "?"), [9, -2, 7, -1])]:  # fmt: skip
        syms = [T.lscalar() for _ in vals]
        var = SliceLength(pattern)(*syms)
        same(var, [np.array(v, i64) for v in vals])
    assert same(SliceLength(("?", None, "?"))(T.lscalar(), T.lscalar(), T.lscalar()),
                [np.array(5), np.array(1), np.array(0)]) is None  # step 0  # fmt: skip


# --------------------------------------------------------- whole functions
def test_embedding_lookup_and_gradient_step_match_the_python_linker():
    E0 = RNG.standard_normal((50, 8)).astype("float32")
    W0 = (RNG.standard_normal((24, 5)) * 0.1).astype("float32")
    fs = []
    for mode in (C, theano.Mode(linker="py")):
        E, W = theano.shared(E0.copy(), name="E"), theano.shared(W0.copy(), name="W")
        idx, y = T.imatrix("idx"), T.ivector("y")
        emb = E[idx.flatten()].reshape((idx.shape[0], idx.shape[1] * 8))
        h = T.concatenate([emb[:, 8:], emb[:, :8] * 2], axis=1)
        p = T.nnet.softmax(T.dot(h, W))
        cost = T.nnet.categorical_crossentropy(p, y).mean()
        gE, gW = T.grad(cost, [E, W])
        f = theano.function([idx, y], cost, updates=[(E, E - 0.5 * gE), (W, W - 0.5 * gW)], mode=mode)
        fs.append((f, E, W))
    fc = fs[0][0]
    ops = {type(n.op) for n in fc.maker.fgraph.toposort()}
    assert {AdvancedSubtensor1, AdvancedIncSubtensor1, DimShuffle} <= ops
    assert all(c_kernel(n.op, n) is not None for n in fc.maker.fgraph.toposort()
               if isinstance(n.op, (AdvancedSubtensor1, AdvancedIncSubtensor1, DimShuffle)))  # fmt: skip
    for _ in range(3):
        iv = RNG.integers(-50, 50, (6, 3)).astype("int32")  # negative indices count from the end
        iv[0, :] = iv[1, 0]  # repeated rows accumulate
        yv = RNG.integers(0, 5, 6).astype("int32")
        rc, rp = fs[0][0](iv, yv), fs[1][0](iv, yv)
        np.testing.assert_allclose(rc, rp, rtol=1e-5)
        np.testing.assert_allclose(fs[0][1].get_value(), fs[1][1].get_value(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fs[0][2].get_value(), fs[1][2].get_value(), rtol=1e-5, atol=1e-6)
    # an index out of range raises the reference's error through the linker, with the node's context
    iv[2, 1] = 50
    errs = []
    for f, _, _ in fs:
        with pytest.raises(IndexError) as e:
            f(iv, yv)
        errs.append(str(e.value))
    assert errs[0].splitlines()[0] == errs[1].splitlines()[0] and "out of bounds" in errs[0]


def test_a_function_of_views_only_builds_no_library():
    x = T.fmatrix("x")
    fg = FunctionGraph([x], [x.T[1:].dimshuffle(0, "x", 1).reshape((-1,)), x.shape])
    steps, _ = storage_plan(fg, {x: [None]})
    runners, library = c_linker.CLinker().runners(steps)
    assert library is None
    assert all(r is not s.perform for r, s in zip(runners, steps))
    f = theano.function([x], [x.T[1:].dimshuffle(0, "x", 1).reshape((-1,)), x.shape], mode=C)
    xv = rand("float32", 3, 4)
    r = f(xv)
    np.testing.assert_array_equal(r[0], xv.T[1:].reshape(-1))
    np.testing.assert_array_equal(r[1], [3, 4])
