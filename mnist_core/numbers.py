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
     (`_should_cut`); without one, a group wider than WIDE times its height is cut at the
     cheapest path. The parts are looked at again (three digits in a row);
  5. each digit's ink is put into MNIST's form by the same two steps `find_digit` applies
     to the one digit it finds, so a digit reads as it would drawn alone.

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
from .images import ImageSource, load_image, to_grayscale

# Sizes are fractions of the digits' height: the median height of the pieces at least TALL
# times as tall as the tallest (digits are about equally tall; their widths vary 0.2 to 1.4).
TALL = 0.4
WORK_HEIGHT = 256  # px: a picture whose digits are taller is cut at this height (big scans)
SPECK = 0.12  # a piece whose longer side is under this is dust
OVERLAP = 0.5  # x-overlap, of the narrower piece's width, that makes two pieces one digit
FRAGMENT = 0.5  # a piece lower than this is part of a digit (a loose bar, a broken stroke)
THIN = 0.35  # ... and so is one drawn thinner than this, of the digits' stroke width
NEAR = 0.3  # such a piece joins the digit it overlaps in x, or the nearest within this gap
# Cutting: no part narrower than NARROW is tried; each cut leaves two parts at least
# MIN_PART wide and CUT_HEIGHT tall (not a 5's hook or a 2's tail).
NARROW = 0.4
MIN_PART = 0.08
CUT_HEIGHT = 0.6
NOTCH = 0.15  # a dip in the ink's outline at least this deep may be where two digits touch
CANDIDATES = 5  # paths tried per part, the cheapest first
START_STEP = 0.04  # paths start this far apart
BEND = 0.25  # a path keeps within this of its starting column, either way
STEP_COST = 0.05  # a step aside costs as much as this much ink: paths stay straight
BLOCKED = 1e6  # the cost of a pixel outside a path's band
SLIVER = 0.04  # bits of a part holding less of its ink than this go (a neighbour's edge)
WIDE = 1.1  # without a model: a part wider than this is two digits (best on the tuning set)
# The judge (`_Judge.choose`, `_should_cut`), all in log-odds. A cut gains the weaker
# part's margin less the whole's, plus WHOLE_UNLIKE times how unlike a digit the whole
# looks, less PAIR_UNLIKE times how unlike one the odder part looks; it is made when the
# gain beats MARGIN_AT_ONE for a part as wide as high, MARGIN_SLOPE less per unit of width
# more. Of the candidates, the one whose weaker margin less SELECT_UNLIKE times its odder
# part's oddness (no credit below -SELECT_FLOOR) is largest.
MARGIN_AT_ONE = -1.0
MARGIN_SLOPE = 12.0
WHOLE_UNLIKE = 1.0
PAIR_UNLIKE = 0.5
SELECT_UNLIKE = 0.5
SELECT_FLOOR = 5.0
UNLIKE_CLIP = 8.0


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
    pieces = _pieces(ink.core)
    height = _height(pieces)
    if height > WORK_HEIGHT:  # a big scan: the same at a size where cutting is cheap
        ink = ink.shrunk(WORK_HEIGHT / height)
        pieces = _pieces(ink.core)
        height = _height(pieces)
    pieces = [p for p in pieces if max(p.width, p.height) >= SPECK * height]
    for piece in pieces:
        piece.stroke = preprocess.stroke_width(ink.values[piece.slices] * piece.mask)
    stroke = _stroke(pieces, height)
    groups = _group(pieces, height, stroke)
    if ink.photo:  # `photo.find_ink`'s tests of a digit: big enough, and dark enough
        groups = [g for g in groups if _stands_out(g, ink)]
    judge = None if predictor is None else _Judge(predictor, ink.photo)
    digits: list[DigitBox] = []
    for group in groups:
        x0, y0, x1, y1 = _extent(group)
        # One pixel more each way: the photo path's soft edges.
        top, left = max(0, y0 - 1), max(0, x0 - 1)
        region = slice(top, y1 + 1), slice(left, x1 + 1)
        core = np.zeros(ink.core[region].shape, bool)
        for piece in group:
            core[piece.y0 - top : piece.y1 - top, piece.x0 - left : piece.x1 - left] |= piece.mask
        part = _Part(ink.values[region], core, ink.soft[region])
        for digit, cut in _segment(part, _Scale(height, stroke), judge):
            rows, cols = np.nonzero(digit.pixels)
            box = ink.to_picture(rows + top, cols + left)
            digits.append(DigitBox(box, _input28(digit, ink.photo), cut))
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
    if not isinstance(image, (Image.Image, np.ndarray)):
        image = load_image(image)
    width, height = image.size if isinstance(image, Image.Image) else image.shape[1::-1]
    if isinstance(image, Image.Image):
        image = preprocess._shrink_image(image)
    gray = preprocess._shrink_array(to_grayscale(image))
    sx, sy = width / gray.shape[1], height / gray.shape[0]
    border = preprocess._border(gray)
    if not preprocess._clean_background(border):
        return _photo_ink(gray, (sx, sy), (width, height))
    found = preprocess._ink(gray, border)
    if found is None:
        return None
    excess, (top, left) = found
    values = np.zeros(gray.shape, np.float32)
    values[top : top + excess.shape[0], left : left + excess.shape[1]] = excess
    core = values > 0

    def to_picture(rows, cols):
        return _scaled_box(
            cols.min(), rows.min(), cols.max() + 1, rows.max() + 1, sx, sy, width, height
        )

    return _Ink(values, core, np.zeros_like(core), False, to_picture)


