"""No option is accepted and ignored: every config option, mode name and mode argument changes something."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import nettrain as theano
from nettrain import config
from nettrain import tensor as T
from nettrain.backends.c import linker as c_linker
from nettrain.compile.mode import MODE_NAMES, Mode, get_default_mode, get_mode
from nettrain.configdefaults import EFFECTS

needs_c = pytest.mark.skipif(not c_linker.usable(), reason="needs a C compiler")


def _fn(mode=None, **kw):
    x = T.dvector("x")
    return theano.function([x], (T.exp(x) * 2 + 1).sum(), mode=mode, **kw)


def _n_nodes(f):
    return len(f.maker.fgraph.toposort())


# one check per option: it sets the option (through change_flags) and asserts a visible effect
def floatX():
    with config.change_flags(floatX="float32"):
        assert T.as_tensor_variable(1.5).dtype == "float32" and T.matrix().dtype == "float32"
    assert T.matrix().dtype == "float64"


@needs_c
def device():
    with config.change_flags(device="cuda", cuda_runtime="emulator"):
        assert _fn()._linker.name == "cuda"
    assert _fn()._linker.name != "cuda"


def nvcc(tmp_path):
    from nettrain.backends.cuda.nvcc import nvcc_path

    fake = tmp_path / "my-nvcc"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    with config.change_flags(nvcc=str(fake)):
        assert nvcc_path() == str(fake)


def cuda_arch():
    from nettrain.backends.cuda.runtime import get_runtime

    with config.change_flags(device="cuda", cuda_runtime="auto", cuda_arch="sm_80"):
        rt = get_runtime()
        if rt is None or rt.arch == "host":
            pytest.skip("cuda_arch is read by the GPU runtimes only (no GPU here)")
        assert rt.arch == "sm_80"


@needs_c
def cuda_runtime():
    from nettrain.backends.cuda.runtime import get_runtime

    with config.change_flags(device="cuda", cuda_runtime="emulator"):
        assert get_runtime().arch == "host"


def mode():
    for name in MODE_NAMES:
        with config.change_flags(mode=name):
            m = get_default_mode()
            assert m.name == name or (name == "FAST_RUN" and m.optimizer == config.optimizer)
    with config.change_flags(mode="FAST_COMPILE"):
        assert get_default_mode().linker == "py"


def linker():
    with config.change_flags(linker="py"):
        assert _fn()._linker.name == "py"


def optimizer():
    with config.change_flags(optimizer="None"):
        n_plain = _n_nodes(_fn())
    assert _n_nodes(_fn()) < n_plain


def optimizer_excluding():
    with config.change_flags(optimizer_excluding="fusion"):
        n = _n_nodes(_fn())
    assert _n_nodes(_fn()) < n


def optimizer_including():
    from nettrain.graph import rewriting

    with config.change_flags(optimizer="merge"):
        n_merge = _n_nodes(_fn())
        with config.change_flags(optimizer_including="fusion"):
            assert rewriting.select_rewriters("fuse", "merge", ("fusion",)) != rewriting.select_rewriters("fuse",
                                                                                                        "merge")
            assert _n_nodes(_fn()) < n_merge


def optimizer_verbose(capsys):
    with config.change_flags(optimizer_verbose=True):
        _fn()
    assert "local_elemwise_fusion replaces" in capsys.readouterr().err


def base_compiledir(tmp_path):
    with config.change_flags(base_compiledir=str(tmp_path)):
        assert config.compiledir == os.path.join(str(tmp_path), "compiledir")


@needs_c
def compiledir(tmp_path):
    with config.change_flags(compiledir=str(tmp_path)):
        x = T.dvector("x")
        theano.function([x], T.sin(x) * 3.25 + T.cos(x), mode=Mode(linker="c"))
    assert os.listdir(str(tmp_path))


def exception_verbosity():
    x = T.dvector("x")
    f = theano.function([x], T.dot(x, T.ones((3, 3)).sum(0)), mode=Mode(linker="py"))
    msgs = []
    for level in ("low", "high"):
        with config.change_flags(exception_verbosity=level):
            with pytest.raises(ValueError) as info:
                f(np.ones(2))
            msgs.append(str(info.value))
    assert "Input values:" not in msgs[0] and "Input values:" in msgs[1] and "min 1, max 1, mean 1" in msgs[1]


def on_unused_input():
    x, y = T.dvectors("x", "y")
    with config.change_flags(on_unused_input="ignore"):
        theano.function([x, y], x * 2)
    with pytest.raises(ValueError):
        theano.function([x, y], x * 2)


def allow_gc():
    def live(f):
        f(np.ones(3))
        return sum(c[0] is not None for v, c in f.storage_map.items() if v.owner is not None
                   and v not in f.maker.fgraph.outputs)  # fmt: skip

    with config.change_flags(allow_gc=False):
        kept = live(_fn(mode=Mode(linker="py", optimizer=None)))
    assert kept > 0 and live(_fn(mode=Mode(linker="py", optimizer=None))) == 0


def compute_test_value():
    x = T.dvector("x")
    x.tag.test_value = np.zeros(2)
    with config.change_flags(compute_test_value="raise"):
        assert T.exp(x).tag.test_value.tolist() == [1.0, 1.0]


def warn_float64():
    x = T.dvector("x")
    with config.change_flags(warn_float64="warn"):
        with pytest.warns(UserWarning, match="float64 output"):
            T.exp(x)
    with config.change_flags(warn_float64="raise"):
        with pytest.raises(TypeError, match="float64 output"):
            T.exp(x)
        T.exp(T.fvector())  # float32 is fine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.exp(x)


def cast_policy():
    with pytest.raises(NotImplementedError, match="numpy\\+floatX"):
        config.cast_policy = "custom"
    assert config.cast_policy == "numpy+floatX"


def profile():
    with config.change_flags(profile=True):
        assert _fn().profile is not None
    assert _fn().profile is None


@needs_c
def cxx():
    from nettrain.backends import get_linker

    with config.change_flags(cxx=""):
        assert get_linker("auto").name == "py"
    assert get_linker("auto").name == "c"


@needs_c
def openmp():
    from nettrain.backends.c.compiler import compile_flags, openmp_works

    if not openmp_works():
        pytest.skip("the compiler has no OpenMP")
    with config.change_flags(openmp=False):
        assert "-fopenmp" not in compile_flags()
    assert "-fopenmp" in compile_flags()


@needs_c
def deterministic():
    from nettrain.backends.cuda import testing as ct

    def host_inputs():
        x, rows = T.fmatrix("x"), T.lvector("rows")
        idx = rows * 2  # computed on the device
        f = theano.function([x, rows], T.inc_subtensor(x[idx], T.ones((2, 3), "float32")))
        (k,) = [k for n, k in f._linker.last_placement.items() if type(n.op).__name__ == "AdvancedIncSubtensor1"]
        out = f(np.zeros((5, 3), np.float32), np.array([0, 0]))
        np.testing.assert_array_equal(out[0], [2, 2, 2])
        return set(k.host_inputs)

    with ct.emulated():
        assert 2 not in host_inputs()
        with config.change_flags(deterministic="more"):
            assert 2 in host_inputs()


def blas_threads():
    from nettrain.backends import threads

    x = T.dmatrix("x")
    for n in (1, 2):
        with config.change_flags(blas_threads=n):
            theano.function([x], T.dot(x, x))
            assert threads.current_count() == n
    with pytest.raises(ValueError, match="blas_threads"):
        config.blas_threads = -1


def print_global_stats():
    code = "import nettrain as theano, nettrain.tensor as T\nx = T.dvector('x')\ntheano.function([x], x * 2)\n"
    env = dict(os.environ, NETTRAIN_FLAGS="print_global_stats=True")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Global profile: 0 profiled function(s) called; 1 function(s) compiled" in r.stderr


CHECKS = {f.__name__: f for f in [floatX, device, nvcc, cuda_arch, cuda_runtime, mode, linker, optimizer,
                                  optimizer_excluding, optimizer_including, optimizer_verbose, base_compiledir,
                                  compiledir, exception_verbosity, on_unused_input, allow_gc, compute_test_value,
                                  warn_float64, cast_policy, profile, cxx, openmp, blas_threads, deterministic,
                                  print_global_stats]}  # fmt: skip


def test_every_option_is_documented_and_checked():
    options = set(dir(config))
    assert set(EFFECTS) == options, "document every option in configdefaults.EFFECTS"
    no_effect = {n for n, what in EFFECTS.items() if what.startswith("no effect")}
    assert no_effect == {n for n in options if n.startswith("warn__")}, "only Theano's warn.* flags may do nothing"
    assert set(CHECKS) == options - no_effect, "add a check of the option's effect to CHECKS"


def test_theano_warn_flags_are_accepted_and_change_nothing():
    x = T.dvector("x")
    expected = theano.function([x], T.round(x * 2.5))(np.array([1.0, 3.0]))
    flags = {n: True for n in dir(config) if n.startswith("warn__") and n != "warn__ignore_bug_before"}
    with config.change_flags(**flags):
        config.warn.round = True  # Theano's dotted spelling
        np.testing.assert_array_equal(theano.function([x], T.round(x * 2.5))(np.array([1.0, 3.0])), expected)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_option_has_an_effect(name, request):
    check = CHECKS[name]
    args = [request.getfixturevalue(a) for a in check.__code__.co_varnames[: check.__code__.co_argcount]]
    marks = getattr(check, "pytestmark", [])
    for m in marks:
        if m.name == "skipif" and m.args[0]:
            pytest.skip(m.kwargs.get("reason", ""))
    check(*args)


def test_every_mode_name_gives_a_different_mode():
    from nettrain.compile.debugmode import DebugMode
    from nettrain.compile.nanguardmode import NanGuardMode

    assert set(MODE_NAMES) == set(config._options["mode"].choices)
    modes = {n: get_mode(n) for n in MODE_NAMES}
    assert isinstance(modes["DebugMode"], DebugMode) and isinstance(modes["NanGuardMode"], NanGuardMode)
    assert modes["FAST_COMPILE"].linker == "py" and modes["FAST_COMPILE"].optimizer == "fast_compile"
    assert modes["FAST_RUN"].optimizer == "fast_run"
    assert type(modes["Mode"]) is Mode and type(modes["FAST_RUN"]) is Mode
    with pytest.raises(ValueError, match="unknown mode 'DEBUG_MODE'; use one of FAST_RUN"):
        get_mode("DEBUG_MODE")


def test_mode_arguments_each_change_the_compiled_function():
    x = T.dvector("x")
    out = T.exp(x) * 2 + 1
    plain = theano.function([x], out, mode=Mode(linker="py"))
    assert theano.function([x], out, mode=Mode(linker="py", optimizer=None))._linker.name == "py"
    assert _n_nodes(theano.function([x], out, mode=Mode(linker="py").excluding("fusion"))) > _n_nodes(plain)
    merge = Mode(linker="py", optimizer="merge")
    assert _n_nodes(theano.function([x], out, mode=merge.including("fusion"))) < _n_nodes(
        theano.function([x], out, mode=merge))
    with pytest.raises(NotImplementedError, match="optimizer="):
        from nettrain.compile.nanguardmode import NanGuardMode

        NanGuardMode(db=object())
