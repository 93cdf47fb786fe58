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
