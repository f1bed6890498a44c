"""The training framework: the Trainer, hooks, recipes, HDF5 checkpoints, data loading, TensorBoard logging.

- :mod:`.trainer`: ``Trainer`` (compiled steps, resumable epoch loop, whole-state checkpoints).
- :mod:`.hooks`: ``Hook`` and the built-in ``StopOnNaN``, ``EarlyStopping``, ``ReduceLROnPlateau``,
  ``ModelCheckpoint``, ``TensorBoard``, ``ProgressBar``.
- :mod:`.recipe`: ``load_recipe``, ``resolve_config``, ``apply_overrides`` (recipe files and ``--set``).
- :mod:`.checkpoint`: ``save_checkpoint`` / ``load_checkpoint`` (one crash-safe, checksummed
  HDF5 file with parameters, optimizer slots, RNG states, counters, data position, schedule,
  hook state and config), ``check_compatible``, ``inspect_checkpoint``.
- :mod:`.data`: ``ArrayDataset``, the seeded resumable ``DataLoader``, ``train_val_split``,
  offline loaders ``load_digits``, ``load_mnist``, ``load_text`` and ``char_sequences``.
- :mod:`.tblog`: ``TensorBoardLogger`` (tensorboardX) and ``read_scalars``.
"""

from .checkpoint import (  # noqa: F401
    Checkpoint,
    CheckpointError,
    IncompatibleCheckpointError,
    check_compatible,
    inspect_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from .data import (  # noqa: F401
    ArrayDataset,
    DataLoader,
    TextData,
    char_sequences,
    load_digits,
    load_mnist,
    load_text,
    train_val_split,
)
from .tblog import TensorBoardLogger, iter_events, read_scalars  # noqa: F401
from .recipe import ConfigError, Recipe, RecipeError, TRAINER_DEFAULTS, load_recipe, resolve_config  # noqa: F401
from .hooks import (  # noqa: F401
    EarlyStopping,
    Hook,
    ModelCheckpoint,
    NonFiniteLossError,
    ProgressBar,
    ReduceLROnPlateau,
    StopOnNaN,
    TensorBoard,
)
from .trainer import Trainer  # noqa: F401

__all__ = [
    "Checkpoint", "CheckpointError", "IncompatibleCheckpointError", "check_compatible", "inspect_checkpoint",
    "load_checkpoint", "save_checkpoint",
    "ArrayDataset", "DataLoader", "TextData", "char_sequences", "load_digits", "load_mnist", "load_text",
    "train_val_split",
    "TensorBoardLogger", "iter_events", "read_scalars",
    "ConfigError", "Recipe", "RecipeError", "TRAINER_DEFAULTS", "load_recipe", "resolve_config",
    "Hook", "StopOnNaN", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "TensorBoard", "ProgressBar",
    "NonFiniteLossError",
    "Trainer",
]
