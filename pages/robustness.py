"""Robustness page: a model's accuracy on the test digits rotated, slanted, blurred, crossed
out, inverted, photographed... (`mnist_core.robustness`), with examples and the mistakes.

The figures of a model file are measured once (minutes) and kept beside it; this page shows
them, measures them with a progress bar when they are missing, and draws them.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_core import robustness as rb
from mnist_core.corruptions import CORRUPTIONS, corrupt
from mnist_core.errors import StudioError
from pages import explorer, figures, shared

EXAMPLE = 0  # the test image shown under every corruption (a 7)
TILE = 3  # 28 px shown at 84 px
PER_PAGE = 10  # mistakes shown per corruption
PATHS = {"app": "As the app reads it", "model": "The network alone"}
COLOURS = {"app": figures.ACCENT, "model": figures.MUTED}
NOTE = (
    "Each bar is the share of the 10,000 MNIST test digits the model reads right after "
    "changing all of them in one way: turned, slanted, smaller, off-centre, grainy, blurred, "
    "drawn with a thicker or thinner pen, crossed out, inverted, or photographed on paper. "
    "MNIST's digits are neat and centred; real handwriting is not, and a model can be 99.6% "
    "right on the test set and still fail on a slanted or crossed-out digit. **As the app "
    "reads it** is what you get on the Draw page: the picture is cleaned, centred and scaled "
    "first. **The network alone** gets the changed 28 × 28 picture as it is: the gap between "
    "the two bars is what that cleaning buys."
)


def bars(result: rb.Robustness) -> go.Figure:
    """Grouped bars: the clean test set, then each corruption, both ways."""
    names = ["clean", *CORRUPTIONS]
    labels = ["As they are"] + [CORRUPTIONS[n].title for n in CORRUPTIONS]
    fig = go.Figure()
    for path, title in PATHS.items():
        values = [result.clean[path].accuracy] + [
            result.corrupted[n][path].accuracy for n in names[1:]
        ]
        fig.add_bar(
            x=labels,
            y=values,
            name=title,
            marker_color=COLOURS[path],
            text=[f"{v:.1%}" for v in values],
            textposition="outside",
            textfont={"size": 10},
            hovertemplate="%{x}: %{y:.2%}<extra>" + title + "</extra>",
        )
    figures.styled(fig, None, height=380)
    fig.update_layout(barmode="group", legend={"y": 1.08, "x": 0, "xanchor": "left"})
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 0.9, 1])
    fig.add_hline(y=0.9, line_dash="dot", line_color="#888", opacity=0.6)
    return fig


def measured(run) -> rb.Robustness | None:
    """The run's figures: kept ones at once, else measured here with a progress bar (kept
    beside the model, except in the hosted demo, where this session keeps them)."""
    memory = st.session_state.setdefault("robustness", {})
    found = memory.get(str(run.model_path)) or rb.cached(run.model_path, 10_000)
    if found is not None:  # kept for the session: each rerun would hash the model file again
        memory[str(run.model_path)] = found
        return found
    st.info(
        "This model's robustness has not been measured yet: it takes one to three minutes "
        "on this server (22 readings of the 10,000 test images)."
    )
    if not st.button("Measure it now", icon=":material/speed:", type="primary"):
        return None
    bar = st.progress(0.0, text="Starting...")
    try:
        result = rb.for_model(
            run.model_path,
            predictor=shared.predictor(run.model_path),
            progress=lambda f, text: bar.progress(min(f, 1.0), text=text),
            keep=not shared.demo_mode(),
        )
    except (StudioError, OSError) as exc:
        shared.show_error(exc)
        return None
    bar.empty()
    memory[str(run.model_path)] = result
    return result


def examples() -> None:
    """One test digit under every corruption, in a row."""
    image = shared.mnist().x_test[EXAMPLE : EXAMPLE + 1]
    shown = [("As it is", image[0])] + [
        (c.title, corrupt(n, image, EXAMPLE)[0]) for n, c in CORRUPTIONS.items()
    ]
    for start in range(0, len(shown), 6):
        for col, (title, picture) in zip(st.columns(6), shown[start : start + 6]):
            col.image(explorer.enlarge(picture, TILE), caption=title)


def mistakes(run, result: rb.Robustness) -> None:
    """The test digits read wrong under one corruption, as the model saw them, with Why?."""
    left, right = st.columns(2)
    name = left.selectbox(
        "Mistakes under",
        list(CORRUPTIONS),
        format_func=lambda n: CORRUPTIONS[n].title,
        key="robustness_corruption",
    )
    path = right.radio(
        "Read", list(PATHS), format_func=PATHS.get, horizontal=True, key="robustness_path"
    )
    score = result.corrupted[name][path]
    wrong = score.wrong[:PER_PAGE]
    total = round((1 - score.accuracy) * result.images)
    if not wrong:
        st.success(f"Every test digit was read right under {CORRUPTIONS[name].title.lower()}.")
        return
    st.caption(
        f"{total:,} of {result.images:,} read wrong; the first {len(wrong)} by test index, "
        "as the network saw them. **Why?** opens the Inside view on that picture."
    )
    data = shared.mnist()
    # Each at its own index: the parameters it had in the measurement, and no other image made.
    pictures = np.concatenate([corrupt(name, data.x_test[i : i + 1], i) for i in wrong])
    seen = rb.app_inputs(pictures) if path == "app" else pictures.astype(np.float32) / 255
    reads = shared.predictor(run.model_path).predict_batch(seen).argmax(axis=1)
    for start in range(0, len(wrong), 5):
        row = zip(st.columns(5), wrong[start : start + 5], seen[start:], reads[start:])
        for col, i, x, read in row:
            col.image(explorer.enlarge(x, TILE), caption=f"true {data.y_test[i]} · read {read}")
            if col.button("Why?", key=f"why_{name}_{path}_{i}", icon=":material/neurology:"):
                what = f"a test digit, {CORRUPTIONS[name].title.lower()}"
                shared.look_inside(run, x, what)


st.title("Robustness: where the model breaks")
st.markdown(NOTE)
run = shared.run_picker("Model", key="robustness_run")
if run is None:
    st.stop()
result = measured(run)
if result is not None:
    mean, (worst, low) = result.mean("app"), result.worst("app")
    cols = st.columns(3)
    cols[0].metric("Test set as it is", f"{result.clean['app'].accuracy:.2%}")
    cols[1].metric("Mean over the changes", f"{mean:.2%}", help="As the app reads them.")
    cols[2].metric(
        "Hardest", f"{low:.0%}", CORRUPTIONS[worst].title, delta_color="off", delta_arrow="off"
    )
    st.plotly_chart(bars(result), config={"displayModeBar": False}, key="robustness_bars")
    st.subheader("What each change looks like")
    examples()
    st.subheader("The mistakes")
    mistakes(run, result)
