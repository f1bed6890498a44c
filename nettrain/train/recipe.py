"""Recipes: plain Python files that describe a training job, and their configs.

A recipe is a ``.py`` file with two names::

    from nettrain import layers as L, losses, metrics
    from nettrain.optimizers import Adam
    from nettrain.train import load_digits, train_val_split

    CONFIG = dict(epochs=20, batch_size=32, lr=3e-3, seed=0, hidden=256)

    def build(config):
        (x, y), test = load_digits(flatten=True)
        train, val = train_val_split(x, y, 0.1, seed=config.seed)
        model = L.Sequential([L.Dense(config.hidden, activation="relu"), L.Dense(10)], seed=config.seed)
        return dict(model=model, loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy},
                    optimizer=Adam(config.lr), train=train, val=val, test=test)

``CONFIG`` holds every setting with its default; its values' types are what
``--set key=value`` is checked against.  ``epochs``, ``batch_size``, ``lr`` and
``seed`` are required (the CLI has flags for them).  The Trainer's own settings
(:data:`TRAINER_DEFAULTS`: ``grad_accum``, ``checkpoint_every``, ``early_stopping``, ...)
may be given in ``CONFIG`` too, and can always be ``--set``.

``build(config)`` gets the resolved config (a dict whose keys are also attributes)
and returns a dict:

=============  ==================================================================
``model``      a :class:`nettrain.layers.Layer`; ``model.forward(x, training)``
``loss``       ``loss(output, target) -> scalar`` (e.g. ``losses.categorical_crossentropy``)
``optimizer``  a :class:`nettrain.optimizers.Optimizer`
``train``      ``(x, y)`` arrays, an ``ArrayDataset`` or a ``DataLoader``
``val``        optional ``(x, y)``: evaluated after each epoch (``val_loss``, ``val_acc``)
``test``       optional ``(x, y)``: evaluated once after training and by ``nettrain eval``
``metrics``    optional ``{name: fn(output, target)}``
``schedule``   optional :mod:`nettrain.schedules` schedule for the learning rate
``hooks``      optional list of extra :mod:`nettrain.train.hooks` hooks
=============  ==================================================================

A batch is ``(x, y)``: the model sees ``x``, the loss and metrics ``(output, y)``.
The symbolic inputs are made from the arrays' dtypes and trailing shapes, so
layers can infer their input sizes.
"""

import ast
import difflib
import importlib.util
import os
import sys
import traceback

__all__ = ["Recipe", "RecipeError", "ConfigError", "Config", "TRAINER_DEFAULTS", "load_recipe", "resolve_config",
           "parse_set", "apply_overrides"]  # fmt: skip

#: Trainer settings every recipe has (a recipe's CONFIG may change their defaults).
TRAINER_DEFAULTS = dict(
    grad_accum=1,  # batches whose gradients are averaged into one optimizer step
    eval_batch_size=512,  # batch size for validation and test
    checkpoint_every=1,  # write last.h5 every N epochs (0: only at the end and on interrupt)
    checkpoint_every_steps=0,  # also every N optimizer steps (0: off)
    monitor="",  # metric deciding "best" (default: val_loss, or loss without a validation split)
    early_stopping=0,  # stop after N epochs without improvement and restore the best weights (0: off)
    plateau_patience=0,  # multiply the learning rate by plateau_factor after N epochs without improvement (0: off)
    plateau_factor=0.5,
    min_lr=0.0,
    stop_on_nan=True,  # stop with a clear error when the loss becomes NaN or Inf
    log_every=10,  # TensorBoard train/batch_loss every N optimizer steps
    histogram_every=5,  # parameter histograms every N epochs (0: off)
    allreduce_bucket_mb=4.0,  # under mpiexec: gradients are all-reduced in buckets of this many MiB
    average_bn_stats=False,  # under mpiexec: average batch-norm running statistics over ranks each step
    nan_guard=False,  # run the training step under NanGuardMode: the first NaN/Inf names its node and line
    profile=False,  # profile the step functions: profile.txt in the run directory, totals in TensorBoard
)
REQUIRED = ("epochs", "batch_size", "lr", "seed")


