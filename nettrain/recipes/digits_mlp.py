"""Handwritten digits (8x8, bundled with scikit-learn) with a two-layer MLP.

    nettrain train recipes/digits_mlp.py              # ~98% test accuracy in a few seconds
    nettrain train recipes/digits_mlp.py --set hidden=64 --epochs 10
"""

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import Adam
from nettrain.train import load_digits, train_val_split

CONFIG = dict(
    epochs=20,
    batch_size=32,
    lr=3e-3,
    seed=0,
    hidden=256,  # units in the hidden layer
    dropout=0.1,
    val_fraction=0.1,  # of the training images, held out for validation
)


def build(config):
    (x, y), test = load_digits(flatten=True)  # float32 images in [0, 1], int32 labels
    train, val = train_val_split(x, y, config.val_fraction, seed=config.seed)
    model = L.Sequential([
        L.Dense(config.hidden, activation="relu"),
        L.Dropout(config.dropout),
        L.Dense(10),  # logits
    ], seed=config.seed)  # fmt: skip
    return dict(
        model=model,
        loss=losses.categorical_crossentropy,  # from logits
        metrics={"acc": metrics.accuracy},
        optimizer=Adam(config.lr),
        train=train,
        val=val,
        test=test,
    )
