"""TensorBoard logging: scalars read back, purge_step on resume, throttled histograms, text, hparams."""

import os

import numpy as np
import pytest

from nettrain.train.tblog import TensorBoardLogger, iter_events, read_scalars


def _summaries(logdir, kind):
    """Tags of summary values whose payload is ``kind`` ("histo", "tensor", "metadata")."""
    tags = []
    for event in iter_events(logdir):
        for value in event.summary.value:
            if kind == "metadata" and value.metadata.plugin_data.plugin_name == "hparams" or \
                    kind != "metadata" and value.HasField(kind):
                tags.append((value.tag, event.step))
    return tags


def test_scalars_read_back_with_their_steps(tmp_path):
    with TensorBoardLogger(tmp_path) as tb:
        for step in range(5):
            tb.scalars({"loss": 1.0 / (step + 1), "acc": step / 4}, step=step * 10, prefix="train/")
        tb.scalar("val/loss", np.float32(0.125), 40)
    scalars = read_scalars(tmp_path)
    assert sorted(scalars) == ["train/acc", "train/loss", "val/loss"]
    assert scalars["train/acc"] == [(0, 0.0), (10, 0.25), (20, 0.5), (30, 0.75), (40, 1.0)]
    assert [s for s, _ in scalars["train/loss"]] == [0, 10, 20, 30, 40]
    np.testing.assert_allclose([v for _, v in scalars["train/loss"]], [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5], rtol=1e-6)
    assert scalars["val/loss"] == [(40, 0.125)]


def test_resumed_run_with_purge_step_continues_the_curve_without_duplicates(tmp_path):
    with TensorBoardLogger(tmp_path) as tb:  # crashed after step 9, last checkpoint at step 6
        for step in range(10):
            tb.scalar("loss", step, step)
    with TensorBoardLogger(tmp_path, purge_step=6) as tb:
        for step in range(6, 12):
            tb.scalar("loss", 100 + step, step)
    assert len([n for n in os.listdir(tmp_path) if ".tfevents." in n]) == 2  # the first file is not overwritten
    assert read_scalars(tmp_path)["loss"] == [(s, float(s)) for s in range(6)] + [(s, 100.0 + s) for s in range(6, 12)]


def test_resume_without_purge_step_leaves_duplicate_points(tmp_path):
    for offset in (0, 100):
        with TensorBoardLogger(tmp_path) as tb:
            tb.scalar("loss", offset, 3)
    assert read_scalars(tmp_path)["loss"] == [(3, 0.0), (3, 100.0)]


def test_disabled_logger_writes_nothing(tmp_path):
    logdir = tmp_path / "run"
    with TensorBoardLogger(logdir, enabled=False) as tb:
        tb.scalar("loss", 1.0, 0)
        tb.histogram("w", np.ones(3), 0)
        tb.config({"lr": 0.1})
        tb.hparams({"lr": 0.1}, {"hparam/loss": 1.0})
        assert tb.writer is None and not tb.histograms({"w": np.ones(3)}, 0, epoch=0)
    assert not logdir.exists()


def test_histograms_are_throttled_to_every_n_epochs(tmp_path):
    with TensorBoardLogger(tmp_path, histogram_every=2) as tb:
        logged = [tb.histograms({"dense.W": np.arange(6.0), "dense.b": np.ones(2)}, step=epoch * 10, epoch=epoch)
                  for epoch in range(5)]
        tb.histogram("bad", np.array([np.nan, np.inf]), 0)  # nothing finite: skipped, no error
    assert logged == [True, False, True, False, True]
    assert sorted(_summaries(tmp_path, "histo")) == sorted(
        [(tag, step) for step in (0, 20, 40) for tag in ("dense.W", "dense.b")])


def test_histogram_every_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="histogram_every must be a positive"):
        TensorBoardLogger(tmp_path, histogram_every=0)


def test_config_text_and_hparams_are_written_into_the_same_run(tmp_path):
    with TensorBoardLogger(tmp_path) as tb:
        tb.config({"lr": 0.01, "model": {"hidden": [8, 4]}})
        tb.hparams({"lr": 0.01, "model": {"hidden": [8, 4]}, "opt": "adam"}, {"hparam/val_loss": 0.5}, step=3)
    assert [p for p in os.listdir(tmp_path) if os.path.isdir(tmp_path / p)] == []  # no timestamped sub-run
    texts = [v for e in iter_events(tmp_path) for v in e.summary.value if v.tag.startswith("config")]
    assert len(texts) == 1 and b'"hidden"' in texts[0].tensor.string_val[0]
    assert {t for t, _ in _summaries(tmp_path, "metadata")} == {
        "_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    assert read_scalars(tmp_path)["hparam/val_loss"] == [(3, 0.5)]


def test_reader_stops_cleanly_at_a_truncated_record(tmp_path):
    with TensorBoardLogger(tmp_path) as tb:
        for step in range(4):
            tb.scalar("loss", step, step)
    (path,) = [tmp_path / n for n in os.listdir(tmp_path)]
    path.write_bytes(path.read_bytes()[:-7])  # the writer died mid-record
    assert read_scalars(tmp_path)["loss"] == [(0, 0.0), (1, 1.0), (2, 2.0)]
