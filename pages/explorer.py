"""The Home page's dataset explorer and the pictures pages show: small pure functions, data
in, arrays out (app side: nothing in mnist_core needs them)."""

from __future__ import annotations

import numpy as np


def mean_images(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The average image of each digit: float32 (10, 28, 28) in the units of `x`.

    `x` is (N, 28, 28) (uint8 0..255 or float), `y` (N,) labels 0..9. A digit with no
    example gets an all-zero image rather than NaN.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    flat = x.reshape(len(x), -1)
    out = np.zeros((10, flat.shape[1]), dtype=np.float64)
    for digit in range(10):
        rows = flat[y == digit]
        if len(rows):
            out[digit] = rows.mean(axis=0, dtype=np.float64)
    return out.reshape(10, *x.shape[1:]).astype(np.float32)


def sample_indices(y: np.ndarray, n: int, seed: int, digit: int | None = None) -> np.ndarray:
    """`n` distinct example indices (int64, sorted), drawn reproducibly by `seed`.

    With `digit`, only examples labelled `digit` are drawn. Fewer than `n` come back
    when fewer exist.
    """
    pool = np.arange(len(y)) if digit is None else np.flatnonzero(np.asarray(y) == digit)
    chosen = np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False)
    return np.sort(chosen).astype(np.int64)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """A 2-D image blown up `scale` times with nearest-neighbour pixels, as uint8 0..255.

    Float images are read as 0..1; a browser resizing a 28x28 picture itself would blur it.
    """
    image = np.asarray(image)
    if image.ndim != 2 or scale < 1:
        raise ValueError(f"expected a 2-D image and scale >= 1, got {image.shape} and {scale}")
    if image.dtype != np.uint8:
        image = np.round(np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
