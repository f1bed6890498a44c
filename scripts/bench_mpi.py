"""Data-parallel throughput on this machine, the all-reduce's cost, and a cost model for clusters.

    python scripts/bench_mpi.py                       # mnist_mlp and lenet on 1 and 2 ranks
    python scripts/bench_mpi.py --steps 60 --ranks 1 2 4 --recipes lenet

For each recipe and rank count it starts ``mpiexec -n N python scripts/bench_mpi.py --worker ...``;
every rank builds the recipe (mnist_mlp on a synthetic MNIST-shaped file: nettrain never downloads,
and speed does not depend on pixel values), then rank 0 reports:

- samples/s of the training step as the Trainer runs it (``_train_fn`` on the global batch, then the
  optimizer step with the bucket all-reduce), after a warm-up;
- the time per step in the gradient function, the log reduction, the bucket all-reduce and the
  update function;
- per bucket: ``comm.allreduce_`` (what the trainer calls) against a raw mpi4py
  ``Allreduce(IN_PLACE, ...)`` of the same bytes, interleaved, medians.

Then the cost model of ``docs/distributed.md`` predicts the scaling efficiency at 8, 64 and 512 ranks
on 25 Gb/s and 200 Gb/s networks from the measured one-rank compute time and the gradient bytes.
The machine is shared: the load average is printed with the figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

NETWORKS = {"25 Gb/s Ethernet": (25e9, 10e-6), "200 Gb/s InfiniBand": (200e9, 2e-6)}  # (bits/s, latency per message)
SCALES = (8, 64, 512)


def synthetic_mnist(directory, n_train=6000, n_test=1000):
    """A ``mnist.npz`` of MNIST's shapes and dtypes with random pixels (timing only)."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = os.path.join(directory, "mnist.npz")
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n_test, dtype=np.uint8))  # fmt: skip
    return directory


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


def worker(recipe_path, sets, steps, warmup, repeats, out):
    """One rank: build, warm up, time the steps and the all-reduces; rank 0 writes ``out`` (JSON)."""
    import numpy as np

    from nettrain.train.distributed import DistributedTrainer, shard_bounds, world
    from nettrain.train.recipe import load_recipe, resolve_config

    comm = world()
    recipe = load_recipe(recipe_path)
    config = resolve_config(recipe.config, sets)
    t = DistributedTrainer.from_recipe(recipe, config, out_dir=None, verbose=False)
    t.compile()
    t.sync_ranks()
    batches = []
    while len(batches) < warmup + steps:
        batches += [b for b in t.loader if len(b[0]) == t.loader.batch_size]
    batches = batches[:warmup + steps]
    for xb, yb in batches[:warmup]:
        t._train_fn(xb, yb)
        t._optimizer_step(1)
    # 1. the step as the Trainer loop runs it
    comm.barrier()
    start = time.perf_counter()
    for xb, yb in batches[warmup:]:
        t._train_fn(xb, yb)
        t._optimizer_step(1)
    comm.barrier()
    elapsed = time.perf_counter() - start
    # 2. its parts
    parts = {"grad": [], "logs": [], "buckets": [], "apply": []}
    for xb, yb in batches[warmup:]:
        lo, hi = shard_bounds(len(xb), comm.rank, comm.size)
        a = time.perf_counter()
        t._grad_fn(xb[lo:hi], yb[lo:hi], (hi - lo) / len(xb))
        b = time.perf_counter()
        comm.allreduce_(np.zeros(2 + len(t.metric_fns)))
        c = time.perf_counter()
        for var in t._bucket_vars:
            comm.allreduce_(var.get_value(borrow=True))
        d = time.perf_counter()
        t._apply_fn(1.0)
        e = time.perf_counter()
        for key, value in zip(parts, (b - a, c - b, d - c, e - d)):
            parts[key].append(value)
    # 3. each bucket: our all-reduce against raw mpi4py on the same bytes, interleaved
    buckets = []
    for bucket, var in zip(t.buckets, t._bucket_vars):
        ours, raw = [], []
        buf = var.get_value(borrow=True)
        ref = np.zeros(bucket.size, bucket.dtype)
        for _ in range(repeats):
            comm.barrier()
            a = time.perf_counter()
            comm.allreduce_(buf)
            b = time.perf_counter()
            comm.barrier()
            c = time.perf_counter()
            if comm.size > 1:
                comm.comm.Allreduce(comm.MPI.IN_PLACE, ref, op=comm.MPI.SUM)
            d = time.perf_counter()
            ours.append(b - a)
            raw.append(d - c)
        buckets.append({"bytes": bucket.nbytes, "params": len(bucket.entries), "ours_s": _median(ours),
                        "raw_s": _median(raw)})  # fmt: skip
    # 4. a 16-byte buffer: latency only, so the difference is the wrapper's own cost
    small, ours, raw = np.zeros(4, np.float32), [], []
    for _ in range(repeats * 4):
        comm.barrier()
        a = time.perf_counter()
        comm.allreduce_(small)
        b = time.perf_counter()
        comm.barrier()
        c = time.perf_counter()
        if comm.size > 1:
            comm.comm.Allreduce(comm.MPI.IN_PLACE, small, op=comm.MPI.SUM)
        d = time.perf_counter()
        ours.append(b - a)
        raw.append(d - c)
    small = {"bytes": small.nbytes, "params": 0, "ours_s": _median(ours), "raw_s": _median(raw)}
    if comm.rank == 0:
        n_params, n_bytes = sum(b.size for b in t.buckets), sum(b.nbytes for b in t.buckets)
        result = {"ranks": comm.size, "batch": t.loader.batch_size, "steps": steps, "elapsed_s": elapsed,
                  "samples_per_s": steps * t.loader.batch_size / elapsed, "grad_bytes": n_bytes,
                  "params": int(n_params), "parts_s": {k: _median(v) for k, v in parts.items()}, "buckets": buckets,
                  "small": small,
                  "library": getattr(comm, "library", comm.name)}  # fmt: skip
        with open(out, "w") as fh:
            json.dump(result, fh)


