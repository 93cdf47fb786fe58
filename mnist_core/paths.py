"""Where the project keeps things. Each location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    """Directory holding one sub-directory per training run (`MNIST_MODELS_DIR`, default `models/`)."""
    return Path(os.environ.get("MNIST_MODELS_DIR", PROJECT_ROOT / "models"))


def cache_dir() -> Path:
    """The project's own MNIST cache (`MNIST_CACHE_DIR`, default `.cache/mnist` in the project)."""
    return Path(os.environ.get("MNIST_CACHE_DIR", PROJECT_ROOT / ".cache" / "mnist"))


def data_dir_override() -> Path | None:
    """A directory of MNIST files to use first (`MNIST_DATA_DIR`), or None."""
    value = os.environ.get("MNIST_DATA_DIR")
    return Path(value) if value else None
