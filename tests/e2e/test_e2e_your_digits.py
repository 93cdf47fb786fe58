"""Your digits in the browser: draw, correct the answer, find the digit in your set."""

from __future__ import annotations

import numpy as np

from mnist_core.own_digits import FolderStore
from tests.e2e.streamlit_page import (
    Page,
    expect,
    metric,
    metric_value,
    open_page,
    screenshot,
    stroke,
    wait_idle,
)
from tests.e2e.test_e2e_draw import SEVEN, draw_tab


def test_draw_correct_the_answer_and_find_the_digit_in_your_set(
    page: Page, app_url, e2e_models_dir
):
    page.set_viewport_size({"width": 1280, "height": 800})
    open_page(page, app_url, "/draw", "Draw a digit")
    panel = draw_tab(page)
    stroke(page, panel.locator("canvas.upper-canvas"), SEVEN)
    expect(metric_value(panel, "Prediction")).to_have_text("7")
    wait_idle(page)

    # Tell it the digit was meant as a 1 (a correction the model could not have guessed).
    panel.get_by_text("Not right? Tell it the digit").click()
    form = panel.locator('[data-testid="stExpander"]').filter(has_text="The digit you meant")
    form.locator('[data-testid="stButtonGroup"]').get_by_text("1", exact=True).click()
    wait_idle(page)
    form.get_by_role("button", name="Add to your digits").click()
    expect(form.get_by_text("Kept as a 1 in your digits")).to_be_visible()
    wait_idle(page)

    # On disk, where the server keeps the set: one digit, a 1 from a drawing, and its
    # picture is the drawn 7 (the model, asked apart from the page, still reads 7 in it).
    [kept] = FolderStore(e2e_models_dir / ".your-digits").digits()
    assert (kept.label, kept.source) == (1, "draw")
    from mnist_core.inference import Predictor

    predictor = Predictor.from_path(e2e_models_dir / "default" / "model.keras")
    assert int(np.argmax(predictor.predict_one(kept.image / 255.0))) == 7

    form.get_by_role("button", name="See your digits").click()
    page.locator("h1").filter(has_text="Your digits").wait_for()
    wait_idle(page)
    thumbnail = page.locator('[data-testid="stImage"]').filter(has_text="1 · draw")
    expect(thumbnail).to_have_count(1)
    expect(metric_value(page, "Accuracy on your digits")).to_have_text("0%")  # it reads 7
    screenshot(page, "your-digits", top=page.locator("h1").filter(has_text="Your digits"))

    # Take it away: the npz is made when the button is clicked, and holds the one digit.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as npz").click()
    with np.load(download.value.path()) as taken:
        assert taken["labels"].tolist() == [1] and taken["images"].shape == (1, 28, 28)
        np.testing.assert_array_equal(taken["images"][0], kept.image)

    # Delete it: the set is empty again, on the page and on disk.
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No digits yet")).to_be_visible()
    expect(metric(page, "Accuracy on your digits")).to_have_count(0)
    assert FolderStore(e2e_models_dir / ".your-digits").digits() == []
