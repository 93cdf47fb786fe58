"""Your digits as files: npz and IDX out and back in; bad files are one line."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from mnist_core import digit_files
from mnist_core.data import encode_idx
from mnist_core.errors import DataError


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 10


def test_npz_round_trip(digits):
    x, y = digits
    back_x, back_y = digit_files.read_file("mine.npz", digit_files.to_npz(x, y))
    np.testing.assert_array_equal(back_x, x)
    np.testing.assert_array_equal(back_y, y)


def test_idx_zip_round_trip_holds_real_idx_files(digits):
    x, y = digits
    data = digit_files.to_idx_zip(x, y)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        images = archive.read(digit_files.IMAGES_IDX)
        labels = archive.read(digit_files.LABELS_IDX)
    # MNIST's own header: magic 0x00000803, then N, 28, 28 as big-endian 32-bit numbers.
    assert images[:16] == bytes.fromhex("00000803") + (12).to_bytes(4, "big") + bytes.fromhex(
        "0000001c0000001c"
    )
    assert labels[:8] == bytes.fromhex("00000801") + (12).to_bytes(4, "big")
    assert labels[8:] == y.tobytes()
    back_x, back_y = digit_files.read_file("mine.zip", data)
    np.testing.assert_array_equal(back_x, x)
    np.testing.assert_array_equal(back_y, y)
    pair_x, pair_y = digit_files.read_idx_pair(images, labels)
    np.testing.assert_array_equal(pair_x, x)
    np.testing.assert_array_equal(pair_y, y)


def test_float_images_in_an_npz_are_read_as_the_model_takes_them():
    buffer = io.BytesIO()
    np.savez(buffer, images=np.full((2, 28, 28), 0.5, np.float32), labels=np.array([1, 2]))
    x, y = digit_files.read_file("floats.npz", buffer.getvalue())
    assert x.dtype == np.uint8 and (x == 128).all() and y.tolist() == [1, 2]


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def idx_zip(**members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GOOD_X, GOOD_Y = np.zeros((2, 28, 28), np.uint8), np.array([1, 2], np.uint8)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not an .npz"),
        (b"hello, this is text", "not an .npz"),
        (b"PK\x03\x04" + b"\x00" * 40, "not an .npz"),
        (npz(x=GOOD_X, y=GOOD_Y), "expected an .npz with 'images' and 'labels'"),
        (npz(images=np.zeros((2, 28, 27), np.uint8), labels=GOOD_Y), "28 x 28"),
        (npz(images=GOOD_X, labels=np.array([1, 2, 3])), "labels of shape"),
        (npz(images=GOOD_X, labels=np.array([1, 10])), "0..9"),
        (npz(images=GOOD_X, labels=np.array([1.5, 2.0])), "0..9"),
        (npz(images=np.full((2, 28, 28), 1.5), labels=GOOD_Y), "from 0 to 1"),
        (npz(images=np.full((2, 28, 28), 300), labels=GOOD_Y), "bytes 0..255"),
        (npz(images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, np.uint8)), "no digits"),
        (npz(images=np.array([object()] * 2), labels=GOOD_Y), "damaged npz"),
        (idx_zip(readme=b"hi"), "one images IDX file"),
        (idx_zip(a_idx3=encode_idx(GOOD_X), b_idx1=encode_idx(GOOD_Y)[:-1]), "truncated"),
        (idx_zip(a_idx3=encode_idx(GOOD_X), b_idx1=b"\x00\x00\x09\x01"), "wrong magic"),
    ],
)
def test_bad_files_are_one_line(data, words):
    with pytest.raises(DataError, match=words) as caught:
        digit_files.read_file("upload.bin", data)
    message = str(caught.value)
    assert message.startswith("upload.bin") and "\n" not in message


def test_too_many_or_too_big_is_refused_before_unpacking(monkeypatch):
    monkeypatch.setattr(digit_files, "MAX_DIGITS", 1)
    with pytest.raises(DataError, match="at most 1"):
        digit_files.read_file("two.npz", digit_files.to_npz(GOOD_X, GOOD_Y))
    monkeypatch.setattr(digit_files, "MAX_FILE_BYTES", 100)
    with pytest.raises(DataError, match="too big"):
        digit_files.read_file("big.npz", b"x" * 101)
    # A zip bomb: a few KB that would unpack to 800 MB.
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images.npy", b"\x00" * 1000)
    monkeypatch.setattr(digit_files, "MAX_FILE_BYTES", 200)
    with pytest.raises(DataError, match="unpacks to more"):
        digit_files.read_file("bomb.npz", bomb.getvalue())