def _photo_ink(gray: np.ndarray, scale: tuple, size: tuple) -> _Ink | None:
    """`photo.find_ink`'s steps 1 to 5 (background, contrast, ruling, threshold) on the
    whole picture, keeping every digit rather than the one with the most ink."""
    factor = min(1.0, photo.WORK_SHORT_SIDE / min(gray.shape))
    work = gray
    if factor < 1.0:
        shape = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
        work = cv2.resize(gray, shape, interpolation=cv2.INTER_AREA)
    light_paper, background = photo._background(work)
    signal = photo._contrast(work, background, light_paper)
    short = min(signal.shape)
    floor = photo._floor(signal)
    ruled, rotation = photo._ruling(np.where(signal > floor, np.uint8(255), np.uint8(0)), short)
    if rotation is not None:
        signal = cv2.warpAffine(signal, rotation, signal.shape[::-1], flags=cv2.INTER_LINEAR)
    if ruled:
        signal = photo._remove_lines(signal, short)
    mask = photo._threshold(signal, floor)
    if mask is None:
        return None
    core = mask > 0
    soft = (cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0) & ~core

    def to_picture(rows, cols):
        x0, y0, x1, y1 = photo._box_back(rows, cols, rotation, factor, gray.shape)
        return _scaled_box(x0, y0, x1, y1, *scale, *size)

    return _Ink(signal.astype(np.float32), core, soft, True, to_picture)


def _scaled_box(x0, y0, x1, y1, sx, sy, width, height) -> tuple[int, int, int, int]:
    return (
        max(0, math.floor(x0 * sx)),
        max(0, math.floor(y0 * sy)),
        min(width, math.ceil(x1 * sx)),
        min(height, math.ceil(y1 * sy)),
    )


# --------------------------------------------------------------------------- pieces


