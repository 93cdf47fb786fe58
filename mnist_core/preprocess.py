"""Any picture of a digit -> the 28x28 image an MNIST model expects.

MNIST digits were made this way: the ink was scaled to fit a 20x20 box keeping its aspect
ratio (antialiased, hence the grey levels), then pasted into a 28x28 field so that its
centre of mass sits at the centre. Checked on the test set: every digit's ink bounding box
has a longer side of exactly 20 px, and the centre of mass is at (row, col) = (14.0, 14.0)
+- 0.3 px in pixel-index coordinates (an integer shift, hence the spread). `to_mnist` does
the same to a user's picture, so small, off-centre or thick digits read like training data.

    to_mnist(image)        -> float32 (28, 28) in [0, 1], white ink on black, or None
    find_digit(image)      -> Found(input28, box, photo) or None: the same, and where the digit is
    stroke_width(digit)    mean stroke width of an ink image, in pixels
    working(image)         -> Work: the picture at the working size, its border, which path
    clean_ink(gray, sides) the quick path's ink;  mnist_form(crop): ink -> the 28x28 input
                           (numbers.py finds and shapes every digit of a number with these)

Two ways to find the ink. A picture whose border is one clean tone (the Draw page's canvas,
a digital drawing, a clean scan) takes the quick one here: ink is what differs from the
border's tone by more than its noise. Any other picture (a phone photo of paper: uneven
light, shadows, grain, ruled lines) goes through `photo.find_ink`, built on OpenCV.

Reading files and turning pictures into grey levels is `images`' work (`load_image`,
`to_grayscale`); both are importable from here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import photo
from .images import ImageSource, load_image, normalise_mode, to_grayscale

__all__ = [
    "NO_DIGIT_MESSAGE",
    "Found",
    "ImageSource",
    "find_digit",
    "load_image",
    "stroke_width",
    "to_grayscale",
    "to_mnist",
]

NO_DIGIT_MESSAGE = "No digit found: the image looks empty."

# Bigger pictures are box-averaged down to about this many pixels before any float work:
# a digit loses nothing at 2048x2048, and a 40 MP RGBA image in float32 would need 640 MB.
WORK_PIXELS = 4_000_000

MNIST_SIZE = 28
DIGIT_BOX = 20  # longer side of the ink's bounding box in MNIST, in pixels
MNIST_CENTRE = 14.0  # centre of mass (row and column) of MNIST digits, pixel-index units

# Stroke width, in pixels of the 20 px box (see `stroke_width`). Outside STROKE_BAND a
# digit is re-stroked to the nearest end of STROKE_TARGET: MNIST's widths run from 1.9 to
# 3.6 px, and a digit drawn with a 1 px pen on a big canvas or a marker reads badly.
STROKE_BAND = (1.8, 3.5)
STROKE_TARGET = (2.2, 3.0)
WORK_SIDE = 80  # re-stroking resolution, 4x the 20 px box
MAX_RESTROKE = 12  # at most 3 px of width changed on each side, in 20 px-box pixels
THICKEN_ROUNDS = 3

# Ink detection. Ink is "brighter than the background by more than the noise floor" after
# light backgrounds are inverted. The floor is at least MIN_NOISE_FLOOR (JPEG ringing and
# paper texture stay below it) and grows with the background's own noise, measured on the
# border with a median absolute deviation so that strokes touching the border don't count.
MIN_NOISE_FLOOR = 0.1
NOISE_SIGMAS = 5.0  # a 5-sigma floor: about one false ink pixel in 3 million
BORDER_FRACTION = 0.02  # border ring width, as a fraction of the shorter side (>= 1 px)
# A clean background, the quick path's condition: the four sides' medians within UNEVEN of
# each other and the border's noise (MAD as a Gaussian sigma) under CLEAN_NOISE. A canvas
# has 0 and 0; a phone photo's lighting gradient alone (20 grey levels or more) puts its
# sides 8 or more grey levels apart; a digital drawing saved as JPEG stays at 1 or 2.
UNEVEN = 6 / 255
CLEAN_NOISE = 3 / 255


# --------------------------------------------------------------------------- MNIST form


@dataclass(eq=False)  # == on the array would be ambiguous
class Found:
    """A digit found in a picture: what the model is given, and where it was."""

    input28: np.ndarray  # float32 (28, 28) in [0, 1], white ink on black: see `to_mnist`
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1): the ink's box in the picture, x1/y1 excluded
    photo: bool  # True when the photo path (`photo.find_ink`) found it


def to_mnist(image: Image.Image | np.ndarray | ImageSource) -> np.ndarray | None:
    """The digit in `image` the way MNIST shows digits, or None when there is no ink.

    `image`: a PIL image, an array as `to_grayscale` takes, or anything `load_image` takes.
    Returns float32 (28, 28) in [0, 1], white ink on black, the ink's bounding box scaled to
    a longer side of 20 px and its centre of mass at pixel (14, 14), clipped at the edges.
    None means no ink stands out of the background's noise (blank, uniform, noisy-uniform).
    """
    found = find_digit(image)
    return None if found is None else found.input28


def find_digit(image: Image.Image | np.ndarray | ImageSource) -> Found | None:
    """`to_mnist`'s image and the digit's box in the picture, or None when there is no ink.

    The box is in pixels of the picture as given: for a file or bytes, of the upright image
    `load_image` returns (EXIF rotation applied), which is what to draw it on. A page shows
    an upload this way: `picture = load_image(upload)`, `found = find_digit(picture)`, then
    `ImageDraw.Draw(picture).rectangle((x0, y0, x1 - 1, y1 - 1))` from `found.box` beside
    `found.input28` (NO_DIGIT_MESSAGE when None). Passing the loaded picture, not the
    upload again, decodes it once; `to_mnist(picture)` would give the same `input28`.
    """
    work = working(image)
    if work.clean:
        found = clean_ink(work.gray, work.sides)
        if found is None:
            return None
        excess, (top, left) = found
        rows, cols = _box(excess)
        crop = excess[rows, cols]
        box = (left + cols.start, top + rows.start, left + cols.stop, top + rows.stop)
    else:
        ink = photo.find_ink(work.gray)
        if ink is None:
            return None
        crop, box = ink.ink, ink.box
    return Found(mnist_form(crop), work.to_picture(*box), photo=not work.clean)


@dataclass(eq=False)  # == on the arrays would be ambiguous
class Work:
    """A picture at the size its ink is looked for at (WORK_PIXELS at most), and the way back."""

    gray: np.ndarray  # float32 (h, w) in [0, 1]
    size: tuple[int, int]  # (width, height) of the picture as given
    sides: list[np.ndarray]  # its border ring (`border`)
    clean: bool  # the border is one clean tone: the quick path (`clean_ink`), else `photo`'s

    def to_picture(self, x0, y0, x1, y1) -> tuple[int, int, int, int]:
        """A box in `gray`'s pixels (x1/y1 excluded) in the given picture's pixels."""
        width, height = self.size
        sx, sy = width / self.gray.shape[1], height / self.gray.shape[0]
        return (
            max(0, math.floor(x0 * sx)),
            max(0, math.floor(y0 * sy)),
            min(width, math.ceil(x1 * sx)),
            min(height, math.ceil(y1 * sy)),
        )


def working(image: Image.Image | np.ndarray | ImageSource) -> Work:
    """`image` (anything `to_mnist` takes) as grey levels at the working size, with its
    border and whether that border is one clean tone."""
    if not isinstance(image, (Image.Image, np.ndarray)):
        image = load_image(image)
    width, height = image.size if isinstance(image, Image.Image) else image.shape[1::-1]
    if isinstance(image, Image.Image):
        image = _shrink_image(image)
    gray = _shrink_array(to_grayscale(image))
    sides = border(gray)
    return Work(gray, (width, height), sides, clean_background(sides))


def mnist_form(crop: np.ndarray) -> np.ndarray:
    """A digit's ink (float32, its box, peak 1) in MNIST's form: the stroke width, the 20x20
    box and the centre of mass at (14, 14); float32 (28, 28)."""
    return _centre(_fit_strokes(crop))


def _shrink_image(image: Image.Image) -> Image.Image:
    factor = math.ceil(math.sqrt(image.width * image.height / WORK_PIXELS))
    if factor <= 1:
        return image
    return normalise_mode(image).reduce(factor)  # box average; never on palette indices


def _shrink_array(gray: np.ndarray) -> np.ndarray:
    factor = math.ceil(math.sqrt(gray.size / WORK_PIXELS))
    if factor <= 1:
        return gray
    h, w = (gray.shape[0] // factor) * factor, (gray.shape[1] // factor) * factor
    return gray[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def border(gray: np.ndarray) -> list[np.ndarray]:
    """The border ring's four sides (top, bottom, left, right), BORDER_FRACTION wide."""
    width = max(1, round(BORDER_FRACTION * min(gray.shape)))
    return [gray[:width], gray[-width:], gray[:, :width], gray[:, -width:]]


