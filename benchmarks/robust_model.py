"""A more robust shipped model: fine-tune it on MNIST plus corrupted training digits, judged
on validation data only.

    .venv/bin/python benchmarks/robust_model.py --models /tmp/robust --epochs 3 --share 0.5

Copies the run `default` (models/default) into `--models`, makes a robust set from MNIST
*training* images of the shipped model's own training split (never its validation images,
never a test image): `--per-family` images for each corruption family of
`mnist_core.corruptions`, drawn with other parameters than the test set's (each image's
parameters are seeded by its index, and these indices start at 1,000,000), half of them
given as the app gives a picture to the model (`preprocess.to_mnist`) and half as they are.
It fine-tunes `default` on MNIST plus that set through the project's own fine-tuning path
(`fine_tune.FineTuneConfig`, the training worker `python -m mnist_core train --run-dir`),
then prints the new run's figures on the shipped model's 3,000 validation images: clean,
and every corruption both ways (`robustness.measure`). The settings are chosen on these
figures; the test set is measured once, for the chosen run, with `mnist-studio evaluate`
and `mnist-studio robustness`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnist_core import runs  # noqa: E402
from mnist_core.corruptions import CORRUPTIONS, corrupt  # noqa: E402
from mnist_core.data import load_mnist, split_train_val  # noqa: E402
from mnist_core.fine_tune import FineTuneConfig  # noqa: E402
from mnist_core.inference import Predictor  # noqa: E402
from mnist_core.robustness import app_inputs, measure  # noqa: E402

FIRST = 1_000_000  # corruption indices of the robust set: draws the test set never gets


def robust_set(x: np.ndarray, y: np.ndarray, per_family: int, seed: int):
    """`per_family` training images per corruption, half as the app feeds them to the model."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k, name in enumerate(CORRUPTIONS):
        take = rng.choice(len(x), per_family, replace=False)
        pictures = corrupt(name, x[take], first=FIRST + k * per_family)
        half = per_family // 2
        seen = np.round(app_inputs(pictures[:half]) * 255).astype(np.uint8)
        images += [seen, pictures[half:]]
        labels.append(y[take])
    return np.concatenate(images), np.concatenate(labels)


def _train_with_frozen_batch_norm(run_dir: Path) -> None:
    """The run trained here, its base's batch normalisation frozen: its statistics stay
    those of MNIST, which the corrupted images would otherwise shift."""
    import keras

    from mnist_core import fine_tune, training

    start_model = fine_tune.start_model

    def frozen(run):
        model = start_model(run)
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        return model

    fine_tune.start_model = frozen
    training.train_run(run_dir, log=print)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True, help="a scratch models folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.5, help="robust images' share of an epoch")
    parser.add_argument("--mnist-images", type=int, default=20000)
    parser.add_argument("--per-family", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--freeze-bn",
        action="store_true",
        help="keep batch normalisation as the base learned it (trained in this process)",
    )
    args = parser.parse_args(argv)

    base = runs.read_run(ROOT / "models" / "default")
    params = base.meta.params
    if not (args.models / "default").is_dir():
        args.models.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / "models" / "default", args.models / "default")
    data = load_mnist()
    x_train, y_train, x_val, y_val = split_train_val(
        data.x_train, data.y_train, params.val_fraction, params.seed
    )
    images, labels = robust_set(x_train, y_train, args.per_family, args.seed)
    run = FineTuneConfig(
        base="default",
        images=images,
        labels=labels,
        epochs=args.epochs,
        learning_rate=args.lr,
        mnist_images=args.mnist_images,
        own_share=args.share,
    ).prepare(args.models)
    start = time.perf_counter()
    if args.freeze_bn:
        _train_with_frozen_batch_norm(run.path)
    else:
        subprocess.run(
            [sys.executable, "-m", "mnist_core", "train", "--run-dir", str(run.path), "--quiet"],
            cwd=ROOT,
            check=True,
        )
    seconds = time.perf_counter() - start
    predictor = Predictor.from_path(runs.model_file(runs.read_run(run.path)))
    result = measure(predictor, x_val, y_val)
    shipped = measure(
        Predictor.from_path(ROOT / "models" / "default" / "model.keras"), x_val, y_val
    )
    figures = {
        "run": str(run.path),
        "settings": vars(args) | {"models": str(args.models)},
        "robust_images": len(labels),
        "training_seconds": round(seconds, 1),
        "validation_images": len(y_val),
    }
    for name, r in (("shipped", shipped), ("tuned", result)):
        figures[name] = {
            "clean": {p: round(s.accuracy, 5) for p, s in r.clean.items()},
            "mean": {p: round(r.mean(p), 5) for p in ("app", "model")},
            "worst_app": r.worst("app"),
            "corrupted_app": {n: round(s["app"].accuracy, 4) for n, s in r.corrupted.items()},
        }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
