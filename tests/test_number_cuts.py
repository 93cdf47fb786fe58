"""mnist_core.number_cuts: where touching digits are cut (the path search, the judge's rule).

How the cuts do on real numbers is in tests/test_numbers.py (a touching pair, a broken 5).
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from mnist_core import number_cuts
from mnist_core.number_cuts import Part, Scale, input28, segment


def test_cut_paths_are_the_cheapest():
    """`_paths` (dynamic programming with sideways runs) against Dijkstra on the same moves."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = rng.integers(2, 12), rng.integers(4, 14)
        ink = rng.random((h, w)) * (rng.random((h, w)) < 0.5)
        start, band = int(rng.integers(1, w - 1)), int(rng.integers(1, 5))
        bounds, cost = number_cuts._paths(ink, np.array([start]), band, 1, w - 1)
        assert cost[0] == pytest.approx(_dijkstra(ink, start, band, 1, w - 1))
        assert ((bounds >= max(1, start - band)) & (bounds <= min(w - 2, start + band))).all()


def _dijkstra(ink, start, band, lo, hi) -> float:
    """The least ink on a path from the top row to the bottom one, moving down (straight
    or diagonally) or sideways, within the band; each move aside costs STEP_COST."""
    h = ink.shape[0]
    a, b = max(lo, start - band), min(hi, start + band + 1)
    queue = [(float(ink[0, x]), 0, x) for x in range(a, b)]
    heapq.heapify(queue)
    done = set()
    while queue:
        cost, y, x = heapq.heappop(queue)
        if (y, x) in done:
            continue
        done.add((y, x))
        if y == h - 1:
            return cost
        for dy, dx in ((0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            if a <= x + dx < b:
                step = number_cuts.STEP_COST if dx else 0.0
                heapq.heappush(queue, (cost + ink[y + dy, x + dx] + step, y + dy, x + dx))
    raise AssertionError("no path")


def _bar_pair(gap: int) -> Part:
    """Two 12-px-wide upright bars 60 px tall, `gap` px apart (0: they touch)."""
    core = np.zeros((80, 100), bool)
    core[10:70, 20:32] = True
    core[10:70, 32 + gap : 44 + gap] = True
    core[38:42, 28 : 40 + gap] = True  # a bridge between them
    return Part(core.astype(np.float32), core, np.zeros_like(core))


def test_without_a_model_a_part_wider_than_its_height_is_cut_where_ink_is_least():
    core = np.zeros((80, 120), bool)
    core[10:70, 10:50] = True  # two 40x60 blocks joined by a thin neck: 100 wide, 60 high
    core[10:70, 70:110] = True
    core[38:42, 50:70] = True
    part = Part(core.astype(np.float32) * 0.1, core, np.zeros_like(core))
    digits = segment(part, Scale(60.0, 6.0), judge=None)
    assert len(digits) == 2 and all(cut for _, cut in digits)  # cut through the neck's ink
    left, right = (d.core for d, _ in digits)
    assert left[:, :50].sum() == core[:, :50].sum() and not right[:, :50].any()
    assert right[:, 70:].sum() == core[:, 70:].sum() and not left[:, 70:].any()


def test_a_part_narrower_than_the_digits_is_never_cut():
    part = _bar_pair(gap=0)
    assert segment(part, Scale(200.0, 12.0), judge=None) == [(part, False)]


def test_the_digit_input_is_mnist_shaped():
    core = np.zeros((80, 40), bool)
    core[5:75, 15:25] = True
    x = input28(Part(core.astype(np.float32), core, np.zeros_like(core)), photo_path=False)
    assert x.shape == (28, 28) and x.dtype == np.float32 and x.max() == pytest.approx(1.0)
    rows = np.flatnonzero(x.any(axis=1))
    assert rows[-1] + 1 - rows[0] == 20  # MNIST's 20-px box, on the longer side


def test_the_cut_rule_asks_less_of_wider_parts():
    assert number_cuts._should_cut(0.0, 1.0)  # any gain above MARGIN_AT_ONE (-1) at ratio 1
    assert not number_cuts._should_cut(-2.0, 1.0)
    assert number_cuts._should_cut(-2.0, 1.2)  # wider: 12 less per unit of width
