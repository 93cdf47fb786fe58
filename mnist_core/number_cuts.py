"""Whole numbers, step 4 and 5: digits that touch, cut apart; each digit in MNIST's form.

    segment(part, scale, judge) -> [(Part, cut)], the digits in a group's ink, left to right
    input28(part, photo_path)   -> the digit's 28x28 model input, as `preprocess` makes one
    Judge(predictor, photo_path) the digit model and the not-a-digit checker judging cuts

See `numbers` for the whole. Sizes are fractions of the digits' height.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import digit_check, number_pieces, preprocess

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
# The judge (`Judge.choose`, `_should_cut`), all in log-odds. A cut gains the weaker
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


@dataclass(eq=False)
class Part:
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

    def split(self, left: np.ndarray) -> tuple[Part, Part]:
        return (
            Part(self.values, self.core & left, self.soft),
            Part(self.values, self.core & ~left, self.soft),
        )


@dataclass(frozen=True)
class Scale:
    height: float  # the digits' height, working pixels (see TALL)
    stroke: float  # their stroke width, working pixels (see `number_pieces.stroke`)


@dataclass(eq=False)
class Cut:
    """One way to cut a part in two."""

    left: Part
    right: Part
    crossed: bool  # the cut went through ink (the parts touch)
    cost: float  # the ink it crossed
    notch: bool  # made at notches in the outline (see `_notches`)


def segment(part: Part, scale: Scale, judge, cut: bool = False) -> list[tuple[Part, bool]]:
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
    return segment(chosen.left, scale, judge, cut) + segment(chosen.right, scale, judge, cut)


def _cuts(part: Part, scale: Scale) -> list[Cut]:
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
            out.append(Cut(a, b, _joined(a.core, b.core), cost, notch))
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


def _digit_sized(part: Part, scale: Scale) -> bool:
    """Whether `part` could be a digit of its own: wide enough (MIN_PART), tall enough
    (CUT_HEIGHT; not a 5's hook or a 2's tail) and drawn with the digits' pen
    (`number_pieces.THIN`)."""
    width, height = _size(part)
    if width < MIN_PART * scale.height or height < CUT_HEIGHT * scale.height:
        return False
    return preprocess.stroke_width(part.values * part.core) >= number_pieces.THIN * scale.stroke


def _joined(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether masks `a` and `b` touch (8-connected): a cut between them crossed ink."""
    near = cv2.dilate(a.view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return bool((near & b).any())


def _size(part: Part) -> tuple[int, int]:
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


def _clean(part: Part) -> Part | None:
    """`part` without pieces holding less than SLIVER of its ink; None if it is empty."""
    ink = part.values * part.core
    total = float(ink.sum())
    if total <= 0:
        return None
    count, labels = cv2.connectedComponents(part.core.view(np.uint8), connectivity=8)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count)
    keep = mass >= SLIVER * total
    keep[0] = False
    return Part(part.values, keep[labels], part.soft)


def input28(part: Part, photo_path: bool) -> np.ndarray:
    """A digit's ink in MNIST's form: float32 (28, 28), as `preprocess.find_digit` makes it."""
    rows, cols = np.nonzero(part.pixels)
    box = slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)
    crop = part.ink[box]
    if photo_path:  # `photo.find_ink`: the digit's 90th percentile is full ink
        peak = float(np.percentile(part.values[part.core], 90))
        crop = np.clip(crop / max(peak, 1e-6), 0.0, 1.0)
    else:  # `preprocess.clean_ink`: the digit's strongest pixel is
        crop = crop / float(crop.max())
    return preprocess.mnist_form(crop.astype(np.float32))


class Judge:
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

    def read(self, parts: list[Part]) -> tuple[np.ndarray, np.ndarray]:
        """For each part, float64 (N,): the digit model's margin log(p1 / p2) (0 to about
        30) and how unlike a digit the checker finds it (log-odds, +-UNLIKE_CLIP)."""
        x = np.stack([input28(p, self.photo) for p in parts])
        top2 = np.sort(self.predictor.predict_batch(x).astype(np.float64), axis=1)[:, -2:]
        top2 = np.log(np.maximum(top2, 1e-30))
        unlike = np.clip(self.check.scores(x).astype(np.float64), 1e-6, 1 - 1e-6)
        unlike = np.clip(np.log(unlike / (1 - unlike)), -UNLIKE_CLIP, UNLIKE_CLIP)
        return top2[:, 1] - top2[:, 0], unlike

    def choose(self, part: Part, candidates: list[Cut], ratio: float) -> Cut | None:
        """The cut to make, or None to keep `part` whole."""
        margins, unlike = self.read([part] + [p for c in candidates for p in (c.left, c.right)])
        pair = np.minimum(margins[1::2], margins[2::2])  # a pair is as sure as its weaker
        pair_unlike = np.maximum(unlike[1::2], unlike[2::2])  # ... and as odd as its odder
        best = int(np.argmax(pair - SELECT_UNLIKE * np.maximum(pair_unlike, -SELECT_FLOOR)))
        gain = pair[best] - margins[0] + WHOLE_UNLIKE * unlike[0] - PAIR_UNLIKE * pair_unlike[best]
        return candidates[best] if _should_cut(gain, ratio) else None


def _should_cut(gain: float, ratio: float) -> bool:
    """Whether reading a part as two digits gains enough over reading it as one (`gain`,
    see `Judge.choose`) for a part `ratio` times as wide as the digits are high: the wider,
    the less it must gain. Tuned on the tuning and touching sets of
    benchmarks/number_corpus.py."""
    return gain > MARGIN_AT_ONE - MARGIN_SLOPE * (ratio - 1.0)
