"""The Draw page's number mode (pages/draw_number.py) and the boxes it draws on pictures."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pages import draw_number
from tests.app.test_draw import browser_drawing, canvas_with, draw_page, png

WIDTH, HEIGHT = draw_number.NUMBER_SIZE


def written(mnist, indices: list[int], size: int = 140, gap: int = 40) -> np.ndarray:
    """MNIST test digits as strokes on the wide canvas (uint8 (HEIGHT, WIDTH), white ink)."""
    strokes = np.zeros((HEIGHT, WIDTH), np.uint8)
    for k, i in enumerate(indices):
        tile = np.asarray(Image.fromarray(mnist.x_test[i]).resize((size, size), Image.BILINEAR))
        x = 10 + k * (size * 20 // 28 + gap)  # an MNIST digit's ink is 20 of its 28 px wide
        strokes[30 : 30 + size, x : x + size] = np.maximum(
            strokes[30 : 30 + size, x : x + size], tile
        )
    return strokes


def number_page():
    at = draw_page()
    at.session_state["draw_mode"] = "number"
    return at


def test_a_number_drawn_on_the_wide_canvas_is_read_digit_by_digit(shipped_models_env, mnist):
    with browser_drawing(written(mnist, [0, 1, 2, 3])) as sent:  # test digits 7, 2, 1, 0
        at = number_page().run()
    assert not at.exception and not at.error
    assert (sent[0]["canvasWidth"], sent[0]["canvasHeight"]) == (WIDTH, HEIGHT)
    [metric] = at.metric
    assert metric.label == "The number" and metric.value == "7210"
    assert "sure of every digit" in metric.delta
    assert any(image.captions == ["Each digit found, boxed"] for image in at.image)
    shown = [m.value for m in at.markdown if m.value.startswith("**")]
    assert [s.split("**")[1] for s in shown] == ["7", "2", "1", "0"]  # one tile each, in order


def test_an_empty_wide_canvas_gives_the_number_hint(models_env):
    with canvas_with(None):
        at = number_page().run()
    assert not at.exception and not at.metric
    assert any(info.value == draw_number.NUMBER_HINT for info in at.info)


def test_a_dash_among_digits_is_marked_as_not_a_digit(shipped_models_env, mnist):
    strokes = written(mnist, [0, 1])
    strokes[95:110, 440:570] = 255  # a dash after the two digits
    with browser_drawing(strokes):
        at = number_page().run()
    assert not at.exception
    [metric] = at.metric
    assert metric.value == "72?"
    [warning] = at.warning
    assert "1 of the 3 pieces" in warning.value and "\n" not in warning.value


def test_an_uploaded_picture_of_a_number_is_read(shipped_models_env, mnist):
    paper = 255 - written(mnist, [2, 1])  # dark ink on white paper: 1, 2
    with canvas_with(None):
        at = number_page().run()
        at.file_uploader(key="draw_upload").set_value(("n.png", png(paper), "image/png"))
        at.run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric] == ["12"]


def test_an_uploaded_digit_is_shown_with_its_box(models_env):
    paper = np.full((300, 400), 255, np.uint8)
    paper[60:240, 250:270] = 0  # a one, off to the right
    with canvas_with(None):
        at = draw_page().run()
        at.file_uploader(key="draw_upload").set_value(("one.png", png(paper), "image/png"))
        at.run()
    assert not at.exception and [m.label for m in at.metric] == ["Prediction"]
    assert any(image.captions == ["Your picture: the digit read is boxed"] for image in at.image)


def test_boxes_are_drawn_around_what_they_hold_at_the_shown_scale():
    picture = Image.new("L", (1200, 400), 255)
    shown = draw_number.boxed(picture, [(100, 50, 300, 350)])
    assert shown.size == (draw_number.SHOWN_WIDTH, 200) and shown.mode == "RGB"
    pixels = np.asarray(shown)
    red = np.all(pixels == draw_number.BOX, axis=2)
    rows, cols = np.nonzero(red)  # the box at half scale is (50, 25, 150, 175): drawn just outside
    assert 25 - 8 <= rows.min() < 25 and 50 - 8 <= cols.min() < 50
    assert 175 <= rows.max() < 175 + 8 and 150 <= cols.max() < 150 + 8
    assert red[rows.min() : 25, 100].all() and red[100, cols.min() : 50].all()  # a solid line
    assert not red[100, 100] and not red[10, 300]  # inside and outside stay the picture's


def test_boxes_on_a_16_bit_picture_and_in_their_own_colours():
    picture = Image.fromarray(np.full((100, 100), 60000, np.uint16))
    shown = draw_number.boxed(picture, [(10, 10, 40, 40), (50, 10, 90, 40)], [(1, 2, 3), (4, 5, 6)])
    pixels = np.asarray(shown)
    assert tuple(pixels[8, 20]) == (1, 2, 3) and tuple(pixels[8, 70]) == (4, 5, 6)  # just outside
    assert pixels[80, 80, 0] > 200  # the light picture itself, as grey
