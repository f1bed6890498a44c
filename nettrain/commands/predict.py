"""``nettrain predict RECIPE CKPT``: run a trained model on new inputs and write its predictions.

Input (``--input``): ``.npy`` (the array), ``.npz`` (the array ``x``, or its only array), ``.csv``
(one example per row, comma separated, an optional header line; rows are reshaped to the
model's input shape when the number of columns matches) or ``-`` (CSV on standard input).
Without ``--input``, the recipe's test split (else its validation split) is used.

Output (``--output``, default standard output as CSV):

- classifier (a ``(batch, classes)`` output and integer class targets): CSV columns
  ``class,prob_0,...,prob_{k-1}`` (probabilities: the softmax of the logits, or the model's own
  softmax output); ``.npz`` with arrays ``class`` (int64) and ``prob``; ``.npy`` with the classes;
- any other model: CSV columns ``out_0,...`` for a matrix output; ``.npy`` with the output array;
  ``.npz`` with ``output``.

Floats are written with 9 significant digits (float32 round-trips exactly).
"""

import argparse
import io
import os
import sys

from . import UsageError, add_checkpoint, checkpoint_path, error, first_batch, load_trained, set_weights

__all__ = ["add", "read_input", "write_predictions"]

_EPILOG = """\
output: CSV "class,prob_0,...,prob_K" per row for classifiers ("out_0,..." otherwise);
--output FILE.npz holds arrays "class" and "prob" ("output" otherwise), FILE.npy the classes (or the outputs).

examples:
  nettrain predict digits_mlp runs/digits_mlp/version_0/best.h5 --input rows.npy
  nettrain predict digits_mlp runs/digits_mlp/version_0/best.h5 --input rows.csv --output pred.csv
  cat rows.csv | nettrain predict digits_mlp runs/digits_mlp/version_0/best.h5 --input - | head
"""


def add(sub):
    p = sub.add_parser("predict", help="predict with a trained checkpoint", epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run the model of a recipe, with a checkpoint's weights, in inference mode "
                                   "(dropout off, batch norm on running statistics) on new inputs.")  # fmt: skip
    p.add_argument("recipe", help="recipe file or bundled recipe name the checkpoint was trained with")
    add_checkpoint(p)
    p.add_argument("--input", metavar="FILE", help="inputs: .npy, .npz, .csv, or - for CSV on stdin "
                   "(default: the recipe's test data)")
    p.add_argument("--output", metavar="FILE", help="where to write: .csv, .npz or .npy (default: CSV on stdout)")
    p.add_argument("--batch-size", type=int, default=512, help="examples per call (default 512)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a config value")
    p.set_defaults(func=lambda args: run(args, p))


def _from_csv(text, where):
    import numpy as np

    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and not _numeric(lines[0].split(",")[0]):
        lines = lines[1:]  # a header
    if not lines:
        raise UsageError("%s holds no rows" % where)
    try:
        return np.loadtxt(io.StringIO("\n".join(lines)), delimiter=",", ndmin=2)
    except ValueError as exc:
        raise UsageError("%s is not a CSV of numbers: %s" % (where, exc)) from None


