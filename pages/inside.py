"""Inside page: what a trained network computes for one picture, and why it answered.

Any run (?run=ID) and any input: the drawing or picture Draw hands over (shared.look_inside),
a test image (?test=N, from the Evaluate gallery) or a picture uploaded here. The numbers
come from `mnist_core.explain` through the caches of pages/inside_views.py; this page only
reads widgets and lays the sections out.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnist_core.data import normalise
from mnist_core.errors import StudioError
from mnist_core.preprocess import NO_DIGIT_MESSAGE
from pages import inside_story as story
from pages import inside_views as views
from pages import shared
from pages.inside_figures import percent

SOURCE_KEY = "inside_source"  # what to look at: "drawing", "test" or "upload"
INDEX_KEY = "inside_test_index"
TABS = ["Why this digit", "Layer by layer", "What it learned", "Step by step"]


# The address says what is shown (?test=N, or no test for a drawing or an upload). Each
# widget that changes it writes the address in its callback, before the rerun, so that at the
# top of a run an address that differs from the page's state is a new one: a link followed.


def _address_follows_source() -> None:
    if st.session_state.get(SOURCE_KEY) == "test":
        st.query_params["test"] = str(st.session_state.setdefault(INDEX_KEY, 0))
    elif "test" in st.query_params:
        del st.query_params["test"]


def _address_follows_index() -> None:
    st.query_params["test"] = str(st.session_state[INDEX_KEY])


def _random_test_image(count: int) -> None:
    st.session_state[INDEX_KEY] = int(np.random.default_rng().integers(count))
    st.session_state[SOURCE_KEY] = "test"
    _address_follows_index()


def _follow_address(count: int) -> None:
    """Show the test image ?test=N names, when it names another than the one shown (a link
    from the Evaluate gallery); anything but a number from 0 to count - 1 is one warning."""
    raw = st.query_params.get("test")
    shown = st.session_state.get(INDEX_KEY) if st.session_state.get(SOURCE_KEY) == "test" else None
    if raw is None or raw == str(shown):
        return
    if raw.isascii() and raw.isdigit() and int(raw) < count:
        st.session_state[INDEX_KEY] = int(raw)
        st.session_state[SOURCE_KEY] = "test"
        return
    del st.query_params["test"]
    if count:
        st.warning(
            f"The test image named in the address is not a number from 0 to {count - 1:,}; "
            "showing another picture instead."
        )
    else:
        st.warning("The test images are not available here; showing another picture instead.")


def _choose_source(handed: dict | None, count: int) -> str:
    """The segmented control of inputs; what Draw just handed over is chosen first."""
    labels = {}
    if handed:
        labels["drawing"] = handed["what"].capitalize()  # "Your drawing", "Your picture"
    if count:
        labels["test"] = "A test image"
    labels["upload"] = "Upload"
    if handed and handed.get("fresh"):
        handed["fresh"] = False
        st.session_state[SOURCE_KEY] = "drawing"
    _follow_address(count)
    if st.session_state.get(SOURCE_KEY) not in labels:
        st.session_state[SOURCE_KEY] = next(iter(labels))
    return st.segmented_control(
        "What to look at",
        list(labels),
        format_func=labels.get,
        key=SOURCE_KEY,
        required=True,
        on_change=_address_follows_source,
        wrap=True,  # on a narrow screen, a second row rather than options scrolled away
    )


def _test_image(data) -> tuple[np.ndarray, str, int]:
    count = len(data.x_test)
    st.session_state.setdefault(INDEX_KEY, 0)
    number, shuffle = st.columns([3, 2], vertical_alignment="bottom")
    index = number.number_input(
        f"Test image (0 to {count - 1:,})",
        0,
        count - 1,
        step=1,
        key=INDEX_KEY,
        on_change=_address_follows_index,
    )
    shuffle.button(
        "Random",
        icon=":material/shuffle:",
        on_click=_random_test_image,
        args=(count,),
        help="A random test image",
        key="inside_random",
    )
    st.query_params["test"] = str(index)
    label = int(data.y_test[index])
    return normalise(data.x_test[index : index + 1])[0, ..., 0], f"test image {index}", label


def _upload(run) -> np.ndarray | None:
    """What the model sees of an uploaded picture, read exactly as the Draw page reads it
    (`inference.predict_image`), or None after a one-line message."""
    from mnist_core.inference import predict_image

    upload = st.file_uploader(
        "A picture of one digit",
        type=shared.UPLOAD_TYPES,
        key="inside_upload",
        max_upload_size=shared.DEMO_MAX_UPLOAD_MB if shared.demo_mode() else None,
        help="A photo or scan works: dark ink on light paper or light on dark. It is read "
        "as the Draw page reads it.",
    )
    picture = shared.read_upload(upload)
    if picture is None:
        if upload is None:
            st.info("Upload a picture of a handwritten digit to look inside the network.")
        return None
    try:
        prediction = predict_image(shared.predictor(run.model_path), picture)
    except (StudioError, OSError) as exc:
        shared.show_error(exc)
        return None
    if not prediction.found:
        st.info(NO_DIGIT_MESSAGE)
        return None
    return prediction.input_image


# --------------------------------------------------------------------------- the page

st.title("Inside the network")
st.caption(
    "What a trained network computes for one picture, layer by layer, and which pixels made "
    "it answer. New to neural networks? Open **Step by step**."
)

pick, source_side = st.columns([1, 1], gap="large")
with pick:
    run = shared.run_picker("Model", key="inside_run", help="Any training that produced a model.")
if run is None:
    st.stop()
try:
    explainer = shared.explainer(run.model_path)
    key = views.model_key(run)
except Exception as exc:  # a damaged model file: one line, the page stays usable
    shared.show_error(exc)
    st.stop()

try:
    data = shared.mnist()
except StudioError as exc:  # no test images; drawings and uploads still work
    shared.show_error(exc)
    data = None
handed = st.session_state.get(shared.INSIDE_INPUT)
with source_side:
    source = _choose_source(handed, len(data.x_test) if data is not None else 0)

controls, seen, answer = st.columns([4, 1, 3], gap="medium")
x28, what, label = None, "your picture", None
with controls:
    if source == "test":
        x28, what, label = _test_image(data)
    elif source == "drawing":
        x28, what = handed["image"], handed["what"]
        st.page_link("pages/draw.py", label="Draw another", icon=":material/draw:")
    else:
        x28 = _upload(run)
if source != "test" and "test" in st.query_params:
    del st.query_params["test"]
if x28 is None:
    st.stop()

try:
    reading = views.reading(explainer, key, x28)
except Exception as exc:
    shared.show_error(exc)
    st.stop()
digit, probability = reading.digit, float(reading.probabilities[reading.digit])
with seen:
    views.show_input(x28)
with answer:
    st.metric(
        "It reads",
        str(digit),
        f"{percent(probability)} sure",
        delta_color="off",
        delta_arrow="off",
    )
    if label is not None:
        verdict = "the model is right." if label == digit else "the model got it wrong."
        st.caption(f"MNIST labels {what} as **{label}**: {verdict}")

why, layers, learned, steps = st.tabs(TABS, key="inside_tab", on_change="rerun")
try:
    if why.open:
        with why:
            target = st.segmented_control(
                "Explain the digit",
                list(range(10)),
                default=digit,
                required=True,
                key=f"inside_target_{views.input_id(key, x28)}",
                help="Which digit the maps explain: the answer, or any other (why not 4?).",
            )
            chosen = int(target)
            views.show_legend(chosen)
            views.show_reasons(explainer, key, x28, chosen, reading.probabilities)
    if layers.open:
        with layers:
            views.show_ensemble_note(explainer)
            views.show_network(explainer)
            st.subheader(f"What each layer computes for {what}")
            views.show_activations(explainer, reading)
    if learned.open:
        with learned:
            views.show_ensemble_note(explainer)
            st.subheader("What the first layer looks for")
            views.show_weights(explainer, run)
    if steps.open:
        with steps:
            views.show_ensemble_note(explainer)
            story.show_story(story.Story(run, explainer, x28, what, reading))
except Exception as exc:  # anything unforeseen: one line, not a traceback
    shared.show_error(exc)
