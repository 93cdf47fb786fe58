"""Compare's table of runs: one row per run in words and numbers, a one-sentence help on every
column, a few columns shown and the rest on demand (so it fits a 1024 px window)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mnist_core import runs
from pages import run_views

# Every column: how st.dataframe shows it, with a plain one-sentence help.
Col = st.column_config
COLUMNS = {
    "Run": Col.TextColumn(width=200, help="The name given to the run, else its folder id."),
    "Test accuracy": Col.ProgressColumn(
        min_value=0, max_value=1, format="percent", width=110,
        help="Share of the 10,000 test images, never seen in training, whose digit the model "
        "named correctly.",
    ),
    "Learned from": Col.TextColumn(
        width=130, help="How many training images the run learned from: not those held back "
        "to check it (validation), but any changed copies it was given. A quick run learned "
        "from a slice and is less accurate for it.",
    ),
    "Status": Col.TextColumn(width=100, help="Whether the training finished, was stopped or failed."),
    "Started": Col.DatetimeColumn(format="distance", width=100, help="When the training began."),
    "Time": Col.NumberColumn(format="%.0f s", width=60, help="How long the training took."),
    "Model": Col.TextColumn(width=110, help="The preset the network came from, or custom."),
    "Folder": Col.TextColumn(width=150, help="The run's folder under models/: its id, which "
                             "never changes when the run is renamed."),
    "Note": Col.TextColumn(width=200, help="A note written when the run was started or renamed."),
    "Network": Col.TextColumn(width=260, help="The layers, from the picture to the answer."),
    "Epochs": Col.TextColumn(width=65, help="Passes over the training images: finished of planned."),
    "Batch": Col.NumberColumn(width=55, help="Images looked at in each learning step."),
    "Learning rate": Col.NumberColumn(format="%g", width=95,
                                      help="The size of each learning step at the start."),
    "Seed": Col.NumberColumn(width=55, help="The number that fixes the random choices; the same "
                             "seed repeats the same run."),
    "Problem": Col.TextColumn(width=260, help="Why a run cannot be read."),
}  # fmt: skip
SHOWN = ("Run", "Test accuracy", "Learned from", "Status", "Model")  # fit 1024 px
MORE = [c for c in COLUMNS if c not in SHOWN]  # the details, on demand


def learned_from(run: runs.Run) -> str | None:
    """The images the run learned from, as training counted them: "54,000 images" for all of
    MNIST with 10% held back for validation, "85,500 images" with changed copies added,
    "1,800 images (quick)" for a run on a slice. Before training has counted them (or for a
    run.json without the count), the slice it was given: 60,000 or the quick run's size."""
    images = run.meta.data.train_examples if run.meta.data else run.train_images
    if images is None:
        return None
    return f"{images:,} images" + (" (quick)" if run.is_quick else "")


def table(all_runs: list[runs.Run]) -> pd.DataFrame:
    """One row per run, in words and numbers fit for st.dataframe (no metric is computed here)."""
    rows = []
    for run in all_runs:
        meta, params = run.meta, run.meta.params
        done = meta.epochs_completed if meta.epochs_completed is not None else "?"
        rows.append(
            {
                "Run": run.name,
                "Test accuracy": run.test_accuracy,
                "Learned from": learned_from(run),
                "Status": runs.STATUS_WORDS[run.status],
                "Started": meta.started_at or meta.created_at,
                "Time": meta.train_seconds,
                "Model": run.preset,
                "Folder": run.id,
                "Note": meta.note or None,
                "Network": run_views.architecture(run),
                "Epochs": f"{done} of {params.epochs}" if params else None,
                "Batch": params.batch_size if params else None,
                "Learning rate": params.learning_rate if params else None,
                "Seed": params.seed if params else None,
                "Problem": run.error,
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["Started"] = pd.to_datetime(frame["Started"], utc=True, errors="coerce")
    return frame


def show(all_runs: list[runs.Run]) -> None:
    """The table with the usual columns, and a choice of more (a damaged run's Problem is
    always shown)."""
    frame = table(all_runs)
    # The folder id is one choice away (and under Rename), not shown beside a named run: the
    # usual columns fill a 1024 px window and one more pushed the table past its edge.
    wanted = ["Problem"] if frame["Problem"].notna().any() else []
    more = st.multiselect(
        "More columns",
        MORE,
        default=wanted,
        key="compare_columns",
        help="Choose which details to show beside the usual columns.",
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="compare_table",
        column_config=COLUMNS,
        column_order=[*SHOWN, *more],
    )
