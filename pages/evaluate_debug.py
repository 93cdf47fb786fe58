"""Evaluate, for people who debug models: galleries whose images carry the model's top three
answers and links into Inside and Draw, every mistake in one gallery, two runs' confusion
matrices side by side or as a difference, and the model's files to download.

Every number comes from the runs' `Evaluation`s (pages/shared.evaluation); this module only
lays them out.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_core import runs
from pages import explorer, figures, shared

COLUMNS = 5  # images a row: wide enough for a one-line caption on a laptop screen
UPSCALE = 4  # 28 px test images shown at 112 px, nearest-neighbour (crisp pixels)
PER_PAGE = 20  # gallery images a page (4 rows of 5)
DRAW_PARAM = "test_image"  # Draw's ?test_image=N (pages/draw_test_image.py)
MATRIX_HEIGHT = 420  # px: two matrices fit beside each other on a laptop screen


def as_text(name: str) -> str:
    """A name people chose, safe in a Markdown caption: each character Markdown (or
    Streamlit's :emoji: and $maths$) could read as formatting is backslash-escaped, so the
    name shows exactly as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$:])", r"\\\1", name)


def plotly_text(name: str) -> str:
    """A name for a Plotly title or legend: its HTML-like tags shown, not applied. Quotes are
    left as they are: Plotly turns &lt; &gt; &amp; back into text, but shows &quot; as is."""
    return html.escape(name, quote=False)