def allreduce_time(grad_bytes, n_buckets, ranks, bits_per_s, latency_s):
    """Ring all-reduce of ``grad_bytes`` in ``n_buckets`` messages over ``ranks``: bandwidth + latency terms."""
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * grad_bytes * 8 / bits_per_s + 2 * (ranks - 1) * latency_s * n_buckets


def efficiency(compute_s, grad_bytes, n_buckets, ranks, bits_per_s, latency_s):
    """Weak scaling: per-rank batch fixed, the all-reduce after the compute (no overlap)."""
    return compute_s / (compute_s + allreduce_time(grad_bytes, n_buckets, ranks, bits_per_s, latency_s))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="+", default=["mnist_mlp", "lenet"])
    p.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=50, help="all-reduce timings per bucket")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every recipe")
    p.add_argument("--worker", nargs=2, metavar=("RECIPE", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.set, args.steps, args.warmup, args.repeats, args.worker[1])
        return 0
    from nettrain.train.distributed.env import mpiexec_command
    from nettrain.train.distributed.mpi import mpi_available

    ok, reason = mpi_available()
    if not ok or mpiexec_command(1) is None:
        print("bench_mpi: %s" % (reason or "no mpiexec"), file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="bench_mpi_")
    results = {}
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in args.recipes:
        sets = list(args.set) + (["data_dir=%s" % synthetic_mnist(tmp)] if name == "mnist_mlp" else [])
        for n in args.ranks:
            out = os.path.join(tmp, "%s-%d.json" % (name, n))
            cmd = mpiexec_command(n) + [sys.executable, os.path.abspath(__file__), "--worker",
                                        os.path.join(ROOT, "recipes", name + ".py"), out, "--steps", str(args.steps),
                                        "--warmup", str(args.warmup), "--repeats", str(args.repeats)]  # fmt: skip
            for s in sets:
                cmd += ["--set", s]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                return 1
            with open(out) as fh:
                results[name, n] = json.load(fh)
            print("done %s on %d rank(s); load average %s" % (name, n, " ".join("%.2f" % v for v in os.getloadavg())),
                  flush=True)  # fmt: skip
    report(results, args)
    return 0


def report(results, args):
    print("\n# bench_mpi (%s, %d cores; load average %s)" % (
        next(iter(results.values()))["library"], os.cpu_count(), " ".join("%.2f" % v for v in os.getloadavg())))
    print("\n## throughput (global batch = the recipe's batch_size, split over the ranks)\n")
    print("| recipe | ranks | batch | samples/s | vs 1 rank | grad ms | logs ms | buckets ms | apply ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, n), r in sorted(results.items()):
        base = results.get((name, 1))
        ratio = "%.2fx" % (r["samples_per_s"] / base["samples_per_s"]) if base else "-"
        ms = {k: "%.2f" % (v * 1e3) for k, v in r["parts_s"].items()}
        print("| %s | %d | %d | %.0f | %s | %s | %s | %s | %s |" % (name, n, r["batch"], r["samples_per_s"], ratio,
              ms["grad"], ms["logs"], ms["buckets"], ms["apply"]))  # fmt: skip
    print("\n## all-reduce per bucket: nettrain's comm.allreduce_ vs raw mpi4py Allreduce (medians of %d)\n"
          % args.repeats)
    print("| recipe | ranks | bucket | params | bytes | ours us | raw us | overhead us |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, n), r in sorted(results.items()):
        if n == 1:
            continue
        for i, b in enumerate(r["buckets"] + [r["small"]]):
            label = i if b["params"] else "latency"
            print("| %s | %d | %s | %d | %d | %.1f | %.1f | %+.1f |" % (name, n, label, b["params"], b["bytes"],
                  b["ours_s"] * 1e6, b["raw_s"] * 1e6, (b["ours_s"] - b["raw_s"]) * 1e6))  # fmt: skip
    import timeit

    import numpy as np

    from nettrain.train.distributed.comm import LocalCommunicator

    comm, buf, noop, n = LocalCommunicator(), np.zeros(1 << 20, np.float32), (lambda b: None), 100000
    wrapped = min(timeit.repeat(lambda: comm.on_host(buf, noop), number=n, repeat=5)) / n
    bare = min(timeit.repeat(lambda: noop(buf), number=n, repeat=5)) / n
    print("\nthe wrapper alone (checks, dispatch; no MPI): %.2f us per call, a bare Python call %.2f us" % (
        wrapped * 1e6, bare * 1e6))
    print("\n## cost model (docs/distributed.md): ring all-reduce 2(N-1)/N*S/BW + 2(N-1)*alpha per bucket; weak "
          "scaling, per-rank batch = the recipe's, compute = this machine's 1-rank gradient + update time\n")
    cols = [(net, bw, lat, k) for net, (bw, lat) in NETWORKS.items() for k in SCALES]
    print("| recipe | grad MiB | buckets | quantity | " + " | ".join("%s N=%d" % (c[0].split()[0] + " Gb/s", c[3])
                                                               for c in cols) + " |")  # fmt: skip
    print("|---|---|---|---|" + "---|" * len(cols))
    for (name, n), r in sorted(results.items()):
        if n != 1:
            continue
        compute, nb, size = r["parts_s"]["grad"] + r["parts_s"]["apply"], len(r["buckets"]), r["grad_bytes"]
        lead = "| %s | %.2f | %d | " % (name, size / 2**20, nb)
        ar = [allreduce_time(size, nb, k, bw, lat) for _, bw, lat, k in cols]
        print(lead + "all-reduce ms | " + " | ".join("%.2f" % (t * 1e3) for t in ar) + " |")
        print(lead + "efficiency at compute %.1f ms | " % (compute * 1e3)
              + " | ".join("%.0f%%" % (100 * compute / (compute + t)) for t in ar) + " |")
        print(lead + "compute ms for 90% | " + " | ".join("%.1f" % (9 * t * 1e3) for t in ar) + " |")


if __name__ == "__main__":
    sys.exit(main())
