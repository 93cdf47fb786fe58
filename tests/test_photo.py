"""photo: photos of paper, stage by stage on small synthetic pictures, then read by the
shipped model; and the quick path (the Draw canvas) as it was before the photo path."""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mnist_core import photo, preprocess

from pictures import correlation, draw, encode, paper_photo, quick_path_pictures

HERE = Path(__file__).resolve().parent
BOX = (260, 150, 360, 290)  # paper_photo's default: where the "4" is drawn


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """paper_photo's "4" as the quick path reads it on clean, evenly lit paper."""
    found = preprocess.find_digit(paper_photo(noise=0))
    assert not found.photo
    return found.input28


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to 1 px (centring is by whole pixels)."""
    return max(
        correlation(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


def gray_of(picture: Image.Image) -> np.ndarray:
    return preprocess.to_grayscale(picture)


def assert_box_near(found: tuple, drawn: tuple, slack: int) -> None:
    """`found` covers the ink drawn in `drawn` and no more than `slack` px beyond it. The
    pen's round ends stick out of the drawn box by up to half its width."""
    assert all(abs(f - d) <= slack for f, d in zip(found, drawn)), (found, drawn)


# --------------------------------------------------------------------------- which path


@pytest.mark.parametrize("name", sorted(quick_path_pictures()))
def test_the_quick_path_is_unchanged(name):
    """Canvases and clean pictures still take the quick path, and give the very same 28x28
    input as preprocess.py did before the photo path (tests/quick_path_outputs.npz)."""
    picture = quick_path_pictures()[name]
    found = preprocess.find_digit(picture)
    assert found is not None and not found.photo
    with np.load(HERE / "quick_path_outputs.npz") as before:
        np.testing.assert_allclose(found.input28, before[name], atol=1e-6)


def test_clean_background_decides_the_path():
    assert preprocess.clean_background(preprocess.border(gray_of(draw())))
    uneven = gray_of(paper_photo(gradient=30, noise=0))
    assert not preprocess.clean_background(preprocess.border(uneven))
    grainy = gray_of(paper_photo(noise=6))  # even light, but a grain of 4 grey levels
    assert not preprocess.clean_background(preprocess.border(grainy))


# --------------------------------------------------------------------------- stages


def test_background_follows_a_gradient_and_ignores_the_ink():
    picture = paper_photo(gradient=60, noise=0, width=20)
    gray = gray_of(picture)
    light_paper, background = photo._background(gray)
    assert light_paper
    paper = gray_of(paper_photo(gradient=60, noise=0, box=(0, 0, 0, 0), width=0))  # no ink
    assert np.abs(background - paper).max() < 4 / 255  # under the strokes too


def test_a_lighting_gradient_no_longer_hides_the_digit(reference):
    """60 grey levels of fall-off: more than the quick path's noise floor (0.1)."""
    found = preprocess.find_digit(paper_photo(gradient=60))
    assert found is not None and found.photo
    assert similarity(found.input28, reference) > 0.95
    assert_box_near(found.box, BOX, 8)


def test_ruled_lines_are_found_levelled_and_removed(reference):
    picture = paper_photo(lines=(24, (150, 180, 230)), tilt=4.0, gradient=30)
    gray = gray_of(picture)
    light, background = photo._background(gray)
    signal = photo._contrast(gray, background, light)
    floor = photo._floor(signal)
    ruled, rotation = photo._ruling(np.where(signal > floor, np.uint8(255), 0), min(gray.shape))
    assert ruled
    angle = math.degrees(math.atan2(rotation[1, 0], rotation[0, 0]))
    assert abs(abs(angle) - 4.0) < 0.5  # levelled (the sign is OpenCV's, y down)
    level = cv2.warpAffine(signal, rotation, signal.shape[::-1])
    cleaned = photo._remove_lines(level, min(gray.shape))
    away = np.zeros_like(cleaned, bool)
    away[20:-20, 20:-20] = True  # not at the edge, where turning blends lines into the corners
    away[100:340, 200:420] = False  # nor near the digit: there, the lines are gone
    assert level[away].max() > 0.15 and cleaned[away].max() < floor
    strokes = level > 0.6  # the strokes stay whole, where lines crossed them too
    assert np.median(cleaned[strokes]) > 0.6
    found = preprocess.find_digit(picture)
    assert similarity(found.input28, reference) > 0.85  # turned 4 degrees with the page
    assert_box_near(found.box, BOX, 10)


def test_a_big_straight_stroke_is_not_ruling():
    stroke = paper_photo(box=(300, 20, 340, 460), width=60)  # a fat bar, top to bottom
    gray = gray_of(stroke)
    light, background = photo._background(gray)
    signal = photo._contrast(gray, background, light)
    mask = np.where(signal > photo._floor(signal), np.uint8(255), 0)
    assert photo._ruling(mask, min(gray.shape)) == (False, None)


