"""Tests for pages/figures.py: trace counts, the clickable confusion matrix, and that every figure serialises."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from pages import figures


@pytest.fixture
def confusion() -> np.ndarray:
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 20, (10, 10))
    matrix[np.diag_indices(10)] = 900
    matrix[7] = 0  # a digit with no examples: its shares must be 0, not NaN
    return matrix


def cell_of(fig: go.Figure, true: int, predicted: int) -> int:
    trace = fig.data[0]
    return next(i for i, (x, y) in enumerate(zip(trace.x, trace.y)) if x == predicted and y == true)


def test_confusion_figure_is_100_scatter_squares(confusion):
    fig = figures.confusion_matrix_figure(confusion)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Scatter)
    assert not any(isinstance(t, go.Heatmap) for t in fig.data)
    trace = fig.data[0]
    assert len(trace.x) == len(trace.y) == 100
    assert trace.marker.symbol == "square"
    assert fig.layout.clickmode == "event+select"
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # reversed: 0 on top
    assert trace.marker.showscale


def test_confusion_markers_fill_their_cells(confusion):
    fig = figures.confusion_matrix_figure(confusion)
    margin = fig.layout.margin
    plot_height = fig.layout.height - margin.t - margin.b
    plot_width = fig.layout.width - margin.l - margin.r
    assert plot_width == plot_height  # square area: cells are square without padding the range
    assert 0.9 * plot_height / 10 <= fig.data[0].marker.size <= plot_height / 10


def test_confusion_customdata_and_text_match_cells(confusion):
    fig = figures.confusion_matrix_figure(confusion)
    trace = fig.data[0]
    for t, p in [(0, 0), (3, 5), (9, 2), (7, 7)]:
        i = cell_of(fig, t, p)
        assert i == 10 * t + p  # documented point order, so point_index works too
        assert list(trace.customdata[i]) == [t, p, confusion[t, p]]
        assert trace.text[i] == str(confusion[t, p])
        assert f"true {t}, predicted {p}<br>count {confusion[t, p]}" in trace.hovertext[i]


def test_confusion_normalised_shows_row_percentages(confusion):
    fig = figures.confusion_matrix_figure(confusion, normalise=True)
    trace = fig.data[0]
    assert all(text.endswith("%") for text in trace.text)
    shares = np.asarray(trace.marker.color, dtype=float).reshape(10, 10)
    totals = shares.sum(axis=1)
    assert np.allclose(np.delete(totals, 7), 1.0) and totals[7] == 0
    i = cell_of(fig, 3, 5)
    assert trace.text[i] == f"{confusion[3, 5] / confusion[3].sum():.1%}"
    assert list(trace.customdata[i]) == [3, 5, confusion[3, 5]]  # counts, even when normalised


def test_a_clicked_cell_does_not_fade_the_others(confusion):
    trace = figures.confusion_matrix_figure(confusion).data[0]
    assert trace.selected.marker.opacity == trace.unselected.marker.opacity == 1


def test_confusion_rejects_wrong_shape():
    with pytest.raises(ValueError, match="10, 10"):
        figures.confusion_matrix_figure(np.zeros((9, 10)))


def test_probability_bars_highlight():
    probs = np.array([0.01, 0.02, 0.9, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    fig = figures.probability_bars(probs)
    bars = fig.data[0]
    assert isinstance(bars, go.Bar) and len(bars.x) == 10
    colours = list(bars.marker.color)
    assert colours[2] == figures.ACCENT and colours.count(figures.ACCENT) == 1
    assert (
        list(fig.layout.yaxis.range) == [0, pytest.approx(1.15)]
        and fig.layout.yaxis.tickformat == ".0%"
    )
    other = figures.probability_bars(probs, highlight=7)
    assert list(other.data[0].marker.color).index(figures.ACCENT) == 7
    with pytest.raises(ValueError):
        figures.probability_bars(np.ones(9))
    fig.to_json()


def bar_heights(svg: str) -> list[float]:
    """Heights of the bars of a class_balance_svg (the legend's 12x12 squares left out)."""
    import re

    rects = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="([\d.]+)"', svg)
    return [float(h) for w, h in rects if w != "12"]


def test_class_balance_svg_bars_follow_the_counts():
    svg = figures.class_balance_svg({str(d): 100 * (d + 1) for d in range(10)})
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    heights = bar_heights(svg)
    assert len(heights) == 10 and heights == sorted(heights)
    assert heights[9] / heights[0] == pytest.approx(10, rel=0.02)
    assert ">1,000<" in svg  # a gridline label, with a thousands separator
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)  # well-formed


def test_class_balance_svg_two_series_as_shares():
    svg = figures.class_balance_svg(
        np.full(10, 6000), np.full(10, 1000), names=("training", "<test>"), share=True
    )
    heights = bar_heights(svg)
    assert len(heights) == 20 and max(heights) - min(heights) < 0.2  # equal shares, equal bars
    assert ">10%<" in svg and "&lt;test&gt;" in svg
    with pytest.raises(ValueError):
        figures.class_balance_svg(np.ones(9))


def test_image_row_places_enlarged_tiles_with_white_gaps():
    means = np.stack([np.full((28, 28), d / 10) for d in range(10)])
    row = figures.image_row(means, scale=2, gap=4)
    assert row.dtype == np.uint8 and row.shape == (56, 10 * 56 + 9 * 4)
    assert row[0, 0] == 0 and row[0, 60] == round(0.1 * 255) and row[55, -1] == round(0.9 * 255)
    assert (row[:, 56:60] == 255).all()
    np.testing.assert_array_equal(figures.image_row(means * 255, scale=2, gap=4), row)
    with pytest.raises(ValueError):
        figures.image_row(np.zeros((28, 28)))


def test_history_frame_coerces_csv_strings():
    rows = [{"epoch": "2", "loss": "0.5"}, {"epoch": "1", "loss": "0.7", "val_loss": ""}]
    frame = figures.history_frame(rows)
    assert frame["epoch"].tolist() == [1.0, 2.0] and frame["val_loss"].isna().all()
    assert list(frame.columns) == list(figures.HISTORY_COLUMNS)
