"""Datasets, the seeded resumable DataLoader, and the offline digits / MNIST / text loaders."""

import gzip
import struct
import sys

import numpy as np
import pytest

from nettrain.train.checkpoint import load_checkpoint, save_checkpoint
from nettrain.train.data import (
    ArrayDataset,
    DataLoader,
    char_sequences,
    load_digits,
    load_mnist,
    load_text,
    train_val_split,
)


def _dataset(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return ArrayDataset(x, np.arange(n, dtype=np.int32))


def _take(loader, count):
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == count:
            break
    return out


def _assert_batches_equal(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert xa.dtype == xb.dtype and ya.dtype == yb.dtype


def test_array_dataset_rejects_different_lengths():
    with pytest.raises(ValueError, match=r"same first dimension, got shapes \[\(3,\), \(4,\)\]"):
        ArrayDataset(np.zeros(3), np.zeros(4))


def test_loader_visits_every_sample_once_per_epoch_in_batches():
    loader = DataLoader(_dataset(), batch_size=5, seed=0)
    assert len(loader) == 5
    batches = list(loader)
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    labels = np.concatenate([yb for _, yb in batches])
    assert sorted(labels.tolist()) == list(range(23)) and labels.tolist() != list(range(23))
    xb, yb = batches[0]
    np.testing.assert_array_equal(xb[:, 0], yb * 3)  # x and y stay aligned
    assert loader.epoch == 1 and loader.index == 0


def test_loader_drop_last_and_no_shuffle():
    loader = DataLoader(_dataset(), batch_size=5, shuffle=False, drop_last=True)
    assert len(loader) == 4
    assert [yb.tolist() for _, yb in loader] == [list(range(i, i + 5)) for i in range(0, 20, 5)]


def test_loader_order_depends_only_on_seed_and_epoch():
    a, b, c = (DataLoader(_dataset(), 4, seed=s) for s in (7, 7, 8))
    epochs_a = [np.concatenate([yb for _, yb in a]) for _ in range(3)]
    epochs_b = [np.concatenate([yb for _, yb in b]) for _ in range(3)]
    first_c = np.concatenate([yb for _, yb in c])
    for ea, eb in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(ea, eb)
    assert epochs_a[0].tolist() != epochs_a[1].tolist()  # a new order each epoch
    assert first_c.tolist() != epochs_a[0].tolist()


def test_resume_mid_epoch_gives_exactly_the_remaining_batches(tmp_path):
    reference = DataLoader(_dataset(), batch_size=4, seed=3)
    list(reference)  # epoch 0
    seen = _take(reference, 2)  # two batches into epoch 1, then "checkpoint" in the loop body
    state = reference.state_dict()
    rest = list(reference) + list(reference)  # rest of epoch 1, all of epoch 2

    save_checkpoint(tmp_path / "c.h5", params={}, data_state=state)
    resumed = DataLoader(_dataset(), batch_size=4, seed=999)  # the constructor seed is overridden
    resumed.load_state_dict(load_checkpoint(tmp_path / "c.h5").data_state)
    assert (resumed.epoch, resumed.index, resumed.batches_remaining) == (1, 8, 4)
    again = list(resumed) + list(resumed)
    _assert_batches_equal(again, rest)
    assert len(seen) + len(rest) == 2 * len(reference)


def test_state_taken_inside_loop_body_counts_the_current_batch_as_done():
    loader = DataLoader(_dataset(), batch_size=4, shuffle=False)
    _, first = next(iter(loader))
    state = loader.state_dict()
    assert first.tolist() == [0, 1, 2, 3] and state["index"] == 4
    fresh = DataLoader(_dataset(), batch_size=4, shuffle=False)
    fresh.load_state_dict(state)
    assert next(iter(fresh))[1].tolist() == [4, 5, 6, 7]


def test_load_state_dict_rejects_a_different_dataset_size():
    state = DataLoader(_dataset(23), 4).state_dict()
    with pytest.raises(ValueError, match="saved state is for 23 samples, this dataset has 10"):
        DataLoader(_dataset(10), 4).load_state_dict(state)


@pytest.mark.parametrize("kwargs, match", [({"batch_size": 0}, "batch_size"), ({"batch_size": 2, "seed": -1}, "seed")])
def test_loader_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(_dataset(), **kwargs)


def test_train_val_split_is_seeded_disjoint_and_complete():
    x, y = np.arange(50) * 10, np.arange(50)
    (xt, yt), (xv, yv) = train_val_split(x, y, 0.2, seed=1)
    assert len(xv) == 10 and len(xt) == 40
    np.testing.assert_array_equal(xt, yt * 10)
    assert sorted(np.concatenate([yt, yv]).tolist()) == list(range(50))
    (_, yt2), _ = train_val_split(x, y, 0.2, seed=1)
    np.testing.assert_array_equal(yt, yt2)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        train_val_split(x, y, 1.0)


def test_load_digits_shapes_dtypes_and_fixed_split():
    pytest.importorskip("sklearn")
    (x, y), (xt, yt) = load_digits()
    assert x.shape == (1437, 8, 8) and xt.shape == (360, 8, 8)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert 0.0 == x.min() and x.max() == 1.0 and set(y.tolist()) == set(range(10))
    (_, y2), _ = load_digits()
    np.testing.assert_array_equal(y, y2)
    (xf, _), _ = load_digits(flatten=True)
    assert xf.shape == (1437, 64)


def test_load_digits_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"nettrain\[digits\]"):
        load_digits()


def test_load_digits_from_a_data_dir(tmp_path):
    np.savez(tmp_path / "digits.npz", data=np.full((400, 64), 16.0), target=np.arange(400) % 10)
    (x, y), (xt, yt) = load_digits(tmp_path)
    assert x.shape == (40, 8, 8) and xt.shape == (360, 8, 8) and x.max() == 1.0


def _write_idx(path, array, dtype_code=0x08):
    header = struct.pack(">BBBB", 0, 0, dtype_code, array.ndim) + struct.pack(">%dI" % array.ndim, *array.shape)
    data = header + array.astype(">u1").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(data)


def _fake_mnist(seed=0):
    rng = np.random.RandomState(seed)
    return {"x_train": rng.randint(0, 256, (6, 28, 28)).astype(np.uint8), "y_train": np.arange(6, dtype=np.uint8),
            "x_test": rng.randint(0, 256, (4, 28, 28)).astype(np.uint8), "y_test": np.arange(4, dtype=np.uint8)}


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_idx_files(tmp_path, gz):
    parts = _fake_mnist()
    ext = ".gz" if gz else ""
    _write_idx(tmp_path / ("train-images-idx3-ubyte" + ext), parts["x_train"])
    _write_idx(tmp_path / ("train-labels-idx1-ubyte" + ext), parts["y_train"])
    _write_idx(tmp_path / ("t10k-images-idx3-ubyte" + ext), parts["x_test"])
    _write_idx(tmp_path / ("t10k-labels-idx1-ubyte" + ext), parts["y_test"])
    (x, y), (xt, yt) = load_mnist(tmp_path)
    assert x.shape == (6, 28, 28) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_allclose(x, parts["x_train"] / np.float32(255), rtol=1e-6)
    np.testing.assert_array_equal(yt, np.arange(4))
    (xf, _), _ = load_mnist(tmp_path, flatten=True)
    assert xf.shape == (6, 784)


def test_load_mnist_from_npz(tmp_path):
    parts = _fake_mnist(1)
    np.savez(tmp_path / "mnist.npz", **parts)
    (x, y), (xt, yt) = load_mnist(tmp_path)
    np.testing.assert_allclose(xt * 255, parts["x_test"], atol=1e-4)
    assert y.tolist() == list(range(6))


def test_load_mnist_missing_files_lists_expected_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist.npz .*train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                                "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte .*never downloads"):
        load_mnist(tmp_path)


def test_load_mnist_truncated_idx_file_is_reported(tmp_path):
    parts = _fake_mnist()
    for key, name in [("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
                      ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte")]:
        _write_idx(tmp_path / name, parts[key])
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or padded"):
        load_mnist(tmp_path)


def test_load_text_default_corpus_and_file(tmp_path):
    text, vocab, encoded = load_text()
    assert len(text) > 3000 and vocab == sorted(set(text)) and encoded.dtype == np.int32
    data = load_text()
    assert data.decode(encoded[:40]) == text[:40]
    (tmp_path / "t.txt").write_text("abcab", encoding="utf-8")
    _, vocab, encoded = load_text(tmp_path / "t.txt")
    assert vocab == ["a", "b", "c"] and encoded.tolist() == [0, 1, 2, 0, 1]


def test_char_sequences_targets_are_inputs_shifted_by_one():
    x, y = char_sequences(np.arange(10), 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    x, y = char_sequences(np.arange(10), 4, stride=2)
    assert x.shape == (3, 4) and x.dtype == np.int32
    with pytest.raises(ValueError, match="too short for seq_len 20"):
        char_sequences(np.arange(10), 20)
