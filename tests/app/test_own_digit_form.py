"""Draw's "Not right? Tell it the digit": the drawing's model input goes to your digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_core.inference import Predictor, predict_image
from mnist_core.own_digits import FolderStore
from mnist_core.runs import get_run
from tests.app.test_draw import canvas_with, draw_page, png, stroke_of_one


@pytest.fixture
def mine(models_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    return tmp_path / "mine"


def what_the_model_sees(image) -> np.ndarray:
    """The drawing's 28x28 input, computed apart from the page, as MNIST stores it."""
    prediction = predict_image(Predictor.from_path(get_run("default").model_path), image)
    return np.round(prediction.input_image * 255).astype(np.uint8)


def test_a_drawing_is_kept_with_the_digit_you_meant(mine):
    drawing = stroke_of_one()
    with canvas_with(drawing):
        at = draw_page().run()
        at.segmented_control(key="true_digit_draw").set_value(7).run()
        at.button(key="keep_draw").click().run()
        assert not at.exception and not at.error
        assert any(s.value.startswith("Kept as a 7 in your digits") for s in at.success)
        [kept] = FolderStore().digits()
        assert (kept.label, kept.source) == (7, "draw")
        np.testing.assert_array_equal(kept.image, what_the_model_sees(drawing))
        at.button(key="keep_draw").click().run()  # the same drawing again: not twice
    assert any("already in your digits" in i.value for i in at.info)
    assert len(FolderStore().digits()) == 1


def test_an_upload_is_kept_as_an_upload(mine):
    paper = 255 - stroke_of_one()[..., :3]
    with canvas_with(None):
        at = draw_page().run()
        at.file_uploader(key="draw_upload").set_value(("one.png", png(paper), "image/png"))
        at.run()
        at.segmented_control(key="true_digit_upload").set_value(1).run()
        at.button(key="keep_upload").click().run()
    assert not at.exception and not at.error
    [kept] = FolderStore().digits()
    assert (kept.label, kept.source) == (1, "upload")
    np.testing.assert_array_equal(kept.image, what_the_model_sees(Image.fromarray(paper)))


def test_nothing_is_kept_without_a_digit_chosen(mine):
    with canvas_with(stroke_of_one()):
        at = draw_page().run()
    assert at.button(key="keep_draw").disabled
    assert not mine.exists()


def test_in_the_demo_the_drawing_stays_in_the_session(models_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    with canvas_with(stroke_of_one()):
        at = draw_page().run()
        at.segmented_control(key="true_digit_draw").set_value(4).run()
        at.button(key="keep_draw").click().run()
    assert not at.exception and not at.error
    assert at.session_state["own_digits"]["labels"].tolist() == [4]
    assert list(tmp_path.rglob("*")) == []
