"""Your digits as files: export a set as npz or IDX, read one back.

    to_npz(x, y)       -> bytes: an .npz with "images" uint8 (N, 28, 28) and "labels" uint8 (N,)
    to_idx_zip(x, y)   -> bytes: a .zip of two IDX files, MNIST's own format
                          (your-digits-images-idx3-ubyte, your-digits-labels-idx1-ubyte)
    read_file(name, data) -> (x, y): either of the above back, or a pair of IDX files
                          given with `read_idx_pair`

Images are white ink on black, 0..255, like MNIST's files (an npz may hold floats in [0, 1]
instead). Anything else is one DataError line naming the file and the fault; sizes are
checked before anything is unpacked.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from .data import encode_idx, parse_idx
from .errors import DataError
from .own_digits import MAX_DIGITS

MAX_FILE_BYTES = 8 * 2**20  # MAX_DIGITS digits are 1.6 MB as IDX; anything far bigger is not a set
IMAGES_IDX = "your-digits-images-idx3-ubyte"
LABELS_IDX = "your-digits-labels-idx1-ubyte"


def to_npz(images: np.ndarray, labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, images=np.asarray(images, np.uint8), labels=np.asarray(labels, np.uint8)
    )
    return buffer.getvalue()


def to_idx_zip(images: np.ndarray, labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(IMAGES_IDX, encode_idx(np.asarray(images, np.uint8)))
        archive.writestr(LABELS_IDX, encode_idx(np.asarray(labels, np.uint8)))
    return buffer.getvalue()


def read_file(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A set from an exported file (.npz, or .zip of two IDX files): uint8 images (N, 28, 28)
    and labels (N,) in 0..9. DataError naming `name` for anything else."""
    if len(data) > MAX_FILE_BYTES:
        raise DataError(f"{name}: {len(data) / 2**20:.1f} MB is too big for a set of your digits")
    if not zipfile.is_zipfile(io.BytesIO(data)):  # an npz is a zip too
        raise DataError(f"{name}: not an .npz or a .zip of IDX files")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename: info for info in archive.infolist()}
            if sum(info.file_size for info in members.values()) > 4 * MAX_FILE_BYTES:
                raise DataError(f"{name}: unpacks to more than a set of your digits can hold")
            if {"images.npy", "labels.npy"} <= set(members):
                return _npz(name, data)
            idx = {n: archive.read(n) for n in members if not n.endswith("/")}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{name}: damaged archive ({exc})") from None
    images = [n for n in idx if "idx3" in n]
    labels = [n for n in idx if "idx1" in n]
    if len(images) != 1 or len(labels) != 1:
        raise DataError(
            f"{name}: expected an .npz with 'images' and 'labels', or a .zip holding one "
            "images IDX file (idx3) and one labels IDX file (idx1)"
        )
    return read_idx_pair(idx[images[0]], idx[labels[0]], name)


def read_idx_pair(images: bytes, labels: bytes, name: str = "IDX files") -> tuple:
    """A set from the bytes of an images IDX file and a labels IDX file."""
    return checked(
        name, parse_idx(images, f"{name} (images)"), parse_idx(labels, f"{name} (labels)")
    )


def _npz(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{name}: damaged npz ({' '.join(str(exc).split())})") from None
    if images.dtype.kind == "f":  # floats in [0, 1], as the model takes them
        if not np.isfinite(images).all() or images.min(initial=0) < 0 or images.max(initial=0) > 1:
            raise DataError(f"{name}: float images must hold numbers from 0 to 1")
        images = np.round(images * 255).astype(np.uint8)
    return checked(name, images, labels)


def checked(name: str, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and labels (N,) in 0..9, or DataError saying what is wrong."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{name}: images must be N x 28 x 28, got {'x'.join(map(str, images.shape))}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{name}: {len(images)} images but labels of shape {labels.shape}")
    if images.dtype != np.uint8 and not (images.dtype.kind in "iu" and _within(images, 255)):
        raise DataError(f"{name}: images must be bytes 0..255 (or floats 0..1 in an npz)")
    if labels.dtype.kind not in "iu" or not _within(labels, 9):
        raise DataError(f"{name}: labels must be whole numbers 0..9")
    if len(images) == 0:
        raise DataError(f"{name}: holds no digits")
    if len(images) > MAX_DIGITS:
        raise DataError(f"{name}: {len(images):,} digits; a set holds at most {MAX_DIGITS:,}")
    return images.astype(np.uint8), labels.astype(np.uint8)


def _within(array: np.ndarray, top: int) -> bool:
    return array.size == 0 or (int(array.min()) >= 0 and int(array.max()) <= top)
