"""Compare page: every training run in one table, their learning curves overlaid, and deleting."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mnist_core import runs
from mnist_core.errors import StudioError
from pages import curves, model_summary, run_views, shared

METRICS = {
    "val_accuracy": "Validation accuracy",
    "accuracy": "Training accuracy",
    "val_loss": "Validation loss",
    "loss": "Training loss",
}
DEFAULT_SELECTED = 3  # completed runs drawn when the page opens


def _learned_from(run: runs.Run) -> str | None:
    """ "60,000 images", or "2,000 images (quick)" for a run on a slice of them."""
    images = run.train_images
    if images is None:
        return None
    return f"{images:,} images" + (" (quick)" if run.is_quick else "")


def _table(all_runs: list[runs.Run]) -> pd.DataFrame:
    """One row per run, in words and numbers fit for st.dataframe (no metric is computed here)."""
    rows = []
    for run in all_runs:
        meta, params = run.meta, run.meta.params
        done = meta.epochs_completed if meta.epochs_completed is not None else "?"
        rows.append(
            {
                "Run": run.name,
                "Test accuracy": run.test_accuracy,
                "Learned from": _learned_from(run),
                "Status": runs.STATUS_WORDS[run.status],
                "Started": meta.started_at or meta.created_at,
                "Time": meta.train_seconds,
                "Model": run.preset,
                "Network": run_views.architecture(run),
                "Epochs": f"{done} of {params.epochs}" if params else None,
                "Batch": params.batch_size if params else None,
                "Learning rate": params.learning_rate if params else None,
                "Seed": params.seed if params else None,
                "Problem": run.error,
            }
        )
    table = pd.DataFrame(rows)
    table["Started"] = pd.to_datetime(table["Started"], utc=True, errors="coerce")
    return table


def _delete(run_id: str) -> None:
    """Button callback: runs before the page is redrawn, so the table already lacks the run."""
    try:
        runs.delete_run(run_id)
        st.session_state.compare_notice = ("success", f"Deleted the run {run_id}.")
    except StudioError as exc:
        st.session_state.compare_notice = ("error", str(exc))
    st.session_state.compare_delete = None
    st.session_state.compare_confirm = False


st.title("Compare runs")
kind, text = st.session_state.pop("compare_notice", (None, None))
if kind == "success":
    st.success(text, icon=":material/delete:")
elif kind == "error":
    st.error(text, icon=":material/warning:")

try:
    all_runs = runs.list_runs()
except OSError as exc:
    shared.show_error(exc)
    st.stop()
if not all_runs:
    st.info("No training runs yet. Train a model on the Train page and it will appear here.")
    st.stop()

st.dataframe(
    _table(all_runs),
    hide_index=True,
    key="compare_table",
    column_config={
        "Run": st.column_config.TextColumn(width=260),
        "Test accuracy": st.column_config.ProgressColumn(
            min_value=0,
            max_value=1,
            format="percent",
            width=120,
            help="Share of the test pictures read right",
        ),
        "Learned from": st.column_config.TextColumn(
            width=140,
            help="How many training images the run learned from; a quick run learned from a "
            "slice and is less accurate for it.",
        ),
        "Status": st.column_config.TextColumn(width=95),
        "Started": st.column_config.DatetimeColumn(format="distance", width=100),
        "Time": st.column_config.NumberColumn(format="%.0f s", width=60, help="Training time"),
        "Model": st.column_config.TextColumn(width=130),
        "Network": st.column_config.TextColumn(width=260, help="The layers, input to output"),
        "Epochs": st.column_config.TextColumn(width=65, help="Finished of planned"),
        "Batch": st.column_config.NumberColumn(width=55, help="Pictures per training step"),
        "Learning rate": st.column_config.NumberColumn(format="%g", width=95),
        "Seed": st.column_config.NumberColumn(width=55),
        "Problem": st.column_config.TextColumn(width=260, help="Why a run cannot be read"),
    },
)

st.header("Learning curves")
by_id = {run.id: run for run in all_runs if run.status != "invalid"}
completed = [run_id for run_id, run in by_id.items() if run.status == "completed"]
chosen = st.multiselect(
    "Runs to draw",
    list(by_id),
    default=completed[:DEFAULT_SELECTED],
    format_func=lambda run_id: by_id[run_id].label(),
    key="compare_runs",
)
metric = st.segmented_control(
    "Measure",
    list(METRICS),
    format_func=METRICS.get,
    default="val_accuracy",
    required=True,
    key="compare_metric",
)
if chosen:
    try:
        histories = {by_id[run_id].name: runs.read_history(by_id[run_id].path) for run_id in chosen}
    except (OSError, ValueError) as exc:  # a history file being replaced or unreadable
        shared.show_error(exc)
        histories = {}
    full = metric.endswith("accuracy") and st.toggle(
        "Accuracy from 0 to 100%",
        key="compare_full_scale",
        help="Off: the axis zooms in on the data, where the runs differ. On: the whole scale.",
    )
    figure = curves.compare_curves(histories, metric, full_scale=full)
    st.plotly_chart(figure.update_yaxes(title_text=METRICS[metric]))
    if metric.startswith("val_"):
        st.caption(
            "Validation is measured on training pictures held back from training. "
            "Runs trained without any show as “(no data)”."
        )
else:
    st.info("Choose one or more runs to draw their learning curves.")

st.header("Networks")
if chosen:
    st.caption("Each chosen run's layers: what each hands on for one image, and what it learns.")
    model_summary.side_by_side([by_id[run_id] for run_id in chosen], key="compare_layers")
else:
    st.info("Choose runs above to see their layers side by side.")

st.header("Train again with changes")
again = st.selectbox(
    "Run whose network to open in the editor",
    [run_id for run_id, run in by_id.items() if run_views.architecture(run)],
    format_func=lambda run_id: by_id[run_id].label(),
    key="compare_again",
)
if again:
    st.caption(f"Network: {run_views.architecture(by_id[again])}")
    run_views.train_again(by_id[again])

st.header("Delete a run")
if shared.demo_mode():
    st.info("Deleting runs is turned off in this demo, so every visitor sees the same runs.")
    st.stop()
deletable = {
    run.id: run for run in all_runs if not run.is_default and run.status not in runs.ACTIVE
}
if not deletable:
    st.caption(
        "Nothing to delete: the ready-made model is kept, and runs still training must be stopped first."
    )
    st.stop()
target = st.selectbox(
    "Run to delete",
    list(deletable),
    index=None,
    key="compare_delete",
    format_func=lambda run_id: deletable[run_id].label(),
    placeholder="Choose a run",
    help="The ready-made model is never deleted; runs still training are not listed.",
)
sure = st.checkbox("I understand the run and its model are deleted for good", key="compare_confirm")
st.button(
    "Delete",
    type="primary",
    icon=":material/delete:",
    disabled=target is None or not sure,
    on_click=_delete,
    args=(target,),
    key="compare_delete_button",
)
