"""Compare page: every training run in one table, their learning curves overlaid, and deleting."""

from __future__ import annotations

import streamlit as st

from mnist_core import runs
from mnist_core.errors import StudioError
from pages import curves, model_summary, run_table, run_views, shared
from pages.evaluate_debug import plotly_text

METRICS = {
    "val_accuracy": "Validation accuracy",
    "accuracy": "Training accuracy",
    "val_loss": "Validation loss",
    "loss": "Training loss",
}
DEFAULT_SELECTED = 3  # completed runs drawn when the page opens


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
    st.success(text, icon=":material/check_circle:")
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

run_table.show(all_runs)

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
        histories = {  # the legend shows each name as typed (Plotly applies <b>, <i>, ...)
            plotly_text(by_id[run_id].name): runs.read_history(by_id[run_id].path)
            for run_id in chosen
        }
    except (OSError, ValueError) as exc:  # a history file being replaced or unreadable
        shared.show_error(exc)
        histories = {}
    full = metric.endswith("accuracy") and run_views.full_scale_switch("compare_full_scale")
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

st.header("Rename a run")
renamable = {run.id: run for run in all_runs if not run.error and run.status not in runs.ACTIVE}
if shared.demo_mode():
    st.caption("Renaming runs is turned off in this demo, so every visitor sees the same names.")
elif renamable:
    pick = st.selectbox(
        "Run to rename",
        list(renamable),
        format_func=lambda run_id: renamable[run_id].label(),
        key="compare_rename",
    )
    st.caption(f"Folder: models/{pick}")
    with st.form("compare_rename_form", border=False):
        title = st.text_input(
            "New name", value=renamable[pick].meta.title, max_chars=runs.TITLE_CHARS,
            help="Any letters and symbols; empty: the folder id names the run.",
        )  # fmt: skip
        note = st.text_area("Note", value=renamable[pick].meta.note, max_chars=runs.NOTE_CHARS)
        if st.form_submit_button("Save the name and note", icon=":material/edit:"):
            try:
                runs.rename_run(renamable[pick], title, note)
                st.session_state.compare_notice = ("success", f"Renamed the run {pick}.")
            except StudioError as exc:
                st.session_state.compare_notice = ("error", str(exc))
            st.rerun()

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
