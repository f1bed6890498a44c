"""A function's kernels compiled by several compiler processes at once (compiler.run_compiler's parts)."""

import os
import threading
import time

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain import config
from nettrain.backends.c import cache, compiler
from nettrain.backends.c.compiler import PART, CompileError, available, in_background, part_groups

pytestmark = [pytest.mark.c, pytest.mark.skipif(not available(), reason="no working C compiler")]


@pytest.fixture
def compiledir(tmp_path):
    d = str(tmp_path / "cache")
    cache._valid.clear()
    with config.change_flags(compiledir=d):
        yield d
    cache._fallback.pop(d, None)


@pytest.fixture
def two_groups(monkeypatch):
    """Two compiler processes per build, even for small sources."""
    monkeypatch.setattr(compiler, "_cores", lambda: 2)
    monkeypatch.setattr(compiler, "PART_GROUP_MIN", 1)


def test_parts_are_dealt_out_whole_once_each_behind_the_head_in_source_order(two_groups):
    parts = ["int a%d(void){return %d;}" % (i, i) + " " * (1000 * i) for i in range(5)]
    source = "HEAD" + "".join(PART + p for p in parts)
    groups = part_groups(source, 2)
    # largest first to the group with less source: 4 -> A, 3 -> B, 2 -> B, 1 -> A, 0 -> A (a tie: the first)
    assert groups == ["HEAD" + PART + parts[0] + PART + parts[1] + PART + parts[4],
                      "HEAD" + PART + parts[2] + PART + parts[3]]  # fmt: skip
    assert part_groups(source, 2) == groups  # the same texts every time
    assert len(part_groups(source, 9)) == 5  # never more groups than parts
    assert part_groups(source, 1) == [source]
    assert part_groups("no marks at all", 4) == ["no marks at all"]


def test_small_sources_stay_one_compiler_run():
    source = "H" + PART + "int a(void){return 1;}" + PART + "int b(void){return 2;}"
    assert part_groups(source, 2) == [source]  # below PART_GROUP_MIN per process


def test_function_built_in_two_parts_computes_what_numpy_does(compiledir, two_groups, monkeypatch):
    runs, run = [], compiler._run
    monkeypatch.setattr(compiler, "_run", lambda cmds: (runs.append(cmds), run(cmds))[1])
    x, w = T.fmatrix("x"), T.fmatrix("w")
    h = T.nnet.relu(T.dot(x, w) + 1)
    cost = T.nnet.softmax(h).max(axis=1).sum() + T.tanh(h).mean()
    f = theano.function([x, w], [cost, T.grad(cost, w)], mode=theano.Mode(linker="c"))
    rng = np.random.default_rng(0)
    xv, wv = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    g = theano.function([x, w], [cost, T.grad(cost, w)], mode=theano.Mode(linker="py"))
    for a, b in zip(f(xv, wv), g(xv, wv)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # two compiler processes at once, each making an object file, then one link
    runs = [c for c in runs if "_ntfast" not in " ".join(c[0])]  # the call path's own build (a fresh cache)
    assert [len(c) for c in runs] == [2, 1]
    assert all("-c" in c and "-shared" not in c for c in runs[0]) and "-shared" in runs[1][0]
    entries = [os.path.join(r, n) for r, _, files in os.walk(compiledir) for n in files]
    libs = [e for e in entries if e.endswith("lib.so")]
    assert libs, "no kernel library was built"
    with open(os.path.join(os.path.dirname(libs[0]), "mod.c")) as fh:
        assert fh.read().count(PART) >= 2  # it was a source of parts
    # the entry keeps the library, its source and meta only: no part sources or objects
    assert not [e for e in entries if ".part" in os.path.basename(e)]


def test_a_part_that_does_not_compile_names_its_command_and_stops_the_other(tmp_path, two_groups):
    good = "int good(void){return 0;}\n" + "/* padding */\n" * 50
    bad = "int broken(void){ return undeclared_name; }\n" + "/* padding */\n" * 50
    src = tmp_path / "mod.c"
    src.write_text("#include <stdint.h>" + PART + good + PART + bad)
    with pytest.raises(CompileError, match="undeclared_name") as e:
        compiler.run_compiler(str(src), str(tmp_path / "lib.so"))
    assert "mod.part" in str(e.value)  # the failing part's command
    assert sorted(os.listdir(tmp_path)) == ["mod.c"]  # no part sources, objects or library left


def test_in_background_until_started_returns_once_the_compiler_runs(tmp_path):
    order = []

    def build():
        time.sleep(0.05)
        compiler._started()  # what run_compiler does right after starting its processes
        order.append("started")
        time.sleep(0.05)
        order.append("done")
        return 7

    wait = in_background(build, "test-build", until_started=True)
    order.append("caller")
    assert wait() == 7
    assert order.index("started") < order.index("caller")


def test_in_background_reraises_in_the_caller_and_never_hangs_until_started():
    def fails():
        raise ValueError("boom")

    wait = in_background(fails, "test-fail", until_started=True)  # fails before starting anything
    with pytest.raises(ValueError, match="boom"):
        wait()
    assert not [t for t in threading.enumerate() if t.name == "test-fail" and t.is_alive()]
