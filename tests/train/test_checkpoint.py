"""HDF5 checkpoints: exact round trips, layout, crash safety, corruption errors, compatibility reports."""

import json
import os

import h5py
import numpy as np
import pytest

from nettrain.train import checkpoint as ckpt_mod
from nettrain.train.checkpoint import (
    CheckpointError,
    IncompatibleCheckpointError,
    check_compatible,
    inspect_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def _state(version=1):
    rng = np.random.default_rng(1234)  # PCG64: 128-bit integers in its state
    rng.random(17)
    philox = np.random.Generator(np.random.Philox(7))
    philox.integers(0, 10, size=5)
    return dict(
        params={
            "block1.dense.W": np.arange(12, dtype=np.float32).reshape(3, 4) * version,
            "block1.dense.b": np.full(4, 0.1 * version, dtype=np.float64),
            "embed/table%1": np.arange(6, dtype=np.int16).reshape(2, 3),
            "scale": np.float32(1.5 * version),
            "empty": np.zeros((0, 3), dtype=np.float32),
        },
        optimizer={"adam.m.block1.dense.W": np.ones((3, 4), np.float32) / 3, "adam.t": np.array(version, np.int64)},
        rng={"init": rng, "dropout1": philox, "legacy": np.random.RandomState(5),
             "raw": np.random.PCG64(99).state, "bits": np.random.MT19937(3)},
        counters={"epoch": 2, "step": np.int64(150 * version), "batch_in_epoch": 7, "best": float("nan")},
        data_state={"seed": 3, "epoch": 2, "index": 28, "permutation": np.random.RandomState(0).permutation(50)},
        schedule={"lr": 1e-3 / 3, "milestones": (10, 20), "big": 2**100 + 1},
        hooks={"early_stopping": {"best": 0.25, "wait": 2, "history": [0.5, 0.3, 0.25], "best_step": None},
               "plateau": {"reduced_at": [3, 7], "factor": np.float32(0.5)}},
        config={"model": {"hidden": [64, 32]}, "lr": 0.001, "name": "mlp", "flags": {1: "int key"}},
        extra={"note": "hello"},
    )


def _assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.random.Generator):
        assert type(a.bit_generator) is type(b.bit_generator)
        np.testing.assert_array_equal(a.integers(0, 2**62, size=20), b.integers(0, 2**62, size=20))
    elif isinstance(a, np.random.RandomState):
        np.testing.assert_array_equal(a.randint(0, 2**31, size=20), b.randint(0, 2**31, size=20))
    elif isinstance(a, np.random.BitGenerator):
        np.testing.assert_array_equal(a.random_raw(20), b.random_raw(20))
    elif isinstance(a, (float, np.floating)) and np.isnan(a):
        assert np.isnan(b) and np.asarray(a).dtype == np.asarray(b).dtype
    else:
        assert a == b, (a, b)


def test_save_load_round_trips_every_part_exactly(tmp_path):
    state = _state()
    path = save_checkpoint(tmp_path / "last.h5", **state)
    ck = load_checkpoint(path)
    _assert_same(ck.params, {k: np.asarray(v) for k, v in state["params"].items()})  # scalars -> 0-d arrays
    assert ck.params["scale"].shape == () and ck.params["scale"].dtype == np.float32
    _assert_same(ck.optimizer, state["optimizer"])
    _assert_same(ck.counters, state["counters"])
    _assert_same(ck.data_state, state["data_state"])
    _assert_same(ck.schedule, state["schedule"])
    _assert_same(ck.hooks, state["hooks"])
    _assert_same(ck.config, state["config"])
    _assert_same(ck.extra, state["extra"])
    _assert_same(ck["rng"], _state()["rng"])  # fresh copies: the originals were not advanced by saving
    assert ck.format_version == 1


