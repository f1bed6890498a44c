"""How much of a training epoch the checkpoints cost: digits_mlp, 20 epochs, checkpoint every epoch.

Runs the same training with every checkpoint fsynced (``DURABLE_INTERVAL = 0``, the old behaviour)
and with the default policy (fsync at the end, on interruption and at most every
``DURABLE_INTERVAL`` seconds), alternating, and prints the share of the run spent in
``save_checkpoint`` for each.

    python scripts/bench_checkpoint.py [--repeat 3]
"""

import argparse
import os
import statistics
import tempfile
import time

from nettrain.train import Trainer
from nettrain.train import checkpoint as ck
from nettrain.train import trainer as trainer_module
from nettrain.train.recipe import load_recipe, resolve_config


def run(recipe, interval, root):
    ck.DURABLE_INTERVAL = interval
    spent, synced = [0.0], [0.0, 0]
    original, fsync = trainer_module.save_checkpoint, ck._fsync

    def timed_fsync(path):
        t0 = time.perf_counter()
        try:
            return fsync(path)
        finally:
            synced[0] += time.perf_counter() - t0
            synced[1] += 1

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    trainer_module.save_checkpoint, ck._fsync = timed, timed_fsync
    try:
        t = Trainer.from_recipe(recipe, resolve_config(recipe.config, ["epochs=20"]),
                                out_dir=tempfile.mkdtemp(dir=root), progress=False, verbose=False)
        t.compile()
        t0 = time.perf_counter()
        t.fit()
        return time.perf_counter() - t0, spent[0], synced[0], synced[1], len(t.history)
    finally:
        trainer_module.save_checkpoint, ck._fsync = original, fsync


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    recipe = load_recipe("digits_mlp")
    root = tempfile.mkdtemp(dir=".")
    run(recipe, 60.0, root)  # warm the compile cache
    default = ck.DURABLE_INTERVAL if ck.DURABLE_INTERVAL else 60.0
    rows = {"fsync every checkpoint": [], "default policy": []}
    for _ in range(args.repeat):
        rows["fsync every checkpoint"].append(run(recipe, 0.0, root))
        rows["default policy"].append(run(recipe, default, root))
    print("load: %s" % " ".join("%.2f" % v for v in os.getloadavg()))
    for name, values in rows.items():
        total, saving, sync, count, epochs = (statistics.median(v[i] for v in values) for i in range(5))
        print("%-24s %d epochs in %.2f s; writing checkpoints %.3f s (%.1f%%); fsync %.3f s in %d calls: %.2f%% "
              "of the run, so of an average epoch" % (name, epochs, total, saving, 100 * saving / total, sync, count,
                                                      100 * sync / total))


if __name__ == "__main__":
    main()
