"""A test image on the Draw page (?test_image=N, linked from Evaluate's galleries): how the chosen
model and the models it is compared with read exactly that image.

Each model's answer is its row of the test-set Evaluation (pages/shared.evaluation), the very
probabilities Evaluate shows, so Draw and Evaluate never disagree about a test image.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mnist_core import runs
from pages import evaluate_debug, explorer, figures, shared

SCALE = 8  # the 28x28 test image shown at 224x224, pixel for pixel
# ?test_image=N names it: not Inside's ?test=N, which the address keeps while Inside shows a
# test image and would otherwise open one here too
PARAM = evaluate_debug.DRAW_PARAM


def from_address() -> int | None:
    """The test image ?test_image=N names, or None; anything but a number from 0 to 9,999 (or
    the test set's size less one) is dropped from the address with one warning."""
    raw = st.query_params.get(PARAM)
    if raw is None:
        return None
    count = len(shared.mnist().y_test)
    if raw.isascii() and raw.isdigit() and int(raw) < count:
        return int(raw)
    del st.query_params[PARAM]
    st.warning(f"The test image named in the address is not a number from 0 to {count - 1:,}.")
    return None


def _back_to_drawing() -> None:
    st.query_params.pop(PARAM, None)


def show(index: int, run: runs.Run, others: list[runs.Run]) -> None:
    """The test image, each model's reading of it (top three), and the chosen model's bars."""
    data = shared.mnist()
    image, truth = data.x_test[index], int(data.y_test[index])
    st.subheader(f"Test image {index:,}: a {truth}")
    picture, result = st.columns([1, 2], gap="large")
    picture.image(explorer.enlarge(image, SCALE), caption="The test image (28 × 28)")
    picture.button(
        "Back to drawing",
        icon=":material/draw:",
        on_click=_back_to_drawing,
        key="draw_test_back",
    )
    rows, first = [], None
    for model_run in [run, *others]:
        try:
            scored = shared.evaluation(model_run.model_path)
        except Exception as exc:  # a damaged model file: one line, the other models still read
            shared.show_error(exc)
            continue
        first = first if first is not None else scored
        rows.append(
            {
                "Model": model_run.label(),
                "Reads": int(scored.y_pred[index]),
                "Right": "yes" if int(scored.y_pred[index]) == truth else "no",
                "Confidence": float(scored.confidence[index]),
                "Top 3": evaluate_debug.top3(scored.probabilities[index]),
            }
        )
    with result:
        if rows:
            st.dataframe(
                pd.DataFrame(rows),
                hide_index=True,
                key="draw_test_readings",
                column_config={
                    "Reads": st.column_config.NumberColumn(width=60),
                    "Right": st.column_config.TextColumn(width=50),
                    "Confidence": st.column_config.ProgressColumn(
                        min_value=0, max_value=1, format="percent", width=120
                    ),
                    "Top 3": st.column_config.TextColumn(
                        help="The three digits each model thought likeliest."
                    ),
                },
            )
        if not others:
            st.caption("Choose models under “Compare with other models” to see how they read it.")
        if first is not None and rows[0]["Model"] == run.label():
            st.plotly_chart(
                figures.probability_bars(first.probabilities[index], title="How sure, per digit"),
                key="draw_test_bars",
                config={"displayModeBar": False},
            )
        st.page_link(
            "pages/inside.py",
            label="Look inside",
            icon=":material/neurology:",
            query_params={"run": run.id, "test": str(index)},
            help="See what the network computes for this test image, layer by layer.",
        )