def _numeric(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_input(path):
    """The input array from ``path`` (.npy, .npz, .csv) or ``-`` (CSV on stdin)."""
    import numpy as np

    if path == "-":
        return _from_csv(sys.stdin.read(), "standard input")
    if not os.path.isfile(path):
        raise UsageError("input file not found: %s" % path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return np.load(path, allow_pickle=False)
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "x" in z.files:
                return z["x"]
            if len(z.files) == 1:
                return z[z.files[0]]
            raise UsageError("%s holds %s; name the input array x" % (path, ", ".join(z.files)))
    if ext in (".csv", ".txt"):
        with open(path, encoding="utf-8") as fh:
            return _from_csv(fh.read(), path)
    raise UsageError("unknown input format %r: use .npy, .npz, .csv or - (CSV on stdin)" % ext)


def _fit(x, shape, dtype, where):
    """``x`` as the model's input: dtype converted, CSV rows reshaped to the example shape."""
    import numpy as np

    x = np.asarray(x)
    trailing = tuple(shape[1:])
    if x.shape[1:] != trailing:
        if x.ndim == 2 and x.shape[1] == int(np.prod(trailing)):
            x = x.reshape((len(x),) + trailing)
        else:
            raise UsageError("%s has examples of shape %s; the model takes %s (or rows of %d numbers)"
                             % (where, x.shape[1:], trailing, int(np.prod(trailing))))
    if np.dtype(dtype).kind in "iu":
        if not np.all(np.isfinite(x)) or not np.array_equal(x, np.round(x)):
            raise UsageError("%s: the model takes integers (%s), got non-integer values" % (where, dtype))
    return x.astype(dtype)


def write_predictions(result, path, out=None):
    """Write ``{"class", "prob"}`` or ``{"output"}`` to ``path`` (.csv/.npz/.npy) or as CSV to ``out``."""
    import numpy as np

    if path:
        ext = os.path.splitext(path)[1].lower()
        if ext == ".npz":
            np.savez(path, **result)
            return
        if ext == ".npy":
            np.save(path, result["class"] if "class" in result else result["output"])
            return
        if ext not in (".csv", ".txt"):
            raise UsageError("unknown output format %r: use .csv, .npz or .npy" % ext)
    if "class" in result:
        k = result["prob"].shape[1]
        header = ["class"] + ["prob_%d" % i for i in range(k)]
        rows = (["%d" % c] + ["%.9g" % v for v in p] for c, p in zip(result["class"], result["prob"]))
    else:
        y = result["output"]
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            raise UsageError("the model's output has shape %s per example; CSV holds rows of numbers: use "
                             "--output FILE.npy or FILE.npz" % (y.shape[1:],))
        header = ["out_%d" % i for i in range(y.shape[1])]
        rows = (["%.9g" % v for v in r] for r in y)
    fh = open(path, "w", encoding="utf-8") if path else (out or sys.stdout)
    try:
        fh.write(",".join(header) + "\n")
        for r in rows:
            fh.write(",".join(r) + "\n")
    finally:
        if path:
            fh.close()


def run(args, parser):
    import numpy as np

    from ..inference import compile_predict
    from ..train import CheckpointError, ConfigError, RecipeError

    ckpt_path = checkpoint_path(args, parser)
    try:
        if args.batch_size < 1:
            raise UsageError("--batch-size must be positive, got %d" % args.batch_size)
        recipe, config, spec, ckpt = load_trained(args.recipe, ckpt_path, args.set)
        x0, y0 = first_batch(spec["train"])
        if args.input is not None:
            x, where = read_input(args.input), args.input
        else:
            data = spec.get("test") or spec.get("val")
            if data is None:
                raise UsageError("recipe %s has no test or validation data; give --input FILE" % recipe.name)
            where = "the test data" if spec.get("test") is not None else "the validation data"
            x = np.asarray(data[0]) if isinstance(data, (tuple, list)) else data[np.arange(len(data))][0]
        x = _fit(x, x0.shape, x0.dtype, where)
        y0 = np.asarray(y0)
        model = spec["model"]
        predictor = compile_predict(model, x0, batch_size=args.batch_size,
                                    classifier=y0.ndim == 1 and y0.dtype.kind in "iu" and _out_ndim(model, x0) == 2)
        set_weights(model, ckpt)
        result = predictor(x)
        write_predictions(result, args.output)
    except (UsageError, RecipeError, ConfigError, ValueError) as e:
        return error("predict", e, 2)
    except CheckpointError as e:
        return error("predict", e, 1)
    if args.output:
        print("%d predictions -> %s" % (len(x), args.output), file=sys.stderr)
    return 0


def _out_ndim(model, x0):
    from ..inference import _input_like

    out, _ = model.forward(_input_like(x0), training=False)
    return out.type.ndim
