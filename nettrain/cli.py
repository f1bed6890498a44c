"""The ``nettrain`` command line: ``nettrain <command> ...`` (also ``python -m nettrain``).

Each command is one ``_add_<command>(subparsers)`` function that declares its
arguments and sets ``func`` to the function running it; add a new command by
writing such a pair and listing the adder in ``COMMANDS``.

Examples
--------
>>> from nettrain.cli import main
>>> main(["cache", "list", "--compiledir", "/nonexistent"])
no compile cache at /nonexistent
0
"""

import argparse
import json
import os
import sys
import time

__all__ = ["main", "build_parser"]


# ---------------------------------------------------------------- formatting helpers


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0


def _age(seconds):
    seconds = max(0.0, seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return "%d%s" % (seconds // length, unit)
    return "%ds" % seconds


# ---------------------------------------------------------------- nettrain cache


def _add_cache(sub):
    p = sub.add_parser("cache", help="inspect or clear the compile cache",
                       description="Inspect or clear the on-disk cache of compiled C code.")  # fmt: skip
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--compiledir", help="cache directory (default: config.compiledir)")

    a = actions.add_parser("list", parents=[common], help="entries with sizes, ages and status")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=cmd_cache_list)
    a = actions.add_parser("clear", parents=[common], help="remove entries (skips those being compiled)")
    a.add_argument("--older-than", type=float, metavar="DAYS", help="only remove entries older than DAYS")
    a.set_defaults(func=cmd_cache_clear)
    a = actions.add_parser("info", parents=[common], help="cache location, toolchain and totals")
    a.set_defaults(func=cmd_cache_info)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser):
    parser.print_help(sys.stderr)
    return 2


def _compiledir(args):
    from .configdefaults import config

    return os.path.abspath(args.compiledir or config.compiledir)


def cmd_cache_list(args):
    """``nettrain cache list``: one line per entry, then the total."""
    from .backends.c.cache import list_entries

    root = _compiledir(args)
    entries = list_entries(root)
    if args.json:
        print(json.dumps({"compiledir": root, "entries": entries}, indent=1))
        return 0
    if not os.path.isdir(root):
        print("no compile cache at %s" % root)
        return 0
    now = time.time()
    if entries:
        print("%-16s %10s %6s  %s" % ("KEY", "SIZE", "AGE", "STATUS"))
    for e in sorted(entries, key=lambda e: -e["mtime"]):
        print("%-16s %10s %6s  %s" % (e["key"][:16], _size(e["size"]), _age(now - e["mtime"]), e["status"]))
    bad = sum(not e["status"].startswith("ok") for e in entries)
    print("%d entries, %s in %s%s" % (len(entries), _size(sum(e["size"] for e in entries)), root,
                                      " (%d not ok)" % bad if bad else ""))  # fmt: skip
    return 0


def cmd_cache_clear(args):
    """``nettrain cache clear``: remove entries; builds in progress are left alone."""
    from .backends.c.cache import clear_cache

    root = _compiledir(args)
    if not os.path.isdir(root):
        print("no compile cache at %s" % root)
        return 0
    older = None if args.older_than is None else args.older_than * 86400.0
    try:
        done = clear_cache(root, older_than=older)
    except OSError as e:
        print("cannot clear %s: %s" % (root, e), file=sys.stderr)
        return 1
    msg = "removed %d entries (%s) from %s" % (done["removed"], _size(done["bytes"]), root)
    if done["busy"]:
        msg += "; skipped %d being compiled by another process" % done["busy"]
    print(msg)
    return 0


def cmd_cache_info(args):
    """``nettrain cache info``: where the cache is, whether it is usable, and the toolchain in the keys."""
    from .backends.c import compiler
    from .backends.c.cache import FORMAT, is_writable, list_entries, toolchain_info

    root = _compiledir(args)
    entries = list_entries(root, verify=False)
    print("compiledir:  %s" % root)
    if not os.path.isdir(root):
        print("writable:    not created yet")
    else:
        print("writable:    %s" % ("yes" if is_writable(root) else "no (builds fall back to a temporary directory)"))
    print("entries:     %d, %s" % (len(entries), _size(sum(e["size"] for e in entries))))
    print("format:      %d" % FORMAT)
    info = compiler.compiler_info()
    print("compiler:    %s" % (" ".join(info) if info else "none (C backend unavailable)"))
    if info:
        tc = toolchain_info()
        print("flags:       %s" % " ".join(tc["flags"]))
        print("key inputs:  cpu=%s python=%s numpy=%s nettrain=%s"
              % (tc["cpu"], tc["python"][0], tc["numpy"], tc["nettrain"]))  # fmt: skip
    return 0


