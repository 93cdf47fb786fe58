"""Draw page: draw (or upload) a digit and see what a trained network reads in it.

Every prediction goes through `inference.predict_image` with the cached `Predictor` (the
single-image fast path, about a millisecond), so it can follow each stroke.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mnist_core.errors import StudioError
from mnist_core.preprocess import NO_DIGIT_MESSAGE
from pages import (
    canvas_fit,
    draw_number,
    draw_test_image,
    explorer,
    figures,
    own_digit_form,
    pen_up,
    shared,
)

CANVAS_SIZE = 280  # px: ten canvas pixels per MNIST pixel
SEEN_SCALE = 8  # the 28x28 model input shown at 224x224, pixel for pixel
UNSURE_BELOW = 0.5  # confidence under which the page says the model is unsure
LOOKED_AT = {"draw": "your drawing", "upload": "your picture"}  # what Inside calls it
HINT = "Draw a digit from 0 to 9 in the black square: the prediction appears when you lift the pen."


def _clear() -> None:
    st.session_state.canvas_version = st.session_state.get("canvas_version", 0) + 1


def read_canvas(stroke_width: int) -> np.ndarray | None:
    """The drawing as RGBA uint8 (280, 280, 4), or None before anything was sent."""
    return draw_number.drawing_canvas(stroke_width, CANVAS_SIZE, CANVAS_SIZE, "canvas")


def predict(run, image):
    """`run`'s Prediction for `image`, or None after a one-line error."""
    from mnist_core.inference import predict_image  # here: the page draws before LiteRT loads

    try:
        return predict_image(shared.predictor(run.model_path), image)
    except (StudioError, OSError) as exc:
        shared.show_error(exc)
        return None


def show_prediction(image, run, others: list, where: str) -> None:
    """The model's reading of `image`: digit, confidence, what it saw, all ten probabilities."""
    show_reading(predict(run, image), image, run, others, where)


def show_reading(prediction, image, run, others: list, where: str) -> None:
    """`show_prediction` for a reading made already (None: its error is on the page)."""
    if prediction is None:
        return
    if not prediction.found:
        st.info(HINT if where == "draw" else NO_DIGIT_MESSAGE)
        return
    if prediction.is_digit is False:
        # The checker (mnist_core.digit_check) judges the picture, not the model: no
        # confident digit is shown for a line, a cross or a scribble.
        st.metric("Prediction", "Not a digit")
        st.warning(
            f"That doesn't look like a digit to this app. If it had to pick, the model would "
            f"say {prediction.digit}: a network trained only on digits always answers with one."
        )
    else:
        st.metric(
            "Prediction",
            str(prediction.digit),
            f"{prediction.confidence:.0%} confident",
            delta_color="off",
            delta_arrow="off",
        )
        if prediction.confidence < UNSURE_BELOW:
            st.warning("The model is unsure about this one: no digit gets even half of its vote.")
    if st.button(
        "Look inside",
        icon=":material/neurology:",
        key=f"look_inside_{where}",
        help="See what the network computes for this digit, layer by layer, and which "
        "pixels made it answer as it did.",
    ):
        shared.look_inside(run, prediction.input_image, LOOKED_AT[where])
    own_digit_form.tell_the_digit(prediction.input_image, prediction.digit, where)
    seen, bars = st.columns([1, 2])
    seen.image(
        explorer.enlarge(prediction.input_image, SEEN_SCALE),
        caption="What the model sees (28 × 28)",
    )
    bars.plotly_chart(
        figures.probability_bars(prediction.probabilities, title="How sure, per digit"),
        key=f"bars_{where}",
        config={"displayModeBar": False},
    )
    if others:
        readings = [(run, prediction)] + [(other, predict(other, image)) for other in others]
        rows = [
            {"Model": r.label(), "Reads": p.digit, "Confidence": p.confidence}
            for r, p in readings
            if p is not None and p.found
        ]
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            key=f"compare_{where}",
            width="stretch",  # the column's width, shared out: the Confidence bar stays whole
            # 300 px in all: the result column is 316 px wide in a 1024 px window (the Model
            # column's 200 px "medium" pushed Confidence out of sight there).
            column_config={
                "Model": st.column_config.TextColumn(
                    width=150, help="A trained model: its name, kind and test accuracy."
                ),
                "Reads": st.column_config.NumberColumn(
                    width=54, help="The digit this model reads in the picture."
                ),
                "Confidence": st.column_config.ProgressColumn(
                    min_value=0,
                    max_value=1,
                    format="percent",
                    width=96,
                    help="How sure this model is of its answer.",
                ),
            },
        )