@dataclass(eq=False)
class _Piece:
    x0: int
    y0: int
    x1: int  # excluded
    y1: int
    mask: np.ndarray  # bool (y1 - y0, x1 - x0): the piece's pixels within its box
    stroke: float = 0.0  # its mean stroke width, px (`preprocess.stroke_width`)

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def _pieces(core: np.ndarray) -> list[_Piece]:
    """The connected components (8-connected) of `core`, left to right."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core.view(np.uint8), connectivity=8)
    pieces = []
    for label in range(1, count):
        x, y, w, h, _ = stats[label]
        pieces.append(_Piece(x, y, x + w, y + h, labels[y : y + h, x : x + w] == label))
    return sorted(pieces, key=lambda p: p.x0)


def _height(pieces: list[_Piece]) -> float:
    """The digits' height in working pixels (see TALL)."""
    tallest = max(p.height for p in pieces)
    return float(np.median([p.height for p in pieces if p.height >= TALL * tallest]))


def _stroke(pieces: list[_Piece], height: float) -> float:
    """The digits' stroke width in working pixels: the median of the tall pieces'."""
    tall = [p.stroke for p in pieces if p.height >= FRAGMENT * height]
    return float(np.median(tall)) if tall else 0.0


def _minor(piece: _Piece, height: float, stroke: float) -> bool:
    """Whether `piece` is too low or too thin to be a digit on its own."""
    return piece.height < FRAGMENT * height or piece.stroke < THIN * stroke


def _group(pieces: list[_Piece], height: float, stroke: float) -> list[list[_Piece]]:
    """The pieces as digits, left to right: digit-sized pieces overlapping in x by OVERLAP
    of the narrower one's width joined (transitively); then each minor piece (`_minor`)
    joined to the group it overlaps most in x, or the nearest one NEAR enough, else kept
    alone if it is only low (a flat digit) and dropped if thin (a stray line)."""
    major = [p for p in pieces if not _minor(p, height, stroke)]
    minor = sorted((p for p in pieces if _minor(p, height, stroke)), key=lambda p: -p.mask.sum())
    groups: list[list[_Piece]] = []
    for piece in major:  # left to right by x0
        joined = None
        for group in groups:
            if any(_x_overlap(piece, other) >= OVERLAP for other in group):
                if joined is None:
                    group.append(piece)
                    joined = group
                else:  # the piece bridges two groups
                    joined.extend(group)
                    group.clear()
        groups = [g for g in groups if g]
        if joined is None:
            groups.append([piece])
    for piece in minor:
        best = None  # (how far, group): overlap counts as negative distance
        for group in groups:
            x0, _, x1, _ = _extent(group)
            inside = min(piece.x1, x1) - max(piece.x0, x0)
            far = -inside / piece.width if inside > 0 else -inside / height
            if best is None or far < best[0]:
                best = (far, group)
        if best is not None and best[0] < NEAR:
            best[1].append(piece)
        elif piece.stroke >= THIN * stroke:
            groups.append([piece])
    return sorted(groups, key=lambda g: _extent(g)[0])


def _stands_out(group: list[_Piece], ink: _Ink) -> bool:
    """Whether a group found in a photo passes `photo.find_ink`'s tests of a digit: at least
    MIN_HEIGHT of the picture's shorter side tall or wide, its ink's 90th percentile at
    least MIN_PEAK (grain and smudges on blank paper pass neither)."""
    x0, y0, x1, y1 = _extent(group)
    if max(x1 - x0, y1 - y0) < photo.MIN_HEIGHT * min(ink.core.shape):
        return False
    values = np.concatenate([ink.values[p.slices][p.mask] for p in group])
    return float(np.percentile(values, 90)) >= photo.MIN_PEAK


def _x_overlap(a: _Piece, b: _Piece) -> float:
    inside = min(a.x1, b.x1) - max(a.x0, b.x0)
    return max(0, inside) / min(a.width, b.width)


def _extent(group: list[_Piece]) -> tuple[int, int, int, int]:
    return (
        min(p.x0 for p in group),
        min(p.y0 for p in group),
        max(p.x1 for p in group),
        max(p.y1 for p in group),
    )


# --------------------------------------------------------------------------- cutting


