"""A run's model as Keras holds it: loaded safely, converted for LiteRT, run on TensorFlow.

    load_model(path)               -> keras.Model, checked: (None, 28, 28, 1) in, (None, 10) out
    to_tflite(model)               -> bytes: a TFLite flatbuffer, float32, made in memory
    save_tflite(model, model_path) -> model.tflite beside a run's model.keras, atomically
    GraphBackend(model, shape)     the forward pass on TensorFlow's graphs (the fallback engine)

Importing this module imports TensorFlow (about 2.5 s): only training, explaining, exporting
and the one-off conversion of a run without a model.tflite need it. Prediction itself runs
the flatbuffer on LiteRT (`inference.Predictor`), which does not import TensorFlow.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import atomic, runs
from .data import NUM_CLASSES
from .errors import ModelError
from .litert import IMAGE_SHAPE, input_form, shape_text, shorten

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")  # what keras.saving.load_model can read

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- loading


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a model saved by Keras, in safe mode, and check it classifies 28x28 digits.

    Raises `ModelError` (one line) when the file is missing, not a Keras model, refused by
    safe mode (a `Lambda` layer holds Python code that loading would run), or its input
    is not a 28x28 image (see inference.ACCEPTED_INPUTS) or its output is not 10 classes.
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
            raise ModelError(
                f"Model file {name!r} is refused for safety: it contains a Lambda "
                "layer, whose Python code would run on loading."
            ) from exc
        raise ModelError(f"Model file {name!r} cannot be loaded: {shorten(text)}") from exc
    check_shapes(model, name)
    return model


def check_shapes(model: keras.Model, name: str) -> None:
    """ModelError unless `model` has one input of an accepted 28x28 form and 10 outputs."""
    try:
        inputs, outputs = model.inputs, model.outputs
        in_shape = tuple(inputs[0].shape)[1:]
        out_shape = tuple(outputs[0].shape)[1:]
    except (AttributeError, TypeError, IndexError, ValueError) as exc:
        raise ModelError(f"Model {name!r} has no defined input and output shape.") from exc
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"Model {name!r} must have one input and one output, "
            f"has {len(inputs)} and {len(outputs)}."
        )
    if input_form(in_shape) is None:
        raise ModelError(
            f"Model {name!r} takes input {shape_text(in_shape)}, "
            "but a 28x28 digit model needs (None, 28, 28, 1)."
        )
    if out_shape != (NUM_CLASSES,):
        raise ModelError(
            f"Model {name!r} outputs {shape_text(out_shape)}, "
            f"but a digit classifier needs (None, {NUM_CLASSES})."
        )


def model_shape(model: keras.Model) -> tuple:
    """(-1, ...): the form of the model's input that (N, 28, 28, 1) images are reshaped to."""
    return (-1, *input_form(tuple(model.inputs[0].shape)[1:]))


# --------------------------------------------------------------------------- converting


def to_tflite(model: keras.Model) -> bytes:
    """The model as a TFLite flatbuffer, float32 as trained (no quantisation), made in
    memory: nothing is written to disk, not even to the temporary folder.

    The forward pass is traced once, without AutoGraph, and frozen (its variables become
    constants) by the converter. The other routes all write files:
      * `model.export` + `from_saved_model` (Keras' own LiteRT export too) and
        `from_keras_model` go through a SavedModel of the whole model in a temporary folder
        (3 MB for the shipped model, removed), and tracing its signatures runs AutoGraph,
        which writes the Python source it generates to two `__autograph_generated_file*.py`
        in the temporary folder, removed only at a clean interpreter exit (never after a
        server's SIGTERM or a `kill -9`);
      * `from_concrete_functions` with the model as `trackable_obj`, or with
        `experimental_lower_to_saved_model` left on, saves a SavedModel as well, and that
        one gave NaN outputs with a Keras 3 model (the NaN noted here before).
    Same flatbuffer operations, predictions bit for bit the same as through the SavedModel
    on the 10,000 test images, and the conversion faster (docs/hardening.md). TensorFlow
    calls this frozen-graph path deprecated; should it go, the conversion fails and the
    Predictor falls back to the TensorFlow engine, saying why.
    """
    spec = model.inputs[0]
    forward = tf.function(lambda x: model(x, training=False), autograph=False)
    concrete = forward.get_concrete_function(tf.TensorSpec((None, *spec.shape[1:]), spec.dtype))
    # The constructor, not `from_concrete_functions`, which only adds a log line asking for
    # the `trackable_obj` (needed where nothing else holds the variables: `model` does here).
    converter = tf.lite.TFLiteConverter([concrete])
    converter.experimental_lower_to_saved_model = False  # else an empty temporary folder
    return converter.convert()


def save_tflite(model: keras.Model, model_path: Path) -> Path | None:
    """Write model.tflite beside the run's `model_path` (model.keras, saved just before, so
    that the copy is never older than it), atomically: a temporary file renamed over it.

    The flatbuffer is the one `inference.Predictor(model, engine="tflite")` checks against
    the model's own outputs. A model LiteRT cannot run gets none (logged; its predictions
    then run on TensorFlow, saying why). A failed write (a full disk, a read-only folder)
    raises ModelError in one line, like the save of model.keras. Returns the path or None.
    """
    from .inference import Predictor

    target = runs.tflite_of(model_path)
    if target is None:
        raise ValueError(f"{model_path} is not a run's model.keras")
    try:
        flatbuffer = Predictor(model, engine="tflite").flatbuffer
    except ModelError as exc:
        _log.warning("No %s for %s: %s", target.name, target.parent.name, exc)
        return None
    try:
        atomic.write_bytes(target, flatbuffer)
    except OSError as exc:
        raise ModelError(f"Could not save {target.name}: {exc.strerror or exc}") from exc
    return target


# --------------------------------------------------------------------------- TensorFlow engine


class GraphBackend:
    """The forward pass as concrete TensorFlow functions, (1, 28, 28, 1) and (None, 28, 28, 1),
    traced once; thread-safe (concrete functions need no lock)."""

    name = "TensorFlow"

    def __init__(self, model: keras.Model, shape: tuple):
        def forward(x):
            return tf.cast(model(tf.reshape(x, shape), training=False), tf.float32)

        forward = tf.function(forward, autograph=False)
        self._one = forward.get_concrete_function(tf.TensorSpec((1, *IMAGE_SHAPE), tf.float32))
        self._batch = forward.get_concrete_function(tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32))
        self.one(np.zeros((1, *IMAGE_SHAPE), np.float32))
        self.batch(np.zeros((2, *IMAGE_SHAPE), np.float32))

    def one(self, x: np.ndarray) -> np.ndarray:
        return self._one(tf.constant(x)).numpy()

    def batch(self, x: np.ndarray) -> np.ndarray:
        return self._batch(tf.constant(x)).numpy()
