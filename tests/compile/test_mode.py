"""Compile modes: which rewrites run (FAST_RUN, FAST_COMPILE, none), config flags, filters and logs."""

import os
import pickle

import numpy as np
import pytest

import nettrain as theano
from nettrain import config
from nettrain import tensor as T
from nettrain.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
from nettrain.graph import rewriting
from nettrain.graph.basic import Apply
from nettrain.graph.op import Op
from nettrain.tensor.composite import Composite
from nettrain.tensor.elemwise import Elemwise
from nettrain.testing import op_names

RNG = np.random.default_rng(1)


_scalar_ops = op_names


def _n_fused(f):
    return sum(isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Composite) for n in f.maker.fgraph.toposort())


def _graph():
    x = T.dvector("x")
    # x * 1 is useless, exp(x) appears twice, log(1 + x) needs log1p, the rest is fusable
    out = T.log(1 + x) + T.exp(x) * 1 + T.exp(x) * 2
    return x, out


# ------------------------------------------------------------ predefined modes
def test_fast_run_applies_canonicalize_stabilize_and_fusion():
    x, out = _graph()
    f = theano.function([x], out, mode=FAST_RUN)
    ops = _scalar_ops(f)
    assert "Log1p" in ops and "Log" not in ops
    assert ops.count("Exp") == 1
    assert _n_fused(f) == 1 and len(f.maker.fgraph.toposort()) == 1
    xv = np.array([1e-20, 0.5])
    np.testing.assert_allclose(f(xv), np.log1p(xv) + 3 * np.exp(xv), rtol=1e-15)


def test_fast_compile_keeps_stabilization_so_tiny_values_stay_accurate():
    x = T.dvector("x")
    f = theano.function([x], T.log(1 + x), mode=FAST_COMPILE)
    assert _scalar_ops(f) == ["Log1p"]
    assert f(np.array([1e-20]))[0] == 1e-20
    g = theano.function([x], T.log(1 - T.nnet.sigmoid(x)), mode="FAST_COMPILE")
    np.testing.assert_allclose(g(np.array([800.0])), [-800.0])


def test_fast_compile_runs_cheap_rewrites_but_not_fusion():
    x, out = _graph()
    f = theano.function([x], out, mode="FAST_COMPILE")
    ops = _scalar_ops(f)
    assert _n_fused(f) == 0
    assert ops.count("Exp") == 1  # merged
    assert "Log1p" in ops
    assert f.maker.mode.get_linker() is not None
    assert get_mode("FAST_COMPILE").linker == "py"
    xv = RNG.uniform(0, 1, 3)
    np.testing.assert_allclose(f(xv), np.log1p(xv) + 3 * np.exp(xv), rtol=1e-14)


def test_mode_without_optimizer_leaves_the_graph_unchanged():
    x, out = _graph()
    f = theano.function([x], out, mode=Mode(optimizer=None))
    before = theano.function([x], out, mode=Mode(optimizer=None))
    ops = _scalar_ops(f)
    assert ops.count("Exp") == 2 and "Log" in ops and "Log1p" not in ops
    assert ops == _scalar_ops(before)
    assert f.maker.fgraph.rewrite_log.entries == []
    xv = RNG.uniform(0, 1, 3)
    np.testing.assert_allclose(f(xv), np.log(1 + xv) + 3 * np.exp(xv), rtol=1e-14)


def test_string_none_is_no_optimizer_too():
    assert Mode(optimizer="None").optimizer is None


def test_merge_level_only_merges_equal_subexpressions():
    x, out = _graph()
    f = theano.function([x], out, mode=Mode(optimizer="merge"))
    ops = _scalar_ops(f)
    assert ops.count("Exp") == 1 and "Log1p" not in ops and _n_fused(f) == 0
    assert set(f.maker.fgraph.rewrite_log.counts()) == {"merge"}


def test_unknown_optimizer_level_is_an_error():
    with pytest.raises(ValueError, match="unknown optimizer 'fast_runn'"):
        Mode(optimizer="fast_runn")
    with pytest.raises(ValueError, match="unknown mode"):
        get_mode("FAST_WALK")
    with pytest.raises(TypeError, match="mode must be"):
        get_mode(3)


def test_mode_pickles_and_prints():
    m = Mode(optimizer="fast_compile").excluding("fusion")
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.optimizer == "fast_compile" and m2.exclude == ("fusion",)
    assert "fast_compile" in repr(m2)