@dataclass(eq=False)
class _Part:
    """Ink that may be one digit or more, in a group's box (all arrays (h, w))."""

    values: np.ndarray  # float32 ink of the picture in the box (others' ink too)
    core: np.ndarray  # bool: this part's core pixels
    soft: np.ndarray  # bool: soft edges in the box (photo path), none on a canvas

    @property
    def pixels(self) -> np.ndarray:
        """bool: the core and the soft edges touching it."""
        if not self.soft.any():
            return self.core
        near = cv2.dilate(self.core.view(np.uint8), np.ones((3, 3), np.uint8)) > 0
        return self.core | (near & self.soft)

    @property
    def ink(self) -> np.ndarray:
        """float32: this part's ink, 0 elsewhere."""
        return self.values * self.pixels

    def split(self, left: np.ndarray) -> tuple[_Part, _Part]:
        return (
            _Part(self.values, self.core & left, self.soft),
            _Part(self.values, self.core & ~left, self.soft),
        )


@dataclass(frozen=True)
class _Scale:
    height: float  # the digits' height, working pixels (see TALL)
    stroke: float  # their stroke width, working pixels (see `_stroke`)


@dataclass(eq=False)
class _Cut:
    """One way to cut a part in two."""

    left: _Part
    right: _Part
    crossed: bool  # the cut went through ink (the parts touch)
    cost: float  # the ink it crossed
    notch: bool  # made at notches in the outline (see `_notches`)


def _segment(part: _Part, scale: _Scale, judge, cut: bool = False) -> list[tuple[_Part, bool]]:
    """The digits in `part`, left to right, each with whether it was cut from ink it shared."""
    width, height = _size(part)
    if width < NARROW * scale.height:
        return [(part, cut)]
    candidates = _cuts(part, scale)
    if not candidates:
        return [(part, cut)]
    # Against the digits' height, or the part's own when it is taller (a tall 6 is no pair).
    ratio = width / max(scale.height, height)
    if judge is not None:
        chosen = judge.choose(part, candidates, ratio)
    elif ratio > WIDE:  # the cheapest cut (notch cuts, tried without a model, did worse)
        chosen = min((c for c in candidates if not c.notch), key=lambda c: c.cost, default=None)
    else:
        chosen = None
    if chosen is None:
        return [(part, cut)]
    cut = cut or chosen.crossed
    return _segment(chosen.left, scale, judge, cut) + _segment(chosen.right, scale, judge, cut)


def _cuts(part: _Part, scale: _Scale) -> list[_Cut]:
    """Ways to cut `part` in two: between its pieces (in the order of their centres), at
    notches of its outline (`_notches`), then up to CANDIDATES paths from top to bottom
    through the least ink (`_paths`, started every START_STEP of the height across the
    plausible range), the cheapest first. Only cuts leaving two digit-sized parts
    (`_digit_sized`) count, each once."""
    height = scale.height
    ink = part.values * part.core
    cols = np.flatnonzero(part.core.any(axis=0))
    margin = max(1, round(MIN_PART * height))
    lo, hi = cols[0] + margin, cols[-1] + 1 - margin
    if hi <= lo:
        return []
    # Cuts between pieces and at notches come first, whatever their cost.
    lefts = [(left, 0.0, False) for left in _between_pieces(part.core)]
    lefts += [(left, _crossed(ink, left), True) for left in _notches(part.core, lo, hi, height)]
    structural = len(lefts)
    starts = np.unique(
        np.linspace(lo, hi - 1, max(2, round((hi - lo) / (START_STEP * height))))
        .round()
        .astype(int)
    )
    paths, costs = _paths(ink, starts, max(1, round(BEND * height)), lo, hi)
    # One path per valley of the cost along the starts, the cheapest first: the cheapest
    # paths are often all through one digit's thin strokes, crowding out the rest.
    padded = np.r_[np.inf, costs, np.inf]
    valleys = np.flatnonzero((costs <= padded[:-2]) & (costs <= padded[2:]))
    xs = np.arange(ink.shape[1])
    lefts += [
        (xs[None, :] < paths[k][:, None], costs[k], False)
        for k in valleys[np.argsort(costs[valleys], kind="stable")]
    ]
    out, seen, paths_taken = [], set(), 0
    for i, (left, cost, notch) in enumerate(lefts):
        if paths_taken == CANDIDATES:
            break
        a, b = (_clean(p) for p in part.split(left))
        if a is None or b is None or a.core.tobytes() in seen:
            continue
        seen.add(a.core.tobytes())
        if _digit_sized(a, scale) and _digit_sized(b, scale):
            out.append(_Cut(a, b, _joined(a.core, b.core), cost, notch))
            paths_taken += i >= structural
    return out


