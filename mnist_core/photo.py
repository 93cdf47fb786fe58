"""Photos and scans of paper: where the digit's ink is, despite light, shadows and ruling.

    find_ink(gray) -> Ink(ink, box) or None    the digit's ink and its box in `gray`
    ink_map(gray)  -> InkMap                    steps 1 to 6 over the whole picture, every
                                               digit kept (numbers.py reads them all)

A phone photo's background is not one grey: lighting falls off across the page, a hand or
the phone casts a soft shadow, corners darken, and ruled or squared paper adds lines that
touch the digit. `preprocess.to_mnist` sends a picture here when its border is not one
clean tone (see `preprocess.clean_background`); canvases and clean scans never come here.

The steps, each a library call where OpenCV has one:
  1. the picture at a working size (shorter side WORK_SHORT_SIDE, area-averaged);
  2. which way round: dark ink on paper or light chalk on a board, from which tail of the
     grey levels strays further from the middle (a dim photo's paper is mid-grey too);
  3. the background: a median filter much wider than strokes on a small copy, twice (the
     second time with the strong ink painted over: a big digit can fill half a window);
  4. ink as contrast against it, (background - picture) / background: a shadow darkens ink
     and paper alike, so the ratio stays (for light ink on a dark board, the same inverted);
  5. ruled and squared paper: the lines' angle from a Hough transform, the picture turned
     level, the lines found by grey openings (long along, thin across) and their contrast
     subtracted, which leaves the strokes they cross whole;
  6. a threshold: Otsu's, never under the noise floor (blank paper finds nothing);
  7. connected components: the one with the most ink, and the pieces of the same digit
     near it (a 5's bar, a broken stroke); specks, far marks and leftover bits go. Its ink
     must stand out by MIN_PEAK: a smudge or a shadow's edge does not.
The ink comes back as float32 grey levels (soft edges kept) for `preprocess` to put into
MNIST's form (the 20x20 box, the centre of mass at (14, 14), the stroke width), with its
box in the coordinates of the picture it was given.

Figures (benchmarks/photo_corpus.py, benchmarks/results/photos.json): synthetic phone
photos of MNIST test digits on paper, read with the shipped model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

WORK_SHORT_SIDE = 480  # pixels: a 10%-high digit is still 48 px tall; lines 1 to 3 px wide
BACKGROUND_SHORT_SIDE = 120  # the background's working size (it is smooth: 4x less is plenty)
BACKGROUND_WINDOW = 0.35  # median window, of the shorter side: several times a stroke's width
TAILS = (0.1, 50, 99.9)  # percentiles of the picture that tell dark ink from light ink
AMBIGUOUS = 1.5  # ... unless neither tail is this many times longer than the other
MIN_CONTRAST = 0.08  # ink darker than its paper by at least 8%, whatever the noise
NOISE_SIGMAS = 5.0  # and by five times the picture's pixel noise (see `_floor`)
STRONG_INK = 0.2  # what the background's second pass paints over (not faint lines: a grid)
# The digit's strong ink (90th percentile) stands out by this much at least. Measured on the
# tuning photos: digits 0.35 or more (grey ink on cream paper, chalk), blank pages' best
# candidates (a smudge, a shadow's edge) 0.19 at most.
MIN_PEAK = 0.3
LINE_LENGTH = 1 / 6  # a ruled line: a straight run at least this fraction of the shorter side
LINE_WIDTH = 1 / 80  # ... and thinner than this (6 px at 480): digit strokes that long are wider
MAX_PAGE_TILT = 12.0  # degrees: how far off level ruled lines are looked for
MIN_LINES = 3  # parallel lines that make a ruled page
LINE_VOTES = 0.35  # ... each as long as this fraction of the picture, at least
MIN_HEIGHT = 0.04  # the digit: at least 4% of the shorter side tall or wide
NEAR = 0.35  # pieces within this fraction of the main piece's size belong to the digit
MIN_PIECE = 0.03  # ... if they hold at least this fraction of its ink


@dataclass(frozen=True)
class Ink:
    """The digit found in a picture."""

    ink: np.ndarray  # float32 (h, w) in [0, 1], 1 = full ink, 0 off the digit: the ink's box
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in the given picture's pixels, x1/y1 excluded


@dataclass(eq=False)  # == on the arrays would be ambiguous
class InkMap:
    """A photo's ink over the whole picture at the working size: steps 1 to 6."""

    signal: np.ndarray  # float32 (h, w): contrast against the paper, ruling removed, level
    mask: np.ndarray | None  # uint8 (h, w), 255 on ink: the threshold; None when nothing stands out
    rotation: np.ndarray | None  # the 2x3 affine that turned the page level, if it was turned
    scale: float  # working size / given size (<= 1)
    shape: tuple[int, int]  # (h, w) of the picture given

    def box(self, rows: np.ndarray, cols: np.ndarray) -> tuple[int, int, int, int]:
        """The box of working pixels (rows, cols) in the given picture's pixels, (x0, y0,
        x1, y1) with x1/y1 excluded."""
        return _box_back(rows, cols, self.rotation, self.scale, self.shape)


