"""The seed's five code samples run unchanged and print the right values."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _examples():
    spec = importlib.util.spec_from_file_location("seed_examples", ROOT / "examples" / "seed_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_addition_example():
    assert float(_examples().addition()) == 4.0


def test_matrix_multiplication_example():
    np.testing.assert_array_equal(_examples().matrix_multiplication(), [[19.0, 22.0], [43.0, 50.0]])


def test_gradient_example():
    z, dz_dx = _examples().gradient()
    assert float(z) == 6.0 and float(dz_dx) == 3.0


def _numpy_network(p, X, y):
    """Forward and backward pass of the seed's network, by hand in NumPy."""
    h_pre = X @ p["W1"] + p["b1"]
    h = 1 / (1 + np.exp(-h_pre))
    logits = h @ p["W2"] + p["b2"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    sm = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    cost = -np.log(sm[np.arange(n), y]).mean()
    d_logits = sm.copy()
    d_logits[np.arange(n), y] -= 1
    d_logits /= n
    gW2 = h.T @ d_logits
    gb2 = d_logits.sum(axis=0)
    d_h = d_logits @ p["W2"].T * h * (1 - h)
    gW1 = X.T @ d_h
    gb1 = d_h.sum(axis=0)
    return cost, gW1, gb1, gW2, gb2


def test_neural_network_example_matches_numpy():
    got, params, (X, y) = _examples().neural_network(seed=0)
    want = _numpy_network(params, X, y)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_broadcasting_example():
    np.testing.assert_array_equal(_examples().broadcasting(), [[11, 22], [13, 24], [15, 26]])


def test_examples_script_runs_and_prints():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "seed_examples.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "z: 6.0" in r.stdout and "dz/dx: 3.0" in r.stdout and "Cost:" in r.stdout
    assert "[[19. 22.]" in r.stdout
