"""The run directory: one training run = one folder `models/<run-id>/`.

    run.json      what was trained, how, by what, when, and how it ended (`RunMeta`)
    history.csv   one row per finished epoch (columns in `HISTORY_COLUMNS`)
    steps.csv     training loss, accuracy and learning rate every few steps (`STEP_COLUMNS`)
    progress.json the latest batch-level progress, rewritten while training runs
    model.keras   the best weights so far; written only when complete (atomic rename)
    model.tflite  model.keras for LiteRT, written after it when training ends (`keras_model.
                  save_tflite`), or made once by the first prediction where it is missing or
                  older than model.keras (`inference.Predictor.from_path`)
    weights.npz   the first layer's weights as pictures, before training and after each epoch
                  (`WeightSnapshots`; written by callbacks/weight_snapshots.py)
    STOP          present when someone asked the run to stop after the current batch

The server creates the folder when a training is requested (status "queued", the resolved
parameters in run.json); the worker process trains into it. All writes go through `atomic`,
so a killed process leaves either the previous complete file or the new one.

Statuses (the keys of `STATUS_WORDS`, with the words pages show): a run.json says queued,
starting, running, completed, stopped, failed or cancelled. Two more are derived on read,
nothing rewritten: a run that says queued, starting or running whose process (`pid`) is
gone reads "interrupted" (or "cancelled" while nothing had started training), and a folder
whose run.json is missing or malformed reads "invalid".
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import atomic, paths
from .errors import InputError, ModelError

if TYPE_CHECKING:  # numpy is imported where weights.npz is read or written, not with runs
    import numpy as np

DEFAULT_RUN_ID = "default"  # the shipped model: models/default/
HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "elapsed_s",
    "epoch_s",
)
STEP_COLUMNS = ("step", "epoch", "loss", "accuracy", "learning_rate")  # steps.csv
STATUS_WORDS = {
    "queued": "Waiting in the queue",
    "starting": "Starting",
    "running": "Training",
    "completed": "Completed",
    "stopped": "Stopped early",
    "failed": "Failed",
    "interrupted": "Interrupted",
    "cancelled": "Cancelled",
    "invalid": "Unreadable",
    "unknown": "Not found",
}
FULL_TRAIN_IMAGES = 60_000  # MNIST's training set, validation included
FULL_TEST_IMAGES = 10_000  # MNIST's test set: every accuracy the app shows is on all of it
ACTIVE = ("queued", "starting", "running")  # a process will still change the run
_WRITTEN = ("queued", "starting", "running", "completed", "stopped", "failed", "cancelled")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


TITLE_CHARS = 80  # a run's name: one line
NOTE_CHARS = 1000  # a run's note: a few lines


def clean_text(text: Any, limit: int, lines: bool = False) -> str:
    """A name or note as kept in run.json: control characters dropped, spaces collapsed
    (line breaks kept in a note, `lines`), trimmed; InputError when longer than `limit`.
    Anything else (unicode, quotes, "<b>") is kept as typed: pages show it as text."""
    if not isinstance(text, str):
        raise InputError(f"A run's name and note must be text, got {type(text).__name__}")
    kept = "".join(c if c.isprintable() or (lines and c == "\n") else " " for c in text)
    if lines:
        kept = "\n".join(" ".join(line.split()) for line in kept.strip().splitlines())
    else:
        kept = " ".join(kept.split())
    if len(kept) > limit:
        raise InputError(f"Too long: at most {limit} characters, got {len(kept)}")
    return kept


def rename_run(run: Run, title: str, note: str | None = None) -> Run:
    """Give a finished run a name (and a note: None keeps the old one). Not while a process
    still writes its run.json (it would write over the change): InputError then."""
    if run.error:
        raise InputError(f"The run {run.id} cannot be read: {run.error}")
    if run.status in ACTIVE:
        raise InputError(f"The run {run.id} is still {run.status}: rename it when it has ended")
    changes = {"title": clean_text(title, TITLE_CHARS)}
    if note is not None:
        changes["note"] = clean_text(note, NOTE_CHARS, lines=True)
    return update_meta(run, **changes)


def validate_run_id(run_id: str) -> str:
    """Return `run_id` if it is a plain folder name (no path separators, no "..")."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise InputError(f"Invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' only")
    return run_id


