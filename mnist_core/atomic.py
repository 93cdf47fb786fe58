"""Atomic file writes: write a temporary file beside the target, fsync, then rename.

A rename within one directory is atomic on POSIX, so a reader (or a process restarted
after `kill -9`) sees either the old complete file or the new complete file, never half
of one. Temporary files start with "." and end in ".tmp", so nothing mistakes them for
the real thing, and they are removed when the write fails.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def _temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
    return Path(tmp)


def write_with(path: Path, writer: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Call `writer(temporary_path)`, then move the result onto `path` atomically.

    `suffix` lets writers that insist on an extension (Keras wants ".keras") have it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path, suffix)
    try:
        writer(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def save_model(model: Any, path: Path) -> None:
    """Save a Keras model to `path` (a `.keras` file) atomically."""
    write_with(path, lambda tmp: model.save(tmp), suffix=".tmp.keras")
