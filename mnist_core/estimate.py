"""How long an epoch of a network spec will take on this machine, before training it.

A calibration, measured once (`calibrate`: a few training steps of two reference networks at
three batch sizes, about two seconds), fits the time of one training step as

    step seconds = per_step + batch_size * (per_image + per_madd * multiply-adds per image)

and `epoch_seconds` applies it to any spec at once, so the Train page can show an estimate
on every edit. An epoch is one network's: an ensemble (`Spec.members` > 1) trains its
networks one after another, members x epochs epochs in all (`training_seconds`, the whole
training). It is an estimate: it counts only Dense and Conv2D multiply-adds, and the
machine's load when it was measured shapes it.

The measured step is Keras' own (`train_on_batch` with Adam and cross-entropy), on random
images in memory: nothing is written anywhere (the hosted demo writes nothing).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .specs import LIMITS, Spec, check

# The references: a linear classifier (almost no arithmetic: the fixed costs) and a small
# two-conv network of 7.5M multiply-adds per image (the cost of arithmetic).
LINEAR = {"layers": []}
CONVS = {
    "layers": [
        {
            "type": "Conv2D",
            "filters": 32,
            "kernel_size": 3,
            "padding": "same",
            "activation": "relu",
        },
        {
            "type": "Conv2D",
            "filters": 32,
            "kernel_size": 3,
            "padding": "same",
            "activation": "relu",
        },
        {"type": "MaxPooling2D", "pool_size": 2},
    ]
}
TIMED_STEPS = 5  # after one untimed step that traces the function; the median counts
VALIDATION_SHARE = 1 / 3  # a validation image costs about a third of a training image


@dataclass(frozen=True)
class Calibration:
    per_step: float  # seconds of fixed cost per training step
    per_image: float  # seconds per image, besides its arithmetic
    per_madd: float  # seconds per multiply-add of one image's forward pass, trained
    measured_s: float  # how long measuring took


def madds_of(spec: Spec) -> int:
    return sum(cost.madds for cost in spec.costs())


def step_seconds(spec: Spec, batch_size: int, steps: int = TIMED_STEPS) -> float:
    """The median wall-clock seconds of one Keras training step of `spec` (its optimizer and
    loss) on a batch of random images."""
    import numpy as np

    from . import recipe
    from .specs import build_model

    model = build_model(spec)
    model.compile(
        optimizer=recipe.make_optimizer(spec, spec.learning_rate, 100),
        loss=recipe.loss(spec),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 28, 28, 1), np.float32)
    y = rng.integers(0, 10, batch_size)
    if recipe.one_hot_labels(spec):
        y = np.eye(10, dtype=np.float32)[y]
    model.train_on_batch(x, y)  # traced here, not timed
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def calibrate(steps: int = TIMED_STEPS) -> Calibration:
    """Measure this machine (see the module docstring)."""
    start = time.perf_counter()
    linear, convs = check(LINEAR, LIMITS), check(CONVS, LIMITS)
    small, large = step_seconds(linear, 32, steps), step_seconds(linear, 256, steps)
    conv = step_seconds(convs, 64, steps)
    m0, m1 = madds_of(linear), madds_of(convs)
    image0 = max(0.0, (large - small) / (256 - 32))  # per image of the linear network
    per_step = max(0.0, small - 32 * image0)
    image1 = max(image0, (conv - per_step) / 64)
    per_madd = (image1 - image0) / (m1 - m0)
    per_image = max(0.0, image0 - per_madd * m0)
    return Calibration(per_step, per_image, per_madd, time.perf_counter() - start)


def epoch_seconds(calibration: Calibration, spec: Spec, train_images: int, val_images: int = 0):
    """Estimated seconds of one epoch of one network of `spec` over `train_images` in batches
    of the spec's size, then scoring `val_images` held-back images. An ensemble's networks
    each train their own epochs (see `training_seconds`)."""
    per_image = calibration.per_image + calibration.per_madd * madds_of(spec)
    steps = math.ceil(train_images / spec.batch_size)
    return (
        steps * calibration.per_step
        + train_images * per_image
        + val_images * per_image * VALIDATION_SHARE
    )


def training_seconds(
    calibration: Calibration, spec: Spec, train_images: int, val_images: int = 0
) -> float:
    """Estimated seconds of the whole training: the spec's epochs for each of its `members`
    networks, trained one after another (early stopping may end it sooner)."""
    epochs = spec.epochs * spec.members
    return epochs * epoch_seconds(calibration, spec, train_images, val_images)
