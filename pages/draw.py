"""Draw page: draw (or upload) a digit and see what a trained network reads in it.

Every prediction goes through `inference.predict_image` with the cached `Predictor` (the
single-image fast path, about a millisecond), so it can follow each stroke.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core.errors import InputError, StudioError
from mnist_core.images import load_image, to_grayscale
from mnist_core.preprocess import NO_DIGIT_MESSAGE
from pages import explorer, figures, shared

CANVAS_SIZE = 280  # px: ten canvas pixels per MNIST pixel
SEEN_SCALE = 8  # the 28x28 model input shown at 224x224, pixel for pixel
UNSURE_BELOW = 0.5  # confidence under which the page says the model is unsure
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]
SHOWABLE_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK")  # what st.image can encode as is
HINT = "Draw a digit from 0 to 9 in the black square: the prediction appears when you lift the pen."


def _clear() -> None:
    st.session_state.canvas_version = st.session_state.get("canvas_version", 0) + 1


def read_canvas(stroke_width: int) -> np.ndarray | None:
    """The drawing as RGBA uint8 (280, 280, 4), or None before anything was sent."""
    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        drawing_mode="freedraw",
        update_streamlit=True,
        return_image_data=True,
        width=CANVAS_SIZE,
        height=CANVAS_SIZE,
        key=f"canvas_{st.session_state.get('canvas_version', 0)}",  # a new key clears it
    )
    return result.image_data


def read_upload(upload):
    """The uploaded picture (PIL image), or None with a one-line error when it is unusable."""
    if upload is None:
        return None
    try:
        if shared.demo_mode() and upload.size > shared.DEMO_MAX_UPLOAD_MB * 1024 * 1024:
            # The browser holds back bigger files already; this catches any that get past it.
            raise InputError(
                f"Upload {upload.name!r} is too large for this demo: "
                f"{upload.size / 1024 / 1024:.1f} MB (the limit is "
                f"{shared.DEMO_MAX_UPLOAD_MB} MB)."
            )
        return load_image(upload)
    except StudioError as exc:
        shared.show_error(exc)
        return None


def preview(picture):
    """The uploaded picture in a form st.image can show: 16-bit pictures as 8-bit grey."""
    if picture.mode in SHOWABLE_MODES:
        return picture
    gray = to_grayscale(picture)
    step = max(1, min(gray.shape) // CANVAS_SIZE)  # no need to send more pixels than are shown
    return gray[::step, ::step]


def predict(run, image):
    """`run`'s Prediction for `image`, or None after a one-line error."""
    from mnist_core.inference import predict_image  # here: TensorFlow loads at the first prediction

    try:
        return predict_image(shared.predictor(run.model_path), image)
    except (StudioError, OSError) as exc:
        shared.show_error(exc)
        return None


def show_prediction(image, run, others: list, where: str) -> None:
    """The model's reading of `image`: digit, confidence, what it saw, all ten probabilities."""
    prediction = predict(run, image)
    if prediction is None:
        return
    if not prediction.found:
        st.info(HINT if where == "draw" else NO_DIGIT_MESSAGE)
        return
    st.metric(
        "Prediction",
        str(prediction.digit),
        f"{prediction.confidence:.0%} confident",
        delta_color="off",
        delta_arrow="off",
    )
    if prediction.confidence < UNSURE_BELOW:
        st.warning("The model is unsure about this one: no digit gets even half of its vote.")
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
            column_config={
                "Reads": st.column_config.NumberColumn(width=60),
                "Confidence": st.column_config.ProgressColumn(
                    min_value=0, max_value=1, format="percent", width=150
                ),
            },
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

draw_tab, upload_tab = st.tabs([":material/draw: Draw", ":material/image: Upload a picture"])
with draw_tab:
    canvas_side, result_side = st.columns([1, 2], gap="large")
    with canvas_side:
        stroke = st.slider("Pen width", 5, 40, 18, key="draw_stroke")
        drawing = read_canvas(stroke)
        st.button("Clear", icon=":material/ink_eraser:", on_click=_clear)
    with result_side:
        if drawing is None:
            st.info(HINT)
        else:
            show_prediction(drawing, run, others, "draw")

with upload_tab:
    upload_side, result_side = st.columns([1, 2], gap="large")
    with upload_side:
        upload = st.file_uploader(
            "A picture of one digit",
            type=UPLOAD_TYPES,
            key="draw_upload",
            max_upload_size=shared.DEMO_MAX_UPLOAD_MB if shared.demo_mode() else None,
            help="A photo or scan works: dark ink on light paper or light on dark.",
        )
        picture = read_upload(upload)
        if picture is not None:
            st.image(preview(picture), caption="Your picture", width=CANVAS_SIZE)
    with result_side:
        if picture is None:
            st.info("Upload a picture of a handwritten digit to see what the model reads.")
        else:
            show_prediction(picture, run, others, "upload")
