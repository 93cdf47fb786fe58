"""Draw page in the browser: mouse strokes on the canvas and an uploaded picture are read right."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pages import pen_up
from tests.e2e.streamlit_page import (
    Locator,
    Page,
    expect,
    metric,
    metric_value,
    open_page,
    screenshot,
    stroke,
    wait_idle,
)

# Strokes in canvas pixels (the canvas is 280 x 280, black, drawn on in white, pen 18 px).
ONE = [(140, 40), (143, 240)]  # a slightly slanted vertical bar
SEVEN = [(70, 60), (210, 60), (120, 230)]  # top bar, then the diagonal down-left
SMALL_SEVEN = [(12, 14), (68, 14), (32, 76)]  # a 7 inside the top-left 80 x 80 px
HINT = "Draw a digit from 0 to 9 in the black square"
UPLOAD_INDEX = 1  # x_test[1], a 2


def draw_tab(page: Page):
    return page.locator('[role="tabpanel"]').filter(has=page.locator("canvas.upper-canvas"))


def upload_tab(page: Page):
    return page.locator('[role="tabpanel"]').filter(
        has=page.locator('[data-testid="stFileUploader"]')
    )


def canvas_is_blank(page: Page) -> bool:
    """No white ink on the canvas's drawing layer (Fabric draws finished strokes there)."""
    return page.locator("canvas.dc-canvas.lower-canvas").evaluate("""c => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 128) return false;
        return true;
    }""")


def draw_and_read(page: Page, points, expected: str) -> None:
    panel = draw_tab(page)
    stroke(page, panel.locator("canvas.upper-canvas"), points)
    expect(metric_value(panel, "Prediction")).to_have_text(expected)
    wait_idle(page)
    expect(metric_value(panel, "Prediction")).to_have_text(
        expected
    )  # and no later rerun changed it


def clear(page: Page) -> None:
    panel = draw_tab(page)
    panel.get_by_role("button", name="Clear").click()
    expect(panel.get_by_text(HINT)).to_be_visible()
    expect(metric(panel, "Prediction")).to_have_count(0)
    wait_idle(page)
    assert canvas_is_blank(page)
    wait_canvas_ready(page)


def wait_canvas_ready(page: Page) -> None:
    """Until the canvas component has built its toolbar: it does so when it sets up its
    drawing, so a stroke made before that may be lost (a fresh canvas after Clear)."""
    page.wait_for_function(
        """title => Array.from(document.querySelectorAll("*")).some(
            e => e.shadowRoot && e.shadowRoot.querySelector(`.dc-root button[title="${title}"]`))""",
        arg=pen_up.SEND_BUTTON,
    )


@pytest.fixture
def draw_page(page: Page, app_url) -> Page:
    open_page(page, app_url, "/draw", "Draw a digit")
    panel = draw_tab(page)
    expect(panel.locator("canvas.upper-canvas")).to_be_visible()
    expect(panel.get_by_text(HINT)).to_be_visible()
    return page


def test_a_line_is_not_a_digit_and_a_one_still_is(draw_page: Page):
    """A horizontal line was read as "2 · 98% confident"."""
    draw_and_read(draw_page, [(40, 140), (240, 142)], "Not a digit")
    expect(draw_tab(draw_page).get_by_text("doesn't look like a digit")).to_be_visible()
    clear(draw_page)
    draw_and_read(draw_page, ONE, "1")


def test_draw_a_one_then_a_seven(draw_page: Page):
    draw_and_read(draw_page, ONE, "1")
    clear(draw_page)
    draw_and_read(draw_page, SEVEN, "7")
    expect(draw_tab(draw_page).get_by_text("What the model sees")).to_be_visible()
    screenshot(draw_page, "draw")


def test_a_small_digit_in_a_corner_is_read(draw_page: Page):
    draw_and_read(draw_page, SMALL_SEVEN, "7")


