"""``nettrain sample RECIPE CKPT``: generate text from a trained character-level model (``char_rnn``).

The recipe must define ``vocabulary(config)`` returning the model's characters in index order,
and its model must be a ``Sequential`` of an ``Embedding``, recurrent layers and output layers
(see :func:`nettrain.inference.sample_text`).  The text goes to standard output, exactly
``--length`` characters (the prime is not repeated) followed by a newline.
"""

import sys

from . import UsageError, add_checkpoint, checkpoint_path, error, load_trained, set_weights

__all__ = ["add"]


def add(sub):
    p = sub.add_parser("sample", help="generate text from a trained character model",
                       description="Generate text with a checkpoint of a character-level recipe (e.g. char_rnn); "
                                   "the same arguments and --seed give the same text.")  # fmt: skip
    p.add_argument("recipe", help="recipe file or bundled recipe name, e.g. char_rnn")
    add_checkpoint(p)
    p.add_argument("--length", type=int, default=500, help="characters to generate (default 500)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="below 1: safer, above 1: wilder, 0: always the most likely character (default 1.0)")
    p.add_argument("--prime", default="", help="text to start from (default: a random character)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a config value")
    p.set_defaults(func=lambda args: run(args, p))


def run(args, parser):
    from ..inference import compile_step, sample_text
    from ..train import CheckpointError, ConfigError, RecipeError
    from ..train.recipe import Config

    ckpt_path = checkpoint_path(args, parser)
    try:
        if args.length < 0:
            raise UsageError("--length must be >= 0, got %d" % args.length)
        recipe, config, spec, ckpt = load_trained(args.recipe, ckpt_path, args.set)
        vocabulary = getattr(recipe.module, "vocabulary", None)
        if vocabulary is None:
            raise UsageError("recipe %s defines no vocabulary(config) (the characters, in index order); "
                             "sampling needs one" % recipe.name)
        vocab = list(vocabulary(Config(config)))
        model = spec["model"]
        compile_step(model)  # builds lazily created layers, so the checkpoint can be checked against them
        set_weights(model, ckpt)
        text = sample_text(model, vocab, args.length, args.temperature, args.prime, args.seed)
    except (UsageError, RecipeError, ConfigError, ValueError) as e:
        return error("sample", e, 2)
    except CheckpointError as e:
        return error("sample", e, 1)
    sys.stdout.write(text + "\n")
    return 0
