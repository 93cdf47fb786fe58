"""What to train: a training request (`TrainConfig`), checked and resolved against its
preset, and the run directory it becomes (`prepare_run`). No TensorFlow here, so a server
can queue a request, and the command line refuse a bad one, without loading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .errors import InputError
from .presets import get_preset

# Sane bounds for what a user may ask for (the app's sliders use the same numbers).
BOUNDS = {
    "epochs": (1, 200),
    "batch_size": (8, 4096),
    "learning_rate": (1e-5, 1.0),
    "seed": (0, 2**31 - 1),
    "val_fraction": (0.0, 0.5),
    "train_limit": (100, 60000),
    "test_limit": (100, 10000),
}


@dataclass
class TrainConfig:
    """A training request: a preset and what to change. None means "the preset's default"."""

    preset: str
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 42
    val_fraction: float | None = None
    train_limit: int | None = None  # use only the first N training images (quick runs, tests)
    test_limit: int | None = None  # evaluate on only the first N test images

    def resolve(self) -> runs.RunParams:
        """The full parameter set with preset defaults filled in; InputError when out of range."""
        preset = get_preset(self.preset)
        params = {
            "epochs": preset.epochs if self.epochs is None else self.epochs,
            "batch_size": preset.batch_size if self.batch_size is None else self.batch_size,
            "learning_rate": preset.learning_rate
            if self.learning_rate is None
            else self.learning_rate,
            "seed": self.seed,
            "val_fraction": preset.val_fraction if self.val_fraction is None else self.val_fraction,
            "train_limit": self.train_limit,
            "test_limit": self.test_limit,
        }
        for name, value in params.items():
            if value is None:
                continue
            low, high = BOUNDS[name]
            kind = float if name in ("learning_rate", "val_fraction") else int
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not float(value).is_integer())
                or not math.isfinite(value)
            ):
                raise InputError(f"{name} must be a number, got {value!r}")
            if not low <= value <= high:
                raise InputError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
            params[name] = kind(value)
        return runs.RunParams(**params)


def prepare_run(
    config: TrainConfig, models_dir: Path | None = None, run_id: str | None = None
) -> runs.Run:
    """Check `config` and create its run directory (status "queued"); InputError for
    out-of-range parameters or an unknown preset, before anything is written."""
    params = config.resolve()
    preset = get_preset(config.preset)
    return runs.create_run(
        preset.name, params, models_dir=models_dir, run_id=run_id, description=preset.description
    )
