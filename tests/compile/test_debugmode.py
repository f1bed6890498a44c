"""DebugMode: wrong kernels, lying infer_shape, undeclared in-place writes and wrong rewrites are caught."""

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.backends.c.registry import Kernel, c_kernel
from nettrain.compile.debugmode import DebugMode, DebugModeError
from nettrain.compile.mode import get_mode
from nettrain.graph import rewriting
from nettrain.graph.basic import Apply
from nettrain.graph.op import Op

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a C compiler")


class _AddOne(Op):
    """x + 1 (float64); a C kernel registered below adds 2 instead: the deliberate bug."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] + 1.0

    def infer_shape(self, node, shapes):
        return [shapes[0]]


_WRONG = """
NT_EXPORT void NT_KERNEL(const double *x, double *z, long n) { for (long i = 0; i < n; i++) z[i] = x[i] + 2.0; }
"""


@c_kernel.register(_AddOne)
def _add_one_kernel(op, node):
    if node.inputs[0].type.dtype != "float64":
        return None

    def bind(fn, ffi):
        def run(node, args, outs):
            x = np.ascontiguousarray(args[0])
            z = np.empty_like(x)
            fn(ffi.from_buffer("double[]", x), ffi.from_buffer("double[]", z, require_writable=True), x.size)
            outs[0][0] = z

        return run

    return Kernel(_WRONG, "void NT_KERNEL(const double *x, double *z, long n);", bind)


class _LyingShape(Op):
    """Drops the last row of a matrix, but its infer_shape says the shape is unchanged."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [T.dmatrix()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0][:-1].copy()

    def infer_shape(self, node, shapes):
        return [shapes[0]]  # the lie: one row too many


class _SneakyInplace(Op):
    """Returns 2 * x but also writes into x, without a destroy_map."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        x *= 2.0
        output_storage[0][0] = x.copy()


@needs_c
def test_a_wrong_c_kernel_is_caught_naming_the_node_and_both_values():
    x = T.dvector("x")
    y = _AddOne()(T.exp(x)) * 3.0
    plain = theano.function([x], y, mode=theano.Mode(linker="c"))
    assert plain(np.zeros(2))[0] == 9.0  # the bug, silent in a normal mode
    f = theano.function([x], y, mode=DebugMode(linker="c"))
    with pytest.raises(DebugModeError) as info:
        f(np.zeros(2))
    msg = str(info.value)
    assert "output 0 of _AddOne: the c implementation disagrees with perform" in msg
    assert "c result:\n[3. 3.]\nperform result:\n[2. 2.]" in msg
    assert "The node was built at (your code): %s:" % __file__ in msg  # (the op's make_node: also this file)


def test_an_infer_shape_that_lies_is_caught():
    x = T.dmatrix("x")
    y = _LyingShape()(x) * 2.0
    assert theano.function([x], y)(np.ones((3, 2))).shape == (2, 2)
    f = theano.function([x], y, mode=DebugMode())
    with pytest.raises(DebugModeError, match=r"infer_shape of _LyingShape says output 0 has shape \(3, 2\), but "
                                             r"the computed output has shape \(2, 2\)"):  # fmt: skip
        f(np.ones((3, 2)))


def test_an_op_that_writes_into_an_input_it_does_not_declare_destroyed_is_caught():
    x = T.dvector("x")
    y = _SneakyInplace()(x + 1.0)
    f = theano.function([x], y, mode=DebugMode(linker="py"))
    with pytest.raises(DebugModeError, match=r"changed its input 0 .*which it does not declare destroyed"):
        f(np.ones(3))


def test_a_rewrite_that_changes_the_result_is_caught_naming_the_output():
    class _Half(Op):
        __props__ = ()

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, output_storage):
            output_storage[0][0] = inputs[0] / 2.0

    @rewriting.node_rewriter([_Half], phase="specialize")
    def local_half_wrong(fgraph, node):
        """half(x) -> x / 3 (a deliberately wrong rule)"""
        return [node.inputs[0] / 3.0]

    try:
        x = T.dvector("x")
        acc = theano.shared(np.zeros(2), name="acc")
        f = theano.function([x], x * 1.0, updates={acc: acc + _Half()(x)}, mode=DebugMode())
        with pytest.raises(DebugModeError, match=r"the update of shared variable 'acc' of the rewritten graph "
                                                 r"differs from the unrewritten graph's"):  # fmt: skip
            f(np.array([6.0, 12.0]))
    finally:
        rw = local_half_wrong.rewriter
        rewriting._REGISTRY[rw.phase].remove(rw)
        del rewriting._BY_NAME[rw.name]


@pytest.mark.parametrize("linker", ["py", pytest.param("c", marks=needs_c)])
def test_a_correct_training_step_passes_and_computes_the_same_as_fast_run(linker):
    rng = np.random.default_rng(0)
    x, y = T.dmatrix("x"), T.ivector("y")
    w = theano.shared(rng.normal(size=(5, 3)), name="w")
    b = theano.shared(np.zeros(3), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    loss = T.nnet.categorical_crossentropy(p, y).mean() + 0.01 * T.sqr(w).sum()
    gw, gb = theano.grad(loss, [w, b])
    xv, yv = rng.normal(size=(8, 5)), rng.integers(0, 3, 8).astype("int32")
    results = []
    for mode in (DebugMode(linker=linker), theano.Mode(linker=linker)):
        w.set_value(np.ones((5, 3)) * 0.1)
        b.set_value(np.zeros(3))
        f = theano.function([x, y], loss, updates={w: w - 0.1 * gw, b: b - 0.1 * gb}, mode=mode)
        results.append([f(xv, yv) for _ in range(3)] + [w.get_value()])
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-12)
    assert isinstance(get_mode("DebugMode"), DebugMode)


@needs_c
def test_device_kernels_are_checked_against_perform_on_the_emulator():
    from nettrain.backends.cuda import testing as ct

    rng = np.random.default_rng(1)
    with ct.emulated():
        x = T.fmatrix("x")
        w = theano.shared(rng.normal(size=(3, 4)).astype("float32"), name="w")
        c = T.log(1 + T.exp(T.nnet.softmax(T.dot(x, w)))).sum()
        f = theano.function([x], c, updates={w: w - 0.1 * theano.grad(c, w)}, mode=DebugMode())
        xv = rng.random((5, 3), dtype=np.float32)
        w0 = w.get_value()
        f(xv)
        assert not np.allclose(w.get_value(), w0)  # the step ran, every node agreed with perform


def test_a_stabilizing_rewrite_is_not_an_error():
    x = T.dvector("x")
    f = theano.function([x], T.log(T.exp(x)) + T.log1p(T.exp(-x)), mode=DebugMode())
    v = f(np.array([1000.0, 0.5]))  # unrewritten: log(exp(1000)) = inf; rewritten: 1000
    assert np.isfinite(v).all() and v[0] == pytest.approx(1000.0)