# ---------------------------------------------------------------- nettrain train / eval / inspect

_TRAIN_EPILOG = """\
The run directory (--out, default runs/<recipe>/version_<N>, the next free N) receives
last.h5 and best.h5 (HDF5 checkpoints), the TensorBoard event file (tensorboard --logdir runs)
and config.json (the resolved config).  Ctrl-C finishes the current batch, saves last.h5 and
exits with status 130; --resume continues from it exactly.  Exit status 2: bad arguments,
recipe or config; 1: a checkpoint problem or a diverged run.

examples:
  nettrain train recipes/digits_mlp.py
  nettrain train recipes/digits_mlp.py --epochs 5 --set hidden=64 --out runs/small
  nettrain train recipes/digits_mlp.py --out runs/small --resume --epochs 10
"""


class _UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def _add_train(sub):
    p = sub.add_parser("train", help="train a recipe", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train the model of a recipe file (a Python file with CONFIG and build(config)).",
                       epilog=_TRAIN_EPILOG)  # fmt: skip
    p.add_argument("recipe", help="recipe file, e.g. recipes/digits_mlp.py")
    p.add_argument("--epochs", type=int, help="total number of epochs (a resumed run trains up to this many)")
    p.add_argument("--batch-size", type=int, help="minibatch size")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seed", type=int, help="seed of initialization, data order and dropout")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<recipe>/version_<N>)")
    p.add_argument("--resume", nargs="?", const="", metavar="CKPT",
                   help="continue from CKPT, or from last.h5 of --out (default: the newest run of this recipe); "
                        "the checkpoint's config is used, changed by the options given here")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a config value, type checked against the recipe's default (repeatable); "
                        "trainer settings too, e.g. --set early_stopping=5 --set grad_accum=2")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a terminal)")
    p.add_argument("--threads", type=_threads_arg, metavar="N",
                   help="BLAS / OpenMP threads (config.blas_threads; default: the cores available to the process)")
    p.set_defaults(func=cmd_train)


def _threads_arg(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError("expected a number of threads >= 1, got %r" % text)
    return n


def _add_eval(sub):
    p = sub.add_parser("eval", help="evaluate a checkpoint on a recipe's data",
                       description="Evaluate the weights of a checkpoint on the recipe's test (and validation) data. "
                                   "The model is built with the checkpoint's config.")  # fmt: skip
    p.add_argument("recipe", help="recipe file the checkpoint was trained with")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint file (last.h5, best.h5)")
    p.add_argument("--split", choices=["test", "val", "train", "all"], default="all",
                   help="which data to evaluate (default: every split the recipe has except train)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a config value")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_eval)


def _add_inspect(sub):
    p = sub.add_parser("inspect", help="summarize a checkpoint",
                       description="Verify a checkpoint (checksum, format) and list its counters, config keys, "
                                   "random states, parameters and optimizer slots.")  # fmt: skip
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file")
    p.set_defaults(func=cmd_inspect)


def _error(command, message, status):
    print("nettrain %s: error: %s" % (command, message), file=sys.stderr)
    return status


def _runs(name):
    """Existing ``runs/<name>/version_<N>`` directories, oldest first."""
    root = os.path.join("runs", name)
    found = []
    for entry in os.listdir(root) if os.path.isdir(root) else ():
        if entry.startswith("version_") and entry[8:].isdigit():
            found.append((int(entry[8:]), os.path.join(root, entry)))
    return [d for _, d in sorted(found)]


def _check_writable(directory):
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, ".nettrain-write-test-%d" % os.getpid())
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise _UsageError("cannot write to the output directory %s: %s" % (directory, e.strerror or e)) from None


def _train_paths(args, name):
    """``(out_dir, checkpoint to resume or None)`` from --out and --resume."""
    if args.resume is None:
        if args.out is None:
            runs = _runs(name)
            n = int(os.path.basename(runs[-1])[8:]) + 1 if runs else 0
            return os.path.join("runs", name, "version_%d" % n), None
        if os.path.exists(os.path.join(args.out, "last.h5")):
            raise _UsageError("%s already holds a run (last.h5); continue it with --resume, or choose another --out"
                              % args.out)
        return args.out, None
    if args.resume:
        return args.out or os.path.dirname(os.path.abspath(args.resume)), args.resume
    out = args.out
    if out is None:
        runs = [d for d in _runs(name) if os.path.exists(os.path.join(d, "last.h5"))]
        if not runs:
            raise _UsageError("nothing to resume: no runs/%s/version_*/last.h5; give the checkpoint (--resume CKPT) "
                              "or the run directory (--out DIR)" % name)
        out = runs[-1]
    ckpt = os.path.join(out, "last.h5")
    if not os.path.exists(ckpt) and not os.path.exists(ckpt + ".prev"):
        raise _UsageError("nothing to resume: %s does not exist" % ckpt)
    return out, ckpt