def clean_background(sides: list[np.ndarray]) -> bool:
    """Whether the border is one clean tone (see UNEVEN and CLEAN_NOISE)."""
    lows = [float(side.min()) for side in sides]
    highs = [float(side.max()) for side in sides]
    if max(highs) - min(lows) <= UNEVEN:  # a canvas: decided in microseconds
        return True
    medians = [float(np.median(side)) for side in sides]
    if max(medians) - min(medians) > UNEVEN:
        return False
    border = np.concatenate([side.ravel() for side in sides])
    sigma = 1.4826 * float(np.median(np.abs(border - np.median(border))))
    return sigma <= CLEAN_NOISE


def clean_ink(gray: np.ndarray, sides: list[np.ndarray]) -> tuple[np.ndarray, tuple] | None:
    """Ink as float32 in [0, 1] (0 = background, peak = 1), or None if there is none; for a
    picture whose border (`sides`) is one clean tone.

    The array returned covers the ink's box before lone specks were dropped (its top-left
    pixel in `gray` comes with it, as (row, column)): `_box` it again."""
    border = np.concatenate([side.ravel() for side in sides])
    background = float(np.median(border))
    # A clearly light or dark border decides; a mid-grey one leaves it to whichever side
    # the picture strays further from it (dark ink or light ink on grey).
    low, high = float(gray.min()), float(gray.max())
    if background > 0.65 or (background >= 0.35 and background - low > high - background):
        gray, border, background = 1.0 - gray, 1.0 - border, 1.0 - background
    sigma = 1.4826 * float(np.median(np.abs(border - background)))  # MAD -> Gaussian sigma
    floor = max(MIN_NOISE_FLOOR, NOISE_SIGMAS * sigma)
    excess = (gray - np.float32(background + floor)).astype(np.float32, copy=False)
    mask = excess > 0
    box = _box(mask)
    if box is None:
        return None
    # Only the part of the picture that holds ink (often a third of a canvas) goes on.
    excess, mask = excess[box], mask[box]
    mask &= ~_isolated(mask)  # lone specks (dust, salt noise) must not stretch the box
    if not mask.any():
        return None
    peak = float(np.max(excess, where=mask, initial=0.0))
    if peak < floor:  # the strongest ink must stand out by twice the floor
        return None
    excess *= np.float32(1.0 / peak)
    excess *= mask  # 0 off the ink
    return excess, (box[0].start, box[1].start)


