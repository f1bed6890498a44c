"""Model summary: computed output shapes, trainable / non-trainable counts, bytes, tied weights once."""

import numpy as np

from nettrain import layers as L
from nettrain.layers.summary import summary, summary_rows


def test_rows_have_output_shapes_counts_and_bytes():
    model = L.Sequential([L.Dense(6, activation="relu"), L.BatchNorm(), L.Dense(3)], seed=0)
    rows = {r[0]: r for r in summary_rows(model, (4,), "float32")}
    assert rows["dense0"][1:] == ("Dense", (1, 6), 1, 4 * 6 + 6, 0, (4 * 6 + 6) * 4)
    _, cls, shape, _, tr, nt, nb = rows["batchnorm0"]
    assert cls == "BatchNorm" and shape == (1, 6) and tr == 12 and nt == 12 and nb == 24 * 4
    assert rows["dense1"][2] == (1, 3)
    text = summary(model, (4,), "float32")
    total = sum(v.get_value().size for v in model.params())
    assert "Total params: %d (trainable %d, non-trainable 12)" % (total, total - 12) in text
    assert "batchnorm0 (BatchNorm)" in text and "(?, 6)" in text


def test_summary_changes_no_parameter_and_works_without_an_input_shape():
    model = L.Sequential([L.Dense(5, in_units=4), L.Dropout(0.5), L.Dense(2, in_units=5)], seed=1)
    before = {k: v.get_value() for k, v in model.named_params().items()}
    summary(model, (4,), "float64")
    for k, v in model.named_params().items():
        np.testing.assert_array_equal(v.get_value(), before[k])
    text = summary(model)
    assert "dense0 (Dense)      -" in text and "Total params: 37 (trainable 37" in text