def cmd_train(args):
    """``nettrain train``: resolve the config, build the recipe, train, evaluate on the test split."""
    if args.threads:  # for this command only (tests call main() repeatedly in one process)
        from .configdefaults import config as nt_config

        with nt_config.change_flags(blas_threads=args.threads):
            return _cmd_train(args)
    return _cmd_train(args)


def _cmd_train(args):
    from .train import CheckpointError, ConfigError, NonFiniteLossError, RecipeError, Trainer, load_checkpoint
    from .train.recipe import load_recipe, resolve_config

    try:
        recipe = load_recipe(args.recipe)
        out, ckpt_path = _train_paths(args, recipe.name)
        ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
        flags = [(k, getattr(args, k)) for k in ("epochs", "batch_size", "lr", "seed") if getattr(args, k) is not None]
        config = resolve_config(recipe.config, flags + list(args.set), base=ckpt.config if ckpt else None)
        trainer = Trainer.from_recipe(recipe, config, out_dir=out, progress=False if args.no_progress else None)
        _check_writable(out)  # after every other check, so a failed command leaves no empty directory
        print("%s %s -> %s" % ("resuming" if ckpt else "training", recipe.name, out), flush=True)
        result = trainer.fit(resume=ckpt)
    except (_UsageError, RecipeError, ConfigError) as e:
        return _error("train", e, 2)
    except (CheckpointError, NonFiniteLossError) as e:
        return _error("train", e, 1)
    except KeyboardInterrupt:
        return _error("train", "interrupted", 130)
    if result["status"] == "interrupted":
        print("resume with: nettrain train %s --out %s --resume" % (args.recipe, out))
        return 130
    print("checkpoint: %s" % result["checkpoint"])
    return 0


def cmd_eval(args):
    """``nettrain eval``: load a checkpoint's weights into the recipe's model and evaluate."""
    from .train import CheckpointError, ConfigError, RecipeError, Trainer, load_checkpoint
    from .train.recipe import load_recipe, resolve_config

    try:
        recipe = load_recipe(args.recipe)
        ckpt = load_checkpoint(args.checkpoint)
        config = resolve_config(recipe.config, list(args.set), base=ckpt.config)
        trainer = Trainer.from_recipe(recipe, config, verbose=False)
        trainer.load_checkpoint(ckpt, weights_only=True)
        splits = {"test": trainer.test_data, "val": trainer.val, "train": trainer.loader.dataset}
        wanted = ["test", "val"] if args.split == "all" else [args.split]
        results = {s: trainer.evaluate(splits[s]) for s in wanted if splits[s] is not None}
        if not results:
            raise _UsageError("the recipe has no %s data" % " or ".join(wanted))
    except (_UsageError, RecipeError, ConfigError) as e:
        return _error("eval", e, 2)
    except CheckpointError as e:
        return _error("eval", e, 1)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for split, metrics in results.items():
            print("%-5s %s" % (split, "  ".join("%s %.4f" % kv for kv in metrics.items())))
    return 0


def cmd_inspect(args):
    """``nettrain inspect``: a verified summary of a checkpoint."""
    from .train import CheckpointError, inspect_checkpoint

    try:
        print(inspect_checkpoint(args.checkpoint))
    except CheckpointError as e:
        return _error("inspect", e, 1)
    return 0


# ---------------------------------------------------------------- nettrain doctor


def _add_doctor(sub):
    p = sub.add_parser("doctor", help="what the CUDA backend can use here (driver, GPU, nvcc, pycuda, cuBLAS)",
                       description="Report the NVIDIA driver, GPUs, nvcc, pycuda and cuBLAS, and what is missing.")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args):
    """``nettrain doctor``: the CUDA report; 0 when a GPU can run kernels."""
    from .backends.cuda.doctor import main as doctor

    return doctor()


# ---------------------------------------------------------------- entry point

COMMANDS = [_add_train, _add_eval, _add_inspect, _add_cache, _add_doctor]


def build_parser():
    """The argparse parser with one sub-command per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="nettrain", description="nettrain: train recipes, evaluate and inspect "
                                     "checkpoints, manage the compile cache. `nettrain COMMAND --help` explains each.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        return _usage(parser)
    return args.func(args)
