"""A fixed, deterministic set of corruptions of MNIST digits: where a model's accuracy breaks.

    corrupt(name, images, first=0) -> uint8 (N, 28, 28): the test images as `name` changes them
    CORRUPTIONS                     name -> Corruption(title, plain, apply)

In the spirit of MNIST-C (Mu & Gilmer 2019): the same digits, drawn a little differently
than the training set ever showed, or photographed, or crossed out. Every image gets its own
parameters from a generator seeded by the corruption and the image's index in the set, so a
corrupted test set is the same on every machine and every run, and image i of a slice is
image i of the whole set (`first`: the index of images[0]).

Each function takes and returns uint8 (N, 28, 28) white ink on black, as MNIST stores it;
OpenCV does the geometry, the filters and the morphology.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 28
CENTRE = (SIZE - 1) / 2


@dataclass(frozen=True)
class Corruption:
    title: str  # a few words for a bar's label
    plain: str  # one sentence for a newcomer: what was done to the digits
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]  # one image (28, 28) uint8


def _warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(
        image, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=0
    ).astype(np.uint8)


def _signed(rng: np.random.Generator, low: float, high: float) -> float:
    """A magnitude in [low, high] with a random sign."""
    return float(rng.uniform(low, high) * rng.choice((-1.0, 1.0)))


def _rotate(image, rng):
    matrix = cv2.getRotationMatrix2D((CENTRE, CENTRE), _signed(rng, 15, 30), 1.0)
    return _warp(image, matrix)


def _shear(image, rng):
    k = _signed(rng, 0.25, 0.45)  # x += k * (y - centre): a slant of 14 to 24 degrees
    return _warp(image, np.float32([[1, k, -k * CENTRE], [0, 1, 0]]))


def _scale(image, rng):
    s = float(rng.uniform(0.55, 0.75))  # written small: the digit 11 to 15 px tall, not 20
    return _warp(image, cv2.getRotationMatrix2D((CENTRE, CENTRE), 0.0, s))


def _shift(image, rng):
    dx, dy = _signed(rng, 3, 5), _signed(rng, 3, 5)  # off-centre by 3 to 5 px each way
    return _warp(image, np.float32([[1, 0, dx], [0, 1, dy]]))


def _noise(image, rng):
    noisy = image.astype(np.float32) + rng.normal(0.0, 0.3 * 255, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _blur(image, rng):
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(rng.uniform(1.2, 1.6)))


def _thick(image, rng):
    return cv2.dilate(image, np.ones((3, 3), np.uint8))


def _thin(image, rng):
    thinner = cv2.erode(image, np.ones((2, 2), np.uint8))
    return thinner if thinner.max() >= 128 else image  # never erase a digit altogether


def _line(image, rng):
    """A straight stroke across the digit from one side to the other, as if crossed out."""
    out = image.copy()
    y0, y1 = rng.uniform(4, 24, size=2)
    cv2.line(out, (0, round(y0)), (SIZE - 1, round(y1)), 255, thickness=2, lineType=cv2.LINE_AA)
    return out


def _invert(image, rng):
    return (255 - image).astype(np.uint8)


def _photo(image, rng):
    """Dark ink on light paper under uneven light, grainy and JPEG-compressed, as a phone
    photo of a written digit cut down to 28 x 28."""
    ink = image.astype(np.float32) / 255.0
    paper = rng.uniform(170, 230)
    ramp = np.linspace(-1, 1, SIZE, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    light = paper + rng.uniform(15, 40) * (
        np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    )
    ink_tone = rng.uniform(20, 70)
    picture = light * (1 - ink) + ink_tone * ink + rng.normal(0, 6, ink.shape)
    picture = np.clip(picture, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 80))])
    return cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)


CORRUPTIONS: dict[str, Corruption] = {
    "rotation": Corruption(
        "Rotated", "Each digit turned 15 to 30 degrees, left or right.", _rotate
    ),
    "shear": Corruption(
        "Slanted", "Each digit slanted 14 to 24 degrees, as fast writing does.", _shear
    ),
    "scale": Corruption(
        "Small", "Each digit written smaller: 55 to 75% of its usual size.", _scale
    ),
    "translation": Corruption(
        "Off-centre", "Each digit moved 3 to 5 pixels off the centre.", _shift
    ),
    "noise": Corruption("Grainy", "Random grain over the whole picture.", _noise),
    "blur": Corruption("Blurred", "The picture out of focus.", _blur),
    "thick": Corruption("Thick pen", "Strokes drawn with a thicker pen.", _thick),
    "thin": Corruption("Thin pen", "Strokes drawn with a thinner pen.", _thin),
    "line": Corruption("Crossed out", "A straight line drawn across the digit.", _line),
    "inversion": Corruption("Inverted", "Black ink on white instead of white on black.", _invert),
    "photo": Corruption(
        "Photo of paper", "Dark ink on paper, uneven light, grain and JPEG, cut to 28 x 28.", _photo
    ),
}


def corrupt(name: str, images: np.ndarray, first: int = 0) -> np.ndarray:
    """`images` (uint8 (N, 28, 28), white on black) as corruption `name` changes them; image k
    gets the parameters of index first + k in the whole set, the same on every call."""
    corruption = CORRUPTIONS[name]
    seed = zlib.crc32(name.encode())  # stable across runs and machines, unlike hash()
    out = np.empty_like(images, dtype=np.uint8)
    for k, image in enumerate(np.asarray(images, dtype=np.uint8)):
        rng = np.random.default_rng((seed, first + k))
        out[k] = corruption.apply(image, rng)
    return out
