"""Whole numbers: a picture holding several digits -> the digits, boxed, read left to right.

    split_digits(image, predictor=None) -> [DigitBox(box, input28, cut)], left to right
    read_number(predictor, image)       -> NumberReading(digits, .text, .confidence)

The steps:
  1. ink: what `preprocess.find_digit` takes for ink, over the whole picture: a picture
     whose border is one clean tone (a canvas, a clean scan) by preprocess's quick path,
     any other (a photo of paper) by `photo`'s steps up to its threshold;
  2. pieces: the ink's connected components (OpenCV, 8-connected); specks go;
  3. digits: digit-sized pieces overlapping in x by half the narrower one's width are one
     digit (a 4 drawn in two strokes); pieces too low or too thin to be a digit (a 5's
     loose bar, the bits of a faint stroke) join the digit they overlap or the nearest;
  4. touching digits: a group may hold two digits (or more). Candidate cuts: between its
     pieces, from a notch in its upper outline to one in its lower outline (where round
     digits touch), and paths from top to bottom through the least ink (dynamic
     programming; they bend and run sideways around strokes). With a predictor the model
     reads the group whole and each candidate's two parts, and the group is cut where the
     parts read surer than the whole by a margin that shrinks as the group widens
     (`number_cuts._should_cut`); without one, a group wider than `number_cuts.WIDE` times its height is cut at the
     cheapest path. The parts are looked at again (three digits in a row);
  5. each digit's ink is put into MNIST's form by the same two steps `find_digit` applies
     to the one digit it finds, so a digit reads as it would drawn alone.

Steps 1 and 5's whole-picture view are here; steps 2 and 3 are `number_pieces`, step 4 and
the digits' MNIST form `number_cuts`.

Measured on synthetic numbers written with MNIST test digits, some touching, with the
shipped model: benchmarks/number_corpus.py, figures in benchmarks/results/numbers.json.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from . import digit_check, photo, preprocess
from .images import ImageSource
from .number_cuts import Judge, Part, Scale, input28, segment
from .number_pieces import SPECK, Piece, extent, group, height, pieces, stroke

WORK_HEIGHT = 256  # px: a picture whose digits are taller is cut at this height (big scans)


@dataclass(eq=False)  # == on the array would be ambiguous
class DigitBox:
    """One digit found in a picture of a number."""

    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in the picture's pixels, x1/y1 excluded
    input28: np.ndarray  # float32 (28, 28) in [0, 1], white on black: as `preprocess.to_mnist`
    cut: bool = False  # cut from ink it shared with a neighbour (touching digits)


@dataclass(eq=False)
class DigitReading:
    """One digit of a number, read."""

    digit: int  # the most probable class, 0..9
    confidence: float  # its calibrated probability, 0..1 (the run's temperature)
    probabilities: np.ndarray  # float32 (10,), calibrated, sums to 1
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in the picture's pixels, x1/y1 excluded
    input28: np.ndarray  # float32 (28, 28): what the model saw
    cut: bool  # see DigitBox.cut
    is_digit: bool  # the verdict of `digit_check` on input28, as `inference.Prediction`'s
    not_digit_score: float  # 0..1, how unlike a digit; >= the checker's threshold: not one


@dataclass(eq=False)
class NumberReading:
    """The digits of a number, left to right; none when the picture holds no ink."""

    digits: list[DigitReading] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The number as its digits, e.g. "2048"; "" when nothing was found."""
        return "".join(str(d.digit) for d in self.digits)

    @property
    def confidence(self) -> float | None:
        """The product of the digits' confidences: the chance that every digit is right,
        if the confidences are calibrated and the digits' errors independent (the splitting's
        own errors are not counted). None when nothing was found."""
        return math.prod(d.confidence for d in self.digits) if self.digits else None

    @property
    def found(self) -> bool:
        return bool(self.digits)


def read_number(predictor, image: Image.Image | np.ndarray | ImageSource) -> NumberReading:
    """Split `image` into digits (`split_digits`, the model judging cuts) and read each.

    `predictor`: an `inference.Predictor` (anything with `predict_batch` and `temperature`).
    Probabilities are calibrated with its temperature and each digit gets the not-a-digit
    verdict, as `inference.predict_image` does; the verdict drops no digit."""
    boxes = split_digits(image, predictor)
    if not boxes:
        return NumberReading()
    x = np.stack([b.input28 for b in boxes])
    probabilities = digit_check.calibrate(predictor.predict_batch(x), predictor.temperature)
    check = digit_check.detector()
    scores = check.scores(x)
    return NumberReading(
        [
            DigitReading(
                int(np.argmax(p)),
                float(p.max()),
                p,
                b.box,
                b.input28,
                b.cut,
                bool(score < check.threshold),
                float(score),
            )
            for b, p, score in zip(boxes, probabilities, scores)
        ]
    )