def new_run_id(preset: str) -> str:
    """A sortable, unique id such as `20261121-103000-fast-cnn-3f2a`."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{preset}-{secrets.token_hex(2)}"


# --------------------------------------------------------------------------- typed metadata


@dataclass(frozen=True)
class RunParams:
    """How a run trains: the preset's defaults with the user's changes, resolved and checked."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    val_fraction: float  # share of the training images held back for validation
    train_limit: int | None = None  # learn from only the first N training images
    test_limit: int | None = None  # score on only the first N test images


@dataclass(frozen=True)
class DataInfo:
    """Which MNIST a run learned from: where it came from, its hashes, how it was split."""

    source: str
    sha256: dict[str, str]
    train_examples: int
    val_examples: int
    test_examples: int


@dataclass(frozen=True)
class RunMeta:
    """run.json. Times are ISO 8601 text in UTC; seconds are wall-clock seconds."""

    run_id: str
    preset: str
    status: str  # one of _WRITTEN (see the module docstring)
    params: RunParams | None = None
    description: str = ""
    created_at: str | None = None  # when the training was requested
    started_at: str | None = None  # when the worker began (loading data, building the model)
    ended_at: str | None = None
    pid: int | None = (
        None  # the process that changes the run now (server while queued, then worker)
    )
    host: str | None = None
    data: DataInfo | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # library versions, CPU
    train_seconds: float | None = None  # inside `fit`, tracing included
    test_accuracy: float | None = None
    test_loss: float | None = None
    epochs_completed: int | None = None
    best_epoch: int | None = None  # whose weights model.keras holds
    error: str | None = None  # one line, when the run failed
    # The softmax temperature fitted on the validation images at the end of training
    # (`digit_check.fit_temperature`); None: none fitted (no validation images, an older
    # run), and predictions use 1.0, the model's own probabilities.
    temperature: float | None = None
    # The network and its training settings as trained (`specs.Spec.to_dict`); None in runs
    # made before specs existed, whose preset's spec is the one.
    spec: dict[str, Any] | None = None
    # A run fine-tuned on your own digits (`fine_tune`): {"from": the run it started from,
    # "digits": how many of yours, "own_share", "mnist_images"}; None for any other run.
    fine_tuned: dict[str, Any] | None = None
    # What people call the run (`clean_title`: any letters, spaces, symbols; shown as text,
    # never markup) and a note of theirs; "" for none (the folder id names it then).
    title: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunMeta:
        """Checked field by field; ValueError naming the first bad field. Unknown keys (the
        top-level "seed" of early runs, which params holds too) are ignored."""
        values = {f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw}
        for name in ("run_id", "preset", "status"):
            if name not in values:
                raise ValueError(f"{name} is missing")
        if values["status"] not in _WRITTEN:
            raise ValueError(f"status {values['status']!r} is not one of {', '.join(_WRITTEN)}")
        for name in ("run_id", "preset", "status", "description", "title", "note"):
            _check(name, values.get(name, ""), str)
        for name in ("created_at", "started_at", "ended_at", "host", "error"):
            _check(name, values.get(name), str, optional=True)
        for name in ("pid", "epochs_completed", "best_epoch"):
            _check(name, values.get(name), int, optional=True)
        for name in ("train_seconds", "test_accuracy", "test_loss", "temperature"):
            _check(name, values.get(name), float, optional=True)
        temperature = values.get("temperature")
        if temperature is not None and not 0 < temperature < math.inf:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        _check("environment", values.get("environment", {}), dict)
        _check("spec", values.get("spec"), dict, optional=True)
        _check("fine_tuned", values.get("fine_tuned"), dict, optional=True)
        if values.get("params") is not None:
            values["params"] = _record(RunParams, "params", values["params"])
        if values.get("data") is not None:
            values["data"] = _record(DataInfo, "data", values["data"])
        return cls(**values)


def _check(name: str, value: Any, kind: type, optional: bool = False) -> None:
    """ValueError unless `value` is a `kind` (an int counts as a float; a bool as neither)."""
    if value is None and optional:
        return
    kinds = (int, float) if kind is float else kind
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = {str: "text", int: "a whole number", float: "a number", dict: "an object"}[kind]
        raise ValueError(f"{name} must be {expected}, got {value!r}"[:200])


