"""Fine-tune a run on MNIST plus your own digits, as a new run through the usual queue.

    queue.submit(FineTuneConfig(base="default", images=x, labels=y))

`FineTuneConfig.prepare` creates a normal run folder (status "queued") holding the base's
spec with these settings, a copy of your digits (`own_digits.npz`, so the worker and anyone
later can see what it learned from) and `fine_tuned` in run.json: the run it started from
and how many of your digits. The worker then runs `training.train_run` as for any run; it
asks this module for the two things that differ: the starting weights (`start_model`: the
base's model.keras, loaded in safe mode) and the training images (`training_set`).

Why the weighting: fifty drawings among 54,000 MNIST images would be one image in a
thousand. Here each epoch takes `mnist_images` MNIST training images (a seeded sample, so
the model keeps what it knew) and repeats your digits until they make `own_share` of the
epoch; augmentation is always on, so each repeat is a new random shift, turn and zoom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic, runs
from .config import BOUNDS, spec_of
from .errors import InputError

DIGITS_FILE = "own_digits.npz"  # in the fine-tuned run's folder
MIN_DIGITS = 10  # fewer teach nothing worth a training
# Defaults chosen on validation sets only (benchmarks/own_digits_bench.py: 50 drawings of the
# style and the shipped model's 3,000 MNIST validation images; README, "Your own digits"),
# never on the held-out drawings or the MNIST test set reported. Plain SGD with momentum at
# 1e-3 kept MNIST validation accuracy within one image; Adam (3e-5 to 3e-4) and SGD at 3e-3
# or more taught the style a little faster but cost 0.17 to 0.37 points of it.
EPOCHS = 3
OPTIMIZER = "sgd-momentum"
LEARNING_RATE = 1e-3
MNIST_IMAGES = 12000  # MNIST training images per epoch
OWN_SHARE = 0.1  # share of each epoch's images that are your digits (repeated)


@dataclass
class FineTuneConfig:
    """A fine-tuning request: `base` (a run id) on `images` uint8 (N, 28, 28) with `labels`
    (N,) 0..9, your digits."""

    base: str
    images: np.ndarray
    labels: np.ndarray
    epochs: int = EPOCHS
    optimizer: str = OPTIMIZER
    learning_rate: float = LEARNING_RATE
    mnist_images: int = MNIST_IMAGES
    own_share: float = OWN_SHARE
    seed: int = 42
    test_limit: int | None = None  # score on only the first N test images (tests)

    def prepare(self, models_dir: Path | None = None) -> runs.Run:
        """Check the request and create its run folder; InputError before anything is written."""
        base = runs.get_run(self.base, models_dir)
        runs.model_file(base)  # ModelError when it has no usable model
        if base.status in runs.ACTIVE:
            raise InputError(f"Run {base.id!r} is still training: fine-tune it once it is done")
        images = np.asarray(self.images, np.uint8).reshape(-1, 28, 28)
        labels = np.asarray(self.labels).astype(np.uint8).reshape(-1)
        if len(images) != len(labels) or len(labels) < MIN_DIGITS:
            raise InputError(
                f"Fine-tuning needs at least {MIN_DIGITS} of your digits, got {len(labels)}"
            )
        if not 0 < self.own_share < 1 or not 100 <= self.mnist_images <= 60000:
            raise InputError("own_share must be between 0 and 1, mnist_images 100 to 60000")
        val_fraction = base.meta.params.val_fraction if base.meta.params else 0.05
        spec = spec_of(base.meta).replace(
            augment=True,
            optimizer=self.optimizer,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            val_fraction=val_fraction,
        )
        for name in ("epochs", "learning_rate"):
            low, high = BOUNDS[name]
            if not low <= getattr(self, name) <= high:
                raise InputError(f"{name} must be between {low:g} and {high:g}")
        params = runs.RunParams(
            epochs=self.epochs,
            batch_size=spec.batch_size,
            learning_rate=self.learning_rate,
            seed=self.seed,
            val_fraction=val_fraction,
            test_limit=self.test_limit,
        )
        fine_tuned = {
            "from": base.id,
            "digits": len(labels),
            "own_share": self.own_share,
            "mnist_images": self.mnist_images,
        }
        run = runs.create_run(
            base.preset,
            params,
            models_dir=models_dir,
            run_id=runs.new_run_id("tuned"),
            description=f"{base.name} fine-tuned on MNIST plus {len(labels)} of your digits",
            spec=spec.to_dict(),
            fine_tuned=fine_tuned,
        )
        save_digits(run.path, images, labels)
        return run


def save_digits(run_dir: Path, images: np.ndarray, labels: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez_compressed(f, images=images, labels=labels)

    atomic.write_with(Path(run_dir) / DIGITS_FILE, write)


def load_digits(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The digits a fine-tuned run learns from (checked as an imported set is)."""
    from .digit_files import read_file

    path = Path(run_dir) / DIGITS_FILE
    if path.is_symlink():
        raise InputError(f"{DIGITS_FILE} is a link to another file; refused")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{DIGITS_FILE} cannot be read: {exc.strerror or exc}") from None
    return read_file(DIGITS_FILE, data)


def training_set(run: runs.Run, x_train: np.ndarray, y_train: np.ndarray):
    """An epoch's images for a fine-tuned run: `mnist_images` of MNIST's (a seeded sample of
    the run's training split) and your digits repeated to `own_share` of the whole, shuffled
    by the dataset. uint8 (M, 28, 28), labels (M,)."""
    tuned, seed = run.meta.fine_tuned, run.meta.params.seed
    own_x, own_y = load_digits(run.path)
    rng = np.random.default_rng(seed)
    take = rng.permutation(len(x_train))[: min(tuned["mnist_images"], len(x_train))]
    share = tuned["own_share"]
    repeats = max(1, math.ceil(len(take) * share / (1 - share) / len(own_y)))
    x = np.concatenate([x_train[take], np.tile(own_x, (repeats, 1, 1))])
    y = np.concatenate([y_train[take], np.tile(own_y, repeats)]).astype(y_train.dtype)
    return x, y


def start_model(run: runs.Run):
    """The base run's model (its model.keras, safe mode): where fine-tuning starts."""
    from .inference import load_model

    base = runs.get_run(run.meta.fine_tuned["from"], run.path.parent)
    return load_model(runs.model_file(base))
