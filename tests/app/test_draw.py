"""The Draw page: the canvas is patched (AppTest has no browser to draw in), uploads are real."""

from __future__ import annotations

import base64
import importlib
import io
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from unittest import mock

import keras
import numpy as np
import pytest
import streamlit as st
from PIL import Image, ImageColor
from streamlit.testing.v1 import AppTest

from mnist_core.preprocess import NO_DIGIT_MESSAGE

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds: the first run imports TensorFlow and loads the model


@contextmanager
def canvas_with(image: np.ndarray | None):
    """Swap in a stand-in for st_canvas that returns `image` as the drawing; yields the mock.

    The stand-in module replaces the real one in sys.modules (the real one cannot even be
    imported outside a Streamlit runtime), so the page's import picks it up on every run.
    """
    fake = mock.Mock(return_value=SimpleNamespace(image_data=image))
    module = ModuleType("streamlit_drawable_canvas")
    module.st_canvas = fake
    with _module_in_place("streamlit_drawable_canvas", module):
        yield fake


@contextmanager
def _module_in_place(name: str, module: ModuleType):
    """sys.modules[name] is `module` for the duration, and only that entry is restored after.

    Not mock.patch.dict(sys.modules): that also drops every module first imported inside it
    (Plotly's lazily imported layout classes among them), and the copies imported afterwards
    no longer match the classes Plotly's validators hold ("Invalid element(s) received for
    the 'shapes' property"), which broke the Evaluate page in every later test.
    """
    missing = object()
    saved = sys.modules.get(name, missing)
    sys.modules[name] = module
    try:
        yield module
    finally:
        if saved is missing:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


@contextmanager
def browser_drawing(strokes: np.ndarray):
    """The real streamlit_drawable_canvas module, with its browser side played by a function.

    `strokes` is uint8 (H, W) ink coverage, white where the pen went. The real `st_canvas`
    runs (its checks, the settings it sends, its CanvasResult), and the stand-in browser does
    what the canvas does in a page: shows a canvas of the size and colours asked for; the
    first one mounted (first key) gets `strokes` drawn on it, any canvas mounted later (a new
    key) is blank, as after a reload. It sends the picture back as a PNG data URL when
    `return_image_data` is on, and only when `update_streamlit` is on (otherwise the drawing
    waits for a button press that never comes). Yields the settings of each call.
    """
    sent: list[dict] = []
    drawn_on: list[str] = []

    def browser(*, data, key, default, **_):
        sent.append({**data, "key": key})
        drawn_on[:] = drawn_on or [key]
        if key != drawn_on[0] or not data["realtimeUpdateStreamlit"]:
            return default  # an empty canvas, or a drawing not sent to Python
        if not data["returnImageData"]:
            return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": None}}
        size = (data["canvasWidth"], data["canvasHeight"])
        ink = np.asarray(Image.fromarray(strokes).resize(size, Image.BILINEAR), np.float64)
        ink = ink[..., None] / 255.0
        pen = np.array(ImageColor.getrgb(data["strokeColor"])[:3], np.float64)
        if data["backgroundColor"]:  # an opaque background
            paper = np.array(ImageColor.getrgb(data["backgroundColor"])[:3], np.float64)
            rgb, alpha = ink * pen + (1 - ink) * paper, np.full_like(ink, 255.0)
        else:  # transparent: only the strokes are opaque
            rgb, alpha = np.broadcast_to(pen, ink.shape[:2] + (3,)), ink * 255.0
        rgba = np.concatenate([rgb, alpha], axis=-1).round().astype(np.uint8)
        url = "data:image/png;base64," + base64.b64encode(png(rgba)).decode()
        return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}}

    # The real module declares its component at import, which needs a Streamlit runtime;
    # here the declaration is skipped and the mount function is the stand-in browser.
    sys.modules.pop("streamlit_drawable_canvas", None)
    with mock.patch.object(st.components.v2, "component", return_value=browser):
        module = importlib.import_module("streamlit_drawable_canvas")
    try:
        with _module_in_place("streamlit_drawable_canvas", module):
            yield sent
    finally:
        sys.modules.pop("streamlit_drawable_canvas", None)


