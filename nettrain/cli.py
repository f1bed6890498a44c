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
import errno
import json
import os
import sys
import time

from .commands import add_checkpoint, checkpoint_path

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

    a = actions.add_parser("list", parents=[common], help="entries with the functions using them, sizes, last use")
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
        print("%-16s %9s %9s  %-8s %s" % ("KEY", "SIZE", "LAST USE", "STATUS", "FUNCTIONS"))
    for e in sorted(entries, key=lambda e: -e["mtime"]):
        names = ", ".join(e.get("names") or []) or "-"
        print("%-16s %9s %9s  %-8s %s" % (e["key"][:16], _size(e["size"]), _age(now - e["mtime"]) + " ago",
                                           e["status"], names))  # fmt: skip
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
  mpiexec -n 4 nettrain train recipes/digits_mlp.py   # data-parallel on 4 processes (pip install 'nettrain[mpi]')
"""


class _UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def _add_train(sub):
    p = sub.add_parser("train", help="train a recipe", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train the model of a recipe file (a Python file with CONFIG and build(config)).",
                       epilog=_TRAIN_EPILOG)  # fmt: skip
    p.add_argument("recipe", help="recipe file (recipes/digits_mlp.py) or bundled recipe name (digits_mlp; see "
                   "nettrain recipes)")
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
    p.add_argument("--profile", action="store_true", help="profile the step functions: profile.txt in the run "
                   "directory, totals in TensorBoard (same as --set profile=true)")
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
    p.add_argument("recipe", help="recipe file or bundled recipe name the checkpoint was trained with")
    add_checkpoint(p)
    p.add_argument("--split", choices=["test", "val", "train", "all"], default="all",
                   help="which data to evaluate (default: every split the recipe has except train)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a config value")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=lambda args: cmd_eval(args, p))


def _add_inspect(sub):
    p = sub.add_parser("inspect", help="summarize a checkpoint, or a recipe's model",
                       description="Verify a checkpoint (checksum, format) and list its counters, config keys, "
                                   "random states, parameters and optimizer slots; or, given a recipe (a .py "
                                   "file or a bundled recipe's name), print its model's layers, output shapes and "
                                   "parameter counts.")  # fmt: skip
    add_checkpoint(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a recipe config value (with a recipe)")
    p.set_defaults(func=lambda args: cmd_inspect(args, p))


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


def train_flags(args):
    """``nettrain train``'s config overrides: its own flags (``--epochs``, ``--profile``, ...), then ``--set``."""
    flags = [(k, getattr(args, k)) for k in ("epochs", "batch_size", "lr", "seed") if getattr(args, k) is not None]
    flags += [("profile", True)] if args.profile else []
    return flags + list(args.set)


def cmd_train(args):
    """``nettrain train``: resolve the config, build the recipe, train, evaluate on the test split."""
    from . import sigint

    previous = sigint.catch()  # before any work: a Ctrl-C from the first moment stops the run (exit 130)
    try:
        if args.threads:  # for this command only (tests call main() repeatedly in one process)
            from .configdefaults import config as nt_config

            with nt_config.change_flags(blas_threads=args.threads):
                return _train(args)
        return _train(args)
    except KeyboardInterrupt:  # e.g. while _train imports the training code
        return _error("train", "interrupted", 130)
    finally:
        sigint.restore(previous)


def _train(args):
    from .train.distributed.env import launched_by_mpi

    try:
        distributed = launched_by_mpi()
    except ValueError as e:  # a bad NETTRAIN_MPI
        return _error("train", e, 2)
    if distributed:  # mpiexec -n N nettrain train ...: data-parallel on N processes
        from .cli_mpi import cmd_train_mpi

        return cmd_train_mpi(args)
    from .compile.nanguardmode import NanGuardError
    from .train import CheckpointError, ConfigError, NonFiniteLossError, RecipeError, Trainer, load_checkpoint
    from .train.recipe import load_recipe, resolve_config

    out = None
    try:
        recipe = load_recipe(args.recipe)
        out, ckpt_path = _train_paths(args, recipe.name)
        ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
        config = resolve_config(recipe.config, train_flags(args), base=ckpt.config if ckpt else None)
        trainer = Trainer.from_recipe(recipe, config, out_dir=out, progress=False if args.no_progress else None)
        _check_writable(out)  # after every other check, so a failed command leaves no empty directory
        print("%s %s -> %s" % ("resuming" if ckpt else "training", recipe.name, out), flush=True)
        from .train.inspection import model_summary

        print(model_summary(trainer), flush=True)
        result = trainer.fit(resume=ckpt)
    except (_UsageError, RecipeError, ConfigError) as e:
        return _error("train", e, 2)
    except (CheckpointError, NonFiniteLossError, NanGuardError) as e:
        return _error("train", e, 1)
    except OSError as e:  # a full disk outside the checkpoint writer (TensorBoard events, config.json)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        return _error("train", "%s (checkpoints already written are intact)" % e, 1)
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, after the last checkpoint written
        _error("train", "interrupted", 130)
        if out is not None:
            _resume_hint(args.recipe, out, sys.stderr)
        return 130
    if result["status"] == "interrupted":
        _resume_hint(args.recipe, out, sys.stdout)
        return 130
    print("checkpoint: %s" % result["checkpoint"])
    return 0


