"""Evaluate page: how a trained model does on the 10,000 MNIST test images.

Headline numbers, a per-digit table, the confusion matrix (click a cell to see exactly
those test images below it), the run's learning curves and downloads. The Evaluation
comes from `shared.evaluation` (computed once per model file); this page only draws it.
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from mnist_core import runs
from pages import curves, evaluate_debug, figures, model_downloads, model_summary, run_views, shared

MATRIX_HEIGHT = 480  # px; the matrix is about this wide too, which fits beside the table
CELLS_KEY = "evaluate_cells"  # session_state: {run id: (true, predicted)} the selected cell per run


def cell_from_selection(selection) -> tuple[int, int] | None:
    """(true, predicted) of the clicked confusion-matrix point, or None for no selection.

    `selection` is the "selection" part of st.plotly_chart's state: {"points": [{"customdata":
    [true, predicted, count], "point_index": i, ...}], ...}; point i is cell (i // 10, i % 10).
    """
    points = (selection or {}).get("points") or []
    if not points:
        return None
    point = points[-1]
    data = point.get("customdata")
    if isinstance(data, (list, tuple)) and len(data) >= 2:
        t, p = int(data[0]), int(data[1])
    elif point.get("point_index") is not None:
        t, p = divmod(int(point["point_index"]), 10)
    else:
        return None
    return (t, p) if 0 <= t < 10 and 0 <= p < 10 else None


def _on_cell_click(chart_key: str, run_id: str) -> None:
    """Remember the clicked cell (called by Streamlit before the rerun, only on a new click)."""
    state = st.session_state.get(chart_key) or {}
    cell = cell_from_selection(state.get("selection"))
    if cell is not None:
        st.session_state.setdefault(CELLS_KEY, {})[run_id] = cell


def _worst_cell(confusion: np.ndarray) -> tuple[int, int]:
    """The off-diagonal cell with the most images (the model's commonest mix-up)."""
    off = np.array(confusion, dtype=np.int64)
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(int(off.argmax()), off.shape)
    return int(t), int(p)


def _confusion_figure(confusion: np.ndarray, normalise: bool, cell: tuple[int, int]):
    """The clickable matrix with the shown cell outlined."""
    fig = figures.confusion_matrix_figure(confusion, normalise=normalise, height=MATRIX_HEIGHT)
    t, p = cell
    fig.add_shape(
        type="rect",
        x0=p - 0.5,
        x1=p + 0.5,
        y0=t - 0.5,
        y1=t + 0.5,
        line=dict(color=figures.ACCENT, width=3),
    )
    return fig


def _as_percent(table):
    """The precision, recall and F1 columns (fractions) as percentages, for display."""
    return table.assign(**{m: table[m] * 100 for m in ("precision", "recall", "f1")})


def _summary(run: runs.Run) -> str:
    """One line: what was trained on how much, for how long, and how it ended."""
    meta, params = run.meta, run.meta.params
    parts = [f"**{run.preset}**"]
    if meta.data:
        parts.append(f"learned from {meta.data.train_examples:,} images")
    networks = model_summary.networks(run)
    if meta.epochs_completed is not None and networks > 1 and meta.fine_tuned is None:
        # trained one after another, their epochs numbered on
        parts.append(f"{networks} networks, {meta.epochs_completed // networks} epoch(s) each")
    elif meta.epochs_completed is not None:
        parts.append(f"{meta.epochs_completed} epoch(s)")
    if params:
        parts.append(f"batch {params.batch_size}")
        parts.append(f"learning rate {shared.learning_rate_text(params.learning_rate)}")
    if run.status != "completed":
        parts.append(f"status: {runs.STATUS_WORDS[run.status].lower()}")
    if meta.started_at:
        parts.append(f"started {meta.started_at.replace('T', ' ')[:16]} UTC")
    return " · ".join(parts)


def _gallery(evaluation, images: np.ndarray, run_id: str, cell: tuple[int, int]) -> None:
    """Exactly the test images of confusion cell `cell`, most confident first, paged."""
    t, p = cell
    indices = evaluation.cell(t, p)
    st.subheader(f"{len(indices):,} images: true {t}, predicted {p}")
    if len(indices) == 0:
        st.info(f"No test image of a {t} was read as a {p}. Click another cell of the matrix.")
        return
    what = "read correctly" if t == p else f"read as a {p}"
    st.caption(
        f"Test images of a {t} that the model {what}, most confident first. "
        "The percentage is how sure the model was."
    )
    shown, first = evaluate_debug.paged(indices, key=f"evaluate_page_{run_id}_{t}_{p}")
    evaluate_debug.image_grid(
        evaluation,
        images,
        shown,
        run_id,
        lambda i: f"true {t} · predicted {p} · {evaluation.confidence[i]:.0%}",
    )
    if len(indices) > len(shown):  # more than one page
        st.caption(f"Images {first:,}–{first + len(shown) - 1:,} of {len(indices):,}.")


# --------------------------------------------------------------------------- the page

SCORE_PX = 300  # a score's box at least this wide: four a line only on a wide page
TABLES_PX = 350  # the per-digit tables' column: Digit, Precision, Recall, F1 and Images

st.title("Evaluate a model")
st.caption(
    "How well a trained model reads the 10,000 MNIST test images, which it never "
    "saw while learning."
)

run = shared.run_picker(
    "Model",
    key="evaluate_run",
    help="Any training that produced a model. The shipped model comes first.",
)
if run is None:
    st.stop()
st.markdown(_summary(run))
layers = run_views.architecture(run)
if layers:
    st.caption(f"Network: {layers}")
    run_views.train_again(run)
with st.expander("Layers: output shapes and parameters", icon=":material/table_rows:"):
    model_summary.layer_table(run, key="evaluate_layers")

try:
    evaluation = shared.evaluation(run.model_path)
    test_images = shared.mnist().x_test
except Exception as exc:  # a damaged model file, missing data: one line, the page stays usable
    shared.show_error(exc)
    st.stop()

wrong = len(evaluation.misclassified())
# Narrow pages: the four scores two a line (a quarter of a 1366 px page cut "20 min 05 s" to
# "20 mi…"), and the per-digit tables under the matrix rather than cut off beside it.
st.html(
    f"""<style>
.st-key-evaluate_scores [data-testid="stColumn"] {{ min-width: {SCORE_PX}px; }}
.st-key-evaluate_scores [data-testid="stHorizontalBlock"] {{ flex-wrap: wrap; }}
[data-testid="stColumn"]:has(.st-key-evaluate_per_digit) {{ min-width: {TABLES_PX}px; }}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .st-key-evaluate_per_digit) {{
  flex-wrap: wrap;
}}
</style>"""
)
cols = st.container(key="evaluate_scores").columns(4)
cols[0].metric(
    "Accuracy",
    f"{evaluation.accuracy:.2%}",
    border=True,
    help="Share of the test images whose digit the model named correctly.",
)
cols[1].metric(
    "Macro F1",
    f"{evaluation.macro_f1:.2%}",
    border=True,
    help="Precision and recall combined, averaged over the ten digits with equal "
    "weight: low when some digit is read badly, even if it is rare.",
)
cols[2].metric(
    "Misclassified",
    f"{wrong:,}",
    border=True,
    help=f"Test images the model got wrong, out of {evaluation.n:,}.",
)
cols[3].metric(
    "Training time",
    shared.duration(run.meta.train_seconds),
    border=True,
    help="How long the training took, without loading the data.",
)

matrix_col, table_col = st.columns([3, 2], gap="large")
cells = st.session_state.setdefault(CELLS_KEY, {})
cell = tuple(cells.get(run.id) or _worst_cell(evaluation.confusion))
with matrix_col:
    st.subheader("Confusion matrix")
    st.caption(
        "Rows are the true digit, columns the digit the model said. The diagonal holds "
        "the right answers; everything else is a mistake. **Click a cell** to see its images."
    )
    normalise = st.toggle("Show each row as shares instead of counts", key="evaluate_normalise")
    chart_key = f"evaluate_confusion_{run.id}"
    st.plotly_chart(
        _confusion_figure(evaluation.confusion, normalise, cell),
        width="content",
        on_select=functools.partial(_on_cell_click, chart_key, run.id),
        selection_mode="points",
        key=chart_key,
        config={"displayModeBar": False},
    )
with table_col, st.container(key="evaluate_per_digit"):
    st.subheader("Per digit")
    share = functools.partial(st.column_config.NumberColumn, format="%.1f%%", width=72)
    scores = {
        "precision": share(
            "Precision",
            help="Of the images the model called this digit, the share that really were.",
        ),
        "recall": share("Recall", help="Of the images of this digit, the share the model found."),
        "f1": share("F1", help="Precision and recall combined into one score."),
        "support": st.column_config.NumberColumn(
            "Images", format="localized", width=64, help="Test images of this digit."
        ),
    }
    st.dataframe(
        _as_percent(evaluation.per_class_table()),
        hide_index=True,
        width="stretch",
        column_config={
            "digit": st.column_config.NumberColumn(
                "Digit", format="%d", width=48, help="The true digit of the test images."
            ),
            **scores,
        },
    )
    st.dataframe(
        _as_percent(evaluation.averages_table()),
        hide_index=True,
        width="stretch",
        column_config={
            "average": st.column_config.TextColumn(
                "Average",
                width=100,
                help="Macro: the ten digits' scores averaged, each digit counting the same. "
                "Weighted: each digit counting by how many test images it has.",
            ),
            **scores,
        },
        column_order=("average", "precision", "recall", "f1"),
    )
    st.caption("Macro: every digit counts the same. Weighted: by how many test images it has.")

with st.container(key="evaluate_cell_gallery"):  # the clicked cell's images, together
    _gallery(evaluation, test_images, run.id, cell)
evaluate_debug.mistakes(evaluation, test_images, run.id)
evaluate_debug.against_another_run(evaluation, run)

st.subheader("Learning curves")
history = runs.read_history(run.path)
if history:
    st.plotly_chart(
        curves.learning_curves(history, steps=runs.read_steps(run.path)), key="evaluate_curves"
    )
    run_views.curves_help()
else:
    st.caption("No training history was saved with this model.")

model_downloads.downloads(run, evaluation.metrics_csv)
