"""nettrain benchmarks: medians and same-run ratios against NumPy (and PyTorch / PyTensor when installed).

Usage::

    python scripts/bench.py                 # everything
    python scripts/bench.py --only overhead fused rnn
    python scripts/bench.py --repeat 20

Every row reports the median of ``--repeat`` timed runs after a warm-up.
Ratios are ``time / NumPy time`` measured in the same run (lower is better).
Speed is shown here, never asserted in tests.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import nettrain as theano  # noqa: E402
import nettrain.tensor as T  # noqa: E402


#: seconds each row runs before it is timed: an idle vCPU here comes back slow (a train step of 3.3 ms took
#: 4.5 ms for its first ~40 ms of calls after a 0.5 s pause), so one warm-up call is not enough
WARMUP = 0.2


def _median_time(fn, repeat, number=1):
    end = time.perf_counter() + WARMUP
    fn()
    while time.perf_counter() < end:
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def _numpy_time(fn, repeat, number=1):
    """``_median_time`` with NumPy's BLAS at the thread count nettrain uses for its own kernels.

    Once nettrain's OpenMP kernels are loaded, BLAS runs one thread (nettrain splits its GEMMs over its
    own threads); NumPy baselines get their BLAS threads back for the timing.
    """
    from threadpoolctl import threadpool_limits

    from nettrain.backends.threads import wanted_threads

    with threadpool_limits(wanted_threads(), user_api="blas"):
        t = _median_time(fn, repeat, number)
    # OpenBLAS's workers spin ~0.15 s on the other cores after their last call before they sleep: timed inside
    # that window, nettrain's OpenMP threads share their cores with them (LeNet b64 on 2 threads: 24 ms at first,
    # 12 ms from 0.15 s on)
    time.sleep(0.3)
    return t


def _optional(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - an optional comparison that cannot be imported is skipped
        return None


def _linkers():
    from nettrain.backends import _LINKERS

    return [n for n in ("py", "c") if n in _LINKERS]


class Table:
    def __init__(self):
        self.rows = []

    def add(self, workload, impl, seconds, base=None, note=""):
        self.rows.append((workload, impl, seconds, seconds / base if base else None, note))

    def render(self):
        lines = ["| workload | implementation | median | vs NumPy | note |", "|---|---|---|---|---|"]
        for w, i, s, r, n in self.rows:
            lines.append("| %s | %s | %s | %s | %s |" % (w, i, _fmt(s), "%.2fx" % r if r else "—", n))
        return "\n".join(lines)


def _fmt(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return "%.2f µs" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


# ------------------------------------------------------------------ machine
def bench_machine(table, repeat):
    a = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB
    b = np.empty_like(a)
    t = _median_time(lambda: np.copyto(b, a), repeat)
    table.add("memory copy 64 MiB", "NumPy", t, note="%.1f GB/s (read+write)" % (2 * a.nbytes / t / 1e9))
    n = 2048
    x = np.random.default_rng(0).random((n, n), dtype=np.float32)
    t = _numpy_time(lambda: x @ x, repeat)
    table.add("GEMM 2048² float32", "NumPy", t, note="%.0f GFLOP/s" % (2 * n**3 / t / 1e9))


# ------------------------------------------------------------ call overhead
def bench_overhead(table, repeat):
    a, b = T.dscalars("a", "b")
    va, vb = np.float64(1.0), np.float64(2.0)
    base = _median_time(lambda: np.add(va, vb), repeat, number=20000)
    table.add("call overhead a+b (scalars)", "NumPy", base, base)
    for linker in _linkers():
        f = theano.function([a, b], a + b, mode=theano.Mode(linker=linker))
        table.add("call overhead a+b (scalars)", "nettrain (%s)" % linker,
                  _median_time(lambda f=f: f(va, vb), repeat, number=20000), base)  # fmt: skip
    torch = _optional("torch")
    if torch is not None:
        ta, tb = torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
        table.add("call overhead a+b (scalars)", "PyTorch eager", _median_time(lambda: ta + tb, repeat, 20000), base)
    pt = _optional("pytensor")
    if pt is not None:
        import pytensor.tensor as ptt

        pa, pb = ptt.dscalars("a", "b")
        pf = pt.function([pa, pb], pa + pb)
        table.add("call overhead a+b (scalars)", "PyTensor", _median_time(lambda: pf(va, vb), repeat, 20000), base)


# ------------------------------------------------------- fused elementwise
def bench_fused(table, repeat):
    n = 10_000_000
    rng = np.random.default_rng(0)
    xv, yv = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)

    def numpy_fn():
        return np.exp(-xv * xv) * np.sin(yv) + np.tanh(xv * yv)

    base = _median_time(numpy_fn, repeat)
    w = "fused exp(-x*x)*sin(y)+tanh(x*y), 10M float32"
    table.add(w, "NumPy", base, base)
    x, y = T.fvectors("x", "y")
    expr = T.exp(-x * x) * T.sin(y) + T.tanh(x * y)
    for linker in _linkers():
        f = theano.function([x, y], expr, mode=theano.Mode(linker=linker))
        np.testing.assert_allclose(f(xv[:1000], yv[:1000]), numpy_fn()[:1000], rtol=1e-5)
        table.add(w, "nettrain (%s)" % linker, _median_time(lambda f=f: f(xv, yv), repeat), base)
    torch = _optional("torch")
    if torch is not None:
        tx, ty = torch.from_numpy(xv), torch.from_numpy(yv)
        table.add(w, "PyTorch eager", _median_time(lambda: torch.exp(-tx * tx) * torch.sin(ty) + torch.tanh(tx * ty),
                                                   repeat), base)  # fmt: skip


# --------------------------------------------------------------------- MLP
def _mlp(batch, linker, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 512, 512, 10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append(theano.shared((rng.normal(size=(a, b)) * np.sqrt(2.0 / a)).astype("float32")))
        params.append(theano.shared(np.zeros(b, dtype="float32")))
    x, y = T.fmatrix("x"), T.ivector("y")
    h = x
    for i in range(0, 4, 2):
        h = T.nnet.relu(T.dot(h, params[i]) + params[i + 1])
    p = T.nnet.softmax(T.dot(h, params[4]) + params[5])
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    upd = [(v, v - np.float32(0.01) * g) for v, g in zip(params, T.grad(cost, params))]
    t = time.perf_counter()
    f = theano.function([x, y], cost, updates=upd, mode=theano.Mode(linker=linker))
    return f, time.perf_counter() - t


def _numpy_mlp_step(params, xv, yv):
    W0, b0, W1, b1, W2, b2 = params
    h0 = np.maximum(xv @ W0 + b0, 0)
    h1 = np.maximum(h0 @ W1 + b1, 0)
    z = h1 @ W2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    sm = e / e.sum(axis=1, keepdims=True)
    n = len(yv)
    d = sm
    d[np.arange(n), yv] -= 1
    d /= n
    gW2, gb2 = h1.T @ d, d.sum(0)
    d1 = (d @ W2.T) * (h1 > 0)
    gW1, gb1 = h0.T @ d1, d1.sum(0)
    d0 = (d1 @ W1.T) * (h0 > 0)
    gW0, gb0 = xv.T @ d0, d0.sum(0)
    for p_, g in zip(params, (gW0, gb0, gW1, gb1, gW2, gb2)):
        p_ -= np.float32(0.01) * g


def bench_mlp(table, repeat):
    rng = np.random.default_rng(1)
    for batch in (128, 1024):
        xv = rng.random((batch, 784), dtype=np.float32)
        yv = rng.integers(0, 10, size=batch).astype(np.int32)
        w = "MLP 784-512-512-10 train step, batch %d" % batch
        params = [np.asarray(rng.normal(size=s) * 0.05, dtype=np.float32) for s in
                  [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]]  # fmt: skip
        base = _numpy_time(lambda params=params, xv=xv, yv=yv: _numpy_mlp_step(params, xv, yv), repeat)
        table.add(w, "NumPy (hand-written)", base, base)
        for linker in _linkers():
            f, _ = _mlp(batch, linker)
            table.add(w, "nettrain (%s)" % linker, _median_time(lambda f=f, xv=xv, yv=yv: f(xv, yv), repeat), base)
        torch = _optional("torch")
        if torch is not None:
            table.add(w, "PyTorch eager", _torch_mlp(torch, xv, yv, repeat), base)
    bench_compile_rows(table, "mlp", "MLP train function compile, new process (function() only; imports excluded)")


#: the products of one MLP train step (784-512-512-10): (rows, inner, columns, transpose a, transpose b) at batch b
def _mlp_products(b):
    return [(b, 784, 512, 0, 0), (b, 512, 512, 0, 0), (b, 512, 10, 0, 0),  # forward
            (b, 10, 512, 0, 1), (512, b, 10, 1, 0), (b, 512, 512, 0, 1), (512, b, 512, 1, 0),  # backward
            (784, b, 512, 1, 0)]  # fmt: skip


def bench_mlp_gemms(table, repeat):
    """What bounds the MLP rows: the step's eight products alone, in NumPy's BLAS and in nettrain's ``dot``.

    NumPy runs them with OpenBLAS's own threads (2 here), nettrain in its bands (one single-threaded
    BLAS call per thread); the 1-thread row is OpenBLAS alone on one core.  The note gives the sum's
    GFLOP/s and the share of NumPy's whole step (the same run's MLP rows are measured again here).
    """
    rng = np.random.default_rng(3)
    a, b = T.fmatrix("a"), T.fmatrix("b")
    f = theano.function([a, b], T.dot(a, b), mode=theano.Mode(linker="c"))
    for batch in (128, 1024):
        _mlp_gemm_rows(table, repeat, f, rng, batch)


def _mlp_gemm_rows(table, repeat, f, rng, batch):
    from threadpoolctl import threadpool_limits

    mats, flop = [], 0
    for m, k, n, ta, tb in _mlp_products(batch):
        x = rng.random((k, m) if ta else (m, k), dtype=np.float32)
        y = rng.random((n, k) if tb else (k, n), dtype=np.float32)
        mats.append((x.T if ta else x, y.T if tb else y))
        flop += 2 * m * k * n
    params = [np.asarray(rng.normal(size=s_) * 0.05, dtype=np.float32) for s_ in
              [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]]  # fmt: skip
    xv, yv = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, size=batch).astype(np.int32)
    step = _numpy_time(lambda: _numpy_mlp_step(params, xv, yv), repeat)
    w = "MLP b%d: its 8 products only (%.2f GFLOP)" % (batch, flop / 1e9)
    table.add(w, "NumPy step (all of it)", step, step)
    runs = [("NumPy @ (OpenBLAS, 2 threads)", lambda: [x @ y for x, y in mats], _numpy_time),
            ("nettrain dot (c, bands)", lambda: [f(x, y) for x, y in mats], _median_time)]
    for label, fn, timer in runs:
        t = timer(fn, repeat)
        table.add(w, label, t, step, "%.0f GFLOP/s" % (flop / t / 1e9))
    with threadpool_limits(1, user_api="blas"):
        t = _median_time(lambda: [x @ y for x, y in mats], repeat)
    table.add(w, "NumPy @ (OpenBLAS, 1 thread)", t, step, "%.0f GFLOP/s" % (flop / t / 1e9))


def bench_compile_rows(table, what, w):
    """Cold (empty cache) and warm (cache hit) compile in new processes: wall and CPU seconds."""
    with tempfile.TemporaryDirectory() as cache:
        cold = _compile_in_new_process(cache, what)
        warm = _compile_in_new_process(cache, what)
    for label, r in (("cold cache", cold), ("warm cache", warm)):
        note = "CPU %.3f s (this process; compiler runs excluded); load %s" % (r[1], _load()) if r else "failed"
        table.add("%s, %s" % (w, label), "nettrain (auto)", r[0] if r else None, note=note)
        if r and len(r) > 2:
            table.add("%s, %s: first call (compiles the loops' steps)" % (w, label), "nettrain (auto)", r[2],
                      note="CPU %.3f s; a steady call: %s (CPU %.3f s)" % (r[3], _fmt(r[4]), r[5]))  # fmt: skip


def bench_compile(table, repeat):
    """Compile time of the RNN train function (the MLP's rows come with ``mlp``)."""
    bench_compile_rows(table, "rnn", "tanh RNN train function compile, new process (imports excluded)")


def _torch_mlp(torch, xv, yv, repeat):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                torch.nn.ReLU(), torch.nn.Linear(512, 10))  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(xv), torch.from_numpy(yv.astype(np.int64))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()

    return _median_time(step, repeat)


