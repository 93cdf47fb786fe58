"""Your own digits: drawings and pictures the model misread, each kept with its true label.

    store = open_store(session)               # a folder on disk, or `session` in the demo
    digit = store.add(image, 7, "draw")       # image: the 28x28 model input, float in [0, 1]
    store.digits()                            # oldest first
    x, y = store.arrays()                     # uint8 (N, 28, 28), uint8 (N,): MNIST's form
    store.delete(digit.id)

Locally the set is one file, `digits.npz`, in `paths.own_digits_dir()` (the folder named by
`MNIST_OWN_DIGITS_DIR`, else `.your-digits` in the models folder, hidden from the run list),
rewritten atomically on every change, under a lock so that two tabs adding at once lose
nothing. In the hosted demo (`paths.demo_mode()`) the set lives in the mapping the caller
passes (the page gives its `st.session_state`): nothing is written to disk, and a folder
store refuses to write even when asked to. Files in and out: `digit_files`.
"""

from __future__ import annotations

import fcntl
import secrets
import threading
import zipfile
from collections.abc import MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic, paths
from .errors import DataError, InputError
from .runs import now_iso

STORE_FILE = "digits.npz"
MAX_DIGITS = 2000  # a personal set: drawings one by one (MNIST is 60,000 for comparison)
SESSION_KEY = "own_digits"  # where the demo keeps the set in the session mapping
SOURCES = ("draw", "upload", "import")
_FIELDS = ("ids", "labels", "images", "sources", "added")


@dataclass(frozen=True, eq=False)  # == on numpy fields would be ambiguous
class Digit:
    """One digit of the set. image: uint8 (28, 28), white ink on black like MNIST."""

    id: str  # 8 hex characters, unique in the set
    label: int  # the true digit, 0..9
    image: np.ndarray
    source: str  # one of SOURCES
    added_at: str  # ISO 8601, UTC


def _empty() -> dict[str, np.ndarray]:
    return {
        "ids": np.zeros(0, "U8"),
        "labels": np.zeros(0, np.uint8),
        "images": np.zeros((0, 28, 28), np.uint8),
        "sources": np.zeros(0, "U6"),
        "added": np.zeros(0, "U25"),
    }


def as_model_image(image) -> np.ndarray:
    """uint8 (28, 28) from a model input: float (28, 28), (28, 28, 1) or (784,) in [0, 1],
    or uint8 in 0..255. InputError (one line) for anything else."""
    array = np.asarray(image)
    if array.size != 784 or array.dtype.kind not in "uif":
        raise InputError(f"A digit must be 28x28 numbers, got shape {array.shape}")
    array = array.reshape(28, 28)
    if array.dtype == np.uint8:
        return array.copy()
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise InputError("A digit's pixels must be numbers from 0 to 1")
    return np.round(array * 255).astype(np.uint8)


def check_label(label) -> int:
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise InputError(f"The true digit must be 0 to 9, got {label!r}")
    return int(label)


class Store:
    """The set, kept by a subclass (`_load`, `_save`); every change is one load-change-save
    under `_locked`."""

    def _load(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _save(self, table: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    @contextmanager
    def _locked(self):
        yield

    def digits(self) -> list[Digit]:
        t = self._load()
        return [
            Digit(str(i), int(label), image, str(source), str(added))
            for i, label, image, source, added in zip(*(t[f] for f in _FIELDS))
        ]

    def __len__(self) -> int:
        return len(self._load()["ids"])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 (N, 28, 28) and labels uint8 (N,), oldest first."""
        t = self._load()
        return t["images"].copy(), t["labels"].copy()

    def add(self, image, label, source: str = "draw") -> Digit:
        """Keep `image` (see `as_model_image`) as a `label`; InputError when the set is full."""
        return self.add_many(as_model_image(image)[None], np.array([check_label(label)]), source)[0]

    def add_many(
        self, images: np.ndarray, labels: np.ndarray, source: str = "import"
    ) -> list[Digit]:
        """Keep uint8 images (N, 28, 28) with labels (N,) 0..9, all or none."""
        if source not in SOURCES:
            raise InputError(f"source must be one of {', '.join(SOURCES)}")
        images = np.asarray(images, np.uint8).reshape(-1, 28, 28)
        labels = np.asarray(labels).astype(np.uint8).reshape(-1)
        with self._locked():
            t = self._load()
            if len(t["ids"]) + len(labels) > MAX_DIGITS:
                raise InputError(
                    f"Your set holds {len(t['ids'])} digits; {len(labels)} more would pass "
                    f"the limit of {MAX_DIGITS}. Delete some first."
                )
            taken = set(t["ids"].tolist())
            ids = []
            while len(ids) < len(labels):
                new = secrets.token_hex(4)
                if new not in taken:
                    taken.add(new)
                    ids.append(new)
            added = {
                "ids": np.array(ids, "U8"),
                "labels": labels,
                "images": images,
                "sources": np.full(len(ids), source, "U6"),
                "added": np.full(len(ids), now_iso(), "U25"),
            }
            self._save({f: np.concatenate([t[f], added[f]]) for f in _FIELDS})
        return [d for d in self.digits() if d.id in set(ids)]

    def delete(self, digit_id: str) -> bool:
        """Forget one digit; False when the set holds no digit with that id."""
        with self._locked():
            t = self._load()
            keep = t["ids"] != digit_id
            if keep.all():
                return False
            self._save({f: t[f][keep] for f in _FIELDS})
        return True

    def clear(self) -> None:
        with self._locked():
            self._save(_empty())


class MemoryStore(Store):
    """The set in a mapping (the demo's browser session): nothing on disk."""

    def __init__(self, session: MutableMapping):
        self.session = session

    def _load(self) -> dict[str, np.ndarray]:
        return self.session.get(SESSION_KEY) or _empty()

    def _save(self, table: dict[str, np.ndarray]) -> None:
        self.session[SESSION_KEY] = table


_thread_lock = threading.Lock()  # flock is per open file: threads of one server need their own


class FolderStore(Store):
    """The set in `folder/digits.npz`; DataError (one line) when that file is damaged."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder or paths.own_digits_dir())
        self.file = self.folder / STORE_FILE

    @contextmanager
    def _locked(self):
        if paths.demo_mode():
            raise InputError("This demo keeps your digits in your browser session only.")
        self.folder.mkdir(parents=True, exist_ok=True)
        with _thread_lock, open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _load(self) -> dict[str, np.ndarray]:
        if not self.file.exists():
            return _empty()
        if self.file.is_symlink() or not self.file.is_file():
            raise DataError(f"{self.file} is not a plain file; refused")
        try:
            with np.load(self.file, allow_pickle=False) as data:
                table = {f: data[f] for f in _FIELDS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"Your digits file {self.file} cannot be read ({exc})") from None
        n = len(table["ids"])
        if (
            table["images"].shape != (n, 28, 28)
            or table["images"].dtype != np.uint8
            or any(table[f].shape != (n,) for f in ("labels", "sources", "added"))
        ):
            raise DataError(f"Your digits file {self.file} is damaged (its arrays disagree)")
        if n and int(table["labels"].max()) > 9:
            raise DataError(f"Your digits file {self.file} holds labels outside 0..9")
        return table

    def _save(self, table: dict[str, np.ndarray]) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
                np.savez(f, **table)

        atomic.write_with(self.file, write)


def open_store(session: MutableMapping) -> Store:
    """The visitor's set: in `session` in the hosted demo, else the folder on disk."""
    return MemoryStore(session) if paths.demo_mode() else FolderStore()