def _box(image: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of the nonzero pixels of `image`, as slices; None if there are none."""
    rows = np.flatnonzero(image.any(axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(image.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _crop(ink: np.ndarray) -> np.ndarray:
    box = _box(ink)
    if box is None:  # callers only crop what holds ink
        raise ValueError("nothing to crop: the image is empty")
    return ink[box]


def _isolated(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` none of whose 8 neighbours are in it."""
    # The 3x3 neighbourhood sums, as a sum over 3 rows of sums over 3 columns.
    padded = np.pad(mask, 1).view(np.uint8)
    h, w = mask.shape
    rows = padded[:, :w] + padded[:, 1 : w + 1] + padded[:, 2:]
    box = rows[:h] + rows[1 : h + 1] + rows[2:]
    return mask & (box == 1)  # the pixel itself is the only one set


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """`crop` scaled so its longer side is DIGIT_BOX px; float32 in [0, 1] with peak 1."""
    scaled = _resize(crop, DIGIT_BOX)
    # Thin strokes shrunk a lot come out faint; MNIST digits always reach full white.
    return (scaled / scaled.max()).astype(np.float32)


def _resize(image: np.ndarray, longer_side: int) -> np.ndarray:
    """float32 `image` scaled, aspect kept, to `longer_side` px, clipped to [0, 1]."""
    h, w = image.shape
    scale = longer_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Box averaging when shrinking is what antialiasing a scan means (no ringing); Lanczos
    # when enlarging a tiny digit, which box (nearest neighbour then) would make blocky.
    # Tried against a CNN on MNIST test digits redrawn large, small, thick and thin: this
    # beat Lanczos both ways, and sub-pixel centring, by 0.3 to 1.5 points of accuracy.
    resample = Image.Resampling.BOX if scale <= 1 else Image.Resampling.LANCZOS
    scaled = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize(size, resample)
    return np.clip(np.asarray(scaled), 0.0, 1.0)


def stroke_width(digit: np.ndarray) -> float:
    """Mean stroke width in pixels of an ink image: 2 x area / perimeter.

    For a stroke of width w and length L the area is w*L and the outline about 2*L long;
    the outline's length is the total variation of the image, which also works for grey
    (antialiased) edges. MNIST digits measure 1.9 to 3.6 px (5th to 95th percentile).
    """
    gy, gx = np.gradient(np.pad(digit.astype(np.float64), 1))  # pad: a 1 px tall "-" works
    outline = float(np.hypot(gx, gy).sum())
    return 2.0 * float(digit.sum()) / outline if outline > 0 else 0.0


def _fit_strokes(crop: np.ndarray) -> np.ndarray:
    """`_fit_box(crop)`, re-stroked first if its strokes come out thinner or thicker than
    MNIST's (outside STROKE_BAND): float32, longer side DIGIT_BOX px, peak 1."""
    digit = _fit_box(crop)
    width = stroke_width(digit)
    if width > STROKE_BAND[1]:
        # Once: eroding again breaks the thinner parts of digits drawn with uneven
        # pressure (tried: worse accuracy on thickened MNIST digits).
        return _fit_box(_crop(_restroke(crop, width)))
    # The width measure saturates near 1 px for hairlines, so one thickening falls
    # short; a few rounds converge, and they are cheap at WORK_SIDE px.
    for _ in range(THICKEN_ROUNDS):
        if width >= STROKE_BAND[0]:
            break
        crop = _crop(_restroke(crop, width))
        digit = _fit_box(crop)
        width = stroke_width(digit)
    return digit


def _restroke(crop: np.ndarray, width: float) -> np.ndarray:
    """`crop` with strokes thinned or thickened so that, fitted to 20 px, they are MNIST-wide.

    Works at WORK_SIDE px (4x the final size: whole-pixel steps there are quarter pixels
    in the result). `width` is the stroke width the crop has when fitted to 20 px.
    """
    work = _resize(crop, WORK_SIDE)
    # Hairlines shrunk to WORK_SIDE are faint, the more so the thinner: bring the typical
    # stroke (not just the brightest crossing) to white first, so they all grow alike.
    work = np.clip(work / float(np.median(work[work > 0.1 * work.max()])), 0.0, 1.0)
    target = min(max(width, STROKE_TARGET[0]), STROKE_TARGET[1])
    # Each step moves every edge by 1 work px, the outer ones too, so the box that is then
    # fitted to 20 px changes with the strokes: solve (k*w - 2r) / (k*20 - 2r) = t / 20.
    k = WORK_SIDE / DIGIT_BOX
    steps = round(k * (width - target) / (2 - 2 * target / DIGIT_BOX))
    steps = max(-MAX_RESTROKE, min(MAX_RESTROKE, steps))
    if steps < 0:  # thicken: make room, then grow
        work = np.pad(work, -steps)
    for i in range(abs(steps)):
        work = _morph_step(work, np.minimum if steps > 0 else np.maximum, diagonal=i % 2 == 1)
    if not work.any():  # thinned away entirely: keep the original strokes
        return crop
    return work.astype(np.float32)


def _morph_step(image: np.ndarray, op, diagonal: bool) -> np.ndarray:
    """One step of grey erosion (op=np.minimum) or dilation (np.maximum); alternating the
    cross and the 3x3 square makes the result about round (an octagon)."""
    p = np.pad(image, 1)
    h, w = image.shape
    out = image.copy()
    shifts = [(0, 1), (2, 1), (1, 0), (1, 2)]
    if diagonal:
        shifts += [(0, 0), (0, 2), (2, 0), (2, 2)]
    for dy, dx in shifts:
        op(out, p[dy : dy + h, dx : dx + w], out=out)
    return out


def _centre(digit: np.ndarray) -> np.ndarray:
    """Paste `digit` into 28x28 with its centre of mass at (14, 14), clipping at the edges."""
    h, w = digit.shape
    mass = digit.sum()
    com_row = float(digit.sum(axis=1) @ np.arange(h)) / mass
    com_col = float(digit.sum(axis=0) @ np.arange(w)) / mass
    # A whole-pixel shift, as MNIST did (its centres spread +-0.3 px), so no second
    # resampling blurs the strokes; the price is that the same digit drawn at two sizes
    # can come out a pixel apart.
    top = math.floor(MNIST_CENTRE - com_row + 0.5)
    left = math.floor(MNIST_CENTRE - com_col + 0.5)
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    r0, r1 = max(0, top), min(MNIST_SIZE, top + h)
    c0, c1 = max(0, left), min(MNIST_SIZE, left + w)
    out[r0:r1, c0:c1] = digit[r0 - top : r1 - top, c0 - left : c1 - left]
    return out
