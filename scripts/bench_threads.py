"""MLP train step time alone and beside a busy process, with and without nettrain's thread control.

Usage::

    python scripts/bench_threads.py [--batch 128] [--steps 30]

Each row runs in a fresh process (one MLP 784-512-512-10 SGD step, C linker,
median of ``--steps`` timed steps):

- ``control off``: nettrain leaves the BLAS / OpenMP thread counts as the
  libraries chose them when they were loaded (what happened before
  ``config.blas_threads``);
- ``control on``: nettrain's default (``blas_threads=0``: the cores available
  to the process, from its affinity and cgroup CPU quota);
- ``--threads 1``: ``NETTRAIN_FLAGS=blas_threads=1``, what ``nettrain train
  --threads 1`` sets.

The busy neighbour is a second process spinning on one core.  ``pinned to one
core`` rows restrict the benchmark process to one CPU after NumPy (and its
BLAS) are loaded, as a batch scheduler or ``taskset -p`` does to a running
job: a BLAS sized at load time then keeps more threads than the process has
cores.  The machine's load average is printed with every row.
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import os, sys, statistics, time
sys.path.insert(0, %(root)r); sys.path.insert(0, os.path.join(%(root)r, "scripts"))
import numpy as np
pin, control = %(pin)r, %(control)r
if pin:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import nettrain.backends.threads as th
if not control:
    th.apply = lambda *a, **k: None
import bench
f, _ = bench._mlp(%(batch)d, "c")
rng = np.random.default_rng(0)
xv = rng.random((%(batch)d, 784), dtype=np.float32)
yv = rng.integers(0, 10, size=%(batch)d).astype(np.int32)
params = [np.asarray(rng.normal(size=s) * 0.05, dtype=np.float32) for s in
          [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]]
def med(fn):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(%(steps)d):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
a, b = med(lambda: f(xv, yv)), med(lambda: bench._numpy_mlp_step(params, xv, yv))
from threadpoolctl import threadpool_info
n = sorted({i["num_threads"] for i in threadpool_info()})
print(a, b, ",".join(map(str, n)))
"""


def run_case(batch, steps, pin, control, flags):
    env = dict(os.environ)
    env.pop("NETTRAIN_FLAGS", None)
    if flags:
        env["NETTRAIN_FLAGS"] = flags
    code = CHILD % dict(root=ROOT, pin=pin, control=control, batch=batch, steps=steps)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1]
    t, t_np, n = r.stdout.split()
    return (float(t), float(t_np)), n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)
    cases = [
        ("alone", False, False, True, ""),
        ("busy neighbour", True, False, False, ""),
        ("busy neighbour", True, False, True, ""),
        ("busy neighbour", True, False, True, "blas_threads=1"),
        ("busy neighbour, pinned to one core", True, True, False, ""),
        ("busy neighbour, pinned to one core", True, True, True, ""),
    ]
    print("MLP 784-512-512-10 SGD step, batch %d, C linker; NumPy: the hand-written step of bench.py in the same "
          "process, under the same setting (with the control on, BLAS runs one thread)" % args.batch)
    print("| situation | thread control | threads | nettrain step | NumPy step | load |")
    print("|---|---|---|---|---|---|")
    for label, busy, pin, control, flags in cases:
        hog = None
        if busy:
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        try:
            t, n = run_case(args.batch, args.steps, pin, control, flags)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        how = "--threads 1" if flags else ("on (default)" if control else "off")
        step = "%.2f ms | %.2f ms" % (t[0] * 1e3, t[1] * 1e3) if t is not None else "failed: %s | —" % n
        print("| %s | %s | %s | %s | %.2f |" % (label, how, n if t is not None else "—", step, os.getloadavg()[0]),
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
