"""Pictures the tests build in memory (shared by conftest.py, test_images.py and
test_preprocess.py), and how close two digit images are."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height black pixels (height a multiple of 500), made
    in memory in a fraction of a second: 20000 x 20000 compresses to about 50 KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = (
        b"".join(compressor.compress(row * 500) for _ in range(height // 500)) + compressor.flush()
    )
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


# A "4": two strokes and a bar, in unit coordinates (x right, y down). Its mass is
# off its box centre, so centring by box and by centre of mass differ.
FOUR = [[(0.55, 0.0), (0.0, 0.65), (1.0, 0.65)], [(0.7, 0.3), (0.7, 1.0)]]


def draw(size=(280, 280), box=(60, 40, 220, 240), width=18, ink=255, background=0, mode="L"):
    """A "4" drawn inside `box` (x0, y0, x1, y1) on a canvas of `size` (W, H)."""
    image = Image.new(mode, size, background)
    pen = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    for stroke in FOUR:
        points = [(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in stroke]
        pen.line(points, fill=ink, width=width, joint="curve")
    return image


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def encode(image: Image.Image, **params) -> bytes:
    """`image` saved in memory (PNG unless `format=` says otherwise)."""
    buffer = io.BytesIO()
    image.save(buffer, format=params.pop("format", "PNG"), **params)
    return buffer.getvalue()


# --------------------------------------------------------------------------- photos of paper


def quick_path_pictures() -> dict[str, Image.Image | np.ndarray]:
    """Pictures with a clean background, which `preprocess` reads by its quick path (the
    Draw canvas among them). tests/quick_path_outputs.npz holds what `to_mnist` made of
    them before the photo path existed (commit 41ae075's preprocess.py)."""
    mask = np.asarray(draw()) > 0
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[mask] = (255, 255, 255, 255)
    opaque = canvas.copy()
    opaque[~mask] = (0, 0, 0, 255)
    sheet = np.zeros((280, 280, 4), np.uint8)
    sheet[mask] = (10, 10, 10, 255)
    return {
        "canvas": canvas,
        "canvas-opaque": opaque,
        "dark-ink-on-transparent-sheet": sheet,
        "centred": draw(),
        "off-centre": draw(size=(280, 280), box=(5, 10, 125, 160), width=14),
        "tiny-in-corner": draw(size=(560, 560), box=(500, 490, 540, 540), width=4),
        "thick": draw(width=60),
        "hairline": draw(size=(900, 900), box=(100, 100, 700, 850), width=2),
        "light-background": draw(ink=20, background=235),
        "light-ink-on-grey": draw(ink=230, background=128),
        "dark-ink-on-grey": draw(ink=20, background=128),
        "float-array": np.asarray(draw(), dtype=np.float32) / 255.0,
        "big-page": draw(
            size=(2500, 2500), box=(900, 700, 1700, 1700), width=90, ink=30, background=230
        ),
    }


def paper_photo(
    size=(640, 480),
    box=(260, 150, 360, 290),
    width=12,
    ink=(30, 30, 30),
    paper=(245, 245, 240),
    gradient=0.0,
    lines=None,
    tilt=0.0,
    noise=2.0,
    seed=0,
) -> Image.Image:
    """A photo-like RGB picture of the "4" drawn inside `box` (x0, y0, x1, y1) on paper.

    `gradient`: grey levels the light falls by from the left edge to the right one;
    `lines`: None, or (spacing, (r, g, b)) for ruled paper, 2 px lines, turned by `tilt`
    degrees; `noise`: the sensor noise's sigma in grey levels. For light chalk on a dark
    board, pass a light `ink` and a dark `paper`.
    """
    w, h = size
    page = np.empty((h, w, 3), np.float32)
    page[:] = paper
    if lines is not None:
        spacing, colour = lines
        ruling = Image.new("L", (2 * w, 2 * h), 0)
        pen = ImageDraw.Draw(ruling)
        for y in range(0, 2 * h, spacing):
            pen.line([(0, y), (2 * w, y)], fill=255, width=2)
        ruling = ruling.rotate(tilt, resample=Image.Resampling.BILINEAR, center=(w, h))
        a = np.asarray(ruling.crop((w // 2, h // 2, w // 2 + w, h // 2 + h)), np.float32) / 255
        page = page * (1 - 0.7 * a[..., None]) + np.float32(colour) * 0.7 * a[..., None]
    coverage = np.asarray(draw(size=size, box=box, width=width), np.float32)[..., None] / 255
    page = page * (1 - coverage) + np.float32(ink) * coverage
    page *= 1.0 - gradient / 255 * np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    page += np.random.default_rng(seed).normal(0, noise, page.shape).astype(np.float32)
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
