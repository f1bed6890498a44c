"""``nettrain export RECIPE CKPT model.onnx``: write a trained model as ONNX (``pip install 'nettrain[onnx]'``).

The graph takes the recipe's inputs (same dtype and per-example shape, any batch size) under
the name ``x`` and returns the model's output (logits for the bundled classifiers) as ``y``.
"""

import sys

from . import UsageError, add_checkpoint, checkpoint_path, error, first_batch, load_trained, set_weights

__all__ = ["add"]


def add(sub):
    p = sub.add_parser("export", help="export a trained checkpoint to ONNX",
                       description="Write the inference-mode model of a recipe, with a checkpoint's weights, as an "
                                   "ONNX file (input 'x', output 'y', dynamic batch axis). Needs the onnx package: "
                                   "pip install 'nettrain[onnx]'.")  # fmt: skip
    p.add_argument("recipe", help="recipe file or bundled recipe name the checkpoint was trained with")
    add_checkpoint(p)
    p.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--dtype", choices=["float32", "float64", "model"], default="float32",
                   help="float dtype of the exported weights and computation (default float32; 'model': as trained)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a config value")
    p.set_defaults(func=lambda args: run(args, p))


def run(args, parser):
    from ..train import CheckpointError, ConfigError, RecipeError

    ckpt_path = checkpoint_path(args, parser)
    try:
        from ..onnx import UnsupportedOpError, export
    except ImportError as e:
        return error("export", e, 2)
    try:
        recipe, config, spec, ckpt = load_trained(args.recipe, ckpt_path, args.set)
        x0, _ = first_batch(spec["train"])
        model = spec["model"]
        from ..inference import _input_like

        model.forward(_input_like(x0), training=False)  # creates lazily built parameters
        set_weights(model, ckpt)
        export(model, x0, args.output, opset=args.opset, dtype=None if args.dtype == "model" else args.dtype)
    except ImportError as e:
        return error("export", e, 2)
    except (UsageError, RecipeError, ConfigError, UnsupportedOpError, ValueError) as e:
        return error("export", e, 2)
    except CheckpointError as e:
        return error("export", e, 1)
    print("wrote %s (input x: %s %s, batch axis dynamic)" % (args.output, x0.dtype, tuple(x0.shape[1:])),
          file=sys.stderr)
    return 0
