"""pages/curves.py: per-step learning curves (even a one-epoch run draws a curve), validation
per epoch, the learning rate, and accuracy axes zoomed to the data or shown from 0 to 100%."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pages import curves


def history(epochs: int, validation: bool = True) -> list[dict]:
    """Rows as training writes them; without validation the val_* cells are empty strings (CSV)."""
    return [
        {
            "epoch": e,
            "loss": 1 / e,
            "accuracy": 1 - 0.5 / e,
            "val_loss": 1.1 / e if validation else "",
            "val_accuracy": 1 - 0.6 / e if validation else "",
            "learning_rate": 0.01,
            "elapsed_s": 20.0 * e,
            "epoch_s": 20.0,
        }
        for e in range(1, epochs + 1)
    ]


def steps(epochs: int, per_epoch: int = 10) -> list[dict]:
    """steps.csv rows: accuracy from 10% up to 99%, a learning rate that decays."""
    n = epochs * per_epoch
    return [
        {
            "step": 21 * (i + 1),
            "epoch": (i + 1) / per_epoch,
            "loss": 2.3 * 0.7**i,
            "accuracy": 0.99 - 0.89 * 0.6**i,
            "learning_rate": 0.01 * (1 - i / n),
        }
        for i in range(n)
    ]


def traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_a_one_epoch_run_draws_a_curve_from_its_steps():
    fig = curves.learning_curves(history(1), steps=steps(1))
    loss, accuracy = traces(fig, "training")
    assert len(loss.x) == 10 and loss.mode == "lines"  # a curve, not one dot
    assert all(len(t.x) == 1 and "markers" in t.mode for t in traces(fig, "validation"))
    [rate] = traces(fig, "learning rate")
    assert list(rate.y) == pytest.approx([0.01 * (1 - i / 10) for i in range(10)])
    fig.to_json()


def test_runs_without_steps_draw_their_epochs_with_markers():
    fig = curves.learning_curves(history(3))
    assert len(fig.data) == 5  # training and validation, loss and accuracy; the learning rate
    assert all(len(t.x) == 3 and "markers" in t.mode for t in fig.data)
    assert sum(bool(t.showlegend) for t in fig.data) == 2  # training, validation: once each
    frame = pd.DataFrame(history(3, validation=False))
    frame[["val_loss", "val_accuracy"]] = np.nan
    fig = curves.learning_curves(frame)
    assert [t.name for t in fig.data] == ["training", "training", "learning rate"]


def test_the_accuracy_axis_zooms_to_the_data_or_shows_all():
    rows, epochs = history(3), steps(3)
    zoomed = curves.learning_curves(rows, steps=epochs).layout.yaxis2.range
    seen = [r["accuracy"] for r in epochs if r["epoch"] >= 0.3] + [r["val_accuracy"] for r in rows]
    assert 0.3 < zoomed[0] < min(seen) and max(seen) < zoomed[1] <= 1  # not the first 10%
    full = curves.learning_curves(rows, steps=epochs, full_scale=True).layout.yaxis2.range
    assert list(full) == [0, 1]
    assert curves.accuracy_range([0.97, 0.99], [1, 2]) == pytest.approx([0.965, 0.995])


def test_empty_and_the_live_point():
    empty = curves.learning_curves([])
    assert len(empty.data) == 0
    assert any("no epochs yet" in a.text for a in empty.layout.annotations)
    empty.to_json()
    first = curves.learning_curves([], live={"epoch": 0.37, "loss": 2.1, "accuracy": 0.4})
    assert [list(t.x) for t in traces(first, "training")] == [[0.37]] * 2
    moving = curves.learning_curves(
        history(1), steps=steps(1)[:5], live={"epoch": 0.55, "loss": 0.4, "accuracy": 0.8}
    )
    assert [len(t.x) for t in traces(moving, "training")] == [6, 6]


def test_compare_curves_one_line_per_run_and_zoom():
    fig = curves.compare_curves(
        {"small": history(3), "big": history(5), "no-val": history(2, False)}
    )
    assert [t.name for t in fig.data] == ["small", "big", "no-val (no data)"]
    assert len(fig.data[1].x) == 5 and fig.layout.yaxis.range[0] > 0.3
    full = curves.compare_curves({"a": history(2)}, full_scale=True)
    assert list(full.layout.yaxis.range) == [0, 1]
    loss = curves.compare_curves({"a": history(2)}, metric="loss")
    assert list(loss.data[0].y) == [1.0, 0.5] and loss.layout.yaxis.range is None
    assert len(curves.compare_curves({}).data) == 0
    with pytest.raises(ValueError, match="metric"):
        curves.compare_curves({"a": history(2)}, metric="speed")
    fig.to_json()