_COMPILE_CHILD = """
import sys, time
sys.path.insert(0, %r)
import bench
import nettrain.backends.c.linker, nettrain.backends.cuda  # imports excluded
from nettrain.backends.c import scan_loop  # noqa: F401
t, c = time.perf_counter(), time.process_time()
if %r == "mlp":
    f = bench._mlp(128, "auto")[0]
    print(time.perf_counter() - t, time.process_time() - c)
else:
    f = bench._nettrain_rnn("rnn", "auto")
    res = [time.perf_counter() - t, time.process_time() - c]
    data = bench._rnn_data(1)
    for _ in range(2):  # the first call compiles the loops' steps; the second is a steady call
        t, c = time.perf_counter(), time.process_time()
        f(*data)
        res += [time.perf_counter() - t, time.process_time() - c]
    print(*res)
"""


def _compile_in_new_process(compiledir, what="mlp"):
    """``(wall s, CPU s[, first call wall s, CPU s])`` of ``function()`` for a train step in a fresh process."""
    code = _COMPILE_CHILD % (os.path.join(ROOT, "scripts"), what)
    env = dict(os.environ, NETTRAIN_FLAGS="compiledir=%s" % compiledir)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    try:
        return [float(x) for x in r.stdout.strip().splitlines()[-1].split()]
    except (ValueError, IndexError):
        print(r.stderr, file=sys.stderr)
        return None


