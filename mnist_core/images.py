"""Any picture, read: files, bytes and uploads to PIL images; images and arrays to grey levels.

    load_image(source)     path / bytes / file-like -> upright, fully decoded PIL image
    to_grayscale(image)    PIL image or array -> float32 (H, W) in [0, 1]
    normalise_mode(image)  the same picture in mode L, LA, RGB, RGBA or F

Bad input (missing, empty, not an image, truncated, too large, NaN...) raises `InputError`
with one line naming the file. `preprocess` turns the grey levels into MNIST's 28x28 form.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]

# 40 MP is a 7000x5700 photo, far more than a digit needs; Pillow's own limit (89 MP, then
# an error at 179 MP) is global state we leave alone, so we check the size ourselves
# after Image.open has read the header and before anything is decoded.
MAX_PIXELS = 40_000_000

# ITU-R 601 luma weights, the ones Pillow uses for RGB -> L.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# --------------------------------------------------------------------------- loading


def load_image(source: ImageSource) -> Image.Image:
    """Open a picture from a path, bytes or a binary file-like (e.g. Streamlit's UploadedFile).

    Returns a fully decoded PIL image (any mode), turned upright by its EXIF orientation;
    for an animated image, its first frame. Raises `InputError` (one line) for a missing or
    empty file, something that is not an image, a truncated image, or one over MAX_PIXELS.
    """
    data, name = _read_source(source)
    if not data:
        raise InputError(f"{name} is empty (0 bytes).")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # Pillow's own limit, about 179 MP
        raise InputError(
            f"{name} is too large: over {MAX_PIXELS // 1_000_000} megapixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputError(
            f"{name} is not an image Pillow can read (PNG, JPEG, GIF, BMP, TIFF or WebP are)."
        ) from exc
    except Exception as exc:  # a damaged header can make any decoder plugin raise anything
        raise InputError(f"{name} could not be read as an image: {_one_line(exc)}") from exc

    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{name} is too large: {width}x{height} pixels "
            f"(the limit is {MAX_PIXELS // 1_000_000} megapixels)."
        )
    if width == 0 or height == 0:
        raise InputError(f"{name} has no pixels ({width}x{height}).")
    try:
        image.seek(0)  # animated GIF/PNG/WebP: the first frame
        image.load()
        return ImageOps.exif_transpose(image)
    except Exception as exc:  # truncated data, bad EXIF, decoder errors: all the user's file
        raise InputError(
            f"{name} could not be decoded (damaged or truncated): {_one_line(exc)}"
        ) from exc


def _read_source(source: ImageSource) -> tuple[bytes, str]:
    """All the bytes of `source` and a name for it to use in messages."""
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source)), f"Image file {Path(source).name!r}"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "The file"
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        name = f"Upload {name!r}" if name else "The upload"
        if hasattr(source, "seek"):
            source.seek(0)  # a Streamlit rerun may hand back an upload that was read already
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"expected a binary file, got one that reads {type(data).__name__}")
        return bytes(data), name
    raise TypeError(f"cannot load an image from {type(source).__name__}")


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file. A folder, a FIFO or a device (`/dev/zero`) is refused by
    what it is, without reading from it: a FIFO would block, a device never end. The file is
    opened without blocking and checked again through its descriptor, so swapping the name
    for a FIFO between the check and the read changes nothing."""
    try:
        kind = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"Image file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"Image file {path.name!r} cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(kind):
        raise InputError(f"{path} is a folder, not a picture")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"Image file {path.name!r} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path} is not a regular file (a device, a pipe or a socket)")
        try:
            return file.read()
        except OSError as exc:
            raise InputError(f"Image file {path.name!r} cannot be read: {exc.strerror}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------- grayscale


def to_grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """Luminance of a picture as float32 (H, W) in [0, 1] (0 black, 1 white).

    `image` is a PIL image of any common mode (1, L, P, LA, RGB, RGBA, CMYK, I;16, I, F...)
    or an array (H, W), (H, W, 1), (H, W, 2) gray+alpha, (H, W, 3) RGB or (H, W, 4) RGBA,
    either integer 0..255 (uint16: 0..65535) or float 0..1 (a float array whose maximum
    is above 1 is read as 0..255). Transparent pixels are composited onto whichever of
    black or white keeps the ink visible; see `_composite`.
    """
    if isinstance(image, Image.Image):
        gray, alpha = _image_gray_alpha(image)
    elif isinstance(image, np.ndarray):
        gray, alpha = _array_gray_alpha(image)
    else:
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    return _composite(gray, alpha)


def _image_gray_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    image = normalise_mode(image)
    if image.mode == "F":
        return _unit_range(np.asarray(image, dtype=np.float32)), None
    return _array_gray_alpha(np.asarray(image))


def normalise_mode(image: Image.Image) -> Image.Image:
    """The same picture in one of the modes L, LA, RGB, RGBA or F (F already in [0, 1])."""
    mode = image.mode
    has_alpha = "A" in mode or "a" in mode or "transparency" in image.info
    if mode in ("L", "RGB", "LA", "RGBA") and not (mode in ("L", "RGB") and has_alpha):
        return image
    if mode.startswith("I;16"):  # 16-bit PNG/TIFF: the full range is 0..65535
        return Image.fromarray(np.asarray(image, dtype=np.float32) / 65535.0)
    if mode == "I":  # 32-bit integers: 16-bit data unless it never exceeds 8-bit values
        values = np.asarray(image, dtype=np.float32)
        return Image.fromarray(values / (65535.0 if values.max() > 255 else 255.0))
    if mode == "F":
        return image
    if mode == "1":
        return image.convert("L")
    if mode == "La":  # premultiplied: Pillow converts it to LA only
        return image.convert("LA")
    try:  # P, PA, RGBa, RGBX, CMYK, YCbCr, LAB, HSV...
        return image.convert("RGBA" if has_alpha else "RGB")
    except ValueError as exc:
        raise InputError(f"Unsupported image mode {mode!r}.") from exc


def _array_gray_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if (
        not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4)))
        or 0 in array.shape
    ):
        raise InputError(
            f"Expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}."
        )
    values = _unit_range(array)
    if values.ndim == 2:
        return values, None
    channels = values.shape[2]
    if channels == 2:
        return values[..., 0], values[..., 1]
    gray = values[..., :3] @ LUMA
    # Contiguous: every later step on a strided alpha view ran about 3 times slower.
    return gray, (np.ascontiguousarray(values[..., 3]) if channels == 4 else None)


