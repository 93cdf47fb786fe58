"""Load a trained model safely and predict with it fast: one image in well under 2 ms.

Why not `model.predict`: it builds a data pipeline and a fresh step function around every
call, 60 to 70 ms for one image on the 2-core CPU; calling the model eagerly costs about
8 ms. `Predictor` traces the forward pass once into TensorFlow graphs with fixed input
signatures and calls their concrete functions, which skips both costs: 0.7 ms per image
for the small CNN of DESIGN.md, and 10,000 test images in 0.95 s against 1.35 s.

    load_model(path)                  -> keras.Model, checked: (None, 28, 28, 1) in, (None, 10) out
    Predictor(model).predict_batch(x) -> float32 (N, 10) probabilities
    Predictor(model).predict_one(x28) -> float32 (10,) probabilities
    predict_image(predictor, image)   -> Prediction (preprocessing included)

Importing this module imports TensorFlow (about 4 s), so only code that predicts imports it.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import preprocess
from .errors import InputError, ModelError

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
# Input shapes a model may declare (without the batch axis); the predictor reshapes the
# (N, 28, 28, 1) images to whichever one it has. `None` in the model's shape matches anything.
ACCEPTED_INPUTS = ((28, 28, 1), (28, 28), (784,))
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")  # what keras.saving.load_model can read


# --------------------------------------------------------------------------- loading

def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a model saved by Keras, in safe mode, and check it classifies 28x28 digits.

    Raises `ModelError` (one line) when the file is missing, not a Keras model, refused by
    safe mode (a `Lambda` layer holds Python code that loading would run), or its input
    is not a 28x28 image (see ACCEPTED_INPUTS) or its output is not 10 classes.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}")
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise ModelError(f"Model file {name!r} is not a Keras model file (.keras or .h5).")
    # Keras reports a non-zip .keras file as "File not found", which would mislead.
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"Model file {name!r} is not a Keras model file (damaged or not a zip).")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, KeyError, OSError, TypeError...
        text = " ".join(str(exc).split())
        if "Lambda" in text or "safe_mode" in text:
            raise ModelError(f"Model file {name!r} is refused for safety: it contains a Lambda "
                             "layer, whose Python code would run on loading.") from exc
        raise ModelError(f"Model file {name!r} cannot be loaded: {_shorten(text)}") from exc
    _check_shapes(model, name)
    return model


def _check_shapes(model: keras.Model, name: str) -> None:
    try:
        inputs, outputs = model.inputs, model.outputs
        in_shape = tuple(inputs[0].shape)[1:]
        out_shape = tuple(outputs[0].shape)[1:]
    except (AttributeError, TypeError, IndexError, ValueError) as exc:
        raise ModelError(f"Model {name!r} has no defined input and output shape.") from exc
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"Model {name!r} must have one input and one output, "
                         f"has {len(inputs)} and {len(outputs)}.")
    if _input_form(in_shape) is None:
        raise ModelError(f"Model {name!r} takes input {_shape(in_shape)}, "
                         "but a 28x28 digit model needs (None, 28, 28, 1).")
    if out_shape != (NUM_CLASSES,):
        raise ModelError(f"Model {name!r} outputs {_shape(out_shape)}, "
                         f"but a digit classifier needs (None, {NUM_CLASSES}).")


def _input_form(in_shape: tuple) -> tuple[int, ...] | None:
    """The accepted form that the model's input shape (batch axis excluded) matches."""
    for form in ACCEPTED_INPUTS:
        if len(form) == len(in_shape) and all(d is None or d == f for d, f in zip(in_shape, form)):
            return form
    return None


def _shape(shape: tuple) -> str:
    return str((None, *shape))


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- predicting

