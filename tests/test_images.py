"""images: every picture mode, broken and awkward files, uploads read twice, EXIF rotation.

Where a picture is read right, it is also checked through `preprocess.to_mnist` against
the same "4" drawn directly (tests/pictures.py), so "read right" means "reads as that digit".
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_core import images, preprocess
from mnist_core.errors import InputError

from pictures import correlation, draw, encode, huge_png


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess.to_mnist(draw())


# --------------------------------------------------------------------------- to_grayscale


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_grayscale_of_every_mode(mode, reference):
    base = draw()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray(np.asarray(base, dtype=np.float32) / 255.0)
    else:
        image = base.convert(mode)
    gray = images.to_grayscale(image)
    assert gray.shape == (280, 280) and gray.dtype == np.float32
    assert gray.min() == pytest.approx(0.0, abs=1e-6) and gray.max() == pytest.approx(1.0, abs=1e-3)
    assert correlation(preprocess.to_mnist(image), reference) > 0.99


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 5)),
        np.zeros((5, 5, 5)),
        np.zeros((2, 3, 4, 4)),
        np.full((5, 5), np.nan),
        np.full((5, 5), 300.0),
        np.full((5, 5), -2),
    ],
)
def test_bad_arrays_raise_input_error(array):
    with pytest.raises(InputError):
        images.to_grayscale(array)


# --------------------------------------------------------------------------- load_image


@pytest.mark.parametrize(
    "name, content",
    [
        ("empty.png", b""),
        ("page.png", b"<!DOCTYPE html><html><body>Not found</body></html>"),
        (
            "digit.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
            b'<circle cx="14" cy="14" r="9"/></svg>',
        ),
        ("truncated.png", None),
        ("bomb.png", (20000, 20000)),  # over Pillow's own error limit
        ("big.png", (8000, 6000)),  # 48 MP: under Pillow's limits, over ours
    ],
)
def test_bad_files_raise_one_line_input_error(tmp_path, name, content):
    if content is None:
        full = encode(
            Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), np.uint8))
        )
        content = full[: len(full) // 2]
    elif isinstance(content, tuple):
        content = huge_png(*content)
    path = tmp_path / name
    path.write_bytes(content)
    for source in (path, str(path), content, io.BytesIO(content)):
        started = time.perf_counter()
        with pytest.raises(InputError) as info:
            images.load_image(source)
        assert time.perf_counter() - started < 1.0
        assert "\n" not in str(info.value) and str(info.value)


def test_missing_path_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        images.load_image(tmp_path / "nope.png")


class FakeUpload(io.BytesIO):
    """Like Streamlit's UploadedFile: a BytesIO with a name, possibly read already."""

    name = "digit.png"


def test_what_is_not_a_file_is_named_and_never_read(tmp_path):
    """A folder, a FIFO (reading one would block for ever) and /dev/zero (it never ends):
    each refused by what it is, at once."""
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    for path, message in [
        (tmp_path, "is a folder, not a picture"),
        (fifo, "is not a regular file"),
        (Path("/dev/zero"), "is not a regular file"),
    ]:
        with pytest.raises(InputError, match=message):
            images.load_image(path)


def test_upload_read_twice(reference):
    upload = FakeUpload(encode(draw()))
    upload.read()  # a previous rerun consumed it
    np.testing.assert_allclose(preprocess.to_mnist(upload), reference, atol=1e-6)


@pytest.mark.parametrize(
    "make, mode",
    [
        (lambda: encode(draw().convert("CMYK"), format="JPEG", quality=95), "CMYK"),
        (lambda: encode(Image.fromarray(np.asarray(draw(), dtype=np.uint16) * 257)), "I;16"),
        (lambda: encode(draw().convert("P")), "P"),
    ],
    ids=["cmyk-jpeg", "16-bit-png", "palette-png"],
)
def test_other_file_kinds(reference, make, mode):
    image = images.load_image(make())
    assert image.mode == mode
    assert correlation(preprocess.to_mnist(image), reference) > 0.97


def test_palette_png_with_transparent_background(reference):
    mask = np.asarray(draw()) > 0
    image = Image.new("P", (280, 280), 0)
    image.putpalette([0, 0, 0, 255, 255, 255])
    image.putdata(mask.ravel().astype(np.uint8).tolist())
    image.info["transparency"] = 0
    loaded = images.load_image(encode(image, transparency=0))
    assert loaded.mode == "P" and "transparency" in loaded.info
    assert correlation(preprocess.to_mnist(loaded), reference) > 0.99


def test_animated_gif_gives_first_frame(reference):
    first, second = draw().convert("P"), Image.new("P", (280, 280), 0)
    data = encode(first, format="GIF", save_all=True, append_images=[second], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    image = images.load_image(data)
    assert correlation(preprocess.to_mnist(image), reference) > 0.99


def test_one_pixel_image():
    image = images.load_image(encode(Image.new("L", (1, 1), 255)))
    assert image.size == (1, 1)
    assert preprocess.to_mnist(image) is None


@pytest.mark.parametrize("orientation, bright", [(6, "top"), (8, "bottom")])
def test_exif_rotated_jpeg_comes_out_upright(orientation, bright):
    """Stored 60 wide x 30 high, left half white; Orientation 6 means "turn 90 degrees
    clockwise to view" (left goes to the top), 8 counter-clockwise (left to the bottom)."""
    stored = Image.new("L", (60, 30), 0)
    stored.paste(255, (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = images.load_image(encode(stored, format="JPEG", exif=exif.tobytes()))
    assert image.size == (30, 60)
    gray = images.to_grayscale(image)
    top, bottom = gray[:30].mean(), gray[30:].mean()
    assert (top > 0.9 and bottom < 0.1) if bright == "top" else (bottom > 0.9 and top < 0.1)
