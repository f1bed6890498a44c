import os
import subprocess
import sys

import pytest

import nettrain
import nettrain.tensor as T
from nettrain import config


def _run(code, **env):
    e = dict(os.environ)
    e.pop("THEANO_FLAGS", None)
    e.pop("NETTRAIN_FLAGS", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)


def test_plain_assignment_changes_floatx_for_new_variables():
    old = config.floatX
    try:
        config.floatX = "float32"
        assert T.matrix("m").dtype == "float32"
        assert T.constant(1.5).dtype == "float32"
    finally:
        config.floatX = old
    assert T.matrix("m").dtype == old


def test_change_flags_is_a_context_manager_and_a_decorator():
    with config.change_flags(floatX="float32"):
        assert config.floatX == "float32"
    assert config.floatX == "float64"

    @config.change_flags(floatX="float32")
    def f():
        return T.vector().dtype

    assert f() == "float32" and config.floatX == "float64"


def test_invalid_values_and_unknown_options_are_rejected_with_the_choices():
    with pytest.raises(ValueError, match="float64"):
        config.floatX = "float128"
    with pytest.raises(AttributeError, match="known options"):
        config.floatx = "float32"
    with pytest.raises(AttributeError, match="no option"):
        _ = config.not_an_option


def test_nettrain_flags_environment_variable_is_read_at_import():
    r = _run(
        "import nettrain; print(nettrain.config.floatX, nettrain.config.optimizer)",
        NETTRAIN_FLAGS="floatX=float32,optimizer=fast_compile",
    )
    assert r.stdout.split() == ["float32", "fast_compile"], r.stderr


def test_theano_flags_are_honoured_and_nettrain_flags_win():
    r = _run(
        "import nettrain; print(nettrain.config.floatX, nettrain.config.device)",
        THEANO_FLAGS="floatX=float32,device=cpu",
        NETTRAIN_FLAGS="floatX=float64",
    )
    assert r.stdout.split() == ["float64", "cpu"], r.stderr


def test_bad_flag_in_environment_names_the_variable():
    r = _run("import nettrain", NETTRAIN_FLAGS="floatX=float7")
    assert r.returncode != 0 and "floatX" in r.stderr


def test_compiledir_defaults_under_base_compiledir():
    assert config.compiledir.startswith(config.base_compiledir)
    with config.change_flags(base_compiledir="/tmp/nt-cache"):
        assert config.compiledir.startswith("/tmp/nt-cache")


def test_module_level_change_flags_alias():
    with nettrain.change_flags(on_unused_input="ignore"):
        assert config.on_unused_input == "ignore"


def test_theano_warn_flags_are_reachable_as_a_dotted_section():
    # DeepLearningTutorials' rnnrbm: theano.config.warn.subtensor_merge_bug = False
    import nettrain

    with nettrain.config.change_flags(warn__subtensor_merge_bug=True):
        assert nettrain.config.warn.subtensor_merge_bug is True
        nettrain.config.warn.subtensor_merge_bug = False
        assert nettrain.config.warn__subtensor_merge_bug is False
    assert "round" in dir(nettrain.config.warn)
    with pytest.raises(AttributeError, match="warn__no_such_bug"):
        nettrain.config.warn.no_such_bug = False
    with pytest.raises(ValueError, match="boolean"):
        nettrain.config.warn.round = "maybe"
