"""Figure builders: Plotly figures, and two plain pictures (an SVG bar chart, a row of images) for
the home page. Data in, figure out; no Streamlit, no Keras, no files.

History rows are what training writes to history.csv, as a DataFrame or a list of dicts:
    epoch (1-based int), loss, accuracy, val_loss, val_accuracy (NaN or "" without
    validation), learning_rate, elapsed_s (cumulative seconds), epoch_s.
Accuracies are fractions in [0, 1]; the figures show them as percentages.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mnist_core.data import NUM_CLASSES
from mnist_core.runs import HISTORY_COLUMNS
from pages.explorer import enlarge

TRAIN_COLOUR = "#1f77b4"  # blue: training series everywhere
VAL_COLOUR = "#ff7f0e"  # orange: validation series everywhere
ACCENT = "#d62728"  # red: the one bar or cell to look at
MUTED = "#9aa5b1"  # grey: everything else
CONFUSION_HEIGHT = 560  # px; the confusion matrix is drawn at a fixed size so markers fill cells
# The right margin holds the colour bar (thickness 14 + tick labels + side title), so the
# plot area is exactly a square of height - t - b pixels and ten markers fill it.
CONFUSION_MARGIN = dict(l=70, r=110, t=50, b=70)

History = pd.DataFrame | Sequence[Mapping] | None


def styled(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    """The look shared by every figure: white template, tight margins, one font."""
    fig.update_layout(
        template="plotly_white",
        title=dict(text=title) if title else None,
        margin=dict(l=50, r=20, t=60 if title else 30, b=40),
        font=dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13),
        hoverlabel=dict(font_size=13),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
    )
    if height:
        fig.update_layout(height=height)
    return fig


def history_frame(history: History) -> pd.DataFrame:
    """History rows as a DataFrame with every column of HISTORY_COLUMNS as float64, sorted by epoch.

    Empty strings (a CSV without validation) and missing columns become NaN.
    """
    return numeric_frame(history, HISTORY_COLUMNS)


def numeric_frame(rows, columns) -> pd.DataFrame:
    """Rows (dicts, as a run's CSV files give them) as a DataFrame with every one of `columns`
    as float64 (empty strings and missing columns: NaN), sorted by epoch; [] or None: none."""
    frame = pd.DataFrame(rows if rows is not None else [])
    out = pd.DataFrame(
        {
            column: pd.to_numeric(frame[column], errors="coerce").astype("float64")
            if column in frame
            else np.full(len(frame), np.nan)
            for column in columns
        }
    )
    return out.dropna(subset=["epoch"]).sort_values("epoch", ignore_index=True)


def confusion_matrix_figure(
    confusion: np.ndarray,
    normalise: bool = False,
    height: int = CONFUSION_HEIGHT,
    title: str | None = None,
) -> go.Figure:
    """The confusion matrix (rows = true digit, columns = predicted) as clickable square markers.

    Built from one go.Scatter because Streamlit reports clicks on scatter points, not on
    heatmap cells. Point i is cell (true i // 10, predicted i % 10); its customdata is
    [true, predicted, count]. Colour and label are the count, or with `normalise` the
    share of the true digit's row.

    The markers are sized in pixels, so the figure has a fixed width and height: show it
    with `st.plotly_chart(fig, width="content", on_select="rerun", selection_mode="points")`.
    """
    confusion = np.asarray(confusion)
    if confusion.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(f"confusion must have shape (10, 10), got {confusion.shape}")
    counts = confusion.astype(np.int64)
    row_totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)

    true, predicted = np.divmod(np.arange(NUM_CLASSES * NUM_CLASSES), NUM_CLASSES)
    count, share = counts.ravel(), shares.ravel()
    value = share if normalise else count.astype(np.float64)
    top = max(float(value.max()), 1e-12)
    labels = [_percent(s) for s in share] if normalise else [str(c) for c in count]
    hover = [
        f"true {t}, predicted {p}<br>count {c}<br>share {_percent(s)} of true {t}"
        for t, p, c, s in zip(true, predicted, count, share)
    ]

    side = height - CONFUSION_MARGIN["t"] - CONFUSION_MARGIN["b"]  # the square plot area, px
    fig = go.Figure(
        go.Scatter(
            x=predicted,
            y=true,
            mode="markers+text",
            marker=dict(
                symbol="square",
                size=side / NUM_CLASSES * 0.94,  # a thin gap between cells
                color=value,
                colorscale="Blues",
                cmin=0,
                cmax=1 if normalise else top,
                showscale=True,
                colorbar=dict(
                    title=dict(text="share of row" if normalise else "count", side="right"),
                    tickformat=".0%" if normalise else None,
                    thickness=14,
                    x=1.02,
                    xpad=0,
                ),
                line=dict(width=0),
            ),
            # Dark cells get white text; the threshold is where Blues turns mid-blue.
            text=labels,
            textfont=dict(size=11, color=["white" if v / top > 0.55 else "#1f2d3d" for v in value]),
            customdata=np.column_stack(
                [true, predicted, count]
            ).tolist(),  # plain ints for the page
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            # Every cell keeps full colour when one is clicked: Plotly's usual fading of the
            # others made the diagonal's numbers hard to read.
            selected=dict(marker=dict(opacity=1)),
            unselected=dict(marker=dict(opacity=1)),
            showlegend=False,
        )
    )
    styled(fig, title, height=height)
    # constrain="domain": if the area is ever not square, shrink it rather than pad the ranges.
    axis = dict(
        tickmode="array",
        tickvals=list(range(NUM_CLASSES)),
        range=[-0.5, NUM_CLASSES - 0.5],
        showgrid=False,
        zeroline=False,
        fixedrange=True,
        constrain="domain",
    )
    fig.update_layout(
        width=side + CONFUSION_MARGIN["l"] + CONFUSION_MARGIN["r"],
        margin=CONFUSION_MARGIN,
        xaxis=dict(axis, title_text="predicted digit", side="bottom"),
        # Reversed so digit 0 is the top row, as in a printed matrix; anchored for square cells.
        yaxis=dict(
            axis,
            title_text="true digit",
            range=[NUM_CLASSES - 0.5, -0.5],
            scaleanchor="x",
            scaleratio=1,
        ),
        clickmode="event+select",
        dragmode=False,
        hovermode="closest",
    )
    return fig


def probability_bars(
    probabilities: np.ndarray, highlight: int | None = None, title: str | None = None
) -> go.Figure:
    """Ten bars, one per digit, of probabilities (10,) in [0, 1] shown as percent.

    `highlight` (default: the most probable digit) is drawn in the accent colour.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if probabilities.shape != (NUM_CLASSES,):
        raise ValueError(f"probabilities must have 10 values, got {probabilities.shape[0]}")
    if highlight is None:
        highlight = int(probabilities.argmax())
    fig = go.Figure(
        go.Bar(
            x=list(range(NUM_CLASSES)),
            y=probabilities,
            marker_color=[ACCENT if d == highlight else MUTED for d in range(NUM_CLASSES)],
            text=[f"{p:.0%}" if p >= 0.005 else "" for p in probabilities],
            textposition="outside",
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
        )
    )
    styled(fig, title, height=260)
    fig.update_xaxes(title_text="digit", tickmode="array", tickvals=list(range(NUM_CLASSES)))
    # 1.15 leaves room above a 100% bar for its label.
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1])
    return fig