def test_pcg64_state_with_integers_over_64_bits_round_trips(tmp_path):
    gen = np.random.default_rng(2**90 + 12345)
    gen.standard_normal(3)
    raw = gen.bit_generator.state
    assert raw["state"]["state"] > 2**64 or raw["state"]["inc"] > 2**64
    save_checkpoint(tmp_path / "c.h5", params={}, rng={"gen": gen, "raw": raw})
    ck = load_checkpoint(tmp_path / "c.h5")
    assert ck.rng["gen"].bit_generator.state == raw
    assert ck.rng["raw"] == raw
    assert ck.rng["gen"].standard_normal(5).tolist() == gen.standard_normal(5).tolist()


def test_layout_is_readable_with_plain_h5py(tmp_path):
    save_checkpoint(tmp_path / "c.h5", **_state())
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert int(f["format_version"][()]) == 1
        assert set(f) >= {"params", "optimizer", "rng", "counters", "data", "schedule", "hooks", "config",
                          "extra", "arrays", "checksum", "format_version"}
        assert list(f["params"]) == ["block1.dense.W", "block1.dense.b", "embed%2Ftable%251", "scale", "empty"]
        np.testing.assert_array_equal(f["params/block1.dense.W"][...], _state()["params"]["block1.dense.W"])
        assert f["optimizer/adam.m.block1.dense.W"].dtype == np.float32
        assert json.loads(f["config"].asstr()[()])["model"] == {"hidden": [64, 32]}
        data = json.loads(f["data"].asstr()[()])
        assert data["epoch"] == 2 and data["permutation"]["path"] == "/arrays/data.permutation"
        assert f["arrays/data.permutation"].shape == (50,)
        assert json.loads(f["rng/init"].asstr()[()])["state"]["bit_generator"] == "PCG64"
        assert len(f["checksum"].asstr()[()]) == 64
        attrs = []
        f.visititems(lambda name, obj: attrs.extend(obj.attrs))
        assert attrs == [] and list(f.attrs) == []  # names and configs are datasets (64 KB attribute limit)


def test_previous_checkpoint_is_kept_as_prev(tmp_path):
    path = tmp_path / "last.h5"
    save_checkpoint(path, **_state(1))
    save_checkpoint(path, **_state(2))
    assert load_checkpoint(path).counters["step"] == 300
    assert load_checkpoint(str(path) + ".prev").counters["step"] == 150
    assert sorted(os.listdir(tmp_path)) == ["last.h5", "last.h5.prev"]


def test_crash_while_writing_keeps_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.h5"
    save_checkpoint(path, **_state(1))
    real = ckpt_mod._write_arrays

    def crash_midway(group, arrays, part):
        real(group, arrays, part)
        if part == "optimizer":
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(ckpt_mod, "_write_arrays", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, **_state(2))
    assert load_checkpoint(path).counters["step"] == 150
    assert os.listdir(tmp_path) == ["last.h5"]  # the temporary file is cleaned up


def test_crash_just_before_publishing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.h5"
    save_checkpoint(path, **_state(1))
    real_replace = os.replace

    def crash_on_publish(src, dst):
        if str(dst) == str(path):
            raise OSError("simulated power loss")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", crash_on_publish)
    with pytest.raises(OSError, match="power loss"):
        save_checkpoint(path, **_state(2))
    monkeypatch.undo()
    assert load_checkpoint(path).counters["step"] == 150
    assert load_checkpoint(str(path) + ".prev").counters["step"] == 150


def test_unstorable_value_names_its_place_and_keeps_previous(tmp_path):
    path = tmp_path / "last.h5"
    save_checkpoint(path, **_state(1))
    bad = _state(2)
    bad["hooks"]["early_stopping"]["callback"] = object()
    with pytest.raises(TypeError, match=r"hooks\.early_stopping\.callback of type object"):
        save_checkpoint(path, **bad)
    assert load_checkpoint(path).counters["step"] == 150


