"""preprocess: pictures drawn here with PIL, checked against numbers computed another way."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mnist_core import preprocess

from pictures import correlation, draw, encode


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(x.shape)
    return float((rows * x).sum() / x.sum()), float((cols * x).sum() / x.sum())


def bbox_side(x: np.ndarray, level: float = 0.0) -> int:
    rows, cols = np.nonzero(x > level)
    return max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to 1 px: like MNIST, `to_mnist` centres by whole
    pixels, so one digit drawn at two sizes may come out a pixel apart."""
    return max(
        correlation(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


def assert_mnist_like(x: np.ndarray | None) -> None:
    assert x is not None
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == pytest.approx(1.0, abs=1e-6)
    assert abs(bbox_side(x) - 20) <= 1
    row, col = centre_of_mass(x)
    assert abs(row - 14) <= 0.5 + 1e-6 and abs(col - 14) <= 0.5 + 1e-6  # a whole-pixel shift
    # white on black: the outer frame is background
    assert max(x[0].max(), x[-1].max(), x[:, 0].max(), x[:, -1].max()) < 0.05


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess.to_mnist(draw())


# --------------------------------------------------------------------------- to_mnist


def test_centred_digit_is_mnist_like(reference):
    assert_mnist_like(reference)


def test_same_size_anywhere_gives_the_same_image(reference):
    for box in [(10, 10, 170, 210), (120, 80, 280, 280), (390, 340, 550, 540)]:
        np.testing.assert_allclose(
            preprocess.to_mnist(draw(size=(560, 560), box=box)), reference, atol=1e-6
        )


@pytest.mark.parametrize(
    "size, box, width",
    [
        ((280, 280), (5, 10, 125, 160), 14),  # off-centre, smaller
        ((560, 560), (500, 490, 540, 540), 4),  # tiny, in the corner of a big canvas
        ((560, 560), (24, 300, 88, 380), 7),
        ((280, 280), (35, 14, 235, 264), 22),  # fills the canvas
    ],
)
def test_other_sizes_give_nearly_the_same_image(reference, size, box, width):
    x = preprocess.to_mnist(draw(size=size, box=box, width=width))
    assert_mnist_like(x)
    assert similarity(x, reference) > 0.9


def test_thick_strokes_are_thinned_towards_mnist_width(reference):
    x = preprocess.to_mnist(draw(width=60))
    assert_mnist_like(x)
    assert preprocess.stroke_width(x) < 4.0  # 5.0 before thinning; MNIST: 1.9 to 3.6 px
    assert similarity(x, reference) > 0.7  # a bold 4 still, against a thin one


def test_hairline_strokes_are_thickened(reference):
    x = preprocess.to_mnist(draw(size=(900, 900), box=(100, 100, 700, 850), width=2))
    assert_mnist_like(x)
    assert preprocess.stroke_width(x) > 1.8  # 1.6 before thickening
    assert similarity(x, reference) > 0.8


def test_light_background_is_inverted(reference):
    x = preprocess.to_mnist(draw(ink=20, background=235))
    assert_mnist_like(x)
    assert correlation(x, reference) > 0.98


def test_light_ink_on_mid_grey_and_dark_ink_on_mid_grey():
    light = preprocess.to_mnist(draw(ink=230, background=128))
    dark = preprocess.to_mnist(draw(ink=20, background=128))
    assert_mnist_like(light)
    assert_mnist_like(dark)
    assert correlation(light, dark) > 0.98


@pytest.mark.parametrize(
    "background", [(0, 0, 0, 0), (0, 0, 0, 255)], ids=["transparent", "opaque-black"]
)
def test_canvas_export_white_ink(reference, background):
    """The drawing page's array: uint8 (280, 280, 4), white strokes, either background."""
    mask = np.asarray(draw()) > 0
    canvas = np.empty((280, 280, 4), dtype=np.uint8)
    canvas[:] = background
    canvas[mask] = (255, 255, 255, 255)
    gray = preprocess.to_grayscale(canvas)
    assert gray.dtype == np.float32 and gray.shape == (280, 280)
    np.testing.assert_array_equal(gray > 0.5, mask)  # white ink on black
    np.testing.assert_allclose(preprocess.to_mnist(canvas), reference, atol=1e-6)


def test_dark_ink_on_transparent_sheet(reference):
    mask = np.asarray(draw()) > 0
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[mask] = (10, 10, 10, 255)
    assert preprocess.to_grayscale(rgba)[0, 0] == pytest.approx(1.0)  # white sheet behind
    assert correlation(preprocess.to_mnist(Image.fromarray(rgba)), reference) > 0.98


def test_float_array_input(reference):
    array = np.asarray(draw(), dtype=np.float32) / 255.0
    np.testing.assert_allclose(preprocess.to_mnist(array), reference, atol=1e-6)


def test_specks_do_not_move_the_digit(reference):
    image = draw(size=(400, 400))
    for xy in [(3, 3), (390, 20), (15, 380), (395, 395)]:
        image.putpixel(xy, 255)
    assert correlation(preprocess.to_mnist(image), reference) > 0.98


def test_mnist_digit_is_kept(reference):
    """A digit already in MNIST form comes back nearly unchanged."""
    x = preprocess.to_mnist(reference)
    assert np.abs(x - reference).mean() < 0.02


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((280, 280, 4), np.uint8),  # empty canvas
        lambda: np.full((280, 280, 4), (0, 0, 0, 255), np.uint8),  # black canvas
        lambda: Image.new("L", (300, 200), 255),  # white page
        lambda: Image.new("RGB", (300, 200), (128, 128, 128)),  # uniform grey
        lambda: np.clip(np.random.default_rng(0).normal(128, 6, (300, 300)), 0, 255).astype(
            np.uint8
        ),
        lambda: Image.open(
            io.BytesIO(
                encode(  # noisy grey JPEG
                    Image.fromarray(
                        np.clip(np.random.default_rng(1).normal(200, 4, (240, 320)), 0, 255).astype(
                            np.uint8
                        )
                    ),
                    format="JPEG",
                    quality=60,
                )
            )
        ),
        lambda: Image.new("L", (1, 1), 200),  # 1x1 image
    ],
    ids=["empty-canvas", "black-canvas", "white", "grey", "noisy-grey", "noisy-jpeg", "1x1"],
)
def test_no_digit_gives_none(make):
    assert preprocess.to_mnist(make()) is None


def test_big_photo_is_shrunk_and_read(reference):
    """A 2500x2500 page (over WORK_PIXELS) with a dark digit on it."""
    image = draw(size=(2500, 2500), box=(900, 700, 1700, 1700), width=90, ink=30, background=230)
    assert correlation(preprocess.to_mnist(image), reference) > 0.9