# --------------------------------------------------------------------- RNN
RNN_SIZE = dict(steps=50, batch=32, nin=128, nh=256)
#: thread counts of the RNN rows (``--threads``)
THREADS = [1, 2]


def _threads(n, torch):
    """A context limiting BLAS / OpenMP (and PyTorch) to ``n`` threads, or None without threadpoolctl."""
    tpc = _optional("threadpoolctl")
    if tpc is None:
        return None
    if torch is not None:
        torch.set_num_threads(n)
    return tpc.threadpool_limits(n)


def _rnn_data(gates):
    z = RNN_SIZE
    rng = np.random.default_rng(2)
    Xv = rng.normal(size=(z["steps"], z["batch"], z["nin"])).astype(np.float32)
    Uv = (rng.normal(size=(z["nin"], gates * z["nh"])) * 0.05).astype(np.float32)
    Wv = (rng.normal(size=(z["nh"], gates * z["nh"])) * 0.05).astype(np.float32)
    bv = np.zeros(gates * z["nh"], dtype=np.float32)
    return Xv, Uv, Wv, bv


def _numpy_rnn(Xv, Uv, Wv, bv):
    steps, batch, nh = len(Xv), Xv.shape[1], Wv.shape[0]
    hs = np.zeros((steps + 1, batch, nh), np.float32)
    for t in range(steps):
        hs[t + 1] = np.tanh(Xv[t] @ Uv + hs[t] @ Wv + bv)
    gh = np.zeros((batch, nh), np.float32)
    gU, gW, gb = np.zeros_like(Uv), np.zeros_like(Wv), np.zeros_like(bv)
    for t in range(steps - 1, -1, -1):
        gh = gh + 1.0  # d(sum of all h) / d h_t
        gz = gh * (1 - hs[t + 1] ** 2)
        gU += Xv[t].T @ gz
        gW += hs[t].T @ gz
        gb += gz.sum(0)
        gh = gz @ Wv.T
    return gU, gW, gb


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _numpy_lstm(Xv, Uv, Wv, bv):
    """Hand-written LSTM forward + BPTT of sum(h): gates (i, f, o, g) in one GEMM per input."""
    steps, batch, nh = len(Xv), Xv.shape[1], Wv.shape[0]
    hs = np.zeros((steps + 1, batch, nh), np.float32)
    cs = np.zeros((steps + 1, batch, nh), np.float32)
    acts = []
    for t in range(steps):
        z = Xv[t] @ Uv + hs[t] @ Wv + bv
        i, f, o, g = _sig(z[:, :nh]), _sig(z[:, nh : 2 * nh]), _sig(z[:, 2 * nh : 3 * nh]), np.tanh(z[:, 3 * nh :])
        cs[t + 1] = f * cs[t] + i * g
        hs[t + 1] = o * np.tanh(cs[t + 1])
        acts.append((i, f, o, g))
    gU, gW, gb = np.zeros_like(Uv), np.zeros_like(Wv), np.zeros_like(bv)
    gh, gc = np.zeros((batch, nh), np.float32), np.zeros((batch, nh), np.float32)
    gz = np.empty((batch, 4 * nh), np.float32)
    for t in range(steps - 1, -1, -1):
        i, f, o, g = acts[t]
        gh = gh + 1.0
        tc = np.tanh(cs[t + 1])
        gc = gc + gh * o * (1 - tc * tc)
        gz[:, :nh] = gc * g * i * (1 - i)
        gz[:, nh : 2 * nh] = gc * cs[t] * f * (1 - f)
        gz[:, 2 * nh : 3 * nh] = gh * tc * o * (1 - o)
        gz[:, 3 * nh :] = gc * i * (1 - g * g)
        gc = gc * f
        gU += Xv[t].T @ gz
        gW += hs[t].T @ gz
        gb += gz.sum(0)
        gh = gz @ Wv.T
    return gU, gW, gb


