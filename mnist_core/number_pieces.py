"""Whole numbers, step 2 and 3: the ink's connected pieces, grouped into digits.

    pieces(core)                   -> [Piece], the connected components, left to right
    height(pieces), stroke(pieces) -> the digits' height and stroke width (working pixels)
    group(pieces, height, stroke)  -> [[Piece]], one list per digit, left to right

See `numbers` for the whole. Sizes are fractions of the digits' height (see TALL).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Sizes are fractions of the digits' height: the median height of the pieces at least TALL
# times as tall as the tallest (digits are about equally tall; their widths vary 0.2 to 1.4).
TALL = 0.4
SPECK = 0.12  # a piece whose longer side is under this is dust
OVERLAP = 0.5  # x-overlap, of the narrower piece's width, that makes two pieces one digit
FRAGMENT = 0.5  # a piece lower than this is part of a digit (a loose bar, a broken stroke)
THIN = 0.35  # ... and so is one drawn thinner than this, of the digits' stroke width
NEAR = 0.3  # such a piece joins the digit it overlaps in x, or the nearest within this gap


@dataclass(eq=False)
class Piece:
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


def pieces(core: np.ndarray) -> list[Piece]:
    """The connected components (8-connected) of `core`, left to right."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core.view(np.uint8), connectivity=8)
    pieces = []
    for label in range(1, count):
        x, y, w, h, _ = stats[label]
        pieces.append(Piece(x, y, x + w, y + h, labels[y : y + h, x : x + w] == label))
    return sorted(pieces, key=lambda p: p.x0)


def height(pieces: list[Piece]) -> float:
    """The digits' height in working pixels (see TALL)."""
    tallest = max(p.height for p in pieces)
    return float(np.median([p.height for p in pieces if p.height >= TALL * tallest]))


def stroke(pieces: list[Piece], height: float) -> float:
    """The digits' stroke width in working pixels: the median of the tall pieces'."""
    tall = [p.stroke for p in pieces if p.height >= FRAGMENT * height]
    return float(np.median(tall)) if tall else 0.0


def _minor(piece: Piece, height: float, stroke: float) -> bool:
    """Whether `piece` is too low or too thin to be a digit on its own."""
    return piece.height < FRAGMENT * height or piece.stroke < THIN * stroke


def group(pieces: list[Piece], height: float, stroke: float) -> list[list[Piece]]:
    """The pieces as digits, left to right: digit-sized pieces overlapping in x by OVERLAP
    of the narrower one's width joined (transitively); then each minor piece (`_minor`)
    joined to the group it overlaps most in x, or the nearest one NEAR enough, else kept
    alone if it is only low (a flat digit) and dropped if thin (a stray line)."""
    major = [p for p in pieces if not _minor(p, height, stroke)]
    minor = sorted((p for p in pieces if _minor(p, height, stroke)), key=lambda p: -p.mask.sum())
    groups: list[list[Piece]] = []
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
            x0, _, x1, _ = extent(group)
            inside = min(piece.x1, x1) - max(piece.x0, x0)
            far = -inside / piece.width if inside > 0 else -inside / height
            if best is None or far < best[0]:
                best = (far, group)
        if best is not None and best[0] < NEAR:
            best[1].append(piece)
        elif piece.stroke >= THIN * stroke:
            groups.append([piece])
    return sorted(groups, key=lambda g: extent(g)[0])


def _x_overlap(a: Piece, b: Piece) -> float:
    inside = min(a.x1, b.x1) - max(a.x0, b.x0)
    return max(0, inside) / min(a.width, b.width)


def extent(group: list[Piece]) -> tuple[int, int, int, int]:
    return (
        min(p.x0 for p in group),
        min(p.y0 for p in group),
        max(p.x1 for p in group),
        max(p.y1 for p in group),
    )