def test_an_uploaded_mnist_digit_is_read(draw_page: Page, mnist, tmp_path):
    digit = mnist.x_test[UPLOAD_INDEX]
    picture = Image.fromarray(255 - digit).resize((140, 140), Image.BILINEAR)  # dark ink on paper
    path = tmp_path / "digit.png"
    picture.save(path)

    draw_page.get_by_role("tab", name="Upload a picture").click()
    panel = upload_tab(draw_page)
    panel.locator('input[type="file"]').set_input_files(path)
    expect(panel.get_by_text("Your picture")).to_be_visible()
    expect(metric_value(panel, "Prediction")).to_have_text(str(int(mnist.y_test[UPLOAD_INDEX])))
    wait_idle(draw_page)
    assert np.asarray(picture).mean() > 128  # the upload really was dark on light


# Strokes on the wide number canvas (600 x 200 px): 1, 7, 4, each about 140 px tall.
NUMBER = [
    [[(70, 30), (73, 170)]],
    [[(150, 35), (250, 35), (180, 170)]],
    [[(340, 30), (300, 120), (390, 120)], [(370, 70), (372, 175)]],
]


def test_a_number_written_on_the_wide_canvas_is_boxed_and_read(draw_page: Page):
    draw_page.get_by_text("A whole number", exact=True).click()
    panel = draw_tab(draw_page)
    wide = panel.locator("canvas.upper-canvas[width='600']")  # not the narrow one (a phone's)
    expect(wide).to_have_attribute("width", "600")
    expect(panel.get_by_text("Write a number")).to_be_visible()
    for digit in NUMBER:
        for points in digit:
            stroke(draw_page, wide, points)
            wait_idle(draw_page)
    expect(metric_value(panel, "The number")).to_have_text("174")
    wait_idle(draw_page)
    expect(metric_value(panel, "The number")).to_have_text("174")  # and no later rerun changed it
    expect(panel.get_by_text("Each digit found, boxed")).to_be_visible()
    wait_idle(draw_page)
    screenshot(draw_page, "draw-number", top=draw_page.locator("h1"))


def _red_pixels(image: Locator) -> int:
    picture = Image.open(io.BytesIO(image.screenshot())).convert("RGB")
    pixels = np.asarray(picture).astype(int)
    return int(np.sum((pixels[..., 0] > 200) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)))


def test_an_uploaded_photo_shows_the_digit_it_read_boxed(draw_page: Page, mnist, tmp_path):
    digit = mnist.x_test[UPLOAD_INDEX]
    paper = Image.new("L", (480, 360), 235)
    paper.paste(Image.fromarray(255 - digit).resize((100, 100), Image.BILINEAR), (320, 40))
    path = tmp_path / "photo.jpg"
    paper.convert("RGB").save(path, quality=85)

    draw_page.get_by_role("tab", name="Upload a picture").click()
    panel = upload_tab(draw_page)
    panel.locator('input[type="file"]').set_input_files(path)
    expect(metric_value(panel, "Prediction")).to_have_text(str(int(mnist.y_test[UPLOAD_INDEX])))
    shown = panel.locator('[data-testid="stImage"]').filter(has_text="the digit read is boxed")
    expect(shown).to_be_visible()
    wait_idle(draw_page)
    assert _red_pixels(shown.locator("img")) > 200  # the box is drawn, in red
    screenshot(draw_page, "draw-upload-box", top=draw_page.locator("h1"))


def test_the_page_sends_each_stroke_at_once_through_the_canvas_own_button(draw_page: Page):
    """pages/pen_up.py presses the canvas toolbar's send button when the pen lifts: the
    script is on the page and the button it presses is there (by its title, which a new
    version of the canvas could change)."""
    assert draw_page.evaluate("() => window.mnistStudioPenUp") is True
    titles = draw_page.evaluate(
        """() => Array.from(document.querySelectorAll("*"))
            .filter(e => e.shadowRoot && e.shadowRoot.querySelector(".dc-root"))
            .flatMap(e => Array.from(e.shadowRoot.querySelectorAll(".dc-root button")))
            .map(b => b.title)"""
    )
    assert pen_up.SEND_BUTTON in titles
    draw_and_read(draw_page, ONE, "1")  # and drawing still works with it
