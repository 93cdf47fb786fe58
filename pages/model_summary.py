"""A run's layer table, as `model.summary()` gives it: each layer's output shape and
parameters, with the totals (an ensemble's: one network's layers, the totals of them all).
Worked out from the run's spec (mnist_core.layer_costs), so no model is loaded and no
TensorFlow is imported to show it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mnist_core import runs
from mnist_core.errors import StudioError

TABLE_PX = 330  # a layer table's width: Layer, Output shape and Parameters
MAX_SIDE_BY_SIDE = 3  # more tables than this do not fit beside each other on a laptop


def _spec(run: runs.Run):
    """The run's checked Spec, or None when its network is not known."""
    from mnist_core.config import spec_of

    if run.error:
        return None
    try:
        return spec_of(run.meta)
    except StudioError:
        return None


def _costs(run: runs.Run) -> list | None:
    """The run's LayerCosts (one network's), or None when its network is not known."""
    spec = _spec(run)
    return None if spec is None else spec.costs()


def networks(run: runs.Run) -> int:
    """How many networks of the table's layers the run's model averages: its spec's members
    (a fine-tuned ensemble keeps all its networks); 1 when unknown."""
    spec = _spec(run)
    return 1 if spec is None else spec.members


def layer_frame(run: runs.Run) -> pd.DataFrame | None:
    """One row per layer of the run's model (the output layer the project adds included):
    "Layer" ("3 · Conv2D"), "Output shape" ("26×26×8", batch axis left out) and "Parameters";
    None when the run's network is not known (a damaged spec, a preset no longer there)."""
    costs = _costs(run)
    if costs is None:
        return None
    return pd.DataFrame(
        {
            "Layer": [f"{c.position} · {c.kind}" + (" (added)" if c.added else "") for c in costs],
            "Output shape": ["×".join(map(str, c.shape)) for c in costs],
            "Parameters": [c.params for c in costs],
        }
    )


def totals(run: runs.Run) -> tuple[int, int] | None:
    """(all parameters, trainable ones) of the whole model, every network of an ensemble
    counted, as Keras counts them: batch normalisation's moving mean and variance are saved
    but not learned by gradient descent. None when unknown."""
    costs = _costs(run)
    if costs is None:
        return None
    count = networks(run)
    total = count * sum(c.params for c in costs)
    frozen = count * sum(2 * c.shape[-1] for c in costs if c.kind == "BatchNormalization")
    return total, total - frozen


def layer_table(run: runs.Run, key: str) -> None:
    """The run's layer table with its totals under it, or a line saying it is not known."""
    frame, counted = layer_frame(run), totals(run)
    if frame is None or counted is None:
        st.caption("The layers of this run are not recorded in a form this page can read.")
        return
    st.dataframe(
        frame,
        hide_index=True,
        key=key,
        column_config={
            "Layer": st.column_config.TextColumn(
                help="Position · Keras layer type. “(added)”: the output layer (and the "
                "Flatten before it) the app adds to reach the ten digits."
            ),
            "Output shape": st.column_config.TextColumn(
                help="What the layer hands on for one image: height × width × maps, or a "
                "count of numbers."
            ),
            "Parameters": st.column_config.NumberColumn(
                format="localized",
                help="Numbers the layer learns (or, for batch "
                "normalisation, also keeps as running statistics).",
            ),
        },
    )
    total, trainable = counted
    count = networks(run)
    words = f"{total:,} parameters"
    if count > 1:  # the table is one network's; the totals are the whole model's
        words = (
            f"{count} networks of these layers, their answers averaged: {total:,} parameters "
            f"in all ({total // count:,} in each)"
        )
    if trainable != total:
        words += f", {trainable:,} of them trainable (batch normalisation keeps the rest)"
    st.caption(words)


def side_by_side(chosen: list[runs.Run], key: str) -> None:
    """Layer tables of the chosen runs beside each other, at most MAX_SIDE_BY_SIDE a row."""
    # A column never narrower than a layer table (a third of a 1024 px page cut off its Output
    # shape and Parameters): where three do not fit, the columns wrap onto the next line.
    st.html(
        f"<style>.st-key-{key}_side [data-testid='stHorizontalBlock'] {{ flex-wrap: wrap; }}"
        f".st-key-{key}_side [data-testid='stColumn'] {{ min-width: {TABLE_PX}px; }}</style>"
    )
    with st.container(key=f"{key}_side"):
        for start in range(0, len(chosen), MAX_SIDE_BY_SIDE):
            row = chosen[start : start + MAX_SIDE_BY_SIDE]
            for column, run in zip(st.columns(MAX_SIDE_BY_SIDE), row):
                with column:
                    st.text(run.name)  # a name people chose: shown as text, never markup
                    layer_table(run, key=f"{key}_{run.id}")
