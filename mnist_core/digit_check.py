"""How far to trust a reading: is the picture a digit at all, and how sure is the model?

A digit model answers one of ten digits for anything, a line or a scribble too, and its
softmax says "100%" for most pictures. Two corrections, both applied by
`inference.predict_image`:

The verdict (`is_digit`): a small convolutional network, separate from the digit model so
that it judges every run alike, reads the same 28x28 input as the model (after
`preprocess.to_mnist`) and scores how unlike a digit it is, 0..1. It was trained on MNIST
training digits (as they are, as uploaded pictures, and re-drawn with a round pen the way
the Draw page's canvas draws) against synthetic drawings that are not digits: lines, dots,
scribbles, zigzags, letters, crosses, blobs, noise, shapes, loose strokes and doodles
(benchmarks/not_digit_corpus.py makes them and trains it; `digit_check.json` records how,
and its validation figures). Its threshold was chosen on validation digits only; the
figures on test digits and on a fresh set of non-digits are in
benchmarks/results/not_digit.json. It knows the kinds of non-digit it was shown: a kind it
never saw gets through about half the time (measured by leaving one family out).

It runs in numpy (weights in digit_check.npz, 120 KB): no TensorFlow, about 80 us per
picture, as one gather and one matrix product per layer. It is kept this small on purpose:
at twice the width the matrix products grow past OpenBLAS's threading threshold, and on a
busy 2-core machine each call then waited milliseconds for threads (measured: p90 8 ms).

The confidence (`calibrate`): temperature scaling (Guo et al. 2017, "On Calibration of
Modern Neural Networks"): the log-probabilities divided by one number T fitted on the
run's validation images (`fit_temperature`, recorded in run.json as `temperature`), which
keeps every ranking and so the digit read, and makes "90% confident" right about 90% of
the time. `expected_calibration_error` measures how far it is from that.

    not_digit_scores(x)    float32 (N,) in [0, 1] for images (N, 28, 28) in [0, 1]
    is_digit(x28)          bool: the verdict for one image (28, 28)
    calibrate(p, T)        probabilities (..., 10) with temperature T
"""

from __future__ import annotations

import functools
import json
import math
import threading
from pathlib import Path

import numpy as np

WEIGHTS_FILE = Path(__file__).with_name("digit_check.npz")  # the detector, float32
RECORD_FILE = Path(__file__).with_name("digit_check.json")  # how it was trained, its figures
# The detector: 28x28x1 -> conv 3x3 (16, ReLU) -> max-pool 2 -> conv 3x3 (32, ReLU) ->
# max-pool 2 -> dense 32 (ReLU) -> dense 1 (sigmoid): P(not a digit).
CONV_FILTERS = (16, 32)
DENSE_UNITS = 32
_LAYERS = ("conv1", "conv2", "dense1", "dense2")


# --------------------------------------------------------------------------- the detector


def build_model():
    """The detector as an uncompiled Keras model (for training; inference is `forward`)."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(CONV_FILTERS[0], 3, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(CONV_FILTERS[1], 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(DENSE_UNITS, activation="relu", name="dense1")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="dense2")(x)
    return keras.Model(inputs, outputs, name="digit_check")


def weights_of(model) -> dict[str, np.ndarray]:
    """A trained `build_model()`'s weights as float32 arrays named as `forward` reads them."""
    out = {}
    for name in _LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        out[f"{name}_kernel"], out[f"{name}_bias"] = kernel, bias
    return {k: v.astype(np.float32) for k, v in out.items()}


@functools.cache
def _patches(size: int, channels: int, k: int = 3) -> np.ndarray:
    """int (P, k*k*channels): for each of the P = (size-k+1)**2 positions of a valid k x k
    window on a flattened (size, size, channels) image, the flat indices of its pixels in
    the order of a Keras kernel reshaped to (k*k*channels, filters)."""
    out = size - k + 1
    r, q, i, j, c = np.ix_(range(out), range(out), range(k), range(k), range(channels))
    return (((r + i) * size + (q + j)) * channels + c).reshape(out * out, k * k * channels)