def top3(probabilities: np.ndarray) -> str:
    """The three likeliest digits with their probabilities: "9 71% · 4 27% · 7 1%"."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")[:3]
    return " · ".join(f"{int(d)} {float(probabilities[d]):.0%}" for d in order)


def paged(indices: np.ndarray, key: str) -> tuple[np.ndarray, int]:
    """The PER_PAGE of `indices` on the page chosen in a menu under `key` (shown only when
    there is more than one page), and the position of the first, counted from 1. A menu, not
    a number box: a box takes any number typed (999) and turns red."""
    pages = math.ceil(len(indices) / PER_PAGE)
    page = 1
    if pages > 1:
        page = st.columns([1, 4])[0].selectbox(
            "Page", range(1, pages + 1), format_func=lambda n: f"{n} of {pages}", key=key
        )
    first = (page - 1) * PER_PAGE
    return indices[first : first + PER_PAGE], first + 1


def image_grid(
    evaluation, images: np.ndarray, shown, run_id: str, caption: Callable[[int], str]
) -> None:
    """Test images `shown` (indices), row by row: each with `caption(i)`, the top three
    answers under it, and links to look inside the network and to compare models in Draw."""
    for start in range(0, len(shown), COLUMNS):  # row by row: reading order
        for col, i in zip(st.columns(COLUMNS), shown[start : start + COLUMNS]):
            i = int(i)
            col.image(explorer.enlarge(images[i], UPSCALE), caption=caption(i))
            col.caption(
                f"Top 3: {top3(evaluation.probabilities[i])}",
                help="The three digits the model thought likeliest, with its probability for each.",
            )
            col.page_link(
                "pages/inside.py",
                label="Why?",
                icon=":material/neurology:",
                query_params={"run": run_id, "test": str(i)},
                help=f"Look inside the network for test image {i:,}: which pixels made it "
                f"say {int(evaluation.y_pred[i])}.",
            )
            col.page_link(
                "pages/draw.py",
                label="Other models",
                icon=":material/compare:",
                query_params={"run": run_id, DRAW_PARAM: str(i)},
                help=f"Open test image {i:,} on the Draw page to see how other models read it.",
            )


def mistakes(evaluation, images: np.ndarray, run_id: str) -> None:
    """Every test image the model got wrong, most confident first, paged."""
    wrong = evaluation.misclassified()
    st.subheader(f"All {len(wrong):,} mistakes")
    if len(wrong) == 0:
        st.info("The model read every test image right.")
        return
    st.caption(
        "Every test image the model got wrong, the most confident mistakes first: those are "
        "the ones worth a look (a mislabelled image, or something the model never learned)."
    )
    shown, first = paged(wrong, key=f"evaluate_mistakes_page_{run_id}")
    image_grid(
        evaluation,
        images,
        shown,
        run_id,
        lambda i: (
            f"true {evaluation.y_true[i]} · predicted {evaluation.y_pred[i]} · "
            f"{evaluation.confidence[i]:.0%}"
        ),
    )
    st.caption(f"Mistakes {first:,}–{first + len(shown) - 1:,} of {len(wrong):,}.")


def difference_figure(this: np.ndarray, other: np.ndarray, names: tuple[str, str]) -> go.Figure:
    """Heatmap of `other - this` (int counts, rows true, columns predicted): blue where the
    second run has more images in a cell, red where it has fewer."""
    diff = np.asarray(other, np.int64) - np.asarray(this, np.int64)
    top = max(1, int(np.abs(diff).max()))
    fig = go.Figure(
        go.Heatmap(
            z=diff,
            x=list(range(10)),
            y=list(range(10)),
            zmin=-top,
            zmax=top,
            colorscale="RdBu",
            text=[[f"{v:+d}" if v else "" for v in row] for row in diff],
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}<br>%{z:+d} images<extra></extra>",
            colorbar=dict(title="images"),
        )
    )
    fig.update_layout(
        height=MATRIX_HEIGHT,
        title=f"{plotly_text(names[1])} minus {plotly_text(names[0])}",
        margin=dict(l=50, r=10, t=40, b=40),
    )
    fig.update_xaxes(title_text="Predicted digit", dtick=1, side="bottom")
    fig.update_yaxes(title_text="True digit", dtick=1, autorange="reversed", scaleanchor="x")
    return fig


def against_another_run(evaluation, run: runs.Run) -> None:
    """This run's confusion matrix beside another run's, or their difference."""
    st.subheader("Compare the confusion matrix with another run")
    others = {r.id: r for r in shared.runs_with_models() if r.id != run.id}
    if not others:
        st.caption("There is no other run with a model to compare with yet.")
        return
    pick, how = st.columns([2, 1], vertical_alignment="bottom")
    other_id = pick.selectbox(
        "Other run",
        list(others),
        index=None,
        format_func=lambda run_id: others[run_id].label(),
        placeholder="Choose a run",
        key="evaluate_other_run",
    )
    view = how.segmented_control(
        "Show",
        ["Side by side", "Difference"],
        default="Side by side",
        required=True,
        key="evaluate_other_view",
        help="Difference: the other run's count minus this run's, cell by cell. Blue on the "
        "diagonal and red off it means the other run does better.",
    )
    if other_id is None:
        return
    other = others[other_id]
    try:
        theirs = shared.evaluation(other.model_path)
    except Exception as exc:  # a damaged model file: one line, the rest of the page stays
        shared.show_error(exc)
        return
    if view == "Difference":
        st.plotly_chart(
            difference_figure(evaluation.confusion, theirs.confusion, (run.name, other.name)),
            key="evaluate_difference",
            config={"displayModeBar": False},
        )
        fixed = int(np.trace(theirs.confusion) - np.trace(evaluation.confusion))
        st.caption(
            f"{as_text(other.name)} reads {abs(fixed):,} test images "
            + ("more" if fixed >= 0 else "fewer")
            + f" right than {as_text(run.name)}."
        )
        return
    for column, (shown_run, scored) in zip(st.columns(2), ((run, evaluation), (other, theirs))):
        name = shown_run.name
        title = plotly_text(name)
        column.plotly_chart(
            figures.confusion_matrix_figure(scored.confusion, height=MATRIX_HEIGHT, title=title),
            width="content",
            key=f"evaluate_side_{shown_run.id}",
            config={"displayModeBar": False},
        )
        column.caption(f"{as_text(name)}: {scored.accuracy:.2%} of {scored.n:,} test images right.")