def _record(cls, name: str, raw: Any):
    """A RunParams or DataInfo from its dict in run.json, every field checked."""
    if not isinstance(raw, dict):
        raise ValueError(f"{name} must be an object, got {raw!r}"[:200])
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"{name}.{f.name} is missing")
            continue
        kind = {"int": int, "float": float, "str": str}.get(str(f.type).split(" ")[0], dict)
        _check(f"{name}.{f.name}", raw[f.name], kind, optional="None" in str(f.type))
        values[f.name] = raw[f.name]
    return cls(**values)


@dataclass
class Run:
    """A run directory and its run.json (`meta`); `error` says why run.json could not be read
    (then `meta` holds only the folder's name and status "invalid" reads from `status`)."""

    path: Path
    meta: RunMeta
    error: str | None = None

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def has_model(self) -> bool:
        return not self.path.is_symlink() and _plain_file(self.model_path)

    @property
    def status(self) -> str:
        if self.error:
            return "invalid"
        status = self.meta.status
        if status in ACTIVE and not process_alive(self.meta.pid, self.meta.host):
            return "cancelled" if status == "queued" else "interrupted"
        return status

    @property
    def preset(self) -> str:
        return self.meta.preset

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.test_accuracy

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_RUN_ID

    @property
    def name(self) -> str:
        """What people call the run: the title they gave it, else its id, or "default
        (shipped)". The folder id stays `id`."""
        if self.meta.title:
            return self.meta.title
        return "default (shipped)" if self.is_default else self.id

    @property
    def train_images(self) -> int | None:
        """How many MNIST training images the run read (validation included): the slice of a
        quick run, else all 60,000; None when run.json says nothing about it."""
        params = self.meta.params
        if params is None:
            return None
        return min(params.train_limit or FULL_TRAIN_IMAGES, FULL_TRAIN_IMAGES)

    @property
    def is_quick(self) -> bool:
        """A quick run: it learned from a slice of the training images, not all of them."""
        images = self.train_images
        return images is not None and images < FULL_TRAIN_IMAGES

    @property
    def test_images(self) -> int | None:
        """How many test images `test_accuracy` was measured on (all 10,000 but in tests)."""
        return self.meta.data.test_examples if self.meta.data else None

    def label(self) -> str:
        """A one-line description for menus: name, preset, accuracy, and for a quick run how
        many images it learned from ("quick: 2,000 images")."""
        acc = self.test_accuracy
        acc_text = f"{acc:.2%}" if acc is not None else STATUS_WORDS[self.status].lower()
        tested = self.test_images
        if acc is not None and tested is not None and tested < FULL_TEST_IMAGES:
            acc_text += f" on {tested:,} test images"
        quick = f" · quick: {self.train_images:,} images" if self.is_quick else ""
        return f"{self.name} · {self.preset} · {acc_text}{quick}"