class RecipeError(Exception):
    """A recipe file is missing, does not load, lacks CONFIG or build, or its build failed."""


class ConfigError(ValueError):
    """An unknown config key or a value of the wrong type."""


class Config(dict):
    """A dict whose keys are also attributes (``config.lr``); nested dicts too.

    Examples
    --------
    >>> from nettrain.train.recipe import Config
    >>> c = Config(lr=0.1, opt=dict(beta=0.9))
    >>> c.lr, c.opt.beta
    (0.1, 0.9)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for k, v in self.items():
            if isinstance(v, dict) and not isinstance(v, Config):
                self[k] = Config(v)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError("config has no key %r; keys: %s" % (key, ", ".join(self))) from None


class Recipe:
    """A loaded recipe: ``name``, ``path``, ``config`` (defaults incl. the Trainer's) and ``build``."""

    def __init__(self, path, module):
        self.path, self.module = path, module
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.config = dict(module.CONFIG)
        self.config.update({k: v for k, v in TRAINER_DEFAULTS.items() if k not in self.config})
        self._build = module.build

    def build(self, config):
        """Call the recipe's ``build(config)`` and check what it returns."""
        try:
            spec = self._build(Config(config))
        except Exception as exc:
            raise RecipeError("recipe %s: build(config) failed: %s: %s%s"
                              % (self.path, type(exc).__name__, exc, _where(exc, self.path))) from exc
        if not isinstance(spec, dict):
            raise RecipeError("recipe %s: build(config) must return a dict, got %s" % (self.path, type(spec).__name__))
        missing = [k for k in ("model", "loss", "optimizer", "train") if spec.get(k) is None]
        if missing:
            raise RecipeError("recipe %s: build(config) returned no %s" % (self.path, ", ".join(missing)))
        return spec

    def __repr__(self):
        return "Recipe(%r)" % self.path


def _where(exc, path):
    """`` (recipe.py, line 12)`` for the innermost frame of ``exc`` in the recipe file, else ''."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == path]
    return " (%s, line %d)" % (os.path.basename(path), frames[-1].lineno) if frames else ""


def load_recipe(path):
    """Load a recipe file, or a bundled recipe by name (``"digits_mlp"``, see :mod:`nettrain.recipes`).

    Raises
    ------
    RecipeError
        The file is missing, raises while loading (syntax or import errors, with the line),
        or lacks a ``CONFIG`` dict with ``epochs``, ``batch_size``, ``lr``, ``seed``, or a ``build`` function.

    Examples
    --------
    >>> from nettrain.train.recipe import load_recipe
    >>> load_recipe("/nonexistent/r.py")
    Traceback (most recent call last):
    ...
    nettrain.train.recipe.RecipeError: recipe not found: /nonexistent/r.py
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.sep not in path and "/" not in path and not path.endswith(".py"):
        from ..recipes import available, recipe_path

        if recipe_path(path) is None:  # a bare name is a bundled recipe
            raise RecipeError("no bundled recipe named %r (bundled: %s; or give a recipe file)"
                              % (path, ", ".join(available())))
        path = recipe_path(path)
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise RecipeError("recipe not found: %s" % path)
    if not path.endswith(".py"):
        raise RecipeError("a recipe is a Python file ending in .py, got %s" % path)
    name = "nettrain_recipe_" + "".join(c if c.isalnum() else "_" for c in os.path.basename(path)[:-3])
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
    sys.modules[name] = module  # lets the recipe define dataclasses, pickle, etc.
    try:
        module.__spec__.loader.exec_module(module)
    except SyntaxError as exc:
        raise RecipeError("recipe %s does not parse: %s (line %s)" % (path, exc.msg, exc.lineno)) from exc
    except Exception as exc:
        raise RecipeError("recipe %s failed to load: %s: %s%s" % (path, type(exc).__name__, exc, _where(exc, path))) \
            from exc
    config = getattr(module, "CONFIG", None)
    if not isinstance(config, dict):
        raise RecipeError("recipe %s has no CONFIG dict (CONFIG = dict(epochs=..., batch_size=..., lr=..., seed=...))"
                          % path)
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise RecipeError("recipe %s: CONFIG lacks %s" % (path, ", ".join(missing)))
    if not callable(getattr(module, "build", None)):
        raise RecipeError("recipe %s has no build(config) function" % path)
    return Recipe(path, module)


# ---------------------------------------------------------------------------- overrides


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _convert(key, text, default):
    """``text`` parsed as a value of ``default``'s type, or ConfigError."""
    def bad(kind):
        return ConfigError("bad value for %s: %r is not %s (the current value is %r)" % (key, text, kind, default))

    if isinstance(default, bool):
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise bad("a bool (true/false)")
    if isinstance(default, int):
        try:
            return int(text.strip().replace("_", ""))
        except ValueError:
            raise bad("an integer") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise bad("a number") from None
    if isinstance(default, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if default is None:
            return text  # an optional string setting
        raise bad("a Python literal") from None
    if default is None:
        return value
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if isinstance(default, dict) and isinstance(value, dict):
        return value
    raise bad("a %s" % type(default).__name__)


def parse_set(item):
    """Split ``"key=value"`` (from ``--set``) into ``(key, text)``."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set expects key=value, got %r" % (item,))
    return key.strip(), text


def _unknown(key, known):
    close = difflib.get_close_matches(key, known, n=3)
    hint = " (did you mean %s?)" % " or ".join(close) if close else ""
    return ConfigError("unknown config key %r%s; known keys: %s" % (key, hint, ", ".join(sorted(known))))


def apply_overrides(config, items):
    """A copy of ``config`` with ``key=value`` strings applied; dotted keys reach into nested dicts.

    Values are parsed as the type of the current value (bool, int, float, str, list, ...).

    Examples
    --------
    >>> from nettrain.train.recipe import apply_overrides
    >>> apply_overrides({"lr": 0.1, "layers": [64], "deep": {"on": False}}, ["lr=1e-2", "layers=[8, 8]", "deep.on=yes"])
    {'lr': 0.01, 'layers': [8, 8], 'deep': {'on': True}}
    >>> apply_overrides({"lr": 0.1}, ["rl=1"])
    Traceback (most recent call last):
    ...
    nettrain.train.recipe.ConfigError: unknown config key 'rl'; known keys: lr
    """
    import copy

    config = copy.deepcopy(dict(config))
    for item in items:
        key, text = parse_set(item) if isinstance(item, str) else item
        node, parts = config, key.split(".")
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                raise _unknown(".".join(parts[:depth + 1]) + "." + parts[depth + 1], _keys(config))
            node = node[part]
        if parts[-1] not in node:
            raise _unknown(key, _keys(config))
        node[parts[-1]] = text if not isinstance(text, str) else _convert(key, text, node[parts[-1]])
    return config


def _keys(config, prefix=""):
    out = []
    for k, v in config.items():
        out += _keys(v, prefix + k + ".") if isinstance(v, dict) and v else [prefix + k]
    return out


def resolve_config(defaults, overrides=(), base=None):
    """``defaults`` (the recipe's), replaced by ``base`` (e.g. a checkpoint's config) where it has the key,
    then by ``overrides`` (``key=value`` strings or ``(key, value)`` pairs); every value is type checked."""
    config = dict(defaults)
    for key, value in (base or {}).items():
        if key in config:  # keys the recipe no longer has are dropped
            config[key] = value
    config = apply_overrides(config, overrides)
    for key in REQUIRED:
        value = config[key]
        if key == "lr":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        else:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= (0 if key == "seed" else 1)
        if not ok:
            raise ConfigError("bad value for %s: %r (%s)" % (key, value, "a positive number" if key == "lr" else
                                                             "a non-negative integer" if key == "seed" else
                                                             "a positive integer"))
    return config