def test_colour_ink_on_cream_paper(reference):
    blue = paper_photo(ink=(30, 60, 160), paper=(246, 236, 210), gradient=40)
    found = preprocess.find_digit(blue)
    assert found.photo and similarity(found.input28, reference) > 0.95


def test_a_tiny_digit_in_a_corner(reference):
    """48 px tall on a 480 px picture: 10% of its height."""
    box = (560, 410, 594, 458)
    found = preprocess.find_digit(paper_photo(box=box, width=6, gradient=40))
    assert found is not None and found.photo
    assert similarity(found.input28, reference) > 0.8
    assert_box_near(found.box, box, 5)


def test_light_chalk_on_a_dark_board(reference):
    board = paper_photo(ink=(225, 225, 225), paper=(40, 60, 45), gradient=-60)  # lighter right
    found = preprocess.find_digit(board)
    assert found is not None and found.photo
    assert similarity(found.input28, reference) > 0.95
    assert_box_near(found.box, BOX, 8)


def test_threshold_never_under_the_floor():
    signal = np.zeros((100, 100), np.float32)
    signal[40:60, 40:60] = 0.05  # under MIN_CONTRAST: nothing
    assert photo._threshold(signal, photo.MIN_CONTRAST) is None
    signal[45:55, 45:55] = 0.5
    mask = photo._threshold(signal, photo.MIN_CONTRAST)
    assert np.count_nonzero(mask) == 100


def test_pieces_near_the_digit_join_it_and_far_marks_do_not():
    signal = np.zeros((200, 300), np.float32)
    signal[50:150, 100:110] = 0.9  # a stroke
    signal[40:46, 100:140] = 0.9  # a bar that came loose, just above it
    signal[180:184, 250:254] = 0.9  # a speck far away
    mask = np.where(signal > 0, np.uint8(255), 0)
    digit = photo._digit(mask, signal, 200) > 0
    assert digit[45, 120] and digit[100, 105] and not digit[182, 252]


@pytest.mark.parametrize(
    "picture",
    [
        paper_photo(box=(0, 0, 0, 0), width=0, gradient=50),
        paper_photo(box=(0, 0, 0, 0), width=0, lines=(20, (120, 120, 120)), tilt=3, gradient=30),
        paper_photo(box=(0, 0, 0, 0), width=0, ink=(230,) * 3, paper=(30, 30, 30), gradient=-15),
    ],
    ids=["blank-paper", "blank-ruled", "blank-board"],
)
def test_blank_photos_find_nothing(picture):
    assert preprocess.find_digit(picture) is None


# --------------------------------------------------------------------------- the box


def test_the_box_is_in_the_given_pictures_pixels():
    """A 4000x3000 photo is shrunk twice for the work (to 4 MP, then 480 px): the box comes
    back in the photo's own pixels."""
    small = paper_photo(gradient=40, noise=1)
    big = small.resize((4000, 3000), Image.Resampling.BILINEAR)
    found = preprocess.find_digit(big)
    scale = 4000 / 640
    assert_box_near(found.box, tuple(round(v * scale) for v in BOX), 60)


def test_the_box_on_the_quick_path():
    found = preprocess.find_digit(draw(size=(560, 560), box=(120, 80, 280, 280)))
    assert_box_near(found.box, (120, 80, 280, 280), 10)  # the pen is 18 px wide


def test_the_box_of_an_upload_is_on_the_upright_picture():
    photo_bytes = encode(paper_photo(gradient=40), format="JPEG", quality=80)
    found = preprocess.find_digit(io.BytesIO(photo_bytes))
    assert found.photo
    assert_box_near(found.box, BOX, 8)


# --------------------------------------------------------------------------- read right


@pytest.fixture(scope="module")
def predictor():
    from mnist_core.inference import Predictor

    return Predictor.from_path(HERE.parent / "models" / "default" / "model.keras")


def test_photos_of_mnist_digits_read_right(mnist, predictor):
    """One synthetic phone photo of each digit (benchmarks/photo_corpus.py: paper, ruling,
    ink, light and JPEG drawn at random), from the tuning range of test digits, read by the
    shipped model through `predict_image`."""
    from benchmarks.photo_corpus import render
    from mnist_core.inference import predict_image

    rng = np.random.default_rng(13)
    digits = [5000 + int(np.flatnonzero(mnist.y_test[5000:6000] == d)[0]) for d in range(10)]
    for i, index in enumerate(digits):
        picture, box, kind = render(mnist.x_test[index], rng, board=i == 0)
        jpeg = encode(Image.fromarray(picture), format="JPEG", quality=70)
        reading = predict_image(predictor, jpeg)
        assert reading.digit == mnist.y_test[index], (index, kind)
        found = preprocess.find_digit(jpeg)
        assert found.photo
        assert_box_near(found.box, box, 4)