def ink_map(gray: np.ndarray) -> InkMap:
    """Steps 1 to 6 on `gray` (float32 (H, W) in [0, 1], as `images.to_grayscale` gives)."""
    scale = min(1.0, WORK_SHORT_SIDE / min(gray.shape))
    work = gray
    if scale < 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        work = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    light_paper, background = _background(work)
    signal = _contrast(work, background, light_paper)
    short = min(signal.shape)
    floor = _floor(signal)
    ruled, rotation = _ruling(np.where(signal > floor, np.uint8(255), np.uint8(0)), short)
    if rotation is not None:
        signal = cv2.warpAffine(signal, rotation, signal.shape[::-1], flags=cv2.INTER_LINEAR)
    if ruled:
        signal = _remove_lines(signal, short)
    return InkMap(signal, _threshold(signal, floor), rotation, scale, gray.shape)


def find_ink(gray: np.ndarray) -> Ink | None:
    """The digit in a photo of paper (or a board), or None when nothing stands out.

    `gray`: float32 (H, W) in [0, 1], as `images.to_grayscale` gives. Dark ink on light paper
    and light ink on a dark board both work; the side is decided from the background's tone.
    """
    found = ink_map(gray)
    if found.mask is None:
        return None
    signal, mask, short = found.signal, found.mask, min(found.signal.shape)
    digit = _digit(mask, signal, short)
    if digit is None:
        return None
    # Soft edges: the pixels around the strokes that the threshold cut.
    soft = cv2.dilate(digit, np.ones((3, 3), np.uint8))
    values = signal * (soft > 0)
    peak = float(np.percentile(signal[digit > 0], 90))
    if peak < MIN_PEAK:
        return None
    values = np.clip(values / peak, 0.0, 1.0).astype(np.float32)
    rows, cols = np.nonzero(soft)
    ink = values[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return Ink(ink, found.box(rows, cols))


def _background(work: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the background is light (paper) rather than dark (a board), and its grey
    level everywhere, float32 like `work`.

    Two passes of a median filter wider than strokes, on a small copy: it follows lighting
    gradients, vignettes and the edges of shadows, and ignores ink that fills less than
    half of its window. A big digit's strokes can fill more, and darken the estimate there;
    so the ink that stands out of the first estimate is painted over from its surroundings
    (OpenCV's inpainting) and the median taken again. (A grey closing, which ignores any
    share of thin dark strokes, was tried: it overshoots wherever the light dips between
    two brighter parts, and found "digits" on blank paper three times as often.)"""
    h, w = work.shape
    factor = min(1.0, BACKGROUND_SHORT_SIDE / min(h, w))
    small = work
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        small = cv2.resize(work, size, interpolation=cv2.INTER_AREA)
    window = max(3, 2 * round(BACKGROUND_WINDOW * min(small.shape) / 2) + 1)  # odd
    small8 = np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)  # big windows need uint8
    # Ink strays furthest from the background's middle grey: dark ink on paper (however
    # dim the room), light chalk on a board. Lighting spreads the background both ways.
    low, middle, high = np.percentile(small8, TAILS)
    dark, light = middle - low, high - middle
    if max(dark, light) >= AMBIGUOUS * min(dark, light):
        light_paper = dark >= light
    else:  # nothing stands out either way (a blank page): the background's own tone
        light_paper = middle >= 127.5
    first = cv2.medianBlur(small8, window)
    ink = _contrast(small, first.astype(np.float32) / 255.0, light_paper) > STRONG_INK
    if ink.any():  # paint the ink over from around it, and take the median again
        ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8))
        first = cv2.medianBlur(cv2.inpaint(small8, ink, 3, cv2.INPAINT_TELEA), window)
    smooth = first.astype(np.float32) / 255.0
    if smooth.shape != work.shape:
        smooth = cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR)
    return light_paper, smooth


def _contrast(work: np.ndarray, background: np.ndarray, light_paper: bool) -> np.ndarray:
    """Ink as float32 (H, W): 0 on the background, up to 1 for black ink on white."""
    if not light_paper:  # a board: light ink; the same measure on the negative
        work, background = 1.0 - work, 1.0 - background
    contrast = (background - work) / np.maximum(background, 0.05)
    return np.clip(contrast, 0.0, 1.0)


def _floor(signal: np.ndarray) -> float:
    """The least contrast that counts as ink: MIN_CONTRAST, or more in a noisy picture.

    The noise is measured on differences between neighbouring pixels (median absolute,
    as a Gaussian sigma): a lighting gradient or a digit filling half the picture barely
    changes them, where the spread of the values themselves would grow with both."""
    steps = np.abs(np.diff(signal, axis=1)).ravel()
    noise = float(np.median(steps)) / (0.6745 * math.sqrt(2))
    return max(MIN_CONTRAST, NOISE_SIGMAS * noise)


def _threshold(signal: np.ndarray, floor: float) -> np.ndarray | None:
    """Ink pixels as a uint8 mask (255 = ink) by Otsu's threshold, never under `floor`;
    None if no pixel is ink."""
    signal8 = np.clip(signal * 255.0 + 0.5, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(signal8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, mask = cv2.threshold(signal8, max(floor * 255.0, otsu), 255, cv2.THRESH_BINARY)
    return mask if mask.any() else None


def _ruling(mask: np.ndarray, short: int) -> tuple[bool, np.ndarray | None]:
    """Whether `mask` (ink and lines) shows ruled or squared paper, and the rotation (2x3
    affine) that makes its lines level (None when they are level already, or absent).

    The angle is the strongest line's near level (or near upright: a page photographed
    sideways), by a Hough transform; one at the end of the range searched is a stroke's,
    not the page's. Ruling is then MIN_LINES or more thin rows (or columns) of the levelled
    mask that are at least LINE_VOTES full: the straight strokes of a big digit are
    thicker than LINE_WIDTH, a ruled line is not."""
    h, w = mask.shape
    tilt = math.radians(MAX_PAGE_TILT)
    step = math.pi / 720  # a quarter of a degree
    best = None  # (votes per pixel of length, theta)
    for lo, hi, length in (
        (math.pi / 2 - tilt, math.pi / 2 + tilt, w),  # across the picture (theta near 90)
        (0.0, tilt, h),  # upright (theta near 0 or 180)
        (math.pi - tilt, math.pi, h),
    ):
        found = cv2.HoughLinesWithAccumulator(
            mask, 1, step, int(length * LINE_VOTES), min_theta=lo, max_theta=hi
        )
        if found is not None:
            _, theta, votes = found.reshape(-1, 3)[0]  # the strongest line
            if best is None or votes / length > best[0]:
                best = (votes / length, float(theta))
    if best is None:
        return False, None
    level = min((0.0, math.pi / 2, math.pi), key=lambda t: abs(best[1] - t))
    angle = math.degrees(best[1] - level)
    if abs(angle) > MAX_PAGE_TILT - 0.5:
        return False, None
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0) if abs(angle) >= 0.25 else None
    levelled = mask if rotation is None else cv2.warpAffine(mask, rotation, (w, h))
    full = levelled > 0
    for fill in (full.mean(axis=1), full.mean(axis=0)):
        lines = np.flatnonzero(
            np.diff(np.concatenate([[0], fill >= LINE_VOTES, [0]]).astype(np.int8))
        )
        widths = lines[1::2] - lines[::2]  # the runs of full rows (columns)
        if np.count_nonzero(widths <= LINE_WIDTH * short) >= MIN_LINES:
            return True, rotation
    return False, None


def _remove_lines(signal: np.ndarray, short: int) -> np.ndarray:
    """`signal` less its ruled lines, float32 like `signal`.

    A line is what a grey opening along it keeps (a level run at least LINE_LENGTH long)
    and an opening across it with a LINE_WIDTH kernel removes (it is thin): digit strokes
    that long are wider. Subtracting the line's own contrast, not masking it, leaves the
    strokes it crosses whole."""
    length = max(15, round(LINE_LENGTH * short))
    width = max(3, round(LINE_WIDTH * short))
    lines = np.zeros_like(signal)
    for along, across in (((1, length), (width, 1)), ((length, 1), (1, width))):
        runs = cv2.morphologyEx(signal, cv2.MORPH_OPEN, np.ones(along, np.uint8))
        thick = cv2.morphologyEx(runs, cv2.MORPH_OPEN, np.ones(across, np.uint8))
        np.maximum(lines, runs - thick, out=lines)
    return np.maximum(signal - lines, 0.0)


def _digit(mask: np.ndarray, signal: np.ndarray, short: int) -> np.ndarray | None:
    """The digit's pixels as a uint8 mask (255): the component with the most ink, and the
    pieces near it; None when no component is big enough to be a digit."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    # Ink by its square: a faint blob (a smudge on a board, a shadow's edge) as big as
    # a small digit counts for less than the digit's strong strokes.
    mass = np.bincount(labels.ravel(), weights=np.square(signal).ravel(), minlength=count)[1:]
    x, y, w, h = stats[1:, :4].T
    size_ok = np.maximum(w, h) >= MIN_HEIGHT * short
    if not size_ok.any():
        return None
    main = int(np.argmax(np.where(size_ok, mass, -1.0)))
    margin = NEAR * max(w[main], h[main])
    keep = np.zeros(count - 1, bool)
    keep[main] = True
    candidates = mass >= MIN_PIECE * mass[main]
    while True:  # pieces near the digit so far (a broken stroke may lead to the next piece)
        x0, y0 = x[keep].min() - margin, y[keep].min() - margin
        x1, y1 = (x + w)[keep].max() + margin, (y + h)[keep].max() + margin
        near = candidates & (x < x1) & (x + w > x0) & (y < y1) & (y + h > y0)
        if (near | keep).sum() == keep.sum():
            break
        keep |= near
    lut = np.zeros(count, np.uint8)
    lut[1:][keep] = 255
    return lut[labels]


def _box_back(rows, cols, rotation, scale, shape) -> tuple[int, int, int, int]:
    """The box of pixels (rows, cols) of the working picture in the given picture's pixels."""
    if rotation is None:
        x0, y0, x1, y1 = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    else:  # the pixels' centres turned back, then their box
        inverse = cv2.invertAffineTransform(rotation)
        xs = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
        ys = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    h, w = shape
    return (
        max(0, math.floor(x0 / scale)),
        max(0, math.floor(y0 / scale)),
        min(w, math.ceil(x1 / scale)),
        min(h, math.ceil(y1 / scale)),
    )
