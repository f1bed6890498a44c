"""BLAS / OpenMP thread count: where it comes from, that it is applied, and that results do not depend on it."""

import os

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.backends import threads
from nettrain.backends.c.compiler import openmp_works
from nettrain.backends.c.linker import usable

threadpoolctl = pytest.importorskip("threadpoolctl")


def test_cgroup_v2_quota_is_read_from_the_process_cgroup(tmp_path):
    (tmp_path / "proc").write_text("0::/job\n")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads._cgroup_quota(str(tmp_path), str(tmp_path / "proc")) == 1.5


def test_cgroup_v1_quota_and_unlimited(tmp_path):
    (tmp_path / "proc").write_text("4:cpu,cpuacct:/\n")
    d = tmp_path / "cpu,cpuacct"
    d.mkdir()
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    assert threads._cgroup_quota(str(tmp_path), str(tmp_path / "proc")) is None
    (d / "cpu.cfs_quota_us").write_text("100000\n")
    assert threads._cgroup_quota(str(tmp_path), str(tmp_path / "proc")) == 1.0


def test_available_cores_is_capped_by_the_quota(monkeypatch):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(threads, "_quota_once", lambda: None)
    assert threads.available_cores() == affinity
    monkeypatch.setattr(threads, "_quota_once", lambda: 0.5)  # half a CPU still gets one thread
    assert threads.available_cores() == 1


def test_blas_threads_option_is_validated():
    with pytest.raises(ValueError, match="blas_threads must be >= 0"):
        theano.config.blas_threads = -1
    with pytest.raises(ValueError, match="blas_threads must be an integer"):
        theano.config.blas_threads = "two"


def _counts():
    counts = threads.current()
    blas = {v for k, v in counts.items() if not k.startswith("openmp")}
    return blas, {v for k, v in counts.items() if k.startswith("openmp")}


def test_compiling_a_function_sets_the_thread_counts():
    x = T.dmatrix("x")
    split = usable() and openmp_works()  # C kernels with OpenMP: they split GEMMs, BLAS runs one thread
    for n in (1, 2):
        with theano.config.change_flags(blas_threads=n):
            theano.function([x], T.dot(x, x))
            blas, omp = _counts()
        assert blas == ({1} if split else {n}), threads.current()
        if split:
            assert omp == {n}, threads.current()
    theano.function([x], T.dot(x, x))  # back to the default
    assert _counts()[1 if split else 0] == {threads.available_cores()}


@pytest.mark.c
@pytest.mark.skipif(not usable(), reason="needs a C compiler and cffi")
def test_results_are_identical_with_one_or_two_threads():
    """Elementwise, reductions, pooling, softmax, and the products (dot, conv2d through im2col + gemm, split in
    bands of single-threaded BLAS calls): each output element is computed by one thread, in the same order
    whatever the thread count."""
    rng = np.random.default_rng(0)
    x, v = T.fmatrix("x"), T.fvector("v")
    img = T.tensor("float32", shape=(None, 3, None, None), name="img")
    w = T.tensor("float32", shape=(4, 3, 3, 3), name="w")
    outs = [T.tanh(x) * 2 + x, T.exp(x).sum(axis=1), (x * x).sum(axis=0), x.max(axis=1), T.log1p(abs(x)).mean(),
            T.signal.pool.pool_2d(T.nnet.relu(T.nnet.conv2d(img, w)), (2, 2), ignore_border=True).sum(axis=(2, 3)),
            T.nnet.softmax(x[:64]), v * 3, T.dot(x[:128, :784], x[:784, :512]), T.dot(x[:37, :1001].T, x[:37, :53]),
            *T.grad((T.nnet.conv2d(img, w) ** 2).sum() + (T.dot(x[:64, :2048], x[:, :300]) ** 2).sum(), [w, x])]
    args = [rng.normal(size=(2048, 2100)).astype("float32"), rng.normal(size=1 << 22).astype("float32"),
            rng.normal(size=(4, 3, 400, 400)).astype("float32"), rng.normal(size=(4, 3, 3, 3)).astype("float32")]
    results = {}
    for n in (1, 2):
        with theano.config.change_flags(blas_threads=n):
            f = theano.function([x, v, img, w], outs, mode=theano.Mode(linker="c"))
            if openmp_works():
                assert {c for k, c in threads.current().items() if k.startswith("openmp")} == {n}
            results[n] = f(*args)
    assert len(results[1]) == 12
    for a, b in zip(results[1], results[2]):
        assert np.array_equal(a, b)


def test_train_threads_flag_rejects_a_bad_count(capsys):
    from nettrain.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "recipes/digits_mlp.py", "--threads", "0"])
    assert e.value.code == 2
    assert "argument --threads: expected a number of threads >= 1, got '0'" in capsys.readouterr().err


@pytest.mark.c
@pytest.mark.skipif(not usable() or not openmp_works(), reason="needs a C compiler with OpenMP")
def test_the_openmp_flag_is_part_of_the_compile_cache_key():
    from nettrain.backends.c.cache import cache_key

    src = "int f(void) { return 1; }"
    on = cache_key(src)
    with theano.config.change_flags(openmp=False):
        off = cache_key(src)
    assert on != off and cache_key(src) == on