def _nettrain_rnn(kind, linker):
    nh = RNN_SIZE["nh"]
    X = T.ftensor3("X")
    U, W, b = T.fmatrix("U"), T.fmatrix("W"), T.fvector("b")
    h0 = T.zeros((X.shape[1], nh), dtype="float32")
    if kind == "rnn":
        hs, _ = theano.scan(lambda x, h, U_, W_, b_: T.tanh(T.dot(x, U_) + T.dot(h, W_) + b_), sequences=X,
                            outputs_info=h0, non_sequences=[U, W, b])  # fmt: skip
    else:

        def step(x, h, c, U_, W_, b_):
            z = T.dot(x, U_) + T.dot(h, W_) + b_
            i, f = T.nnet.sigmoid(z[:, :nh]), T.nnet.sigmoid(z[:, nh : 2 * nh])
            o, g = T.nnet.sigmoid(z[:, 2 * nh : 3 * nh]), T.tanh(z[:, 3 * nh :])
            c2 = f * c + i * g
            return o * T.tanh(c2), c2

        (hs, _), _ = theano.scan(step, sequences=X, outputs_info=[h0, h0], non_sequences=[U, W, b])
    grads = T.grad(hs.sum(), [U, W, b])
    return theano.function([X, U, W, b], grads, mode=theano.Mode(linker=linker))


def _torch_rnn(torch, kind, Xv, Uv, Wv, bv):
    nh = Wv.shape[0]
    tX = torch.from_numpy(Xv)
    tU, tW, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (Uv, Wv, bv))

    def step():
        h = torch.zeros(Xv.shape[1], nh)
        c = torch.zeros(Xv.shape[1], nh)
        total = 0
        for t in range(len(Xv)):
            z = tX[t] @ tU + h @ tW + tb
            if kind == "rnn":
                h = torch.tanh(z)
            else:
                i, f = torch.sigmoid(z[:, :nh]), torch.sigmoid(z[:, nh : 2 * nh])
                o = torch.sigmoid(z[:, 2 * nh : 3 * nh])
                c = f * c + i * torch.tanh(z[:, 3 * nh :])
                h = o * torch.tanh(c)
            total = total + h.sum()
        for p_ in (tU, tW, tb):
            p_.grad = None
        total.backward()

    return step