def _conv_pool_relu(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras' valid 3x3 Conv2D with ReLU, then 2x2 MaxPooling2D (floor), on float32
    (N, H, H, C) -> (N, (H-2)//2, (H-2)//2, F). One gather and one matrix product (the
    fewest numpy calls: at this size each call's overhead costs more than its arithmetic);
    pooled before the bias and ReLU, which changes nothing (both are monotone) on a
    quarter of the values."""
    n, size, _, channels = x.shape
    k, filters = kernel.shape[0], kernel.shape[-1]
    out = size - k + 1
    y = x.reshape(n, -1)[:, _patches(size, channels, k)] @ kernel.reshape(-1, filters)
    half = out // 2
    y = y.reshape(n, out, out, filters)[:, : 2 * half, : 2 * half]
    y = y.reshape(n, half, 2, half, 2, filters)
    y = np.maximum(
        np.maximum(y[:, :, 0, :, 0], y[:, :, 0, :, 1]),
        np.maximum(y[:, :, 1, :, 0], y[:, :, 1, :, 1]),
    )
    return np.maximum(y + bias, 0.0)


def forward(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """P(not a digit), float32 (N,), for images float32 (N, 28, 28) in [0, 1]."""
    x = np.asarray(x, np.float32).reshape(-1, 28, 28, 1)
    x = _conv_pool_relu(x, weights["conv1_kernel"], weights["conv1_bias"])
    x = _conv_pool_relu(x, weights["conv2_kernel"], weights["conv2_bias"])
    x = x.reshape(len(x), -1)  # row-major (H, W, C), as Keras' Flatten
    x = np.maximum(x @ weights["dense1_kernel"] + weights["dense1_bias"], 0.0)
    z = (x @ weights["dense2_kernel"] + weights["dense2_bias"])[:, 0]
    return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)


class Detector:
    """The shipped detector: its weights and the threshold on its score."""

    def __init__(self, weights: dict[str, np.ndarray], threshold: float):
        self.weights, self.threshold = weights, float(threshold)

    @classmethod
    def from_file(cls, path: Path = WEIGHTS_FILE) -> Detector:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k].astype(np.float32) for k in data.files}
        threshold = float(arrays.pop("threshold"))
        return cls(arrays, threshold)

    def scores(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """float32 (N,): how unlike a digit each image (N, 28, 28) is, 0..1."""
        x = np.asarray(x, np.float32).reshape(-1, 28, 28)
        parts = [forward(self.weights, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.empty(0, np.float32)

    def is_digit(self, x28: np.ndarray) -> bool:
        return float(forward(self.weights, x28)[0]) < self.threshold


_detector: Detector | None = None
_lock = threading.Lock()


def detector() -> Detector:
    """The shipped detector, loaded once per process."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = Detector.from_file()
    return _detector


def not_digit_scores(x: np.ndarray) -> np.ndarray:
    """float32 (N,) in [0, 1] for images float32 (N, 28, 28) in [0, 1], as `to_mnist` makes."""
    return detector().scores(x)


def is_digit(x28: np.ndarray) -> bool:
    """Whether one image float32 (28, 28) in [0, 1] (as `to_mnist` makes) is a digit."""
    return detector().is_digit(x28)


def record() -> dict:
    """digit_check.json: how the shipped detector was trained, and its figures."""
    return json.loads(RECORD_FILE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- calibration

_TINY = 1e-30  # log(0) stands in as log(1e-30): far below any probability that matters


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities float32 (..., 10) with temperature `temperature` (> 0): the softmax of
    log(p) / T, i.e. p ** (1 / T) normalised. T > 1 softens, T < 1 sharpens; T == 1 returns
    `probabilities` as they are."""
    p = np.asarray(probabilities, np.float32)
    if temperature == 1.0:
        return p
    z = np.log(np.maximum(p, _TINY)) / np.float32(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood (nats) of `labels` (N,) under `calibrate(p, T)`."""
    logp = np.log(np.maximum(np.asarray(probabilities, np.float64), _TINY)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logp).sum(axis=1))
    return float(np.mean(log_norm - logp[np.arange(len(labels)), labels]))


TEMPERATURE_RANGE = (0.05, 20.0)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE that minimises `nll` on (probabilities (N, 10), labels
    (N,)): validation images, never the test set. The NLL is convex in 1/T, so a golden
    section search on log T finds its minimum (to 1e-4 relative)."""
    labels = np.asarray(labels, np.int64)
    lo, hi = math.log(TEMPERATURE_RANGE[0]), math.log(TEMPERATURE_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(probabilities, labels, math.exp(a)), nll(probabilities, labels, math.exp(b))
    while hi - lo > 1e-4:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(probabilities, labels, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(probabilities, labels, math.exp(b))
    return round(math.exp((lo + hi) / 2), 4)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    """ECE: sum over equal-width confidence bins ((0, 1/bins], ...; 0 in the first) of
    |accuracy - mean confidence| weighted by the share of predictions in the bin."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)