def class_balance_svg(
    counts,
    second=None,
    names: tuple[str, str] = ("training", "test"),
    share: bool = False,
    width: int = 480,
    height: int = 250,
) -> str:
    """Examples per digit as grouped bars, drawn as a small SVG (a string for `st.image`).

    `counts` (and optionally `second`): a dict digit -> n or 10 values. With `share`, each
    series is divided by its total, so a 60,000 and a 10,000 set compare. SVG rather than
    Plotly where the page has no other chart: loading the Plotly bundle is a large share of
    a first visit's browser time (measured by benchmarks/app_bench.py).
    """
    series = [(names[0], _per_digit(counts), TRAIN_COLOUR)]
    if second is not None:
        series.append((names[1], _per_digit(second), VAL_COLOUR))
    values = [n / n.sum() if share and n.sum() > 0 else n.astype(float) for _, n, _ in series]
    top = max(float(max(v.max() for v in values)), 1e-12)
    step = _nice_step(top / 4)
    y_max = step * math.ceil(top / step)
    left, right, upper, lower = 56, 8, 28, 30
    plot_w, plot_h = width - left - right, height - upper - lower
    group = plot_w / NUM_CLASSES
    bar = group * 0.8 / len(series)

    def y(v: float) -> float:
        return upper + plot_h * (1 - v / y_max)

    def label(v: float) -> str:
        return f"{v:.0%}" if share else f"{v:,.0f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" fill="#31333f">'
    ]
    for k in range(int(round(y_max / step)) + 1):
        v = k * step
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#e6e9ef"/><text x="{left - 6}" y="{y(v) + 4:.1f}" '
            f'text-anchor="end">{label(v)}</text>'
        )
    for d in range(NUM_CLASSES):
        x0 = left + d * group + group * 0.1
        for i, (v, (_, _, colour)) in enumerate(zip(values, series)):
            parts.append(
                f'<rect x="{x0 + i * bar:.1f}" y="{y(v[d]):.1f}" width="{bar - 1:.1f}" '
                f'height="{upper + plot_h - y(v[d]):.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{left + (d + 0.5) * group:.1f}" y="{height - 10}" '
            f'text-anchor="middle">{d}</text>'
        )
    for i, (name, _, colour) in enumerate(series):
        x = left + i * 90
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="16">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(rough: float) -> float:
    """1, 2 or 5 times a power of ten, at least `rough`: gridline spacing people read easily."""
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def image_row(images, scale: int = 3, gap: int = 4) -> np.ndarray:
    """Images (N, H, W) side by side as one uint8 picture, each enlarged `scale` times
    pixel for pixel, with `gap` white pixels between them. Float images are read as 0..1
    (or 0..255 when their maximum is above 1)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0 or scale < 1 or gap < 0:
        raise ValueError(
            f"expected images (N, H, W), scale >= 1, gap >= 0; got {images.shape}, {scale}, {gap}"
        )
    if images.max() > 1:
        images = images / 255.0
    tiles = np.stack([enlarge(image, scale) for image in images])
    n, h, w = tiles.shape
    row = np.full((h, n * w + (n - 1) * gap), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        row[:, i * (w + gap) : i * (w + gap) + w] = tile
    return row


def _note(fig: go.Figure, text: str) -> go.Figure:
    """`fig` with `text` in the middle of the paper, for figures with nothing to plot yet."""
    fig.add_annotation(
        text=text,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font=dict(size=16, color=MUTED),
    )
    return fig


def _integer_ticks(last_epoch: float) -> dict:
    """Axis settings for whole-epoch ticks, about ten at most (a fractional live epoch gets none)."""
    return dict(tick0=0, dtick=max(1, math.ceil(last_epoch / 10)))


def _percent(share: float) -> str:
    """A share as a short cell label: "0%", "0.4%", "98.7%", "100%"."""
    if share <= 0 or share >= 1:
        return f"{share:.0%}"
    return f"{share:.1%}"


def _per_digit(values) -> np.ndarray:
    """Counts per digit as int64 (10,), from a dict digit -> n (keys int or str) or 10 values."""
    if isinstance(values, Mapping):
        keyed = {int(k): v for k, v in values.items()}
        return np.array([keyed.get(d, 0) for d in range(NUM_CLASSES)], dtype=np.int64)
    values = np.asarray(values, dtype=np.int64).reshape(-1)
    if values.shape != (NUM_CLASSES,):
        raise ValueError(f"counts must have 10 values, got {values.shape[0]}")
    return values