def bench_rnn(table, repeat):
    """tanh RNN and LSTM, hidden 256, input 128, 50 steps, batch 32: forward + backward, at 1 and 2 threads.

    GFLOP/s count the GEMMs only: 3 x the forward's (forward, and two of the same size per step backward).
    """
    z = RNN_SIZE
    torch = _optional("torch")
    for kind, gates in (("rnn", 1), ("lstm", 4)):
        data = _rnn_data(gates)
        np_fn = _numpy_rnn if kind == "rnn" else _numpy_lstm
        ref = np_fn(*data)
        flop = 3 * 2 * z["steps"] * z["batch"] * gates * z["nh"] * (z["nin"] + z["nh"])
        fns = {linker: _nettrain_rnn(kind, linker) for linker in _linkers()}
        for f in fns.values():
            np.testing.assert_allclose(f(*data)[1], ref[1], rtol=2e-3, atol=2e-3)
        for threads in THREADS:
            limit = _threads(threads, torch)
            if limit is None and threads == 2:
                break
            w = "%s fwd+bwd (%d hidden, %d in, %d steps, batch %d), %s" % (
                "tanh RNN" if kind == "rnn" else "LSTM", z["nh"], z["nin"], z["steps"], z["batch"],
                "%d thread%s" % (threads, "s" if threads > 1 else "") if limit is not None else "default threads")
            try:
                base = _median_time(lambda np_fn=np_fn, data=data: np_fn(*data), repeat)
                note = "%.1f GFLOP/s; load %s" % (flop / base / 1e9, _load())
                table.add(w, "NumPy (hand-written BPTT)", base, base, note)
                for linker, f in fns.items():
                    t = _median_time(lambda f=f, data=data: f(*data), repeat)
                    table.add(w, "nettrain scan (%s)" % linker, t, base, "%.1f GFLOP/s" % (flop / t / 1e9))
                if torch is not None:
                    t = _median_time(_torch_rnn(torch, kind, *data), repeat)
                    table.add(w, "PyTorch eager", t, base, "%.1f GFLOP/s" % (flop / t / 1e9))
            finally:
                if limit is not None:
                    limit.unregister() if hasattr(limit, "unregister") else limit.__exit__(None, None, None)


def _load():
    try:
        return "%.2f" % os.getloadavg()[0]
    except OSError:
        return "?"


# ------------------------------------------------------------------- LeNet
def _lenet_nettrain(linker):
    """(train step f(x, y) -> loss, loss-only g(x, y), {name: initial weights})."""
    from nettrain import layers as L
    from nettrain import losses

    model = L.Sequential([L.Conv2D(20, 5, activation="relu"), L.MaxPool2D(2),
                          L.Conv2D(50, 5, activation="relu"), L.MaxPool2D(2), L.Flatten(),
                          L.Dense(500, activation="relu"), L.Dense(10)], seed=0)  # fmt: skip
    x, y = T.tensor("float32", shape=(None, 1, 28, 28), name="x"), T.ivector("y")
    cost = losses.categorical_crossentropy(model(x), y)  # builds the layers lazily, in x's dtype
    params = model.params()
    assert all(p.type.dtype == "float32" for p in params)
    upd = [(p, p - np.float32(0.01) * g) for p, g in zip(params, T.grad(cost, params))]
    mode = theano.Mode(linker=linker)
    weights = {k: v.get_value() for k, v in model.named_params().items()}
    return theano.function([x, y], cost, updates=upd, mode=mode), theano.function([x, y], cost, mode=mode), weights


def _np_conv(x, w):
    """Valid cross-correlation by im2col: (N, C, H, W) * (F, C, k, k) -> (N, F, H-k+1, W-k+1), and the windows."""
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(2, 3))
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2), win


def _np_pool(x):
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    return y, lambda g: (x == y.repeat(2, 2).repeat(2, 3)) * g.repeat(2, 2).repeat(2, 3)


