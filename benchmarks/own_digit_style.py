"""Drawn digits in one distinct style, as a visitor would add them to "your digits".

    from benchmarks.own_digit_style import drawn_set
    x, y = drawn_set(seed=1, per_class=5)    # uint8 (50, 28, 28), uint8 (50,)

Each digit is written with the mouse-stroke shapes below on a 280 x 280 black canvas in
white (the Draw page's canvas), with a thick pen (34 to 40 px, the Draw slider goes to 40)
and a strong forward slant (shear of 50 to 60 degrees), the control points jittered by a
seeded random number generator; then it goes through `preprocess.to_mnist`, exactly what
the Draw page stores when you correct its answer. A seed selects a set: the benchmark
fine-tunes on seed 1, chooses settings on seed 2 and reports on seed 3.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from mnist_core.preprocess import to_mnist

CANVAS = 280
# Strokes in a unit box (u right, v down), continental style: 1 with a flag and a foot,
# 7 crossed, 4 open, 9 with a straight stem, as MNIST's American writers rarely write them.
STROKES = {
    0: [
        [
            (0.5, 0.0),
            (0.15, 0.2),
            (0.1, 0.6),
            (0.35, 1.0),
            (0.75, 0.95),
            (0.9, 0.5),
            (0.8, 0.1),
            (0.5, 0.0),
        ]
    ],
    1: [[(0.25, 0.25), (0.6, 0.0), (0.6, 1.0)], [(0.3, 1.0), (0.9, 1.0)]],
    2: [[(0.1, 0.2), (0.4, 0.0), (0.8, 0.1), (0.8, 0.4), (0.1, 1.0), (0.95, 1.0)]],
    3: [[(0.1, 0.0), (0.85, 0.0), (0.4, 0.4), (0.85, 0.6), (0.8, 0.9), (0.4, 1.0), (0.1, 0.85)]],
    4: [[(0.6, 0.0), (0.1, 0.65), (0.95, 0.65)], [(0.7, 0.35), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45), (0.6, 0.4), (0.9, 0.7), (0.6, 1.0), (0.1, 0.9)]],
    6: [[(0.75, 0.0), (0.3, 0.3), (0.1, 0.75), (0.4, 1.0), (0.8, 0.85), (0.7, 0.5), (0.2, 0.6)]],
    7: [[(0.05, 0.1), (0.2, 0.0), (0.95, 0.0), (0.35, 1.0)], [(0.35, 0.5), (0.9, 0.5)]],
    8: [[(0.8, 0.1), (0.5, 0.0), (0.2, 0.15), (0.8, 0.75), (0.5, 1.0), (0.2, 0.75), (0.8, 0.2)]],
    9: [[(0.85, 0.2), (0.5, 0.0), (0.15, 0.2), (0.4, 0.45), (0.85, 0.25), (0.85, 1.0)]],
}


SLANT = (50, 60)  # degrees of forward slant: 30 to 40 the shipped model still reads all


def render(label: int, rng: np.random.Generator, slant_range=SLANT) -> Image.Image:
    """One drawing of `label` on the Draw page's canvas: thick, slanted, jittered."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    pen = ImageDraw.Draw(image)
    width = int(rng.integers(34, 41))
    slant = math.tan(math.radians(rng.uniform(*slant_range)))
    height, box_w = rng.uniform(150, 190), rng.uniform(80, 110)
    x0, y0 = rng.uniform(70, 110), rng.uniform(40, 80)
    for stroke in STROKES[label]:
        points = []
        for u, v in stroke:
            u, v = u + rng.normal(0, 0.04), v + rng.normal(0, 0.03)
            points.append((x0 + u * box_w + (1 - v) * height * slant * 0.5, y0 + v * height))
        pen.line(points, fill=255, width=width, joint="curve")
    return image


def drawn_set(seed: int, per_class: int = 5, slant_range=SLANT) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` drawings of each digit: uint8 (10 * per_class, 28, 28) as the model sees
    them, and their labels, digit by digit."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(10):
        for _ in range(per_class):
            x28 = to_mnist(render(label, rng, slant_range))
            images.append(np.round(x28 * 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, np.uint8)
