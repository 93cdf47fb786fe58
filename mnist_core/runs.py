"""The run directory: one training run = one folder `models/<run-id>/`.

    run.json      what was trained, how, by what, when, and how it ended (see `new_run_meta`)
    history.csv   one row per finished epoch (columns in `HISTORY_COLUMNS`)
    progress.json the latest batch-level progress, rewritten while training runs
    model.keras   the best weights so far; written only when complete (atomic rename)
    STOP          present when someone asked the run to stop after the current batch

All writes go through `atomic`, so a killed process leaves either the previous complete
file or the new one. A run whose run.json says "running" but whose process is gone is
reported as "interrupted" by `read_run` (derived on read; nothing is rewritten).
"""

from __future__ import annotations

import csv
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
from typing import Any

from . import atomic, paths
from .errors import InputError, ModelError

DEFAULT_RUN_ID = "default"  # the shipped model: models/default/
STATUSES = ("running", "completed", "stopped", "failed", "interrupted")
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
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def validate_run_id(run_id: str) -> str:
    """Return `run_id` if it is a plain folder name (no path separators, no "..")."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise InputError(f"Invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' only")
    return run_id


def new_run_id(preset: str) -> str:
    """A sortable, unique id such as `20261121-103000-fast-cnn-3f2a`."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{preset}-{secrets.token_hex(2)}"


@dataclass
class Run:
    """A run directory and its parsed run.json (`meta`)."""

    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # set when run.json is missing or invalid

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def has_model(self) -> bool:
        return self.model_path.is_file()

    @property
    def status(self) -> str:
        if self.error:
            return "invalid"
        status = self.meta.get("status", "invalid")
        if status == "running" and not process_alive(self.meta.get("pid"), self.meta.get("host")):
            return "interrupted"
        return status

    @property
    def preset(self) -> str:
        return self.meta.get("preset", "?")

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.get("test_accuracy")

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_RUN_ID

    def label(self) -> str:
        """A one-line description for menus: id, preset, accuracy."""
        acc = self.test_accuracy
        acc_text = f"{acc:.2%}" if isinstance(acc, (int, float)) else self.status
        name = "default (shipped)" if self.is_default else self.id
        return f"{name} · {self.preset} · {acc_text}"


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
    """Parse `path/run.json`; a missing or invalid file gives a Run with `error` set."""
    path = Path(path)
    try:
        meta = json.loads((path / "run.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("run.json does not hold an object")
    except FileNotFoundError:
        return Run(path, {}, error="run.json is missing")
    except (OSError, ValueError) as exc:
        return Run(path, {}, error=f"run.json is invalid ({exc})")
    return Run(path, meta)


def list_runs(models_dir: Path | None = None) -> list[Run]:
    """Every run directory under `models_dir`: the shipped default first, then newest first."""
    root = Path(models_dir or paths.models_dir())
    if not root.is_dir():
        return []
    runs = [
        read_run(p)
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and _RUN_ID.match(p.name)
    ]
    runs.sort(key=lambda r: (r.meta.get("started_at", ""), r.id), reverse=True)
    return [r for r in runs if r.is_default] + [r for r in runs if not r.is_default]


def get_run(run_id: str, models_dir: Path | None = None) -> Run:
    """The run called `run_id` (validated: no path traversal); ModelError when absent."""
    validate_run_id(run_id)
    path = Path(models_dir or paths.models_dir()) / run_id
    if not path.is_dir():
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
    if not run.has_model:
        raise ModelError(f"Run {run.id!r} has no model.keras (status: {run.status})")
    return run.model_path


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv as a list of rows (floats; NaN for empty cells); [] when absent."""
    try:
        text = (Path(path) / "history.csv").read_text(encoding="utf-8")
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
        if "epoch" in parsed and not math.isnan(parsed["epoch"]):
            parsed["epoch"] = int(parsed["epoch"])
        rows.append(parsed)
    return rows


def read_progress(path: Path) -> dict[str, Any]:
    """The latest progress.json of a run ({} when absent or being replaced)."""
    try:
        return json.loads((Path(path) / "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- writing


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    atomic.write_json(Path(path) / "run.json", meta)


def update_meta(run: Run, **changes: Any) -> None:
    run.meta.update(changes)
    write_meta(run.path, run.meta)


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                for k, v in row.items()
            }
        )
    atomic.write_text(Path(path) / "history.csv", buffer.getvalue())


def write_progress(path: Path, progress: dict[str, Any]) -> None:
    atomic.write_json(Path(path) / "progress.json", progress)


def create_run(
    preset: str, meta: dict[str, Any], models_dir: Path | None = None, run_id: str | None = None
) -> Run:
    """Make a new run directory with its first run.json (status "running")."""
    root = Path(models_dir or paths.models_dir())
    run_id = validate_run_id(run_id or new_run_id(preset))
    path = root / run_id
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise InputError(f"A run called {run_id!r} already exists") from None
    except OSError as exc:
        raise ModelError(f"Cannot create the run directory {path}: {exc.strerror or exc}") from None
    run = Run(
        path,
        {
            "run_id": run_id,
            "preset": preset,
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": now_iso(),
            **meta,
        },
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
    if run.status == "running":
        raise InputError(f"Run {run_id!r} is still training: stop it first")
    shutil.rmtree(run.path)


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
        if not run_dir.is_dir() or not _RUN_ID.match(run_dir.name):
            continue
        for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob(".*.tmp.keras")]:
            try:
                if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:  # gone already, or not ours to delete: leave it
                pass
    return removed