def show_upload(picture, prediction) -> None:
    """The uploaded picture with the digit the model was given boxed (the prediction's box:
    the picture is preprocessed once), or as it is when it holds no digit or could not be
    read (the reading beside it says why, in one line)."""
    box = prediction.box if prediction is not None else None
    if box is None:
        st.image(shared.upload_preview(picture), caption="Your picture", width=CANVAS_SIZE)
    else:
        st.image(
            draw_number.boxed(picture, [box], width=CANVAS_SIZE),
            caption="Your picture: the digit read is boxed",
            width=CANVAS_SIZE,
        )


st.title("Draw a digit")
pick, compare = st.columns(2)
with pick:
    run = shared.run_picker("Model that reads your digit", key="draw_run")
if run is None:
    st.stop()
others_by_id = {r.id: r for r in shared.runs_with_models() if r.id != run.id}
with compare:
    chosen = st.multiselect(
        "Compare with other models",
        list(others_by_id),
        key="draw_compare",
        format_func=lambda run_id: others_by_id[run_id].label(),
        placeholder="Choose models",
        disabled=not others_by_id,
    )
others = [others_by_id[run_id] for run_id in chosen]

test_index = draw_test_image.from_address()  # ?test=N: a test image from Evaluate's galleries
if test_index is not None:
    draw_test_image.show(test_index, run, others)
    st.stop()

MODES = {"digit": "One digit", "number": "A whole number"}
mode = st.segmented_control(
    "Read",
    list(MODES),
    default="digit",
    format_func=MODES.get,
    key="draw_mode",
    help="One digit: a square canvas and the model's full answer. A whole number: a wide "
    "canvas; each digit is found, boxed and read left to right.",
)
number_mode = mode == "number"  # None (the choice clicked off) reads one digit


@st.fragment
def drawing_area(run, others: list, number_mode: bool) -> None:
    """The canvas and what the model reads in it. A fragment: a stroke (or Clear, or the pen
    width) reruns only this, not the page with its model menus and the Upload tab."""
    if number_mode:
        pen, clear = st.columns([3, 1], vertical_alignment="bottom")
        stroke = pen.slider("Pen width", 5, 40, 14, key="number_stroke")
        clear.button("Clear", icon=":material/ink_eraser:", on_click=_clear, key="number_clear")
        drawing = draw_number.read_number_canvas(stroke)
        if drawing is None:
            st.info(draw_number.NUMBER_HINT)
        else:
            draw_number.show_number(drawing, run, "draw")
        return
    canvas_side, result_side = st.columns([1, 2], gap="large")
    with canvas_side, st.container(key=canvas_fit.CANVAS_BOX):
        stroke = st.slider("Pen width", 5, 40, 18, key="draw_stroke")
        drawing = read_canvas(stroke)
        st.button("Clear", icon=":material/ink_eraser:", on_click=_clear)
    with result_side:
        if drawing is None:
            st.info(HINT)
        else:
            show_prediction(drawing, run, others, "draw")


draw_tab, upload_tab = st.tabs([":material/draw: Draw", ":material/image: Upload a picture"])
with draw_tab:
    pen_up.send_strokes_at_once()
    canvas_fit.fit_canvases()
    drawing_area(run, others, number_mode)

with upload_tab:
    upload_side, result_side = st.columns([1, 2], gap="large")
    with upload_side:
        upload = st.file_uploader(
            "A picture of a number" if number_mode else "A picture of one digit",
            type=shared.UPLOAD_TYPES,
            key="draw_upload",
            max_upload_size=shared.DEMO_MAX_UPLOAD_MB if shared.demo_mode() else None,
            help="A photo or scan works: dark ink on light paper or light on dark.",
        )
        picture = shared.read_upload(upload)
    with result_side:
        if picture is None:
            st.info(
                "Upload a picture of a handwritten "
                + ("number" if number_mode else "digit")
                + " to see what the model reads."
            )
        elif number_mode:
            draw_number.show_number(picture, run, "upload")
        else:
            upload_reading = predict(run, picture)  # its error, if any, shows here
            show_reading(upload_reading, picture, run, others, "upload")
            with upload_side:
                show_upload(picture, upload_reading)