def split_digits(image: Image.Image | np.ndarray | ImageSource, predictor=None) -> list[DigitBox]:
    """The digits in `image`, left to right (by the centres of their boxes); [] when blank.

    `image`: anything `preprocess.to_mnist` takes (the Draw canvas's RGBA, a file, a photo).
    `predictor` (optional, an `inference.Predictor`): lets the model judge where touching
    digits are cut; without it the cuts go by width alone (see the module docstring)."""
    ink = _ink(image)
    if ink is None or not ink.core.any():
        return []
    found = pieces(ink.core)
    tall = height(found)
    if tall > WORK_HEIGHT:  # a big scan: the same at a size where cutting is cheap
        ink = ink.shrunk(WORK_HEIGHT / tall)
        found = pieces(ink.core)
        tall = height(found)
    found = [p for p in found if max(p.width, p.height) >= SPECK * tall]
    for piece in found:
        piece.stroke = preprocess.stroke_width(ink.values[piece.slices] * piece.mask)
    pen = stroke(found, tall)
    groups = group(found, tall, pen)
    if ink.photo:  # `photo.find_ink`'s tests of a digit: big enough, and dark enough
        groups = [g for g in groups if _stands_out(g, ink)]
    judge = None if predictor is None else Judge(predictor, ink.photo)
    digits: list[DigitBox] = []
    for pieces_of_digit in groups:
        x0, y0, x1, y1 = extent(pieces_of_digit)
        # One pixel more each way: the photo path's soft edges.
        top, left = max(0, y0 - 1), max(0, x0 - 1)
        region = slice(top, y1 + 1), slice(left, x1 + 1)
        core = np.zeros(ink.core[region].shape, bool)
        for piece in pieces_of_digit:
            core[piece.y0 - top : piece.y1 - top, piece.x0 - left : piece.x1 - left] |= piece.mask
        part = Part(ink.values[region], core, ink.soft[region])
        for digit, cut in segment(part, Scale(tall, pen), judge):
            rows, cols = np.nonzero(digit.pixels)
            box = ink.to_picture(rows + top, cols + left)
            digits.append(DigitBox(box, input28(digit, ink.photo), cut))
    return sorted(digits, key=lambda d: d.box[0] + d.box[2])


# --------------------------------------------------------------------------- ink


@dataclass(eq=False)
class _Ink:
    values: np.ndarray  # float32 (h, w) at working scale: ink 0..1, 0 off the ink
    core: np.ndarray  # bool (h, w): the pixels the components are made of
    soft: np.ndarray  # bool (h, w): soft edges around the core that belong to its digit
    photo: bool  # found by the photo path (normalised per digit as `photo.find_ink` does)
    to_picture: Callable  # (rows, cols) of working pixels -> (x0, y0, x1, y1) in the picture

    def shrunk(self, factor: float) -> _Ink:
        """The same ink `factor` (< 1) times the size (area-averaged)."""
        h, w = self.values.shape
        size = (max(1, round(w * factor)), max(1, round(h * factor)))

        def small(a):
            return cv2.resize(a.astype(np.float32), size, interpolation=cv2.INTER_AREA)

        core = small(self.core) >= 0.5
        soft = (small(self.soft) >= 0.5) & ~core
        values = small(self.values) * (core | soft)
        fy, fx = size[1] / h, size[0] / w

        def to_picture(rows, cols):
            # Each small pixel covers 1 / factor big ones: its box, in the big picture.
            r0, r1 = math.floor(rows.min() / fy), math.ceil((rows.max() + 1) / fy) - 1
            c0, c1 = math.floor(cols.min() / fx), math.ceil((cols.max() + 1) / fx) - 1
            return self.to_picture(np.array([r0, r0, r1, r1]), np.array([c0, c1, c0, c1]))

        return _Ink(values, core, soft, self.photo, to_picture)


def _ink(image) -> _Ink | None:
    """The picture's ink, found the way `preprocess.find_digit` finds one digit's."""
    work = preprocess.working(image)
    if not work.clean:
        return _photo_ink(work)
    found = preprocess.clean_ink(work.gray, work.sides)
    if found is None:
        return None
    excess, (top, left) = found
    values = np.zeros(work.gray.shape, np.float32)
    values[top : top + excess.shape[0], left : left + excess.shape[1]] = excess
    core = values > 0

    def to_picture(rows, cols):
        return work.to_picture(cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)

    return _Ink(values, core, np.zeros_like(core), False, to_picture)


def _photo_ink(work: preprocess.Work) -> _Ink | None:
    """`photo.ink_map` (background, contrast, ruling, threshold) on the whole picture: every
    digit kept, not only the one with the most ink as `photo.find_ink` keeps."""
    found = photo.ink_map(work.gray)
    if found.mask is None:
        return None
    core = found.mask > 0
    soft = (cv2.dilate(found.mask, np.ones((3, 3), np.uint8)) > 0) & ~core

    def to_picture(rows, cols):
        return work.to_picture(*found.box(rows, cols))

    return _Ink(found.signal.astype(np.float32), core, soft, True, to_picture)


def _stands_out(pieces_of_digit: list[Piece], ink: _Ink) -> bool:
    """Whether a group found in a photo passes `photo.find_ink`'s tests of a digit: at least
    MIN_HEIGHT of the picture's shorter side tall or wide, its ink's 90th percentile at
    least MIN_PEAK (grain and smudges on blank paper pass neither)."""
    x0, y0, x1, y1 = extent(pieces_of_digit)
    if max(x1 - x0, y1 - y0) < photo.MIN_HEIGHT * min(ink.core.shape):
        return False
    values = np.concatenate([ink.values[p.slices][p.mask] for p in pieces_of_digit])
    return float(np.percentile(values, 90)) >= photo.MIN_PEAK