# ------------------------------------------------------------ config flags
@pytest.mark.parametrize(
    "level, has_log1p, fused",
    [("fast_run", True, True), ("fast_compile", True, False), ("merge", False, False), ("None", False, False)],
)
def test_config_optimizer_sets_the_default_mode(level, has_log1p, fused):
    x, out = _graph()
    with config.change_flags(optimizer=level):
        assert get_default_mode().optimizer == (None if level == "None" else level)
        f = theano.function([x], out)
    assert ("Log1p" in _scalar_ops(f)) == has_log1p
    assert (_n_fused(f) > 0) == fused


def test_an_explicit_fast_run_ignores_config_optimizer():
    x, out = _graph()
    with config.change_flags(optimizer="None"):
        f = theano.function([x], out, mode="FAST_RUN")
    assert _n_fused(f) == 1


def test_config_optimizer_rejects_unknown_values():
    with pytest.raises(ValueError, match="config.optimizer must be one of"):
        config.optimizer = "fastest"


@pytest.mark.parametrize("what", ["local_elemwise_fusion", "fusion", "fuse"])
def test_config_optimizer_excluding_by_name_or_tag(what):
    x, out = _graph()
    with config.change_flags(optimizer_excluding=what):
        f = theano.function([x], out)
    assert _n_fused(f) == 0
    assert "Log1p" in _scalar_ops(f)


def test_config_optimizer_excluding_several_and_stabilize():
    x, out = _graph()
    with config.change_flags(optimizer_excluding="stabilize:fusion"):
        f = theano.function([x], out)
    ops = _scalar_ops(f)
    assert "Log1p" not in ops and _n_fused(f) == 0
    with config.change_flags(optimizer_excluding="local_log_one_plus_to_log1p"):
        g = theano.function([x], out)
    assert "Log1p" not in _scalar_ops(g) and _n_fused(g) == 1


def test_config_optimizer_including_adds_a_rewrite_to_fast_compile():
    x, out = _graph()
    with config.change_flags(optimizer_including="local_elemwise_fusion"):
        f = theano.function([x], out, mode="FAST_COMPILE")
    assert _n_fused(f) == 1


def test_excluding_constant_folding_keeps_constant_expressions():
    x = T.dvector("x")
    out = x + T.exp(T.constant(1.0))
    f = theano.function([x], out, mode=Mode(optimizer="fast_run").excluding("constant_folding", "fusion"))
    assert "Exp" in _scalar_ops(f)
    np.testing.assert_allclose(f(np.zeros(2)), np.full(2, np.e))


# ------------------------------------------------------------ Mode.excluding / including
def test_mode_excluding_a_rewrite_by_name():
    x = T.dmatrix("x")
    mode = Mode(optimizer="fast_run").excluding("local_mul_by_one_add_zero", "local_mul_div_canonical")
    f = theano.function([x], x * 1, mode=mode)
    assert "Mul" in _scalar_ops(f)
    assert "Mul" not in _scalar_ops(theano.function([x], x * 1, mode="FAST_RUN"))
    assert mode.exclude == ("local_mul_by_one_add_zero", "local_mul_div_canonical")


def test_mode_including_runs_an_extra_rewrite_at_fast_compile():
    x = T.dvector("x")
    mode = Mode(optimizer="fast_compile").including("local_pow_specialize")
    f = theano.function([x], x**2, mode=mode)
    assert _scalar_ops(f) == ["Sqr"]
    assert _scalar_ops(theano.function([x], x**2, mode="FAST_COMPILE")) == ["Pow"]


def test_excluding_returns_a_new_mode():
    m = Mode(optimizer="fast_run")
    m2 = m.excluding("fusion")
    assert m.exclude == () and m2.exclude == ("fusion",) and m2.optimizer == "fast_run"
    assert m2.including("fusion").include == ("fusion",)


# ------------------------------------------------------------ log and verbose output
def test_rewrite_log_records_what_fired():
    x, out = _graph()
    f = theano.function([x], out)
    log = f.maker.fgraph.rewrite_log
    counts = log.counts()
    assert counts["local_log_one_plus_to_log1p"] == 1
    assert counts["local_elemwise_fusion"] == 1
    assert counts["merge"] >= 1
    assert ("local_log_one_plus_to_log1p", "Elemwise{Log}") in log.entries
    assert log.seconds["total"] >= log.seconds["canonicalize"] >= 0


