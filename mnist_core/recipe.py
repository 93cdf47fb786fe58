"""How a network spec learns: its optimizer and learning-rate schedule, its loss, and the
Keras callbacks its training settings ask for (early stopping, reduce on plateau).

Only Keras' own classes, so a saved model loads in safe mode with no custom objects.
"""

from __future__ import annotations

from typing import Any

import keras

from .specs import Spec

ONE_CYCLE_WARMUP = 0.3  # share of the steps spent climbing, as fast.ai's one-cycle policy
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 2  # reduce-on-plateau: halve after 2 flat epochs


def make_optimizer(spec: Spec, learning_rate: float, total_steps: int):
    """The optimizer of `spec` at `learning_rate`, its schedule spanning `total_steps`."""
    lr = schedule(spec, learning_rate, total_steps)
    if spec.optimizer == "adam-fast":  # quicker to react: shorter moment memories
        return keras.optimizers.Adam(lr, beta_1=0.7, beta_2=0.9)
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(lr)
    if spec.optimizer == "sgd-momentum":
        return keras.optimizers.SGD(lr, momentum=0.9)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.Adam(lr)


def schedule(spec: Spec, learning_rate: float, total_steps: int) -> Any:
    """The learning rate: a float (constant, or reduced on plateau by a callback), or a Keras
    schedule over `total_steps` steps (step -> rate)."""
    lr: Any = learning_rate
    warmup = {"warmup-cosine": spec.warmup_fraction, "one-cycle": ONE_CYCLE_WARMUP}
    if spec.schedule in warmup:
        start = learning_rate / (25 if spec.schedule == "one-cycle" else 20)
        steps = max(1, int(total_steps * warmup[spec.schedule]))
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=start,
            decay_steps=max(1, total_steps - steps),
            alpha=0.0,
            warmup_target=learning_rate,
            warmup_steps=steps,
        )
    return lr


def one_hot_labels(spec: Spec) -> bool:
    """Label smoothing needs one-hot labels: Keras' sparse cross-entropy has no smoothing."""
    return spec.label_smoothing > 0


def loss(spec: Spec):
    if one_hot_labels(spec):
        return keras.losses.CategoricalCrossentropy(label_smoothing=spec.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def callbacks(spec: Spec, validation: bool) -> list[keras.callbacks.Callback]:
    """Early stopping and reduce on plateau when the spec asks; they watch the validation loss,
    or the training loss when no images are held back."""
    monitor = "val_loss" if validation else "loss"
    out: list[keras.callbacks.Callback] = []
    if spec.schedule == "reduce-on-plateau":
        out.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, min_lr=1e-6
            )
        )
    if spec.patience is not None:
        out.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=spec.patience))
    return out
