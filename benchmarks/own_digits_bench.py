"""Fine-tuning on your own digits: does it teach the model your style without costing MNIST?

    .venv/bin/python benchmarks/own_digits_bench.py                    # settings: validation only
    .venv/bin/python benchmarks/own_digits_bench.py --report --save    # + held-out, results/own_digits.json

The shipped model (models/default) is fine-tuned, as the app's "Fine-tune" button does
(`fine_tune.FineTuneConfig` then `training.train_run`, in a copy of the models folder), on
50 drawings in one distinct style (`own_digit_style`, seed 1: thick and strongly slanted, 5 of
each digit). Accuracy before and after is measured on 50 more drawings of the same style
(seed 2, "validation": settings are chosen on it), with `--report` on 50 held-out
drawings (seed 3, measured once with the chosen settings), on the shipped model's 3,000 MNIST
validation images (settings are chosen on these too) and, with `--report`, on the 10,000 MNIST
test images.
Every score is `evaluation.score` with the run's model.tflite (LiteRT), as the app scores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.own_digit_style import drawn_set  # noqa: E402
from mnist_core import fine_tune  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "own_digits.json"
SETS = {"train": 1, "validation": 2, "held_out": 3}  # seeds of own_digit_style.drawn_set


def scores(model_path: Path, sets: dict, mnist, report: bool) -> dict[str, float]:
    """Accuracy on each set of drawings, on the MNIST validation images the shipped model
    held back (3,000, the split of its run.json: settings are chosen on these, never on the
    test images) and, with `report`, on the MNIST test set."""
    from mnist_core.data import split_train_val
    from mnist_core.evaluation import score
    from mnist_core.inference import Predictor

    predictor = Predictor.from_path(model_path)
    out = {name: score(predictor, x, y).accuracy for name, (x, y) in sets.items()}
    *_, x_val, y_val = split_train_val(mnist.x_train, mnist.y_train, 0.05, 42)
    out["mnist_validation"] = score(predictor, x_val, y_val).accuracy
    if report:
        out["mnist_test"] = score(predictor, mnist.x_test, mnist.y_test).accuracy
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--report", action="store_true", help="also score the held-out set")
    parser.add_argument("--save", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--epochs", type=int, default=fine_tune.EPOCHS)
    parser.add_argument("--learning-rate", type=float, default=fine_tune.LEARNING_RATE)
    parser.add_argument("--mnist-images", type=int, default=fine_tune.MNIST_IMAGES)
    parser.add_argument("--own-share", type=float, default=fine_tune.OWN_SHARE)
    parser.add_argument("--optimizer", default=fine_tune.OPTIMIZER)
    args = parser.parse_args()

    from mnist_core import runs
    from mnist_core.data import load_mnist
    from mnist_core.training import environment, train_run

    mnist = load_mnist()
    load_before = os.getloadavg()[0]
    wanted = ["train", "validation"] + (["held_out"] if args.report else [])
    sets = {name: drawn_set(SETS[name]) for name in wanted}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp)
        shutil.copytree(ROOT / "models" / "default", models / "default")
        before = scores(models / "default" / "model.keras", sets, mnist, args.report)
        config = fine_tune.FineTuneConfig(
            "default",
            *sets["train"],
            epochs=args.epochs,
            optimizer=args.optimizer,
            learning_rate=args.learning_rate,
            mnist_images=args.mnist_images,
            own_share=args.own_share,
        )
        run = config.prepare(models)
        start = time.monotonic()
        train_run(run.path, data=mnist)
        wall = time.monotonic() - start
        run = runs.read_run(run.path)
        after = scores(run.model_path, sets, mnist, args.report)
    env = environment()
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{env['cpu_count']}-core {env['processor']}",
        "settings": {
            **{
                k: getattr(config, k)
                for k in ("epochs", "optimizer", "learning_rate", "mnist_images", "own_share")
            },
        },
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1 min
        "train_seconds": run.meta.train_seconds,
        "wall_seconds": round(wall, 1),
        "before": before,
        "after": after,
    }
    print(json.dumps(result, indent=1))
    if args.save:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