def test_optimizer_verbose_prints_each_rewrite(capsys):
    x = T.dvector("x")
    with config.change_flags(optimizer_verbose=True):
        theano.function([x], T.log(1 + x))
    err = capsys.readouterr().err
    assert "local_log_one_plus_to_log1p" in err and "Log" in err
    theano.function([x], T.log(1 + x))
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------ errors still name the user's line
def test_shape_mismatch_in_a_fused_node_names_the_user_line():
    x, y = T.dmatrices("x", "y")
    out = T.tanh(T.exp(x) * 2 + T.sin(y))  # the line the error must name
    f = theano.function([x, y], out)
    assert _n_fused(f) == 1
    with pytest.raises(ValueError) as info:
        f(np.ones((3, 4)), np.ones((3, 5)))
    msg = str(info.value)
    assert os.path.basename(__file__) in msg
    assert "out = T.tanh(T.exp(x) * 2 + T.sin(y))  # the line the error must name" in msg
    assert "Composite" in msg and "(3, 4)" in msg and "(3, 5)" in msg


def test_fused_node_remembers_the_lines_of_every_fused_expression():
    x = T.dvector("x")
    a = T.exp(x) + 1  # first line
    b = T.sin(a) * 2  # second line
    f = theano.function([x], b)
    (node,) = f.maker.fgraph.toposort()
    lines = {t[1] for t in node.tag.fused_traces}
    src = open(__file__).read().splitlines()
    assert {src[n - 1].split("#")[-1].strip() for n in lines} == {"first line", "second line"}


def test_rewritten_node_inherits_the_user_line():
    x = T.dvector("x")
    out = T.log(1 + x)  # log1p line
    f = theano.function([x], out, mode="FAST_COMPILE")
    (node,) = f.maker.fgraph.toposort()
    fn, line, _ = node.tag.trace
    assert os.path.basename(fn) == os.path.basename(__file__)
    assert "# log1p line" in open(__file__).read().splitlines()[line - 1]


# ------------------------------------------------------------ the framework itself
class _Twice(Op):
    """x * 2, as an op of its own so that test rewrites touch nothing else."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 2


@pytest.fixture
def temporary_rewriter():
    """Register a rewriter of ``_Twice`` nodes for one test."""
    made = []

    def register(fn, phase="canonicalize"):
        rewriting.node_rewriter([_Twice], phase=phase)(fn)
        made.append(fn.rewriter)
        return fn

    yield register
    for rw in made:
        rewriting._REGISTRY[rw.phase].remove(rw)
        del rewriting._BY_NAME[rw.name]


def test_a_failing_rewrite_is_skipped_with_a_warning(temporary_rewriter):
    def local_twice_broken(fgraph, node):
        """twice(x) -> boom"""
        raise RuntimeError("boom")

    temporary_rewriter(local_twice_broken)
    x = T.dvector("x")
    with pytest.warns(UserWarning, match="rewrite local_twice_broken failed.*boom"):
        f = theano.function([x], _Twice()(x))
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])


def test_a_rewrite_returning_the_wrong_number_of_outputs_is_an_error(temporary_rewriter):
    def local_twice_two_results(fgraph, node):
        """twice(x) -> (x, x)"""
        return [node.inputs[0], node.inputs[0]]

    temporary_rewriter(local_twice_two_results)
    x = T.dvector("x")
    with pytest.raises(ValueError, match="returned 2 replacements for 1 outputs"):
        theano.function([x], _Twice()(x))


def test_a_rewrite_that_never_settles_warns_about_the_fixed_point(temporary_rewriter):
    def local_twice_forever(fgraph, node):
        """twice(x) -> twice(x), a new node every time"""
        return [_Twice()(node.inputs[0])]

    temporary_rewriter(local_twice_forever)
    x = T.dvector("x")
    with pytest.warns(UserWarning, match="did not reach a fixed point"):
        theano.function([x], _Twice()(x))


def test_a_registered_rewrite_runs_in_its_phase_and_is_logged(temporary_rewriter):
    def local_twice_to_add(fgraph, node):
        """twice(x) -> x + x"""
        return [node.inputs[0] + node.inputs[0]]

    temporary_rewriter(local_twice_to_add, phase="specialize")
    x = T.dvector("x")
    f = theano.function([x], _Twice()(x))
    assert f.maker.fgraph.rewrite_log.counts()["local_twice_to_add"] == 1
    assert not any(isinstance(n.op, _Twice) for n in f.maker.fgraph.toposort())
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])
    g = theano.function([x], _Twice()(x), mode=Mode(optimizer="fast_run").excluding("specialize"))
    assert any(isinstance(n.op, _Twice) for n in g.maker.fgraph.toposort())


def test_an_unknown_phase_is_rejected():
    with pytest.raises(ValueError, match="unknown phase 'late'"):
        rewriting.node_rewriter([_Twice], phase="late")
