"""MNIST with a two-hidden-layer MLP (about 98% test accuracy in 10 epochs).

nettrain never downloads: put ``mnist.npz`` (Keras' file) or the four IDX files
(``train-images-idx3-ubyte[.gz]``, ...) in ``data_dir`` first.

    nettrain train recipes/mnist_mlp.py --set data_dir=~/data/mnist
"""

import os

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import Adam
from nettrain.train import load_mnist, train_val_split

CONFIG = dict(
    epochs=10,
    batch_size=128,
    lr=1e-3,
    seed=0,
    data_dir="data/mnist",  # mnist.npz or the IDX files
    hidden=512,
    dropout=0.2,
    val_fraction=1 / 12,  # 5000 of the 60000 training images
)


def build(config):
    (x, y), test = load_mnist(os.path.expanduser(config.data_dir), flatten=True)
    train, val = train_val_split(x, y, config.val_fraction, seed=config.seed)
    model = L.Sequential([
        L.Dense(config.hidden, activation="relu"),
        L.Dropout(config.dropout),
        L.Dense(config.hidden, activation="relu"),
        L.Dropout(config.dropout),
        L.Dense(10),  # logits
    ], seed=config.seed)  # fmt: skip
    return dict(
        model=model,
        loss=losses.categorical_crossentropy,
        metrics={"acc": metrics.accuracy},
        optimizer=Adam(config.lr),
        train=train,
        val=val,
        test=test,
    )
