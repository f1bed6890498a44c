"""Sub-commands of ``nettrain`` that live outside :mod:`nettrain.cli` (one module each), and their helpers.

Each module has ``add(subparsers)`` declaring its arguments and setting ``func``;
:data:`nettrain.cli.COMMANDS` lists the adders.  Modules import nettrain's heavy parts only
inside the functions, so that ``nettrain --help`` stays fast.
"""

import sys

__all__ = ["UsageError", "add_checkpoint", "checkpoint_path", "error", "load_trained"]


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def error(command, message, status):
    print("nettrain %s: error: %s" % (command, message), file=sys.stderr)
    return status


def add_checkpoint(p, required=True):
    """The checkpoint argument every command spells the same way: ``CKPT`` positional, ``--checkpoint`` alias."""
    p.add_argument("checkpoint", nargs="?", metavar="CKPT", help="checkpoint file (last.h5, best.h5, or a "
                   "save_weights file)")
    p.add_argument("--checkpoint", dest="checkpoint_option", metavar="CKPT", help="the same, as an option "
                   "(older spelling)")
    p.set_defaults(_checkpoint_required=required)


def checkpoint_path(args, parser):
    """The checkpoint given positionally or with ``--checkpoint`` (argparse error when both or neither)."""
    pos, opt = args.checkpoint, getattr(args, "checkpoint_option", None)
    if pos and opt and pos != opt:
        parser.error("the checkpoint is given twice (%s and --checkpoint %s)" % (pos, opt))
    path = pos or opt
    if path is None and getattr(args, "_checkpoint_required", True):
        parser.error("the following arguments are required: CKPT")
    return path


def load_trained(recipe_arg, ckpt_path, sets=(), build=True):
    """``(recipe, config, spec, checkpoint)``: the recipe built with the checkpoint's config (changed by ``sets``)."""
    import numpy as np

    from ..layers import init
    from ..train import load_checkpoint
    from ..train.recipe import load_recipe, resolve_config

    recipe = load_recipe(recipe_arg)
    ckpt = load_checkpoint(ckpt_path)
    config = resolve_config(recipe.config, list(sets), base=ckpt.config)
    spec = None
    if build:
        init.set_seed(config["seed"])
        np.random.seed(config["seed"] % 2**32)
        spec = recipe.build(config)
    return recipe, config, spec, ckpt


def first_batch(data):
    """``(x, y)`` of the first example of ``(x, y)`` arrays, an ArrayDataset or a DataLoader."""
    import numpy as np

    if isinstance(data, (tuple, list)):
        return np.asarray(data[0])[:1], np.asarray(data[1])[:1]
    ds = getattr(data, "dataset", data)
    return ds[np.arange(1)]


def set_weights(model, ckpt):
    """Load the checkpoint's parameters into the (built) model; strict, every mismatch listed."""
    from ..layers.weights import assign_weights

    assign_weights(model, ckpt.params, strict=True, source=ckpt.path)