def _numpy_lenet_step(p, xv, yv):
    """Hand-written forward + backward + SGD of LeNet (ReLU, max-pool 2) in NumPy."""
    W0, b0, W1, b1, W2, b2, W3, b3 = p
    z0, win0 = _np_conv(xv, W0)
    h0, pool0 = _np_pool(np.maximum(z0 + b0[:, None, None], 0))
    z1, win1 = _np_conv(h0, W1)
    h1, pool1 = _np_pool(np.maximum(z1 + b1[:, None, None], 0))
    f = h1.reshape(len(xv), -1)
    h2 = np.maximum(f @ W2 + b2, 0)
    z = h2 @ W3 + b3
    e = np.exp(z - z.max(axis=1, keepdims=True))
    d = e / e.sum(axis=1, keepdims=True)
    d[np.arange(len(yv)), yv] -= 1
    d /= len(yv)
    g3, d2 = (h2.T @ d, d.sum(0)), (d @ W3.T) * (h2 > 0)
    g2, df = (f.T @ d2, d2.sum(0)), d2 @ W2.T
    d1 = pool1(df.reshape(h1.shape)) * (z1 + b1[:, None, None] > 0)
    g1 = (np.tensordot(d1, win1, axes=([0, 2, 3], [0, 2, 3])), d1.sum((0, 2, 3)))
    gpad = np.pad(d1, ((0, 0), (0, 0), (4, 4), (4, 4)))  # input gradient: full correlation with flipped filters
    dh0 = _np_conv(gpad, W1[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))[0]
    d0 = pool0(dh0) * (z0 + b0[:, None, None] > 0)
    g0 = (np.tensordot(d0, win0, axes=([0, 2, 3], [0, 2, 3])), d0.sum((0, 2, 3)))
    for p_, g in zip(p, g0 + g1 + g2 + g3):
        p_ -= np.float32(0.01) * g


def _torch_lenet(torch, weights):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    with torch.no_grad():  # the same initial weights as nettrain (Dense W is (in, out), Linear's is (out, in))
        for mod, key in ((model[0], "conv2d0"), (model[3], "conv2d1"), (model[7], "dense0"), (model[9], "dense1")):
            w = weights[key + ".W"]
            mod.weight.copy_(torch.from_numpy(w.T.copy() if w.ndim == 2 else w))
            mod.bias.copy_(torch.from_numpy(weights[key + ".b"]))
    return model


def bench_lenet(table, repeat):
    """LeNet (conv 5x5x20, pool 2, conv 5x5x50, pool 2, dense 500, dense 10) SGD step on a batch of 64."""
    rng = np.random.default_rng(3)
    xv = rng.random((64, 1, 28, 28), dtype=np.float32)
    yv = rng.integers(0, 10, size=64).astype(np.int32)
    w = "LeNet train step, batch 64 of 1x28x28 float32"
    fns, losses_at_start, notes = {}, {}, {}
    for linker in _linkers():
        f, loss, weights = _lenet_nettrain(linker)
        losses_at_start[linker] = float(loss(xv, yv))
        fns["nettrain (%s)" % linker] = lambda f=f: f(xv, yv)
    order = ["conv2d0.W", "conv2d0.b", "conv2d1.W", "conv2d1.b", "dense0.W", "dense0.b", "dense1.W", "dense1.b"]
    numpy_params = [weights[k].copy() for k in order]
    fns = {"NumPy (hand-written, im2col)": lambda: _numpy_lenet_step(numpy_params, xv, yv), **fns}
    torch = _optional("torch")
    if torch is not None:
        model = _torch_lenet(torch, weights)
        tx, ty = torch.from_numpy(xv), torch.from_numpy(yv.astype(np.int64))
        with torch.no_grad():
            ref = float(torch.nn.functional.cross_entropy(model(tx), ty))
        for linker, value in losses_at_start.items():  # same weights, same loss: the graphs compute the same thing
            np.testing.assert_allclose(value, ref, rtol=1e-4, err_msg="nettrain (%s) vs PyTorch" % linker)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)

        def torch_step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(tx), ty).backward()
            opt.step()

        fns["PyTorch eager (%d threads)" % torch.get_num_threads()] = torch_step
    pt = _optional("pytensor")
    if pt is not None:
        try:
            fns["PyTensor"] = _pytensor_lenet(pt, weights, xv, yv)
        except Exception as exc:  # noqa: BLE001 - PyTensor versions differ in where conv/pool live
            notes["PyTensor"] = "skipped: %s: %s" % (type(exc).__name__, exc)
    # One implementation at a time: BLAS / OpenMP threads of one left spinning would slow the next one down.
    medians = {label: (_numpy_time if label.startswith("NumPy") else _median_time)(fn, repeat)
               for label, fn in fns.items()}  # fmt: skip
    base = medians["NumPy (hand-written, im2col)"]
    t_torch = next((t for k, t in medians.items() if k.startswith("PyTorch")), None)
    for label, t in medians.items():
        vs_torch = "%.2fx PyTorch" % (t / t_torch) if t_torch and not label.startswith("PyTorch") else ""
        table.add(w, label, t, base, vs_torch)
    for label, note in notes.items():
        table.add(w, label, None, None, note)


def _pytensor_lenet(pt, weights, xv, yv):
    """A callable running the same training step compiled by PyTensor."""
    import pytensor.tensor as ptt
    from pytensor.tensor.conv import conv2d
    from pytensor.tensor.signal.pool import pool_2d

    p = {k: pt.shared(v) for k, v in weights.items()}
    x, y = ptt.tensor4("x", dtype="float32"), ptt.ivector("y")
    h = x
    for k in ("conv2d0", "conv2d1"):
        h = pool_2d(ptt.maximum(conv2d(h, p[k + ".W"], filter_flip=False) + p[k + ".b"].dimshuffle("x", 0, "x", "x"),
                                0), (2, 2), ignore_border=True)  # fmt: skip
    h = ptt.maximum(ptt.dot(h.flatten(2), p["dense0.W"]) + p["dense0.b"], 0)
    z = ptt.dot(h, p["dense1.W"]) + p["dense1.b"]
    cost = -ptt.mean(ptt.special.log_softmax(z, axis=1)[ptt.arange(y.shape[0]), y])
    params = list(p.values())
    upd = [(v, v - np.float32(0.01) * g) for v, g in zip(params, pt.grad(cost, params))]
    f = pt.function([x, y], cost, updates=upd)
    return lambda: f(xv, yv)

