"""Learning-curve figures: one run's loss, accuracy and learning rate as it learns, and one
measure of several runs side by side. Data in, figure out; no Streamlit, no files.

Per-step rows are what training writes to steps.csv (`runs.STEP_COLUMNS`): step, epoch as a
fraction (1.5: half-way through the second), the mean training loss and accuracy over the
steps since the previous row, and the learning rate. Per-epoch rows are history.csv's
(`figures.history_frame`); validation is measured once an epoch, so it comes only from there.

Accuracy axes zoom to the data by default (a good model's story is between 96% and 100%);
`full_scale=True` shows 0 to 100%. Zoomed, the first tenth of a run (where training accuracy
climbs from 10%) is left below the axis: the switch shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_core.runs import HISTORY_COLUMNS, STEP_COLUMNS
from pages.figures import (
    TRAIN_COLOUR,
    VAL_COLOUR,
    History,
    _integer_ticks,
    _note,
    history_frame,
    numeric_frame,
    styled,
)

LR_COLOUR = "#2ca02c"  # green: the learning rate
START_SHARE = 0.1  # zoomed, the accuracy axis leaves out the first tenth of the run
Steps = pd.DataFrame | Sequence[Mapping] | None


def steps_frame(steps: Steps) -> pd.DataFrame:
    """steps.csv rows as a DataFrame of floats sorted by step ([] or None: no rows)."""
    return numeric_frame(steps, STEP_COLUMNS)


def accuracy_range(values, epochs, full_scale: bool = False) -> list[float]:
    """The accuracy axis: [0, 1], or zoomed to `values` (fractions) seen after the first tenth
    of the run (`epochs`: each value's epoch), padded a little and kept inside [0, 1]."""
    values, epochs = np.asarray(values, dtype=float), np.asarray(epochs, dtype=float)
    keep = ~np.isnan(values)
    if full_scale or not keep.any():
        return [0.0, 1.0]
    later = keep & (epochs >= START_SHARE * np.nanmax(epochs[keep]))
    shown = values[later] if later.any() else values[keep]
    low, high = float(shown.min()), float(shown.max())
    pad = max(0.005, 0.08 * (high - low))
    return [max(0.0, low - pad), min(1.0, high + pad)]


def learning_curves(
    history: History,
    title: str | None = None,
    live: Mapping | None = None,
    steps: Steps = None,
    full_scale: bool = False,
) -> go.Figure:
    """Loss (left) and accuracy (right) against epoch, the learning rate below.

    Training lines come from `steps` (a point every few steps) when there are any, else from
    the per-epoch `history` (older runs); validation points always from `history`. `live` is
    an optional latest point {"epoch": 1.37, "loss": ..., "accuracy": ...} added to the end of
    the training lines so the curve moves between rows. Nothing at all: a "no epochs yet" note.
    """
    frame, fine = history_frame(history), steps_frame(steps)
    per_step = not fine.empty
    train = (fine if per_step else frame)[["epoch", "loss", "accuracy"]]
    if live is not None and (train.empty or float(live.get("epoch", 0)) > train["epoch"].max()):
        point = {k: float(live.get(k, np.nan)) for k in ("epoch", "loss", "accuracy")}
        train = pd.concat([train, pd.DataFrame([point])], ignore_index=True)
    rates = (fine if per_step else frame)[["epoch", "learning_rate"]].dropna()

    # No subplot titles: the y-axis titles name the panels and the top edge is the legend's.
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{}, {}], [{"colspan": 2}, None]],
        row_heights=[0.72, 0.28],
        horizontal_spacing=0.1,
        vertical_spacing=0.16,
    )
    styled(fig, title, height=470)
    if train.empty:
        return _note(fig, "no epochs yet")

    series = [("training", train, "", TRAIN_COLOUR, per_step), ("validation", frame, "val_",
              VAL_COLOUR, False)]  # fmt: skip
    for name, data, prefix, colour, dense in series:
        for col, metric in ((1, "loss"), (2, "accuracy")):
            values = data[prefix + metric]
            if values.isna().all():
                continue  # no validation: leave the line out rather than draw an empty legend entry
            fig.add_trace(
                go.Scatter(
                    x=data["epoch"],
                    y=values,
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    mode="lines" if dense and len(data) > 1 else "lines+markers",
                    line=dict(color=colour, width=2),
                    marker=dict(size=7),
                    hovertemplate=f"{name} {metric} %{{y:{'.2%' if metric == 'accuracy' else '.4f'}}}"
                    "<br>epoch %{x:.2~f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    if not rates.empty:
        fig.add_trace(
            go.Scatter(
                x=rates["epoch"],
                y=rates["learning_rate"],
                name="learning rate",
                showlegend=False,  # the axis title names it
                mode="lines" if per_step and len(rates) > 1 else "lines+markers",
                line=dict(color=LR_COLOUR, width=2),
                hovertemplate="learning rate %{y:.3~g}<br>epoch %{x:.2~f}<extra></extra>",
            ),
            row=2,
            col=1,
        )

    last_epoch = float(np.nanmax(train["epoch"].to_numpy()))
    fig.update_xaxes(rangemode="tozero", **_integer_ticks(last_epoch))
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_yaxes(title_text="loss", rangemode="tozero", row=1, col=1)
    accuracies = pd.concat([train[["epoch", "accuracy"]], frame[["epoch", "val_accuracy"]]
                            .rename(columns={"val_accuracy": "accuracy"})])  # fmt: skip
    fig.update_yaxes(
        title_text="accuracy",
        tickformat=".0%" if full_scale else ".1%",
        range=accuracy_range(accuracies["accuracy"], accuracies["epoch"], full_scale),
        row=1,
        col=2,
    )
    fig.update_yaxes(title_text="learning rate", rangemode="tozero", row=2, col=1)
    return fig


def compare_curves(
    histories: Mapping[str, History],
    metric: str = "val_accuracy",
    title: str | None = None,
    full_scale: bool = False,
) -> go.Figure:
    """One line per run of `metric` (a history column, e.g. "val_accuracy") against epoch.

    A run without that metric (e.g. trained without validation) keeps its legend entry,
    marked "(no data)", so every selected run is accounted for. An accuracy axis zooms to the
    data unless `full_scale`.
    """
    if metric not in HISTORY_COLUMNS or metric == "epoch":
        raise ValueError(f"metric must be one of {', '.join(HISTORY_COLUMNS[1:])}, got {metric!r}")
    fig = styled(go.Figure(), title, height=380)
    # From the left edge: right-anchored, a long run name ran off the left of a phone's chart.
    fig.update_layout(legend=dict(xanchor="left", x=0))
    if not histories:
        return _note(fig, "no runs selected")

    is_fraction = metric.endswith("accuracy")
    last_epoch, values, epochs = 1.0, [], []
    for name, history in histories.items():
        frame = history_frame(history)
        has_data = frame[metric].notna().any()
        if has_data:
            last_epoch = max(last_epoch, float(frame["epoch"].max()))
            values += list(frame[metric])
            epochs += list(frame["epoch"])
        fig.add_trace(
            go.Scatter(
                x=frame["epoch"],
                y=frame[metric],
                name=name if has_data else f"{name} (no data)",
                mode="lines+markers",
                marker=dict(size=6),
                # fullData.name, not an f-string: a run name could contain "%{" or "<".
                hovertemplate=f"%{{fullData.name}}<br>epoch %{{x}}<br>{metric} "
                f"%{{y:{'.2%' if is_fraction else '.4g'}}}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="epoch", rangemode="tozero", **_integer_ticks(last_epoch))
    fig.update_yaxes(title_text=metric, tickformat=".1%" if is_fraction else None)
    if is_fraction:
        # Every epoch of every run counts here: a run's first epoch is already a whole epoch.
        fig.update_yaxes(range=accuracy_range(values, [last_epoch] * len(values), full_scale))
    return fig