class Predictor:
    """Fast, thread-safe probabilities from a digit model.

    The forward pass is traced at construction into two concrete TensorFlow functions,
    one for (1, 28, 28, 1) and one for (None, 28, 28, 1), and each is run once, so no call
    ever traces. Concrete functions hold no Python state and TensorFlow runs them from
    several threads at once, so Streamlit sessions can share one Predictor.

    Outputs are made probabilities (rows summing to 1) according to `output_kind`, decided
    once by probing the model: "probabilities" (softmax; used as they are), "scores" (all
    in [0, 1] but not summing to 1, e.g. sigmoid; divided by their sum) or "logits"
    (values outside [0, 1]; softmax applied).
    """

    def __init__(self, model: keras.Model):
        _check_shapes(model, model.name)  # a model built in memory skips load_model's check
        self.model = model
        self._model_shape = (-1, *_input_form(tuple(model.inputs[0].shape)[1:]))
        self.output_kind = self._probe_output_kind()

        forward = tf.function(self._forward, autograph=False)
        self._one = forward.get_concrete_function(tf.TensorSpec((1, *IMAGE_SHAPE), tf.float32))
        self._batch = forward.get_concrete_function(tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32))
        # First runs allocate and pick kernels; pay that here, not in the first user's click.
        self._one(tf.zeros((1, *IMAGE_SHAPE)))
        self._batch(tf.zeros((2, *IMAGE_SHAPE)))

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> "Predictor":
        """`Predictor(load_model(path))`; raises ModelError like `load_model`."""
        return cls(load_model(path))

    def predict_batch(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Probabilities float32 (N, 10) for images float32 (N, 28, 28, 1) or (N, 28, 28) in [0, 1].

        Runs in chunks of `batch_size` images to bound memory (about 3 MB of input per 1000).
        """
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 3:
            x = x[..., np.newaxis]
        if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
            raise InputError(f"Expected images of shape (N, 28, 28, 1), got {x.shape}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        out = np.empty((len(x), NUM_CLASSES), dtype=np.float32)
        for start in range(0, len(x), batch_size):
            chunk = tf.constant(x[start:start + batch_size])
            out[start:start + batch_size] = self._batch(chunk).numpy()
        return out

    def predict_one(self, x28: np.ndarray) -> np.ndarray:
        """Probabilities float32 (10,) for one image float32 (28, 28) or (28, 28, 1) in [0, 1]."""
        x = np.asarray(x28, dtype=np.float32)
        if x.shape not in ((28, 28), IMAGE_SHAPE, (1, *IMAGE_SHAPE)):
            raise InputError(f"Expected one image of shape (28, 28), got {x.shape}.")
        return self._one(tf.constant(x.reshape(1, *IMAGE_SHAPE))).numpy()[0]

    def _forward(self, x: tf.Tensor) -> tf.Tensor:
        y = self.model(tf.reshape(x, self._model_shape), training=False)
        return _as_probabilities(tf.cast(y, tf.float32), self.output_kind)

    def _probe_output_kind(self) -> str:
        """Run the model on a few fixed inputs and see what its outputs look like.

        Probing rather than reading the last layer's activation: a softmax can also sit in
        its own Activation or Softmax layer, or in a custom one; the outputs tell for all.
        """
        rng = np.random.default_rng(0)
        probes = np.stack([np.zeros(IMAGE_SHAPE), np.ones(IMAGE_SHAPE),
                           rng.random(IMAGE_SHAPE), rng.random(IMAGE_SHAPE) ** 4]).astype(np.float32)
        y = np.asarray(self.model(probes.reshape(self._model_shape), training=False), dtype=np.float64)
        if (y < -1e-6).any() or (y > 1 + 1e-6).any():
            return "logits"
        if np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
            return "probabilities"
        return "scores"


def _as_probabilities(y: tf.Tensor, kind: str) -> tf.Tensor:
    if kind == "logits":
        return tf.nn.softmax(y, axis=-1)
    if kind == "scores":
        y = tf.maximum(y, 0.0)
        total = tf.reduce_sum(y, axis=-1, keepdims=True)
        # All scores zero says nothing: read it as "every digit equally likely".
        return tf.where(total > 0.0, y / tf.maximum(total, 1e-30), 1.0 / NUM_CLASSES)
    return y


# --------------------------------------------------------------------------- one picture

@dataclass(eq=False)  # == on numpy fields would be ambiguous; compare fields instead
class Prediction:
    """What the model made of one picture; all fields None when no digit was found."""

    digit: int | None                  # the most probable class, 0..9
    confidence: float | None           # its probability, 0..1
    probabilities: np.ndarray | None   # float32 (10,), sums to 1
    input_image: np.ndarray | None     # float32 (28, 28) in [0, 1]: what the model saw

    @property
    def found(self) -> bool:
        return self.digit is not None


def predict_image(predictor: Predictor, image) -> Prediction:
    """Preprocess `image` (anything `preprocess.to_mnist` takes) and classify it."""
    x28 = preprocess.to_mnist(image)
    if x28 is None:
        return Prediction(None, None, None, None)
    probabilities = predictor.predict_one(x28)
    digit = int(np.argmax(probabilities))
    return Prediction(digit, float(probabilities[digit]), probabilities, x28)