def _resume_hint(recipe, out, stream):
    """How to continue, printed on every interruption (also a second Ctrl-C before anything was saved)."""
    if os.path.exists(os.path.join(out, "last.h5")):
        print("resume with: nettrain train %s --out %s --resume" % (recipe, out), file=stream, flush=True)
    else:
        print("no checkpoint was written yet; start again with: nettrain train %s --out %s" % (recipe, out),
              file=stream, flush=True)


def cmd_eval(args, parser=None):
    """``nettrain eval``: load a checkpoint's weights into the recipe's model and evaluate."""
    from .train import CheckpointError, ConfigError, RecipeError, Trainer, load_checkpoint
    from .train.recipe import load_recipe, resolve_config

    path = checkpoint_path(args, parser) if parser is not None else args.checkpoint
    try:
        recipe = load_recipe(args.recipe)
        ckpt = load_checkpoint(path)
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


def cmd_inspect(args, parser=None):
    """``nettrain inspect``: a verified summary of a checkpoint."""
    from .train import CheckpointError, inspect_checkpoint

    path = checkpoint_path(args, parser) if parser is not None else args.checkpoint
    if _names_recipe(path):
        return _inspect_recipe(args, path)
    if args.set:
        return _error("inspect", "--set changes a recipe's config; a checkpoint is shown as it was saved", 2)
    try:
        print(inspect_checkpoint(path))
    except CheckpointError as e:
        return _error("inspect", e, 1)
    return 0


def _names_recipe(path):
    """Whether ``nettrain inspect``'s argument is a recipe (a .py file or a bundled recipe's name)."""
    if path.endswith(".py"):
        return True
    if os.path.exists(path) or "/" in path or os.sep in path:
        return False
    from .recipes import recipe_path

    return recipe_path(path) is not None


def _inspect_recipe(args, path):
    """``nettrain inspect RECIPE``: the model summary of a recipe (its data gives the input shape)."""
    from .train import ConfigError, RecipeError, Trainer
    from .train.inspection import model_summary
    from .train.recipe import load_recipe, resolve_config

    try:
        recipe = load_recipe(path)
        trainer = Trainer.from_recipe(recipe, resolve_config(recipe.config, list(args.set)), progress=False,
                                      verbose=False)  # fmt: skip
        print("%s: %s" % (recipe.name, type(trainer.model).__name__))
        print(model_summary(trainer))
    except (RecipeError, ConfigError) as e:
        return _error("inspect", e, 2)
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

def _add_after_training(sub):
    from .commands import export, predict, recipes, sample

    for module in (predict, sample, export, recipes):
        module.add(sub)


COMMANDS = [_add_train, _add_eval, _add_inspect, _add_after_training, _add_cache, _add_doctor]


def _version():
    from ._version import version

    return "nettrain %s" % version()


class _Version(argparse.Action):
    """``--version``: the version string, read only when asked (no import of nettrain's compiler)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def build_parser():
    """The argparse parser with one sub-command per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="nettrain", description="nettrain: train recipes, predict, sample and "
                                     "export with checkpoints, evaluate and inspect them, manage the compile cache. "
                                     "`nettrain COMMAND --help` explains each.")  # fmt: skip
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser):
    """Give every sub-command's namespace its own parser, so errors print that command's usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                _remember_parsers(sub)


def _quiet_broken_pipe():
    """``nettrain ... | head``: the reader left; stop writing without a traceback (exit status 141, as a shell)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except (OSError, ValueError, AttributeError):
        pass
    return 141


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Bad arguments print the command's usage and one error line and exit with status 2.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the sub-command that got them, with its own usage line
        getattr(args, "_parser", parser).error("unrecognized arguments: %s" % " ".join(extra))
    if getattr(args, "func", None) is None:
        return _usage(parser)
    from . import _load_all

    _load_all()  # what `import nettrain` loads outside the CLI (deferred so that --help answers at once)
    try:
        status = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return status