def _unit_range(array: np.ndarray) -> np.ndarray:
    """Pixel values as float32 in [0, 1], from bool, uint8, uint16, other ints or floats."""
    if array.dtype == np.uint8:  # canvases and most files: always finite and in range
        values = array.astype(np.float32)
        values /= 255.0
        return values
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    values = array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.integer) and not np.isfinite(values).all():
        raise InputError("The image array contains NaN or infinite values.")
    low, high = float(values.min()), float(values.max())
    if np.issubdtype(array.dtype, np.integer) or high > 1.001:
        if low < 0 or high > 255:
            raise InputError(f"Image values must lie in 0..1 or 0..255, got {low:g}..{high:g}.")
        return values / 255.0
    if low < -0.001:
        raise InputError(f"Image values must lie in 0..1 or 0..255, got {low:g}..{high:g}.")
    return np.clip(values, 0.0, 1.0)


def _composite(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Flatten transparency onto black or white, whichever keeps the ink visible.

    The opaque pixels (alpha > 0.5) tell what is drawn. All of one tone (white strokes from
    a canvas, black strokes on a transparent sheet): they are the ink, so the background
    becomes the other tone. Both tones (a sheet of paper with writing, on transparency):
    the majority tone is that sheet's background, and it is extended to the transparent part.
    """
    if alpha is None:
        return gray.astype(np.float32, copy=False)
    opaque = alpha > 0.5
    count = np.count_nonzero(opaque)
    light = np.count_nonzero(opaque & (gray >= 0.5)) / count if count else 1.0
    if min(light, 1.0 - light) >= 0.05:
        background = 1.0 if light >= 0.5 else 0.0
    else:
        background = 0.0 if light >= 0.5 else 1.0
    out = (gray * alpha).astype(np.float32, copy=False)
    if background:  # gray * alpha + (1 - alpha), in place
        out += 1.0
        out -= alpha
    return out
