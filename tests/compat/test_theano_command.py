"""``python -m nettrain.compat.theano``: scripts, modules and pytest run with ``import theano`` resolved to nettrain."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nettrain
from nettrain.compat import theano as compat_theano

ROOT = str(Path(nettrain.__file__).resolve().parents[1])


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "nettrain.compat.theano", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_script_that_imports_theano_runs_on_nettrain_with_its_arguments(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import theano
        import theano.tensor as T
        from theano.tensor.nnet import sigmoid
        x = T.dvector('x')
        f = theano.function([x], sigmoid(x).sum() * float(sys.argv[1]))
        print(theano.__name__, T.__name__, sys.argv[1:], f(np.zeros(4)))
    """))
    r = _run([str(script), "2", "--flag"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["nettrain", "nettrain.tensor", "['2',", "'--flag']", "4.0"]


def test_pytest_runs_through_the_command(tmp_path):
    (tmp_path / "test_uses_theano.py").write_text(textwrap.dedent("""
        import theano
        from theano import tensor as T

        def test_add():
            a, b = T.dscalars('a', 'b')
            assert theano.function([a, b], a + b)(1.0, 2.0) == 3.0

        def test_fails():
            assert theano.config.floatX == 'no such dtype'
    """))
    r = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_uses_theano.py"], tmp_path)
    assert "1 failed, 1 passed" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1


def test_dash_c_runs_code(tmp_path):
    r = _run(["-c", "import theano.gof.graph as g; print(g.__name__)"], tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "nettrain.gof.graph", r.stderr


def test_bad_usage_is_exit_status_2_with_a_message(tmp_path, capsys):
    assert compat_theano.main([str(tmp_path / "missing.py")]) == 2
    assert "missing.py" in capsys.readouterr().err
    assert compat_theano.main(["-m"]) == 2 and "-m needs a module name" in capsys.readouterr().err
    assert compat_theano.main(["--bogus"]) == 2 and "unknown option" in capsys.readouterr().err
    assert compat_theano.main([]) == 2 and "usage" in capsys.readouterr().out


def test_install_in_process_gives_the_same_module_objects():
    compat_theano.install()
    try:
        import theano
        import theano.tensor.nnet.abstract_conv as ac
        from theano.tensor import nnet

        assert theano is nettrain and nnet is nettrain.tensor.nnet
        assert ac is nettrain.tensor.nnet.abstract_conv
        # the modules keep their own names (pickling, repr)
        assert nettrain.__spec__.name == "nettrain" and nnet.__name__ == "nettrain.tensor.nnet"
        # importing a module whose name is also a function of its package keeps the function
        from theano.tensor.sort import argsort  # noqa: F401
        import theano.tensor.var  # noqa: F401

        assert callable(nettrain.tensor.sort) and callable(nettrain.tensor.var)
        from theano.tensor.var import TensorVariable

        assert TensorVariable is nettrain.tensor.TensorVariable
        with pytest.raises(ModuleNotFoundError, match="theano.no_such_module"):
            import theano.no_such_module  # noqa: F401
    finally:
        compat_theano.uninstall()
    assert "theano" not in sys.modules
    assert not any(getattr(f, "alias", None) == "theano" for f in sys.meta_path)


def test_python_processes_started_by_the_program_resolve_theano_too(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import subprocess, sys
        out = subprocess.run([sys.executable, "-c", "import theano.tensor as T; print(T.__name__)"],
                             capture_output=True, text=True)
        print(out.stdout.strip(), out.stderr.strip()[-300:])
    """))
    r = _run([str(script)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "nettrain.tensor"