def mnist_strokes(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (white on black, 28 x 28) as pen strokes on the 280 x 280 canvas."""
    return np.asarray(Image.fromarray(digit).resize((280, 280), Image.BILINEAR))


def black_canvas() -> np.ndarray:
    image = np.zeros((280, 280, 4), dtype=np.uint8)
    image[..., 3] = 255
    return image


def stroke_of_one() -> np.ndarray:
    """A white vertical bar on the black canvas: a "1" as someone would draw it."""
    image = black_canvas()
    image[50:230, 130:150, :3] = 255
    return image


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def draw_page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "draw.py"), default_timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def no_model_predict(monkeypatch):
    """The page must use the single-image fast path, never the slow keras.Model.predict."""

    def refuse(*args, **kwargs):
        raise AssertionError("keras.Model.predict was called")

    monkeypatch.setattr(keras.Model, "predict", refuse)


def test_a_drawn_stroke_is_predicted_with_its_probabilities(models_env):
    with browser_drawing(stroke_of_one()[..., 0]):
        at = draw_page().run()
    assert not at.exception
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value in [str(d) for d in range(10)]
    assert "confident" in metric.delta
    assert at.get("plotly_chart")  # the ten probabilities
    assert any(image.captions == ["What the model sees (28 × 28)"] for image in at.image)


@pytest.mark.parametrize("index", [0, 1, 2])  # test digits 7, 2 and 1
def test_the_page_reads_what_is_drawn_on_the_canvas(shipped_models_env, mnist, index):
    """Through the real canvas module, with a stand-in browser: what someone draws reaches
    the model as it is drawn, and the shipped model names the right digit."""
    with browser_drawing(mnist_strokes(mnist.x_test[index])):
        at = draw_page().run()
    assert not at.exception and not at.error
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value == str(mnist.y_test[index])
    assert any(image.captions == ["What the model sees (28 × 28)"] for image in at.image)


def test_an_empty_canvas_gives_a_hint_and_no_prediction(models_env):
    for image in (None, black_canvas()):
        with canvas_with(image):
            at = draw_page().run()
        assert not at.exception and not at.metric and not at.error
        assert any(info.value.startswith("Draw a digit") for info in at.info)


def test_clear_empties_the_canvas(models_env):
    with browser_drawing(stroke_of_one()[..., 0]):
        at = draw_page().run()
        assert not at.exception and [m.label for m in at.metric] == ["Prediction"]
        at.button[0].click().run()
    assert not at.exception and not at.metric  # the drawing is gone, and its prediction
    assert any(info.value.startswith("Draw a digit") for info in at.info)


def test_an_uploaded_picture_is_predicted_and_a_bad_file_is_one_line(models_env):
    with canvas_with(None):
        at = draw_page().run()
        upload = at.file_uploader(key="draw_upload")
        assert {"png", "jpg", "jpeg", "gif", "bmp", "webp"} <= {
            t.lstrip(".") for t in upload.allowed_type
        }
        # Dark ink on white paper, as a scan would be.
        paper = 255 - stroke_of_one()[..., :3]
        upload.set_value(("one.png", png(paper), "image/png"))
        at.run()
        assert not at.exception and not at.error
        assert [m.label for m in at.metric] == ["Prediction"]

        at.file_uploader(key="draw_upload").set_value(("broken.png", b"not a picture", "image/png"))
        at.run()
    assert not at.exception and not at.metric
    [error] = at.error
    assert "\n" not in error.value and "broken.png" in error.value


def test_other_models_read_the_same_drawing_side_by_side(own_models):
    own_models("second")
    with canvas_with(stroke_of_one()):
        at = draw_page().run()
        at.multiselect(key="draw_compare").set_value(["second"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 2 and table["Reads"].between(0, 9).all()
    assert table["Reads"].nunique() == 1  # the same weights read the same digit


def test_a_doubtful_reading_says_the_model_is_unsure(models_env):
    from mnist_core.inference import Prediction

    probabilities = np.full(10, 0.7 / 9, dtype=np.float32)
    probabilities[4] = 0.3
    doubtful = Prediction(4, 0.3, probabilities, np.zeros((28, 28), np.float32))
    with (
        canvas_with(stroke_of_one()),
        mock.patch("mnist_core.inference.predict_image", return_value=doubtful),
    ):
        at = draw_page().run()
    assert not at.exception
    assert at.metric[0].value == "4" and "30% confident" in at.metric[0].delta
    assert any("unsure" in w.value for w in at.warning)


def test_a_16_bit_picture_is_shown_and_read(models_env):
    paper = 65535 - stroke_of_one()[..., 0].astype(np.uint16) * 257  # 16-bit grey, dark ink
    with canvas_with(None):
        at = draw_page().run()
        at.file_uploader(key="draw_upload").set_value(("deep.png", png(paper), "image/png")).run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["Prediction"]
    assert any(image.captions == ["Your picture: the digit read is boxed"] for image in at.image)


def test_an_upload_is_preprocessed_once_for_the_box_and_the_answer(models_env):
    from mnist_core import preprocess

    paper = 255 - stroke_of_one()[..., 0]  # dark ink on white
    with canvas_with(None):
        at = draw_page().run()
        with mock.patch.object(
            preprocess, "find_digit", side_effect=preprocess.find_digit
        ) as find_digit:
            at.file_uploader(key="draw_upload").set_value(("one.png", png(paper), "image/png"))
            at.run()
    assert not at.exception and not at.error
    assert any(image.captions == ["Your picture: the digit read is boxed"] for image in at.image)
    assert find_digit.call_count == 1


# --------------------------------------------------------------------------- hardening


def _outcome(at: AppTest) -> str | None:
    """The page's answer to an upload: the digit read, "error: ..." or "no digit"."""
    if at.error:
        return "error: " + at.error[0].value
    if at.metric:
        return at.metric[0].value
    return "no digit" if any(NO_DIGIT_MESSAGE in i.value for i in at.info) else None


def test_every_awkward_upload_is_read_right_or_refused_in_one_line(
    shipped_models_env, odd_uploads, mnist
):
    """One session, every awkward file in turn (see conftest.odd_uploads), then a plain one."""
    with canvas_with(None):
        at = draw_page().run()
        for name, content, expected in odd_uploads:
            if name.endswith(".svg"):  # the browser offers only UPLOAD_TYPES: an SVG comes renamed
                name += ".png"
            at.file_uploader(key="draw_upload").set_value((name, content, "image/png")).run()
            assert not at.exception, name
            outcome = _outcome(at)
            if expected == "error":
                assert len(at.error) == 1 and not at.metric, name
                assert "\n" not in outcome and name in outcome, outcome
            elif expected is None:
                assert outcome == "no digit", name
            else:
                assert outcome == str(expected) and not at.error, (name, outcome)
        # The page still works: an ordinary scan is read, and the drawing tab still answers.
        digit = 255 - np.kron(mnist.x_test[7], np.ones((8, 8), np.uint8))
        at.file_uploader(key="draw_upload").set_value(("nine.png", png(digit), "image/png")).run()
        assert not at.exception and _outcome(at) == str(mnist.y_test[7])
    with canvas_with(stroke_of_one()):
        at.run()
    assert not at.exception and [m.value for m in at.metric] == ["1", str(mnist.y_test[7])]


def test_a_forged_upload_of_a_refused_type_costs_one_rerun(models_env, odd_uploads):
    """The browser never sends a .svg (not in UPLOAD_TYPES); a forged one is refused by
    Streamlit's own extension check before the page runs, without details, and the next
    rerun works."""
    svg = next(content for name, content, _ in odd_uploads if name.endswith(".svg"))
    with canvas_with(stroke_of_one()):
        at = draw_page().run()
        at.file_uploader(key="draw_upload").set_value(("digit.svg", svg, "image/svg+xml")).run()
        assert len(at.exception) == 1 and "Traceback" not in at.exception[0].value
        at.run()
    assert not at.exception and [m.label for m in at.metric] == ["Prediction"]


def test_a_model_that_cannot_be_loaded_is_one_line_and_the_page_goes_on(odd_model_runs):
    with canvas_with(stroke_of_one()):
        for kind in odd_model_runs:
            at = draw_page()
            at.query_params["run"] = kind
            at.run()
            assert not at.exception and not at.metric, kind
            [error] = at.error
            assert "\n" not in error.value and "model.keras" in error.value, error.value
            at.selectbox(key="draw_run").select_index(
                0
            ).run()  # the default: another model still reads
            assert (
                not at.exception and not at.error and [m.label for m in at.metric] == ["Prediction"]
            )


@pytest.mark.parametrize(
    "address", ["../../etc", "../x", "no-such-run", "default/../../etc/passwd"]
)
def test_a_made_up_run_in_the_address_is_ignored(models_env, address):
    with canvas_with(stroke_of_one()):
        at = draw_page()
        at.query_params["run"] = address
        at.run()
    assert not at.exception and [m.label for m in at.metric] == ["Prediction"]
    assert at.selectbox(key="draw_run").value.id == "default"
    assert any("not available" in w.value for w in at.warning)
    assert "run" not in at.query_params


def test_demo_mode_refuses_big_uploads_in_one_line(models_env, monkeypatch):
    big = png(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), np.uint8))  # about 3 MB
    assert 2 * 1024 * 1024 < len(big) < 5 * 1024 * 1024
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    with canvas_with(None):
        at = draw_page().run()
        assert (
            at.file_uploader(key="draw_upload").proto.max_upload_size_mb == 2
        )  # the browser's cap
        at.file_uploader(key="draw_upload").set_value(("photo.png", big, "image/png")).run()
        assert not at.exception and not at.metric
        [error] = at.error
        assert "too large for this demo" in error.value and "\n" not in error.value
        paper = 255 - stroke_of_one()[..., :3]
        at.file_uploader(key="draw_upload").set_value(("one.png", png(paper), "image/png")).run()
    assert not at.exception and not at.error and [m.label for m in at.metric] == ["Prediction"]


