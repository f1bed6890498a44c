"""The training framework's building blocks: HDF5 checkpoints, data loading, TensorBoard logging.

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

__all__ = [
    "Checkpoint", "CheckpointError", "IncompatibleCheckpointError", "check_compatible", "inspect_checkpoint",
    "load_checkpoint", "save_checkpoint",
    "ArrayDataset", "DataLoader", "TextData", "char_sequences", "load_digits", "load_mnist", "load_text",
    "train_val_split",
    "TensorBoardLogger", "iter_events", "read_scalars",
]
