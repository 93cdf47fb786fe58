"""Named model presets: one small factory each, plus the training defaults that go with it.

Every model takes float32 (N, 28, 28, 1) in [0, 1] (see `data.normalise`) and outputs
ten class probabilities, so evaluation, inference and the app treat all presets alike.
Keras is imported inside the factories: listing presets (the CLI's `--help`, the app's
menus) does not pay for importing TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InputError


@dataclass(frozen=True)
class Preset:
    name: str
    description: str  # one line, shown in the app
    build: Callable[[], Any]  # () -> an uncompiled keras.Model
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "adam"  # "adam" (Keras defaults) or "adam-fast" (β1 0.7, β2 0.9)
    schedule: str = "constant"  # "constant" or "warmup-cosine" (linear warm-up, cosine decay to 0)
    warmup_fraction: float = 0.0  # share of all steps spent warming up (warmup-cosine only)
    augment: bool = False  # random shifts, rotations and zoom on the training images
    val_fraction: float = 0.1  # share of the 60,000 training images held out for validation
    reported_accuracy: float | None = None  # test accuracy the preset's source reported
    source: str = ""  # where the architecture comes from


# --------------------------------------------------------------------------- factories

# Keras' default batch-norm momentum (0.99) needs ~500 steps before the moving statistics
# forget their initial variance of 1, far above the real ~0.005 of the first conv: runs of a
# few hundred steps then score ~10% in inference mode while training at 96% (measured).
# 0.9 (PyTorch's default, there written 0.1) converges within ~50 steps, so quick runs
# from the app give usable models too.
BN_MOMENTUM = 0.9


def _input():
    import keras

    return keras.Input(shape=(28, 28, 1), name="image")


def _mlp(hidden: list[int], output_activation: str = "softmax", dropout: float = 0.0):
    import keras
    from keras import layers

    inputs = _input()
    x = layers.Flatten()(inputs)
    for units in hidden:
        x = layers.Dense(units, activation="relu")(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(10, activation=output_activation)(x)
    return keras.Model(inputs, outputs)


def build_seed_mlp_100_sigmoid():
    # Sigmoid outputs trained with sparse categorical cross-entropy, exactly as the seed
    # project did; Keras normalises them to sum to 1 inside the loss, and so does inference.
    return _mlp([100], output_activation="sigmoid")


def build_seed_mlp_128_64_16():
    return _mlp([128, 64, 16])


def build_seed_mlp_dropout():
    # The Keras beginner tutorial ends in Dense(10) logits with from_logits=True; the
    # softmax is folded into the last layer here so that every preset outputs probabilities.
    return _mlp([128], dropout=0.2)


def build_keras_convnet():
    """keras-io examples/vision/mnist_convnet.py, layer for layer."""
    import keras
    from keras import layers

    inputs = _input()
    x = layers.Conv2D(32, kernel_size=(3, 3), activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=(2, 2))(x)
    x = layers.Conv2D(64, kernel_size=(3, 3), activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def build_fast_cnn():
    """Few multiply-adds per image (~0.8M), wide enough to reach 99% in one pass over the data.

    A strided 5x5 first conv (no full-size 24x24 maps, no pooling there) costs about half the
    wall-clock time of a 5x5x24 conv + pool first layer for the same accuracy (measured)."""
    import keras
    from keras import layers

    inputs = _input()
    x = layers.Conv2D(16, 5, strides=2, activation="relu")(inputs)  # 12x12x16
    x = layers.Conv2D(48, 3, activation="relu")(x)  # 10x10x48
    x = layers.MaxPooling2D(2)(x)  # 5x5x48
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def build_best_cnn():
    """Batch-normalised CNN, cheap where the maps are large: one 5x5 conv at full size, then
    learned (strided) downsampling, the width spent at 12x12 and below; dense head with dropout.
    About 6.6M multiply-adds per image, less than half of a 32-32-32s2 / 64-64-64s2 stack."""
    import keras
    from keras import layers

    def conv_bn(x, filters, kernel, strides=1, padding="same"):
        x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        return layers.Activation("relu")(x)

    inputs = _input()
    x = conv_bn(inputs, 32, 5, padding="valid")  # 24x24
    x = conv_bn(x, 32, 3, strides=2)  # 12x12, learned downsampling
    x = layers.Dropout(0.25)(x)
    x = conv_bn(x, 64, 3, padding="valid")  # 10x10
    x = conv_bn(x, 64, 3, padding="valid")  # 8x8
    x = conv_bn(x, 64, 3, strides=2)  # 4x4
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


# --------------------------------------------------------------------------- the registry

# A table: one preset per block reads better than one argument per line.
# fmt: off
PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("seed-mlp-100-sigmoid", "Seed project MLP: 784-100 ReLU, 10 sigmoid outputs; Adam, 10 epochs.",
           build_seed_mlp_100_sigmoid, epochs=10, batch_size=32, learning_rate=1e-3,
           source="seed project"),
    Preset("seed-mlp-128-64-16", "Seed project MLP: 784-128-64-16 ReLU, softmax; Adam, batch 1000, "
           "100 epochs (reported 97.67%).", build_seed_mlp_128_64_16, epochs=100, batch_size=1000,
           learning_rate=1e-3, reported_accuracy=0.9767, source="seed project"),
    Preset("seed-mlp-dropout", "Keras beginner MLP: Dense 128 ReLU, dropout 0.2, Dense 10; Adam, 5 epochs.",
           build_seed_mlp_dropout, epochs=5, batch_size=32, learning_rate=1e-3,
           source="TensorFlow beginner quickstart"),
    Preset("keras-convnet", "Keras example convnet: conv 32, conv 64, dropout 0.5; batch 128, 15 epochs "
           "(reported 99.22%). The baseline.", build_keras_convnet, epochs=15, batch_size=128,
           learning_rate=1e-3, reported_accuracy=0.9922, source="keras-io examples/vision/mnist_convnet.py"),
    Preset("fast-cnn", "Small CNN tuned for wall-clock time (strided 5x5 conv 16, conv 48, dense 256): "
           "about 99% test accuracy in one epoch.",
           build_fast_cnn, epochs=1, batch_size=256, learning_rate=1e-2, optimizer="adam-fast",
           schedule="warmup-cosine", warmup_fraction=0.2, val_fraction=0.0, source="MNIST Studio"),
    Preset("best-cnn", "Batch-normalised CNN, trained on shifted, rotated and zoomed digits with a "
           "warm-up + cosine schedule, 12 epochs: the most accurate preset.", build_best_cnn, epochs=12,
           batch_size=128, learning_rate=3e-3, schedule="warmup-cosine", warmup_fraction=0.05, augment=True,
           val_fraction=0.05, source="MNIST Studio"),
]}
# fmt: on


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
