"""mnist_core.number_pieces: connected pieces of ink, and which of them make one digit."""

from __future__ import annotations

import numpy as np

from mnist_core.number_pieces import extent, group, height, pieces, stroke


def _with_strokes(core: np.ndarray, width: float) -> list:
    found = pieces(core)
    for p in found:
        p.stroke = width
    return found


def test_pieces_are_the_connected_parts_left_to_right():
    core = np.zeros((50, 100), bool)
    core[5:45, 70:75] = True
    core[5:45, 10:15] = True
    core[10, 40] = core[11, 41] = True  # touching at a corner: one piece (8-connected)
    found = pieces(core)
    assert [(p.x0, p.x1) for p in found] == [(10, 15), (40, 42), (70, 75)]
    assert found[1].mask.sum() == 2 and found[0].height == 40 and found[0].width == 5


def test_height_is_the_median_of_the_tall_pieces():
    core = np.zeros((100, 200), bool)
    for x, h in [(10, 60), (40, 70), (70, 80), (100, 10)]:  # the 10-px piece is a speck
        core[5 : 5 + h, x : x + 5] = True
    assert height(pieces(core)) == 70


def test_overlapping_strokes_are_one_digit_and_a_loose_bar_joins_its_digit():
    core = np.zeros((100, 200), bool)
    core[10:60, 20:26] = True  # a 4's first stroke: down, then across
    core[55:60, 20:56] = True
    core[10:52, 50:56] = True  # its second, stopped short of the bar: overlaps it in x
    core[10:90, 120:126] = True  # a 1 further right
    core[10:90, 150:156] = True  # a 5's stem and bowl, and its bar that came loose
    core[10:15, 162:185] = True
    digits = group(_with_strokes(core, 6.0), 80.0, 6.0)
    assert [extent(d)[0] for d in digits] == [20, 120, 150]
    assert [len(d) for d in digits] == [2, 1, 2]  # the 4's two strokes; the 1; the 5 and its bar


def test_a_thin_stray_line_far_from_every_digit_is_dropped():
    core = np.zeros((100, 300), bool)
    core[10:90, 20:28] = True
    found = pieces(core | _line())
    for p in found:
        p.stroke = 8.0 if p.x0 == 20 else 1.0
    digits = group(found, 80.0, 8.0)
    assert len(digits) == 1 and extent(digits[0])[0] == 20


def _line() -> np.ndarray:
    line = np.zeros((100, 300), bool)
    line[50, 200:290] = True  # 1 px thick, far right
    return line


def test_stroke_is_the_median_of_the_tall_pieces():
    core = np.zeros((100, 200), bool)
    core[10:90, 10:16] = core[10:90, 40:46] = core[10:20, 80:90] = True
    found = pieces(core)
    for p, width in zip(found, [4.0, 6.0, 20.0]):
        p.stroke = width
    assert stroke(found, 80.0) == 5.0  # the short piece's 20 does not count
