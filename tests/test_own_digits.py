"""Your digits: add, list, delete on disk and in a session; the demo writes nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mnist_core import own_digits
from mnist_core.errors import DataError, InputError
from mnist_core.own_digits import FolderStore, MemoryStore, open_store


def digit(value: float = 1.0, seed: int = 0) -> np.ndarray:
    """A float32 (28, 28) model input in [0, 1], different for each seed."""
    image = np.zeros((28, 28), np.float32)
    rng = np.random.default_rng(seed)
    image[4:24, 10 + seed % 5 : 14 + seed % 5] = value
    image[rng.integers(0, 28), rng.integers(0, 28)] = 0.5
    return image


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    return tmp_path / "mine"


@pytest.mark.parametrize("kind", ["folder", "memory"])
def test_add_list_delete(folder, kind):
    store = FolderStore() if kind == "folder" else MemoryStore({})
    assert store.digits() == [] and len(store) == 0
    first = store.add(digit(seed=1), 7, "draw")
    second = store.add(digit(seed=2), 3, "upload")
    listed = store.digits()
    assert [(d.id, d.label, d.source) for d in listed] == [
        (first.id, 7, "draw"),
        (second.id, 3, "upload"),
    ]
    # Kept as MNIST stores digits: uint8, the float pixels times 255, rounded.
    assert listed[0].image.dtype == np.uint8
    np.testing.assert_array_equal(listed[0].image, np.round(digit(seed=1) * 255))
    x, y = store.arrays()
    assert x.shape == (2, 28, 28) and y.tolist() == [7, 3]
    assert store.delete(first.id) is True
    assert store.delete(first.id) is False  # gone already
    assert [d.id for d in store.digits()] == [second.id]
    if kind == "folder":  # and another store on the same folder (another tab) sees it
        assert [d.label for d in FolderStore(folder).digits()] == [3]


def test_the_folder_is_the_env_var_or_hidden_in_the_models_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_OWN_DIGITS_DIR", raising=False)
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "models"))
    store = FolderStore()
    store.add(digit(), 1)
    assert (tmp_path / "models" / ".your-digits" / "digits.npz").is_file()
    from mnist_core.runs import list_runs

    assert list_runs(tmp_path / "models") == []  # never taken for a run


@pytest.mark.parametrize(
    ("image", "label", "words"),
    [
        (np.zeros((28, 27)), 1, "28x28"),
        (np.full((28, 28), 2.0), 1, "from 0 to 1"),
        (np.full((28, 28), np.nan), 1, "from 0 to 1"),
        (np.array(["a"] * 784), 1, "28x28"),
        (digit(), 10, "0 to 9"),
        (digit(), -1, "0 to 9"),
        (digit(), True, "0 to 9"),
        (digit(), "7", "0 to 9"),
    ],
)
def test_bad_digits_are_one_line_and_nothing_is_added(folder, image, label, words):
    store = FolderStore()
    with pytest.raises(InputError, match=words) as caught:
        store.add(image, label)
    assert "\n" not in str(caught.value)
    assert len(store) == 0


def test_inputs_of_other_shapes_and_bytes_are_taken(folder):
    store = MemoryStore({})
    store.add(digit().reshape(28, 28, 1), 1)
    store.add(digit().reshape(784), 2)
    store.add(np.round(digit() * 255).astype(np.uint8), 3)
    images, labels = store.arrays()
    assert labels.tolist() == [1, 2, 3] and (images == images[0]).all()


def test_the_set_has_a_limit(folder, monkeypatch):
    monkeypatch.setattr(own_digits, "MAX_DIGITS", 3)
    store = MemoryStore({})
    store.add_many(np.zeros((3, 28, 28), np.uint8), np.arange(3))
    with pytest.raises(InputError, match="limit of 3"):
        store.add(digit(), 1)
    assert len(store) == 3


def test_demo_mode_keeps_the_set_in_the_session_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    session: dict = {}
    store = open_store(session)
    assert isinstance(store, MemoryStore)
    kept = store.add(digit(), 4, "draw")
    assert [d.id for d in open_store(session).digits()] == [kept.id]  # the same session
    assert open_store({}).digits() == []  # another visitor's session sees nothing
    store.delete(kept.id)
    assert len(store) == 0
    assert list(tmp_path.rglob("*")) == []  # nothing on disk at all
    with pytest.raises(InputError, match="browser session"):  # even when asked directly
        FolderStore().add(digit(), 1)
    assert list(tmp_path.rglob("*")) == []


def test_a_damaged_file_is_one_line(folder):
    folder.mkdir()
    (folder / "digits.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="cannot be read") as caught:
        FolderStore().digits()
    assert "\n" not in str(caught.value)
    np.savez(folder / "digits.npz", ids=np.array(["a"]), labels=np.array([1], np.uint8),
             images=np.zeros((2, 28, 28), np.uint8), sources=np.array(["draw"]),
             added=np.array(["x"]))  # fmt: skip
    with pytest.raises(DataError, match="disagree"):
        FolderStore().digits()


def test_a_failed_write_keeps_the_previous_set_whole(folder, monkeypatch):
    store = FolderStore()
    store.add(digit(), 5)
    before = (folder / "digits.npz").read_bytes()

    def crash(file, **arrays):
        file.write(b"PK half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError):
        store.add(digit(seed=3), 6)
    assert (folder / "digits.npz").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "digits.npz"]  # no temp file
    assert [d.label for d in FolderStore().digits()] == [5]


def test_adds_from_several_threads_are_all_kept(folder):
    store = FolderStore()
    threads = [threading.Thread(target=store.add, args=(digit(seed=i), i % 10)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d.label for d in store.digits()) == list(range(8))
    assert len({d.id for d in store.digits()}) == 8