def _crossed(ink: np.ndarray, left: np.ndarray) -> float:
    """The ink on the first column right of the cut `left` (bool like `ink`), row by row."""
    bound = np.minimum(left.sum(axis=1), ink.shape[1] - 1)
    return float(ink[np.arange(ink.shape[0]), bound].sum())


def _between_pieces(core: np.ndarray):
    """Masks (bool like `core`) of the left side of each cut between `core`'s connected
    pieces, taken in the order of their centres."""
    count, labels, stats, centres = cv2.connectedComponentsWithStats(
        core.view(np.uint8), connectivity=8
    )
    order = 1 + np.argsort(centres[1:, 0], kind="stable")
    for i in range(1, count - 1):
        yield np.isin(labels, order[:i])


def _notches(core: np.ndarray, lo: int, hi: int, height: float):
    """Masks of the left side of cuts from a notch in the ink's upper outline down to the
    nearest notch in its lower outline (straight between them, straight up and down from
    them), for notches between columns `lo` and `hi` at least NOTCH deep. Where two round
    digits touch (two 0s), the outlines dip to the contact from above and below, and
    every path from top to bottom crosses more ink there than through one of the 0s."""
    h, w = core.shape
    inked = core.any(axis=0)
    top = np.where(inked, np.argmax(core, axis=0), h)  # first ink row per column
    bottom = np.where(inked, h - 1 - np.argmax(core[::-1], axis=0), -1)
    uppers = _dips(top, lo, hi, NOTCH * height)
    lowers = _dips(-bottom, lo, hi, NOTCH * height)
    pairs = [(x, min(lowers, key=lambda low: abs(low - x), default=x)) for x in uppers]
    pairs += [(x, x) for x in lowers if not uppers]
    rows = np.arange(h)
    for xu, xl in pairs:
        if abs(xl - xu) > BEND * height:
            xl = xu
        yu, yl = top[xu], bottom[xl]
        if yl > yu:  # the line between the notches, straight up and down from them
            t = np.clip((rows - yu) / (yl - yu), 0.0, 1.0)
            bound = np.round(xu + t * (xl - xu)).astype(np.int64)
        else:
            bound = np.full(h, (xu + xl) // 2)
        yield np.arange(w)[None, :] < bound[:, None]


def _dips(profile: np.ndarray, lo: int, hi: int, depth: float) -> list[int]:
    """Columns in [lo, hi) where `profile` (int (w,), larger is deeper) dips at least
    `depth` below the shallower of its shallowest points on either side: the deepest
    first, at most CANDIDATES, one per plateau."""
    left = np.minimum.accumulate(profile)  # the shallowest point so far, from either side
    right = np.minimum.accumulate(profile[::-1])[::-1]
    found = []
    for x in range(lo, hi):
        if profile[x] < profile[x - 1] or profile[x] < profile[x + 1]:
            continue
        dip = profile[x] - max(left[x], right[x])
        if dip >= depth and (not found or x - found[-1][1] > 1):
            found.append((dip, x))
    return [x for _, x in sorted(found, reverse=True)[:CANDIDATES]]


def _digit_sized(part: _Part, scale: _Scale) -> bool:
    """Whether `part` could be a digit of its own: wide enough (MIN_PART), tall enough
    (CUT_HEIGHT; not a 5's hook or a 2's tail) and drawn with the digits' pen (THIN)."""
    width, height = _size(part)
    if width < MIN_PART * scale.height or height < CUT_HEIGHT * scale.height:
        return False
    return preprocess.stroke_width(part.values * part.core) >= THIN * scale.stroke


def _joined(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether masks `a` and `b` touch (8-connected): a cut between them crossed ink."""
    near = cv2.dilate(a.view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return bool((near & b).any())


def _size(part: _Part) -> tuple[int, int]:
    """(width, height) of the box of `part`'s core pixels."""
    cols = np.flatnonzero(part.core.any(axis=0))
    rows = np.flatnonzero(part.core.any(axis=1))
    return cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]


def _paths(ink: np.ndarray, starts: np.ndarray, band: int, lo: int, hi: int):
    """For each start column, the top-to-bottom path through the least ink that keeps
    within `band` columns of it (and within [lo, hi)): int (K, h), per row, the column
    where the left part ends; and float (K,) the ink each path crosses.

    A path goes down a row at a time, straight or one column aside, and may run sideways
    within a row first (under a 7's bar, over a 2's tail); each step aside costs STEP_COST
    of ink. Dynamic programming, all starts at once; the sideways runs of a row are a
    running minimum (`_sideways`)."""
    h, w = ink.shape
    columns = starts[:, None] + np.arange(-band, band + 1)[None, :]  # (K, B)
    outside = (columns < lo) | (columns >= hi)
    # A large finite cost rather than inf outside the band: the running sums need it.
    cost = np.where(outside[None], BLOCKED, ink[:, np.clip(columns, 0, w - 1)].astype(np.float64))
    moves = np.zeros((h, *columns.shape), np.int8)  # from which column of the row above
    entries = np.zeros((h, *columns.shape), np.int64)  # where the row was entered
    total, entries[0] = _sideways(cost[0], cost[0] + STEP_COST)
    pad = np.full((len(starts), 1), BLOCKED)
    for y in range(1, h):
        options = np.stack(
            [
                np.hstack([pad, total[:, :-1]]) + STEP_COST,  # from the column to the left
                total,
                np.hstack([total[:, 1:], pad]) + STEP_COST,  # from the right
            ]
        )
        moves[y] = np.argmin(options, axis=0)
        down = np.take_along_axis(options, moves[y][None], axis=0)[0] + cost[y]
        total, entries[y] = _sideways(down, cost[y] + STEP_COST)
    k = np.arange(len(starts))
    x = np.argmin(total, axis=1)
    crossed = total[k, x]
    bounds = np.empty((len(starts), h), np.int64)
    for y in range(h - 1, -1, -1):
        entry = entries[y][k, x]
        bounds[:, y] = columns[k, np.minimum(entry, x)]
        x = entry + moves[y][k, entry] - 1
    return bounds, crossed


def _sideways(down: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best costs (K, B) of reaching each column of a row from where the row was entered
    (`down`: the cost of entering at each column) running sideways (`step`: the cost of
    stepping onto each column), and the column of entry for each.

    Left to right, reaching x from j <= x costs down[j] + step[j+1..x] = S[x] + (down[j] -
    S[j]) with S the running sum of `step`: a running minimum of down - S. The same
    mirrored for right to left."""
    best, entry = down, np.broadcast_to(np.arange(down.shape[1]), down.shape)
    for flip in (False, True):
        d, c = (down[:, ::-1], step[:, ::-1]) if flip else (down, step)
        running = np.cumsum(c, axis=1)
        a = d - running
        low = np.minimum.accumulate(a, axis=1)
        where = np.maximum.accumulate(np.where(a <= low, np.arange(a.shape[1]), 0), axis=1)
        cost = low + running
        if flip:
            cost, where = cost[:, ::-1], a.shape[1] - 1 - where[:, ::-1]
        better = cost < best
        best = np.where(better, cost, best)
        entry = np.where(better, where, entry)
    return best, entry


def _clean(part: _Part) -> _Part | None:
    """`part` without pieces holding less than SLIVER of its ink; None if it is empty."""
    ink = part.values * part.core
    total = float(ink.sum())
    if total <= 0:
        return None
    count, labels = cv2.connectedComponents(part.core.view(np.uint8), connectivity=8)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count)
    keep = mass >= SLIVER * total
    keep[0] = False
    return _Part(part.values, keep[labels], part.soft)


def _input28(part: _Part, photo_path: bool) -> np.ndarray:
    """A digit's ink in MNIST's form: float32 (28, 28), as `preprocess.find_digit` makes it."""
    rows, cols = np.nonzero(part.pixels)
    box = slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)
    crop = part.ink[box]
    if photo_path:  # `photo.find_ink`: the digit's 90th percentile is full ink
        peak = float(np.percentile(part.values[part.core], 90))
        crop = np.clip(crop / max(peak, 1e-6), 0.0, 1.0)
    else:  # `preprocess._ink`: the digit's strongest pixel is
        crop = crop / float(crop.max())
    return preprocess._centre(preprocess._fit_strokes(crop.astype(np.float32)))


class _Judge:
    """The models' say on where to cut: the digit model and the not-a-digit checker
    (`digit_check`) read a part whole and each candidate's two parts.

    How sure the digit model is of a reading is its margin, log(p1 / p2) of its two most
    probable classes: the top probability alone saturates (0.9999 and 0.999999 both round
    to 1), and a touching pair is often read as one digit at 0.999. The checker tells what
    the digit model cannot: two digits squeezed into one picture, or half of a digit, do
    not look like a digit (its score as log-odds, UNLIKE_CLIP at most either way)."""

    def __init__(self, predictor, photo_path: bool):
        self.predictor = predictor
        self.photo = photo_path
        self.check = digit_check.detector()

    def read(self, parts: list[_Part]) -> tuple[np.ndarray, np.ndarray]:
        """For each part, float64 (N,): the digit model's margin log(p1 / p2) (0 to about
        30) and how unlike a digit the checker finds it (log-odds, +-UNLIKE_CLIP)."""
        x = np.stack([_input28(p, self.photo) for p in parts])
        top2 = np.sort(self.predictor.predict_batch(x).astype(np.float64), axis=1)[:, -2:]
        top2 = np.log(np.maximum(top2, 1e-30))
        unlike = np.clip(self.check.scores(x).astype(np.float64), 1e-6, 1 - 1e-6)
        unlike = np.clip(np.log(unlike / (1 - unlike)), -UNLIKE_CLIP, UNLIKE_CLIP)
        return top2[:, 1] - top2[:, 0], unlike

    def choose(self, part: _Part, candidates: list[_Cut], ratio: float) -> _Cut | None:
        """The cut to make, or None to keep `part` whole."""
        margins, unlike = self.read([part] + [p for c in candidates for p in (c.left, c.right)])
        pair = np.minimum(margins[1::2], margins[2::2])  # a pair is as sure as its weaker
        pair_unlike = np.maximum(unlike[1::2], unlike[2::2])  # ... and as odd as its odder
        best = int(np.argmax(pair - SELECT_UNLIKE * np.maximum(pair_unlike, -SELECT_FLOOR)))
        gain = pair[best] - margins[0] + WHOLE_UNLIKE * unlike[0] - PAIR_UNLIKE * pair_unlike[best]
        return candidates[best] if _should_cut(gain, ratio) else None


def _should_cut(gain: float, ratio: float) -> bool:
    """Whether reading a part as two digits gains enough over reading it as one (`gain`,
    see `_Judge.choose`) for a part `ratio` times as wide as the digits are high: the wider,
    the less it must gain. Tuned on the tuning and touching sets of
    benchmarks/number_corpus.py."""
    return gain > MARGIN_AT_ONE - MARGIN_SLOPE * (ratio - 1.0)
