"""Datasets, a seeded resumable batch loader, and offline loaders for digits, MNIST and text.

Nothing here downloads: data comes from scikit-learn's bundled digits, from MNIST files
the user already has, or from the small public-domain corpus embedded below.

The order of the samples depends only on ``(seed, epoch)``, and a loader's
``state_dict()`` records the epoch, the position inside it and the permutation, so a
run resumed from a mid-epoch checkpoint sees exactly the batches it had not yet seen.
"""

import gzip
import os

import numpy as np

__all__ = [
    "ArrayDataset",
    "DataLoader",
    "TextData",
    "train_val_split",
    "load_digits",
    "load_mnist",
    "load_text",
    "char_sequences",
]


def _order_rng(seed, *stream):
    """A RandomState for ``(seed, *stream)``: SeedSequence mixing and the legacy, frozen permutation algorithm."""
    return np.random.RandomState(np.random.MT19937(np.random.SeedSequence([seed, *stream])))


class ArrayDataset:
    """Arrays indexed together along their first axis.

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.train.data import ArrayDataset
    >>> ds = ArrayDataset(np.arange(10).reshape(5, 2), np.arange(5))
    >>> len(ds), ds[np.array([0, 4])][1].tolist()
    (5, [0, 4])
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [len(a) if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            raise ValueError("ArrayDataset arrays need the same first dimension, got shapes %s"
                             % [a.shape for a in self.arrays])

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """Seeded, resumable mini-batches of a dataset.

    Iterating yields the remaining batches of the current epoch as tuples of NumPy
    arrays (``(xb, yb)`` for an ``ArrayDataset(x, y)``), then moves to the next epoch.
    A batch counts as consumed once it is yielded: ``state_dict()`` taken inside the
    loop body resumes with the batch after it.  Breaking out of the loop leaves the
    position where it is; a new ``for`` continues from there.

    Parameters
    ----------
    dataset : ArrayDataset or any object with ``len()`` and index-array ``__getitem__``
    batch_size : int
    shuffle : bool
        A fresh permutation each epoch, a function of ``(seed, epoch)`` only.
    seed : int
    drop_last : bool
        Skip the last, smaller batch of an epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.train.data import ArrayDataset, DataLoader
    >>> loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=4, seed=1)
    >>> len(loader), [b[0].shape for b in loader]
    (3, [(4,), (4,), (2,)])
    >>> loader.epoch
    1
    """

    def __init__(self, dataset, batch_size, shuffle=True, seed=0, drop_last=False):
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError("batch_size must be a positive integer, got %r" % (batch_size,))
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise ValueError("seed must be a non-negative integer, got %r" % (seed,))
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch, self.index = 0, 0  # index: samples of this epoch already yielded
        self._permutation = None

    @property
    def num_samples(self):
        return len(self.dataset)

    def __len__(self):
        """Batches in a full epoch."""
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    @property
    def batches_remaining(self):
        """Batches still to come in the current epoch (e.g. a progress bar's total after a resume)."""
        left, b = self.num_samples - self.index, self.batch_size
        return left // b if self.drop_last else -(-left // b)

    def permutation(self):
        """The sample order of the current epoch (``arange`` without shuffling)."""
        if self._permutation is None:
            n = self.num_samples
            self._permutation = (_order_rng(self.seed, self.epoch).permutation(n) if self.shuffle
                                 else np.arange(n)).astype(np.int64)
        return self._permutation

    def __iter__(self):
        n = self.num_samples
        order = self.permutation()
        while self.index < n:
            stop = min(self.index + self.batch_size, n)
            if self.drop_last and stop - self.index < self.batch_size:
                break
            batch = order[self.index:stop]
            self.index = stop  # before yielding: a checkpoint in the loop body counts this batch as done
            yield self.dataset[batch]
        self.epoch, self.index, self._permutation = self.epoch + 1, 0, None

    def state_dict(self):
        """The position in the data order: ``seed``, ``epoch``, ``index`` (samples done) and ``permutation``."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "index": self.index,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "permutation": self.permutation().copy(),
        }

    def load_state_dict(self, state):
        """Continue from :meth:`state_dict` output (the remaining batches of that epoch come next)."""
        n = self.num_samples
        if state["num_samples"] != n:
            raise ValueError("cannot resume the data order: the saved state is for %d samples, this dataset has %d"
                             % (state["num_samples"], n))
        perm = np.asarray(state["permutation"])
        if perm.shape != (n,) or perm.dtype.kind not in "iu":
            raise ValueError("cannot resume the data order: bad permutation of shape %s, dtype %s"
                             % (perm.shape, perm.dtype))
        if not 0 <= state["index"] <= n:
            raise ValueError("cannot resume the data order: index %r outside [0, %d]" % (state["index"], n))
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])
        self.shuffle, self.drop_last = bool(state["shuffle"]), bool(state["drop_last"])
        self.batch_size = int(state["batch_size"])
        self._permutation = perm.astype(np.int64)


def train_val_split(x, y, val_fraction, seed=0):
    """Split ``(x, y)`` into shuffled training and validation parts.

    Returns
    -------
    ((x_train, y_train), (x_val, y_val))
        With ``val_fraction=0``: ``((x, y), None)``, no validation (the Trainer then monitors the training loss).

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.train.data import train_val_split
    >>> (xt, yt), (xv, yv) = train_val_split(np.arange(10), np.arange(10), 0.2, seed=0)
    >>> len(xt), len(xv), sorted(xt.tolist() + xv.tolist()) == list(range(10))
    (8, 2, True)
    >>> train_val_split(np.arange(3), np.arange(3), 0)[1] is None
    True
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError("x and y need the same length, got %d and %d" % (len(x), len(y)))
    if val_fraction == 0:
        return (x, y), None
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be in (0, 1), or 0 for no validation split, got %r" % (val_fraction,))
    n_val = int(round(len(x) * val_fraction))
    if not 0 < n_val < len(x):
        raise ValueError("val_fraction %r of %d samples leaves an empty split" % (val_fraction, len(x)))
    perm = _order_rng(seed).permutation(len(x))
    train, val = perm[n_val:], perm[:n_val]
    return (x[train], y[train]), (x[val], y[val])


# ---------------------------------------------------------------------------- image data sets


def _images(x, scale, flatten):
    x = (np.asarray(x, dtype=np.float32) / np.float32(scale)).astype(np.float32)
    return x.reshape(len(x), -1) if flatten else x


def load_digits(data_dir=None, flatten=False, test_size=360, seed=0):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images), split once, offline.

    Parameters
    ----------
    data_dir : str, optional
        A directory holding ``digits.npz`` (keys ``data`` (n, 64) with values 0..16 and
        ``target``); used instead of scikit-learn when given.
    flatten : bool
        Images as (n, 64) rows instead of (n, 8, 8).
    test_size, seed : int
        The fixed, seeded train/test split.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        float32 images scaled to [0, 1], int32 labels 0..9.

    Examples
    --------
    >>> from nettrain.train.data import load_digits
    >>> (x, y), (xt, yt) = load_digits()
    >>> x.shape, x.dtype, yt.shape, float(x.max())
    ((1437, 8, 8), dtype('float32'), (360,), 1.0)
    """
    if data_dir is not None:
        path = os.path.join(data_dir, "digits.npz")
        if not os.path.isfile(path):
            raise FileNotFoundError("load_digits: %s not found (expected keys 'data' and 'target')" % path)
        with np.load(path) as f:
            data, target = f["data"], f["target"]
    else:
        try:
            from sklearn.datasets import load_digits as sk_load_digits
        except ImportError as exc:
            raise ImportError("load_digits needs scikit-learn, which ships the digits data set: "
                              "pip install 'nettrain[digits]'") from exc
        bunch = sk_load_digits()
        data, target = bunch.data, bunch.target
    x, y = _images(np.asarray(data).reshape(-1, 8, 8), 16.0, flatten), np.asarray(target).astype(np.int32)
    perm = _order_rng(seed).permutation(len(x))
    test, train = perm[:test_size], perm[test_size:]
    return (x[train], y[train]), (x[test], y[test])


_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (the MNIST format; ``.gz`` compressed or not) into an array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError("%s is not an IDX file (bad magic number)" % path)
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    offset, size = 4 + 4 * ndim, int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != size:
        raise ValueError("%s is truncated or padded: shape %s needs %d data bytes, found %d"
                         % (path, shape, size, len(raw) - offset))
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(data_dir, flatten=False):
    """MNIST from files already on disk: ``mnist.npz`` or the four standard IDX files.

    ``mnist.npz`` needs keys ``x_train``, ``y_train``, ``x_test``, ``y_test`` (Keras'
    file); the IDX files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``.
    Nothing is downloaded.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        float32 images (n, 28, 28) (or (n, 784) with ``flatten``) scaled to [0, 1], int32 labels.

    Examples
    --------
    >>> from nettrain.train.data import load_mnist
    >>> load_mnist("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: MNIST not found in /nonexistent: ...
    """
    data_dir = os.fspath(data_dir)
    npz = os.path.join(data_dir, "mnist.npz")
    if os.path.isfile(npz):
        with np.load(npz) as f:
            missing = [k for k in _MNIST_FILES if k not in f]
            if missing:
                raise ValueError("%s lacks the arrays %s (it needs %s)" % (npz, missing, list(_MNIST_FILES)))
            parts = {k: f[k] for k in _MNIST_FILES}
    else:
        parts = {}
        for key, name in _MNIST_FILES.items():
            found = [p for p in (os.path.join(data_dir, name + ext) for ext in ("", ".gz")) if os.path.isfile(p)]
            if not found:
                raise FileNotFoundError(
                    "MNIST not found in %s: put mnist.npz (keys %s) or the IDX files %s (each optionally .gz) "
                    "there; nettrain never downloads" % (data_dir, ", ".join(_MNIST_FILES),
                                                         ", ".join(_MNIST_FILES.values())))
            parts[key] = read_idx(found[0])
    for split in ("train", "test"):
        if len(parts["x_" + split]) != len(parts["y_" + split]):
            raise ValueError("MNIST %s images and labels differ in count: %d vs %d"
                             % (split, len(parts["x_" + split]), len(parts["y_" + split])))
    return tuple((_images(parts["x_" + s], 255.0, flatten), parts["y_" + s].astype(np.int32))
                 for s in ("train", "test"))


# ---------------------------------------------------------------------------- text


class TextData:
    """A text, its sorted character vocabulary, and the text encoded as int32 indices."""

    def __init__(self, text):
        if not text:
            raise ValueError("the text is empty")
        self.text = text
        self.vocab = sorted(set(text))
        self.char_to_index = {c: i for i, c in enumerate(self.vocab)}
        self.encoded = np.array([self.char_to_index[c] for c in text], dtype=np.int32)

    def decode(self, indices):
        """The string for a sequence of vocabulary indices."""
        return "".join(self.vocab[int(i)] for i in indices)

    def __iter__(self):  # allows ``text, vocab, encoded = load_text()``
        return iter((self.text, self.vocab, self.encoded))


def load_text(path=None, encoding="utf-8"):
    """A character corpus: the file at ``path`` or, by default, a few KB of public-domain verse.

    Examples
    --------
    >>> from nettrain.train.data import load_text
    >>> text, vocab, encoded = load_text()
    >>> text.split()[:3], len(vocab) < 80, encoded.dtype
    (['I', 'From', 'fairest'], True, dtype('int32'))
    """
    if path is None:
        return TextData(DEFAULT_CORPUS)
    with open(path, encoding=encoding) as fh:
        return TextData(fh.read())


def char_sequences(encoded, seq_len, stride=None):
    """Cut an encoded text into ``(inputs, targets)`` windows; targets are inputs shifted by one.

    Windows start every ``stride`` characters (default ``seq_len``: no overlap).

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.train.data import char_sequences
    >>> x, y = char_sequences(np.arange(7), 3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    encoded = np.asarray(encoded)
    stride = seq_len if stride is None else stride
    if seq_len < 1 or stride < 1:
        raise ValueError("seq_len and stride must be positive, got %r and %r" % (seq_len, stride))
    count = (len(encoded) - 1 - seq_len) // stride + 1
    if count < 1:
        raise ValueError("a text of %d characters is too short for seq_len %d" % (len(encoded), seq_len))
    starts = np.arange(count) * stride
    window = starts[:, None] + np.arange(seq_len)
    return encoded[window].astype(np.int32), encoded[window + 1].astype(np.int32)


# William Shakespeare, Sonnets I, XVIII, XXIX, XXX, LXXIII, CXVI, CXXX (1609; public domain).
DEFAULT_CORPUS = """\
I

From fairest creatures we desire increase,
That thereby beauty's rose might never die,
But as the riper should by time decease,
His tender heir might bear his memory:
But thou contracted to thine own bright eyes,
Feed'st thy light's flame with self-substantial fuel,
Making a famine where abundance lies,
Thy self thy foe, to thy sweet self too cruel:
Thou that art now the world's fresh ornament,
And only herald to the gaudy spring,
Within thine own bud buriest thy content,
And, tender churl, mak'st waste in niggarding:
  Pity the world, or else this glutton be,
  To eat the world's due, by the grave and thee.

XVIII

Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
  So long as men can breathe or eyes can see,
  So long lives this, and this gives life to thee.

XXIX

When, in disgrace with fortune and men's eyes,
I all alone beweep my outcast state,
And trouble deaf heaven with my bootless cries,
And look upon myself and curse my fate,
Wishing me like to one more rich in hope,
Featured like him, like him with friends possess'd,
Desiring this man's art and that man's scope,
With what I most enjoy contented least;
Yet in these thoughts myself almost despising,
Haply I think on thee, and then my state,
Like to the lark at break of day arising
From sullen earth, sings hymns at heaven's gate;
  For thy sweet love remember'd such wealth brings
  That then I scorn to change my state with kings.

XXX

When to the sessions of sweet silent thought
I summon up remembrance of things past,
I sigh the lack of many a thing I sought,
And with old woes new wail my dear time's waste:
Then can I drown an eye, unused to flow,
For precious friends hid in death's dateless night,
And weep afresh love's long since cancell'd woe,
And moan the expense of many a vanish'd sight:
Then can I grieve at grievances foregone,
And heavily from woe to woe tell o'er
The sad account of fore-bemoaned moan,
Which I new pay as if not paid before.
  But if the while I think on thee, dear friend,
  All losses are restored and sorrows end.

LXXIII

That time of year thou mayst in me behold
When yellow leaves, or none, or few, do hang
Upon those boughs which shake against the cold,
Bare ruin'd choirs, where late the sweet birds sang.
In me thou see'st the twilight of such day
As after sunset fadeth in the west,
Which by and by black night doth take away,
Death's second self, that seals up all in rest.
In me thou see'st the glowing of such fire
That on the ashes of his youth doth lie,
As the death-bed whereon it must expire,
Consumed with that which it was nourish'd by.
  This thou perceiv'st, which makes thy love more strong,
  To love that well which thou must leave ere long.

CXVI

Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove:
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wandering bark,
Whose worth's unknown, although his height be taken.
Love's not Time's fool, though rosy lips and cheeks
Within his bending sickle's compass come;
Love alters not with his brief hours and weeks,
But bears it out even to the edge of doom.
  If this be error and upon me proved,
  I never writ, nor no man ever loved.

CXXX

My mistress' eyes are nothing like the sun;
Coral is far more red than her lips' red;
If snow be white, why then her breasts are dun;
If hairs be wires, black wires grow on her head.
I have seen roses damask'd, red and white,
But no such roses see I in her cheeks;
And in some perfumes is there more delight
Than in the breath that from my mistress reeks.
I love to hear her speak, yet well I know
That music hath a far more pleasing sound;
I grant I never saw a goddess go;
My mistress, when she walks, treads on the ground:
  And yet, by heaven, I think my love as rare
  As any she belied with false compare.
"""
