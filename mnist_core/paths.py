"""Where the project keeps things (each location can be moved with an environment variable),
and whether visitors may write there at all (the hosted-demo switch)."""

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


def demo_mode() -> bool:
    """Hosted-demo mode (`MNIST_STUDIO_DEMO=1`): no training, no deleting, nothing kept on disk.

    The pages hide what would write, and the training queue and `runs.delete_run` refuse
    as well, so a forged request cannot get past a disabled button.
    """
    return os.environ.get("MNIST_STUDIO_DEMO", "").strip().lower() in ("1", "true", "yes", "on")


def own_digits_dir() -> Path:
    """Where your own digits are kept (`MNIST_OWN_DIGITS_DIR`, default `.your-digits` in the
    models folder: hidden, so it is never taken for a run). Unused in demo mode."""
    value = os.environ.get("MNIST_OWN_DIGITS_DIR")
    return Path(value) if value else models_dir() / ".your-digits"