def test_missing_file_raises_checkpoint_error_mentioning_prev(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.h5")
    save_checkpoint(tmp_path / "c.h5", params={})
    os.replace(tmp_path / "c.h5", tmp_path / "gone.h5.prev")
    with pytest.raises(CheckpointError, match=r"previous checkpoint .*gone\.h5\.prev exists"):
        load_checkpoint(tmp_path / "gone.h5")


@pytest.mark.parametrize("content", [b"", b"garbage, not HDF5" * 100])
def test_non_hdf5_file_raises_checkpoint_error(tmp_path, content):
    (tmp_path / "c.h5").write_bytes(content)
    with pytest.raises(CheckpointError, match="not an HDF5 file"):
        load_checkpoint(tmp_path / "c.h5")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file_raises_checkpoint_error(tmp_path, keep):
    state = _state()
    state["params"]["big"] = np.arange(20000, dtype=np.float64)
    path = save_checkpoint(tmp_path / "c.h5", **state)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated or corrupt|checksum mismatch"):
        load_checkpoint(path)


def test_modified_data_fails_checksum(tmp_path):
    path = save_checkpoint(tmp_path / "c.h5", **_state())
    with h5py.File(path, "r+") as f:
        f["params/block1.dense.W"][0, 0] = 42.0
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)
    assert load_checkpoint(path, verify=False).params["block1.dense.W"][0, 0] == 42.0


def test_unknown_format_version_raises(tmp_path):
    path = save_checkpoint(tmp_path / "c.h5", params={})
    with h5py.File(path, "r+") as f:
        f["format_version"][()] = 99
    with pytest.raises(CheckpointError, match="format version 99; this nettrain reads version 1 .upgrade"):
        load_checkpoint(path)


def test_plain_hdf5_file_is_not_a_checkpoint(tmp_path):
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CheckpointError, match="not a nettrain checkpoint"):
        load_checkpoint(tmp_path / "c.h5")


def test_check_compatible_lists_every_missing_unexpected_and_mismatched_name():
    expected = {
        "a.W": ((3, 4), "float32"),
        "a.b": ((4,), "float32"),
        "b.W": ((4, 2), "float32"),
        "b.b": ((2,), "float32"),
        "c.W": ((None, 5), None),
    }
    found = {
        "a.W": np.zeros((4, 3), np.float32),  # shape
        "a.b": np.zeros(4, np.float64),  # dtype
        "c.W": np.zeros((7, 5), np.int8),  # wildcards match
        "old.W": np.zeros(1),
        "old.b": ((2,), "float32"),
    }
    with pytest.raises(IncompatibleCheckpointError) as info:
        check_compatible(expected, found)
    msg = str(info.value)
    assert "2 missing, 2 unexpected, 2 mismatched" in msg
    assert "missing (in the model, not in the checkpoint): b.W, b.b" in msg
    assert "unexpected (in the checkpoint, not in the model): old.W, old.b" in msg
    assert "a.W: model (3, 4) float32, checkpoint (4, 3) float32" in msg
    assert "a.b: model (4,) float32, checkpoint (4,) float64" in msg
    assert info.value.missing == ["b.W", "b.b"] and info.value.unexpected == ["old.W", "old.b"]
    assert [m[0] for m in info.value.mismatched] == ["a.W", "a.b"]
    assert isinstance(info.value, CheckpointError)


def test_check_compatible_accepts_a_matching_checkpoint(tmp_path):
    state = _state()
    save_checkpoint(tmp_path / "c.h5", **state)
    expected = {k: (np.shape(v), np.asarray(v).dtype) for k, v in state["params"].items()}
    assert check_compatible(expected, load_checkpoint(tmp_path / "c.h5").params) is None


def test_inspect_checkpoint_summarizes_counters_config_and_arrays(tmp_path):
    path = save_checkpoint(tmp_path / "c.h5", **_state())
    text = inspect_checkpoint(path)
    assert "format 1, checksum ok" in text
    assert "counters: epoch=2, step=150, batch_in_epoch=7, best=nan" in text
    assert "config keys: model, lr, name, flags" in text
    assert "params: 5 arrays, 23 values" in text
    assert "block1.dense.W" in text and "(3, 4)" in text and "float32" in text
    assert "dropout1 (Generator(Philox))" in text and "raw (PCG64 state)" in text
    assert "permutation=array(50,) int64" in text or "permutation=array(50,)" in text


def test_empty_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="non-empty strings"):
        save_checkpoint(tmp_path / "c.h5", params={"": np.zeros(1)})
    assert not os.listdir(tmp_path)