# ------------------------------------------------------------------- GPU (scripts/bench_cuda.py)
def _torch_cuda_step(torch, model, xv, yv):
    """A PyTorch SGD step doing what nettrain's ``f(x, y)`` does: upload the minibatch, return the loss."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    yv = yv.astype(np.int64)

    def torch_step():
        tx, ty = torch.from_numpy(xv).cuda(), torch.from_numpy(yv).cuda()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()

    return torch_step


def _cuda_mlp_step(batch, torch):
    """(nettrain step, x, y, PyTorch step or None) for the MLP on the GPU."""
    rng = np.random.default_rng(0)
    xv = rng.random((batch, 784), dtype=np.float32)
    yv = rng.integers(0, 10, size=batch).astype(np.int32)
    f, _ = _mlp(batch, "cuda")
    torch_step = None
    if torch is not None:
        torch.manual_seed(0)
        nn = torch.nn
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)).cuda()
        torch_step = _torch_cuda_step(torch, model, xv, yv)

    return (lambda: f(xv, yv)), xv, yv, torch_step


def _cuda_lenet_parts(batch, torch):
    """(nettrain step, PyTorch step or None) for LeNet on the GPU."""
    rng = np.random.default_rng(3)
    xv = rng.random((batch, 1, 28, 28), dtype=np.float32)
    yv = rng.integers(0, 10, size=batch).astype(np.int32)
    f, _, weights = _lenet_nettrain("cuda")
    torch_step = None
    if torch is not None:
        model = _torch_lenet(torch, weights).cuda()
        torch_step = _torch_cuda_step(torch, model, xv, yv)

    return (lambda: f(xv, yv)), torch_step


# ------------------------------------------- issue 19: call overhead and thread counts
def _load_note():
    return "load %.2f" % os.getloadavg()[0]


def bench_call(table, repeat):
    """Call overhead of a compiled ``a + b`` on 10-element float64 vectors, and where the time goes."""
    from nettrain.backends.c import fastcall

    va, vb = np.ones(10), np.ones(10)
    number = 20000
    w = "call overhead a+b, 10-element float64 vectors"
    base = _median_time(lambda: np.add(va, vb), repeat, number)
    table.add(w, "NumPy ufunc", base, base, _load_note())
    a, b = T.dvectors("a", "b")
    c = theano.Mode(linker="c")
    f = theano.function([a, b], a + b, mode=c)
    t_f = _median_time(lambda: f(va, vb), repeat, number)
    g = theano.function([a, b], a + b, mode=c, trust_input=True)
    t_g = _median_time(lambda: g(va, vb), repeat, number)
    load, fastcall.load = fastcall.load, lambda: None  # the same function with the call path in Python
    try:
        h = theano.function([a, b], a + b, mode=c)
    finally:
        fastcall.load = load
    t_h = _median_time(lambda: h(va, vb), repeat, number)
    p = theano.function([a, b], a + b, mode=theano.Mode(linker="py"))
    t_p = _median_time(lambda: p(va, vb), repeat, number)
    torch = _optional("torch")
    t_t = None
    if torch is not None:
        ta, tb = torch.from_numpy(va), torch.from_numpy(vb)
        t_t = _median_time(lambda: ta + tb, repeat, number)
    vs = (lambda t: "%.2fx PyTorch" % (t / t_t)) if t_t else (lambda t: "")
    table.add(w, "nettrain (c)", t_f, base, "%s; %s" % (vs(t_f), _load_note()))
    table.add(w, "nettrain (c), f.trust_input = True", t_g, base, vs(t_g))
    if f._call_c is not None:  # the breakdown of t_f
        fast, run = f._fastcall, f._run
        runner, node, _, outs, _ = run.plan[0]
        args = (va, vb)
        t_fast = _median_time(lambda: fast(args), repeat, number)
        t_step = _median_time(lambda: runner(node, [va, vb], outs), repeat, number)
        table.add(w, "  of which Function.__call__ (Python frame)", t_f - t_fast, None, "")
        table.add(w, "  of which input checks, step loop, outputs (C)", t_fast - t_step, None, "")
        table.add(w, "  of which Elemwise driver + kernel (C)", t_step, None, "allocates the output")
    table.add(w, "nettrain (c), call path in Python (before)", t_h, base, vs(t_h))
    table.add(w, "nettrain (py)", t_p, base, vs(t_p))
    if t_t:
        table.add(w, "PyTorch eager", t_t, base, "")


def _set_threads(n, torch):
    theano.config.blas_threads = n  # applied (threadpoolctl) when the next function is compiled
    if torch is not None:
        torch.set_num_threads(n)


def bench_threads(table, repeat):
    """MLP train steps at 2 threads, LeNet at 1 and 2: nettrain, NumPy and PyTorch eager, same threads."""
    torch = _optional("torch")
    rng = np.random.default_rng(1)
    for batch in (128, 1024):
        _set_threads(2, torch)
        _threads_mlp(table, repeat, batch, torch, rng)
    res = {}
    for n in (1, 2):
        _set_threads(n, torch)
        _threads_lenet(table, repeat, n, torch, rng, res)
    for who in ("nettrain", "torch"):
        if (who, 1) in res:
            table.add("LeNet b64: gain from 1 to 2 threads", who, None, None,
                      "%.2fx" % (res[(who, 1)] / res[(who, 2)]))  # fmt: skip
    _set_threads(0, None)  # back to the default for the benchmarks that follow


def _threads_mlp(table, repeat, batch, torch, rng):
    from nettrain.backends import threads

    xv = rng.random((batch, 784), dtype=np.float32)
    yv = rng.integers(0, 10, size=batch).astype(np.int32)
    params = [np.asarray(rng.normal(size=s) * 0.05, dtype=np.float32) for s in
              [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]]  # fmt: skip
    f, _ = _mlp(batch, "c")
    w = "MLP 784-512-512-10 train step b%d, %d threads" % (batch, threads.current_count())
    base = _numpy_time(lambda: _numpy_mlp_step(params, xv, yv), repeat)
    table.add(w, "NumPy (hand-written)", base, base, _load_note())
    t = _median_time(lambda: f(xv, yv), repeat)
    table.add(w, "nettrain (c)", t, base, _load_note())
    if torch is not None:
        table.add(w, "PyTorch eager", _torch_mlp(torch, xv, yv, repeat), base, _load_note())


def _threads_lenet(table, repeat, n, torch, rng, res):
    xv = rng.random((64, 1, 28, 28), dtype=np.float32)
    yv = rng.integers(0, 10, size=64).astype(np.int32)
    flops = _lenet_flops(64)
    f, _, weights = _lenet_nettrain("c")
    w = "LeNet train step b64, %d thread%s" % (n, "s" if n > 1 else "")
    order = ["conv2d0.W", "conv2d0.b", "conv2d1.W", "conv2d1.b", "dense0.W", "dense0.b", "dense1.W", "dense1.b"]
    npp = [weights[k].copy() for k in order]
    base = _numpy_time(lambda: _numpy_lenet_step(npp, xv, yv), repeat)
    table.add(w, "NumPy (hand-written, im2col)", base, base, "%.0f GFLOP/s; %s" % (flops / base / 1e9, _load_note()))
    t = _median_time(lambda: f(xv, yv), repeat)
    res[("nettrain", n)] = t
    table.add(w, "nettrain (c)", t, base, "%.0f GFLOP/s; %s" % (flops / t / 1e9, _load_note()))
    if torch is None:
        return
    model = _torch_lenet(torch, weights)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(xv), torch.from_numpy(yv.astype(np.int64))

    def torch_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(tx), ty).backward()
        opt.step()

    tt = _median_time(torch_step, repeat)
    res[("torch", n)] = tt
    table.add(w, "PyTorch eager", tt, base, "%.0f GFLOP/s; %s" % (flops / tt / 1e9, _load_note()))


def _lenet_flops(batch):
    """Multiply-adds x 2 of a LeNet train step: forward, input and weight gradients (conv1 has no input grad)."""
    conv1 = 20 * 24 * 24 * 1 * 25
    conv2 = 50 * 8 * 8 * 20 * 25
    dense = 800 * 500 + 500 * 10
    fwd = conv1 + conv2 + dense
    return 2 * batch * (3 * fwd - conv1)


BENCHES = {
    "machine": bench_machine,
    "overhead": bench_overhead,
    "fused": bench_fused,
    "mlp": bench_mlp,
    "gemms": bench_mlp_gemms,
    "rnn": bench_rnn,
    "compile": bench_compile,
    "lenet": bench_lenet,
    "call": bench_call,
    "threads": bench_threads,
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these benchmarks")
    p.add_argument("--repeat", type=int, default=7, help="timed repeats per row (median reported)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: the GPU table (scripts/bench_cuda.py) instead of the CPU benchmarks")
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="thread counts of the RNN / LSTM rows")
    args = p.parse_args(argv)
    THREADS[:] = args.threads
    table = Table()
    if args.device == "cuda":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_cuda

        bench_cuda.run(table, args.repeat, _cuda_mlp_step, _cuda_lenet_parts)
        print(table.render())
        return 0
    with tempfile.TemporaryDirectory():
        for name in args.only or BENCHES:
            BENCHES[name](table, args.repeat)
            print("done: %s" % name, file=sys.stderr)
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