@pytest.mark.parametrize("name", ["started-123", "linked", "passwd"])
def test_a_damaged_run_is_never_loaded(damaged_runs, name):
    at = draw_page()
    at.query_params["run"] = name
    at.run()
    assert not at.exception and not at.error and at.warning
    assert at.selectbox(key="draw_run").value.id == "default"


# --------------------------------------------------------------------------- look inside


@pytest.mark.parametrize("where", ["draw", "upload"])
def test_look_inside_takes_the_digit_to_the_inside_page(models_env, where):
    """The button hands over exactly what the model saw, and Inside reads it as Draw did."""
    from mnist_core.preprocess import to_mnist
    from pages.shared import INSIDE_INPUT

    drawing = stroke_of_one()
    with canvas_with(drawing if where == "draw" else None):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
        at.switch_page("pages/draw.py").run()
        if where == "upload":
            paper = 255 - drawing[..., :3]
            at.file_uploader(key="draw_upload").set_value(("one.png", png(paper), "image/png"))
            at.run()
            expected = to_mnist(Image.open(io.BytesIO(png(paper))))
        else:
            expected = to_mnist(drawing)
        [metric] = at.metric
        at.button(key=f"look_inside_{where}").click().run()
    assert not at.exception and not at.error
    assert [title.value for title in at.title] == ["Inside the network"]
    handed = at.session_state[INSIDE_INPUT]
    np.testing.assert_array_equal(handed["image"], expected)
    assert handed["what"] == ("your drawing" if where == "draw" else "your picture")
    assert at.segmented_control(key="inside_source").value == "drawing"
    assert at.metric[0].label == "It reads" and at.metric[0].value == metric.value


@pytest.mark.parametrize("shape", ["horizontal line", "cross"])
def test_a_drawing_that_is_not_a_digit_is_called_so(models_env, shape):
    """Once read as "2 · 98% confident" (the line) and as a 4 (the cross)."""
    strokes = np.zeros((280, 280), np.uint8)
    if shape == "horizontal line":
        strokes[130:148, 40:240] = 255
    else:
        for k in range(200):
            strokes[40 + k : 58 + k, 40 + k : 58 + k] = 255
            strokes[40 + k : 58 + k, 222 - k : 240 - k] = 255
    with browser_drawing(strokes):
        at = draw_page().run()
    assert not at.exception
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value == "Not a digit"
    assert not metric.delta  # no "NN% confident" for a guess
    [warning] = at.warning
    assert "doesn't look like a digit" in warning.value and "\n" not in warning.value
