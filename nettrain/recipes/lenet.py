"""LeNet (conv 5x5x20, max-pool 2, conv 5x5x50, max-pool 2, dense 500, dense 10) on 28x28 digits.

By default the 8x8 scikit-learn digits are zoomed to 28x28 (MNIST's size); give
``data_dir`` to train on MNIST files already on disk (nettrain never downloads).

    nettrain train recipes/lenet.py                              # ~98.6% test accuracy on digits in ~15 s
    nettrain train recipes/lenet.py --set data_dir=~/data/mnist  # mnist.npz or the IDX files
"""

import os

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import Adam
from nettrain.train import load_digits, load_mnist, train_val_split

CONFIG = dict(epochs=10, batch_size=64, lr=1e-3, seed=0, data_dir="", val_fraction=0.1)


def load(data_dir):
    """((x, y), test) with images as float32 (n, 1, 28, 28) in [0, 1]."""
    if data_dir:
        (x, y), (xt, yt) = load_mnist(os.path.expanduser(data_dir))
    else:
        from scipy.ndimage import zoom

        (x, y), (xt, yt) = load_digits()
        x, xt = (zoom(a, (1, 3.5, 3.5), order=1).clip(0, 1) for a in (x, xt))  # bilinear 8x8 -> 28x28
    return (x[:, None], y), (xt[:, None], yt)


def build(config):
    (x, y), test = load(config.data_dir)
    train, val = train_val_split(x, y, config.val_fraction, seed=config.seed)
    model = L.Sequential([
        L.Conv2D(20, 5, activation="relu"), L.MaxPool2D(2),  # 28 -> 24 -> 12
        L.Conv2D(50, 5, activation="relu"), L.MaxPool2D(2),  # 12 -> 8 -> 4
        L.Flatten(),
        L.Dense(500, activation="relu"),
        L.Dense(10),  # logits
    ], seed=config.seed)  # fmt: skip
    return dict(model=model, loss=losses.categorical_crossentropy, metrics={"acc": metrics.accuracy},
                optimizer=Adam(config.lr), train=train, val=val, test=test)
