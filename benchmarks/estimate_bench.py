"""How close the Train page's seconds-per-epoch estimate comes to real epochs.

For each preset: the estimate (`mnist_core.estimate`, calibrated once at the start) of one
epoch over 9,000 training images with 1,000 held back, against the epoch time a real
training records (history.csv's epoch_s of the second of two epochs, so TensorFlow's
tracing in the first is left out), trained through `training.train` as the app's worker
does. Writes benchmarks/results/estimate.json and prints a table; no assertions.

    .venv/bin/python benchmarks/estimate_bench.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnist_core import estimate, runs, training  # noqa: E402
from mnist_core.data import load_mnist  # noqa: E402
from mnist_core.presets import PRESETS  # noqa: E402

TRAIN_LIMIT, VAL_FRACTION = 10_000, 0.1
RESULTS = Path(__file__).resolve().parent / "results" / "estimate.json"


def main() -> None:
    data = load_mnist()
    calibration = estimate.calibrate()
    rows = []
    with tempfile.TemporaryDirectory() as models:
        for name, preset in PRESETS.items():
            config = training.TrainConfig(
                name, epochs=2, train_limit=TRAIN_LIMIT, val_fraction=VAL_FRACTION, test_limit=100
            )
            run = training.train(config, models_dir=Path(models), data=data)
            measured = runs.read_history(run.path)[-1]["epoch_s"]
            train_images = run.meta.data.train_examples
            guess = estimate.epoch_seconds(
                calibration, preset.spec, train_images, run.meta.data.val_examples
            )
            rows.append(
                {
                    "preset": name,
                    "estimate_s": round(guess, 2),
                    "measured_s": round(measured, 2),
                    "ratio": round(guess / measured, 2),
                }
            )
            print(f"{name:22} estimate {guess:6.2f} s  measured {measured:6.2f} s  "
                  f"ratio {guess / measured:4.2f}", flush=True)  # fmt: skip
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "environment": training.environment(),
                "calibration": calibration.__dict__,
                "train_images": TRAIN_LIMIT,
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
