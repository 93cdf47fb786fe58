"""mnist_core.numbers: a picture of a number split into digits, boxed, read left to right.

Shapes are drawn with PIL's pen (no antialiasing), so each digit's ink box is known exactly
by drawing it alone; the readings use MNIST test digits and the shipped model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import number_pieces, numbers, preprocess

from pictures import FOUR, draw

ROOT = Path(__file__).resolve().parent.parent
PEN = 12  # px

# Digits as strokes in unit coordinates (x right, y down) inside a box.
ONE = [[(0.5, 0.0), (0.5, 1.0)]]
SEVEN = [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]]
# A 5 whose bar came loose: the bar stops short of the stem, a gap of 0.2 of the width.
BOWL = [
    (0.45 + 0.45 * math.cos(t), 0.68 + 0.3 * math.sin(t))
    for t in np.linspace(-0.75 * math.pi, 0.8 * math.pi, 24)
]
BROKEN_FIVE = [[(0.35, 0.0), (1.0, 0.0)], [(0.1, 0.02), (0.07, 0.45), *BOWL]]
SHAPES = {"1": ONE, "7": SEVEN, "4": FOUR, "5": BROKEN_FIVE}


def paint(image: Image.Image, strokes, box, ink=255) -> None:
    pen = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    for line in strokes:
        points = [(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in line]
        pen.line(points, fill=ink, width=PEN, joint="curve")


def ring(image: Image.Image, box) -> None:
    """A "0": an ellipse's outline inside `box`."""
    ImageDraw.Draw(image).ellipse(box, outline=255, width=PEN)


def ink_box(shape, box, size) -> tuple[int, int, int, int]:
    """The box of `shape` drawn alone: the reference the splitter's boxes must match."""
    alone = Image.new("L", size, 0)
    shape(alone, box)
    rows, cols = np.nonzero(np.asarray(alone))
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


def number(drawn: list[tuple[str, tuple]], size=(700, 200)):
    """A canvas with each (digit, box) drawn, and the reference ink boxes."""
    image = Image.new("L", size, 0)
    boxes = []
    for digit, box in drawn:
        shape = (
            (lambda im, b: ring(im, b))
            if digit == "0"
            else (lambda im, b, d=digit: paint(im, SHAPES[d], b))
        )
        shape(image, box)
        boxes.append(ink_box(shape, box, size))
    return image, boxes


# --------------------------------------------------------------------------- splitting


def test_digits_with_gaps_are_boxed_left_to_right():
    image, boxes = number(
        [
            ("7", (30, 40, 110, 160)),
            ("1", (150, 40, 190, 160)),
            ("4", (240, 40, 330, 160)),
            ("0", (380, 40, 460, 160)),
        ]
    )
    found = numbers.split_digits(image)
    assert [d.box for d in found] == boxes
    assert not any(d.cut for d in found)


def test_each_digit_is_normalised_as_a_single_drawing():
    image, _ = number([("4", (30, 40, 150, 200)), ("7", (300, 40, 400, 200))], size=(500, 260))
    four = Image.new("L", image.size, 0)
    paint(four, FOUR, (30, 40, 150, 200))
    found = numbers.split_digits(image)
    np.testing.assert_array_equal(found[0].input28, preprocess.to_mnist(four))
    # One digit alone: exactly what the single-digit path makes of it.
    alone = numbers.split_digits(draw())
    assert len(alone) == 1
    np.testing.assert_array_equal(alone[0].input28, preprocess.to_mnist(draw()))


def assert_near(found, boxes, across: int) -> None:
    """Boxes end within `across` px of the drawn ones' left and right, 1 px top and bottom."""
    assert len(found) == len(boxes)
    for got, want in zip(found, boxes):
        assert abs(got.box[0] - want[0]) <= across and abs(got.box[2] - want[2]) <= across
        assert abs(got.box[1] - want[1]) <= 1 and abs(got.box[3] - want[3]) <= 1