def process_alive(pid: Any, host: Any) -> bool:
    """Whether the training process recorded in run.json still exists on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if host and host != socket.gethostname():
        return True  # another machine's process: we cannot tell, so trust run.json
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# --------------------------------------------------------------------------- reading


def read_run(path: Path) -> Run:
    """Parse and check `path/run.json`; a missing or invalid file gives a Run with `error` set.
    Links are refused (see `_plain_file`): a run folder or a run.json that is one is invalid."""
    path = Path(path)
    if path.is_symlink():
        return Run(path, _unreadable(path), error=LINKED_FOLDER)
    if (path / "run.json").is_symlink():
        return Run(path, _unreadable(path), error="run.json is a link to another file; refused")
    try:
        raw = json.loads((path / "run.json").read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("it does not hold an object")
        meta = RunMeta.from_dict(raw)
    except FileNotFoundError:
        return Run(path, _unreadable(path), error="run.json is missing")
    except (OSError, ValueError, TypeError) as exc:
        return Run(path, _unreadable(path), error=f"run.json is invalid ({exc})")
    return Run(path, meta)


# Everything in a run folder is a plain file or folder of the project's own making. A link
# could make the app serve, load or delete something outside models/ (a run folder linked
# to another place, a model.keras linked to /etc/passwd): links are refused, not followed.
LINKED_FOLDER = "the run folder is a link to another folder; refused"


def _plain_file(path: Path) -> bool:
    """A regular file that is not a symbolic link."""
    return path.is_file() and not path.is_symlink()


def _unreadable(path: Path) -> RunMeta:
    return RunMeta(run_id=path.name, preset="?", status="failed")


def list_runs(models_dir: Path | None = None) -> list[Run]:
    """Every run directory under `models_dir`: the shipped default first, then newest first."""
    root = Path(models_dir or paths.models_dir())
    if not root.is_dir():
        return []
    runs = [
        read_run(p)
        for p in root.iterdir()
        if (p.is_dir() or p.is_symlink()) and not p.name.startswith(".") and _RUN_ID.match(p.name)
    ]
    runs.sort(key=lambda r: (r.meta.created_at or r.meta.started_at or "", r.id), reverse=True)
    return [r for r in runs if r.is_default] + [r for r in runs if not r.is_default]


def get_run(run_id: str, models_dir: Path | None = None) -> Run:
    """The run called `run_id` (validated: no path traversal); ModelError when absent."""
    validate_run_id(run_id)
    path = Path(models_dir or paths.models_dir()) / run_id
    if not (path.is_dir() or path.is_symlink()):
        raise ModelError(f"No run called {run_id!r} in {path.parent}")
    return read_run(path)


def resolve_model_path(ref: str | None, models_dir: Path | None = None) -> Path:
    """A model file from a run id, a run directory path, a `.keras` file, or None (the default run).

    Only something that looks like a path ("/" in it, or a `.keras` suffix) is read as one;
    anything else must be a valid run id inside `models_dir`.
    """
    ref = DEFAULT_RUN_ID if ref is None else ref
    candidate = Path(ref)
    if candidate.suffix == ".keras":
        if not candidate.is_file():
            raise ModelError(f"{ref}: no such model file")
        return candidate
    if os.sep in ref or "/" in ref:
        if not candidate.is_dir():
            raise ModelError(f"{ref}: no such run directory")
        run = read_run(candidate)
    else:
        run = get_run(ref, models_dir)
    return model_file(run)


def model_file(run: Run) -> Path:
    """The run's model.keras, or ModelError saying why it cannot be used: run.json unreadable,
    the folder or the model file a link (refused, see `_plain_file`), no model yet."""
    if run.error:
        raise ModelError(f"Run {run.id!r} cannot be used: {run.error}")
    if run.model_path.is_symlink():
        raise ModelError(f"Run {run.id!r}: model.keras is a link to another file; refused")
    if not run.has_model:
        raise ModelError(f"Run {run.id!r} has no model.keras (status: {run.status})")
    return run.model_path


TFLITE_FILE = "model.tflite"


def tflite_of(model_path: Path) -> Path | None:
    """Where a model file's LiteRT copy lives: model.tflite beside a run's model.keras; None
    for any other file (a .keras passed by path is converted in memory, nothing written)."""
    model_path = Path(model_path)
    return model_path.with_name(TFLITE_FILE) if model_path.name == "model.keras" else None


def temperature_of(model_path: Path) -> float:
    """The softmax temperature to use with a model file: its run's `temperature` when it is
    a run's model.keras and run.json records one, else 1.0 (the model's own probabilities)."""
    model_path = Path(model_path)
    if model_path.name != "model.keras":
        return 1.0
    run = read_run(model_path.parent)
    return 1.0 if run.error or run.meta.temperature is None else float(run.meta.temperature)


def read_history(path: Path, name: str = "history.csv") -> list[dict[str, float]]:
    """history.csv (or steps.csv) as a list of rows (floats; NaN for empty cells); [] when
    absent."""
    if not _plain_file(Path(path) / name):
        return []
    try:
        text = (Path(path) / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        parsed = {}
        for key, value in row.items():
            try:
                parsed[key] = float(value) if value not in ("", None) else math.nan
            except ValueError:
                parsed[key] = math.nan
        if name == "history.csv" and "epoch" in parsed and not math.isnan(parsed["epoch"]):
            parsed["epoch"] = int(parsed["epoch"])
        rows.append(parsed)
    return rows


def read_progress(path: Path) -> dict[str, Any]:
    """The latest progress.json of a run ({} when absent or being replaced)."""
    if not _plain_file(Path(path) / "progress.json"):
        return {}
    try:
        progress = json.loads((Path(path) / "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return progress if isinstance(progress, dict) else {}


@dataclass(frozen=True)
class Watch:
    """Everything a viewer shows of a run, each file read once: run.json (`run`), the
    latest progress.json (`progress`, {} before the first batch) and history.csv rows."""

    run: Run
    progress: dict[str, Any]
    history: list[dict[str, float]]
    steps: list[dict[str, float]] = field(default_factory=list)  # steps.csv rows

    @property
    def held_back(self) -> bool:
        """Whether the run holds back validation images (so validation figures will come)."""
        params = self.run.meta.params
        return params is not None and params.val_fraction > 0


def watch(path: Path, run: Run | None = None) -> Watch:
    """One read of a run directory for a page that polls it (`run`: its run.json, if read)."""
    return Watch(run or read_run(path), read_progress(path), read_history(path), read_steps(path))


def read_steps(path: Path) -> list[dict[str, float]]:
    """steps.csv as a list of rows (`STEP_COLUMNS`, floats); [] when absent (older runs)."""
    return read_history(path, "steps.csv")


WEIGHTS_FILE = "weights.npz"
MAX_WEIGHTS_BYTES = 64 * 2**20  # unpacked; the callback writes a few MB at most: more is not ours


@dataclass(frozen=True, eq=False)  # == on numpy fields would be ambiguous
class WeightSnapshots:
    """weights.npz: what the first weighted layer had learned before training and after
    epochs, as pictures (`explain.first_layer_images`), for watching a network learn.

    layer: the Keras layer's name; kind: "dense" (each unit's 784 input weights as a 28x28
    template) or "conv" (each filter's kh x kw weights); epochs: int64 (n,), increasing, 0 =
    before training (epochs cut short by a stop request are not there, and long trainings
    keep a thinned-out selection); images: float32 (n, k, h, w), signed, in the layer's own
    units, the first k units or filters (k <= 64), stored as float16.
    """

    layer: str
    kind: str
    epochs: np.ndarray
    images: np.ndarray


def read_weight_snapshots(path: Path) -> WeightSnapshots | None:
    """The weights.npz of the run folder `path`; None when it has none (a model with no
    first Dense or Conv2D layer that sees the picture, a run from before snapshots) or when
    the file is damaged, a link, or not the shape described in `WeightSnapshots`."""
    import zipfile

    import numpy as np

    file = Path(path) / WEIGHTS_FILE
    if not _plain_file(file):
        return None
    try:
        with zipfile.ZipFile(file) as archive:  # sizes checked before anything is unpacked
            if sum(info.file_size for info in archive.infolist()) > MAX_WEIGHTS_BYTES:
                return None
        with np.load(file, allow_pickle=False) as data:
            layer, kind = data["layer"], data["kind"]
            epochs, images = data["epochs"], data["images"]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    if layer.shape != () or layer.dtype.kind != "U" or kind.shape != () or kind.dtype.kind != "U":
        return None
    if str(kind) not in ("dense", "conv") or epochs.ndim != 1 or epochs.dtype.kind not in "iu":
        return None
    if images.ndim != 4 or images.dtype.kind != "f" or images.shape[0] != len(epochs):
        return None
    if len(epochs) == 0 or epochs[0] < 0 or (np.diff(epochs) <= 0).any():
        return None
    if str(kind) == "dense" and images.shape[2:] != (28, 28):
        return None
    return WeightSnapshots(
        str(layer), str(kind), epochs.astype(np.int64), images.astype(np.float32)
    )


# --------------------------------------------------------------------------- writing


def write_meta(path: Path, meta: RunMeta) -> None:
    atomic.write_json(Path(path) / "run.json", meta.to_dict())


def update_meta(run: Run, **changes: Any) -> Run:
    """Change fields of run.json (checked like a read) and write it; returns `run`, updated."""
    meta = RunMeta.from_dict({**run.meta.to_dict(), **changes})
    write_meta(run.path, meta)
    run.meta, run.error = meta, None
    return run


def write_history(
    path: Path, rows: list[dict[str, Any]], name: str = "history.csv", columns=HISTORY_COLUMNS
) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                for k, v in row.items()
            }
        )
    atomic.write_text(Path(path) / name, buffer.getvalue())


def write_steps(path: Path, rows: list[dict[str, Any]]) -> None:
    """steps.csv: `STEP_COLUMNS` rows (written by callbacks/step_history.py)."""
    write_history(path, rows, "steps.csv", STEP_COLUMNS)


def write_progress(path: Path, progress: dict[str, Any]) -> None:
    atomic.write_json(Path(path) / "progress.json", progress)


def write_weight_snapshots(path: Path, snapshots: WeightSnapshots) -> None:
    """Write weights.npz (atomically) in the run folder `path`: images as float16 (values
    beyond its range clipped to it), so a snapshot of 64 dense units is 98 KiB."""
    import numpy as np

    images = np.clip(np.asarray(snapshots.images, np.float32), -65504, 65504)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez(
                f,
                layer=np.asarray(snapshots.layer),
                kind=np.asarray(snapshots.kind),
                epochs=np.asarray(snapshots.epochs, np.int64),
                images=images.astype(np.float16),
            )

    atomic.write_with(Path(path) / WEIGHTS_FILE, write)


def create_run(
    preset: str,
    params: RunParams | None = None,
    models_dir: Path | None = None,
    run_id: str | None = None,
    **meta: Any,
) -> Run:
    """Make a new run directory with its first run.json: status "queued", owned by this
    process (`pid`) until a worker takes it over. `meta` sets further RunMeta fields."""
    root = Path(models_dir or paths.models_dir())
    run_id = validate_run_id(run_id or new_run_id(preset))
    path = root / run_id
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise InputError(f"A run called {run_id!r} already exists") from None
    except OSError as exc:
        raise ModelError(f"Cannot create the run directory {path}: {exc.strerror or exc}") from None
    fields = {"status": "queued", "pid": os.getpid(), "host": socket.gethostname(), **meta}
    run = Run(
        path, RunMeta(run_id=run_id, preset=preset, params=params, created_at=now_iso(), **fields)
    )
    write_meta(path, run.meta)
    return run


def request_stop(path: Path) -> None:
    """Ask the run training in `path` to stop after its current batch."""
    (Path(path) / "STOP").touch()


def stop_requested(path: Path) -> bool:
    return (Path(path) / "STOP").exists()


def delete_run(run_id: str, models_dir: Path | None = None) -> None:
    """Delete a run directory; refuses the shipped default, running runs, and demo mode."""
    if paths.demo_mode():
        raise InputError("Deleting runs is turned off in this demo.")
    run = get_run(run_id, models_dir)
    if run.is_default:
        raise InputError("The shipped default model cannot be deleted")
    if run.status in ACTIVE:
        raise InputError(f"Run {run_id!r} is still training or waiting: stop it first")
    if run.path.is_symlink():  # only the link goes, never what it points at
        run.path.unlink()
        return
    try:
        shutil.rmtree(run.path)
    except OSError as exc:
        raise InputError(f"Run {run_id!r} could not be deleted: {exc.strerror or exc}") from None


# A temporary file of atomic.py untouched this long lost its writer: a live writer is
# writing it (a checkpoint save takes seconds) or has renamed it away.
STALE_TEMP_S = 3600


def remove_stale_temp_files(
    models_dir: Path | None = None, older_than_s: float = STALE_TEMP_S
) -> list[Path]:
    """Delete the hidden temporary files (".NAME.*.tmp", ".NAME.*.tmp.keras"; see atomic.py)
    that a writer killed mid-write (`kill -9`, a power cut) left in run directories, once
    they are `older_than_s` seconds old. Nothing in demo mode. Returns what was removed."""
    if paths.demo_mode():
        return []
    root = Path(models_dir or paths.models_dir())
    cutoff = time.time() - older_than_s
    removed = []
    for run_dir in root.iterdir() if root.is_dir() else []:
        if run_dir.is_symlink() or not run_dir.is_dir() or not _RUN_ID.match(run_dir.name):
            continue  # (never into a linked folder: what it points at is not ours)
        for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob(".*.tmp.keras")]:
            try:
                if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:  # gone already, or not ours to delete: leave it
                pass
    return removed