def test_touching_pair_is_cut_in_two(shipped_predictor):
    # Two rings 80 px wide overlapping by 3 px: one piece of ink, 1.4 times as wide as high.
    # Every path from top to bottom crosses less ink through a ring than between them: the
    # cut comes from the notches above and below where they touch, and the model's say.
    image, boxes = number([("0", (40, 40, 120, 150)), ("0", (117, 40, 197, 150))], size=(260, 200))
    assert len(number_pieces.pieces(np.asarray(image) > 0)) == 1
    reading = numbers.read_number(shipped_predictor, image)
    assert reading.text == "00" and all(d.cut for d in reading.digits)
    assert_near(reading.digits, boxes, across=PEN // 2)


def test_touching_pair_is_cut_without_a_model():
    # Two 7s whose bars run into one: 1.3 times as wide as high, cut by width alone.
    image, boxes = number([("7", (30, 40, 110, 160)), ("7", (105, 40, 185, 160))], size=(240, 200))
    assert len(number_pieces.pieces(np.asarray(image) > 0)) == 1
    found = numbers.split_digits(image)
    assert len(found) == 2 and all(d.cut for d in found)
    assert found[0].box[0] == boxes[0][0] and found[1].box[2] == boxes[1][2]
    # Where the bars overlap, either 7 may have it: the cut is somewhere in there.
    assert boxes[1][0] <= found[0].box[2] == found[1].box[0] <= boxes[0][2]


def test_broken_five_stays_one_digit(shipped_predictor):
    image, boxes = number([("1", (40, 40, 80, 160)), ("5", (140, 40, 230, 160))], size=(300, 200))
    five = Image.new("L", image.size, 0)
    paint(five, BROKEN_FIVE, (140, 40, 230, 160))
    assert len(number_pieces.pieces(np.asarray(five) > 0)) == 2  # the bar is loose indeed
    assert [d.box for d in numbers.split_digits(image)] == boxes
    reading = numbers.read_number(shipped_predictor, image)
    assert reading.text == "15" and [d.box for d in reading.digits] == boxes


def test_specks_are_ignored():
    image, boxes = number([("7", (30, 40, 110, 160)), ("4", (160, 40, 250, 160))], size=(300, 200))
    pen = ImageDraw.Draw(image)
    for x, y in [(5, 5), (130, 180), (280, 20), (140, 100)]:
        pen.rectangle((x, y, x + 3, y + 3), fill=255)
    assert [d.box for d in numbers.split_digits(image)] == boxes


def test_empty_pictures_hold_no_digits(shipped_predictor):
    rng = np.random.default_rng(0)
    light = 235 - 60 * np.linspace(0, 1, 800)[None, :]  # blank paper, photographed
    paper = Image.fromarray(np.clip(light + rng.normal(0, 4, (300, 800)), 0, 255).astype(np.uint8))
    for blank in (
        Image.new("L", (400, 200), 0),
        Image.new("RGBA", (400, 200), (0, 0, 0, 0)),
        paper,
    ):
        assert numbers.split_digits(blank) == []
        reading = numbers.read_number(shipped_predictor, blank)
        assert reading.text == "" and reading.confidence is None and not reading.found


def test_canvas_rgba_gives_the_same_boxes():
    image, boxes = number([("1", (30, 40, 70, 160)), ("4", (120, 40, 210, 160))], size=(260, 200))
    rgba = np.zeros((*np.asarray(image).shape, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = np.asarray(image)  # white strokes on transparent, as the canvas sends them
    assert [d.box for d in numbers.split_digits(rgba)] == boxes


def test_big_picture_is_cut_smaller_with_boxes_in_its_own_pixels():
    image, boxes = number(
        [("7", (100, 100, 420, 700)), ("4", (600, 100, 960, 700))], size=(1100, 800)
    )
    found = numbers.split_digits(image)
    assert len(found) == 2
    for got, want in zip(found, boxes):  # shrunk about 2.3 times: boxes right to 3 px
        assert np.abs(np.subtract(got.box, want)).max() <= 3


# --------------------------------------------------------------------------- reading


@pytest.fixture(scope="module")
def shipped_predictor():
    from mnist_core.inference import Predictor

    return Predictor.from_path(ROOT / "models" / "default" / "model.keras")


def mnist_number(mnist, text: str, gaps: list[int], scale: int = 4) -> np.ndarray:
    """`text` written with the first MNIST test digits of its labels, enlarged `scale`
    times, side by side with `gaps` px between their ink boxes (negative: overlapping):
    float32 (H, W) in [0, 1], white on black."""
    digits = []
    for label in text:
        index = int(np.flatnonzero(mnist.y_test == int(label))[0])
        big = Image.fromarray(mnist.x_test[index]).resize((28 * scale,) * 2, Image.BILINEAR)
        ink = np.asarray(big, np.float32) / 255
        cols = np.flatnonzero(ink.max(axis=0) > 0.1)
        digits.append(ink[:, cols[0] : cols[-1] + 1])
    width = sum(d.shape[1] for d in digits) + sum(gaps) + 80
    picture = np.zeros((28 * scale + 40, width), np.float32)
    x = 40
    for digit, gap in zip(digits, [*gaps, 0]):
        region = picture[20 : 20 + digit.shape[0], x : x + digit.shape[1]]
        np.maximum(region, digit, out=region)
        x += digit.shape[1] + gap
    return picture


def test_number_of_mnist_digits_is_read(mnist, shipped_predictor):
    picture = mnist_number(mnist, "2048", [30, 15, 25])
    reading = numbers.read_number(shipped_predictor, picture)
    assert reading.text == "2048"
    assert [d.digit for d in reading.digits] == [2, 0, 4, 8]
    assert reading.confidence == pytest.approx(math.prod(d.confidence for d in reading.digits))
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts)
    assert all(d.is_digit for d in reading.digits)


def test_one_digit_reads_as_the_single_digit_path_reads_it(shipped_predictor):
    from mnist_core.inference import predict_image

    [digit] = numbers.read_number(shipped_predictor, draw()).digits
    single = predict_image(shipped_predictor, draw())
    assert digit.digit == single.digit == 4
    np.testing.assert_array_equal(digit.probabilities, single.probabilities)  # calibrated alike
    assert (digit.confidence, digit.is_digit) == (single.confidence, single.is_digit)
    assert digit.not_digit_score == single.not_digit_score


def test_touching_mnist_digits_are_read(mnist, shipped_predictor):
    picture = mnist_number(mnist, "3957", [20, -20, 20])  # the 9 and the 5 overlap
    assert len(number_pieces.pieces(picture > 0.1)) == 4  # the 9 and the 5 touch; the 5 is in two
    reading = numbers.read_number(shipped_predictor, picture)
    assert reading.text == "3957"
    assert [d.cut for d in reading.digits] == [False, True, True, False]


def test_number_on_photographed_paper_is_read(mnist, shipped_predictor):
    ink = mnist_number(mnist, "2048", [30, 15, 25])
    h, w = ink.shape
    light = 235 - 40 * np.linspace(0, 1, w)[None, :]  # light falling off to the right
    noise = np.random.default_rng(1).normal(0, 2, (h, w))
    paper = light * (1 - ink) + 30 * ink + noise
    picture = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    assert not preprocess.clean_background(preprocess.border(preprocess.to_grayscale(picture)))
    assert numbers.read_number(shipped_predictor, picture).text == "2048"
