"""Load a trained model safely and predict with it fast.

Why not `model.predict`: it builds a data pipeline and a fresh step function around every
call, which for one image costs tens of times more than the forward pass itself. `Predictor`
converts the model once to TensorFlow Lite (XNNPACK kernels) and keeps TensorFlow graphs
traced once as the fallback (measured side by side in benchmarks/run.py; figures in
benchmarks/results/ and the README).

    load_model(path)                  -> keras.Model, checked: (None, 28, 28, 1) in, (None, 10) out
    Predictor(model).predict_batch(x) -> float32 (N, 10) probabilities
    Predictor(model).predict_one(x28) -> float32 (10,) probabilities
    predict_image(predictor, image)   -> Prediction (preprocessing included): the digit, its
                                         calibrated confidence, and whether it is a digit at all

Importing this module imports TensorFlow (seconds), so only code that predicts imports it.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import digit_check, preprocess, runs
from .data import NUM_CLASSES
from .errors import InputError, ModelError

IMAGE_SHAPE = (28, 28, 1)
# Input shapes a model may declare (without the batch axis); the predictor reshapes the
# (N, 28, 28, 1) images to whichever one it has. `None` in the model's shape matches anything.
ACCEPTED_INPUTS = ((28, 28, 1), (28, 28), (784,))
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")  # what keras.saving.load_model can read

_log = logging.getLogger(__name__)


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
            raise ModelError(
                f"Model file {name!r} is refused for safety: it contains a Lambda "
                "layer, whose Python code would run on loading."
            ) from exc
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
        raise ModelError(
            f"Model {name!r} must have one input and one output, "
            f"has {len(inputs)} and {len(outputs)}."
        )
    if _input_form(in_shape) is None:
        raise ModelError(
            f"Model {name!r} takes input {_shape(in_shape)}, "
            "but a 28x28 digit model needs (None, 28, 28, 1)."
        )
    if out_shape != (NUM_CLASSES,):
        raise ModelError(
            f"Model {name!r} outputs {_shape(out_shape)}, "
            f"but a digit classifier needs (None, {NUM_CLASSES})."
        )


def _input_form(in_shape: tuple) -> tuple[int, ...] | None:
    """The accepted form that the model's input shape (batch axis excluded) matches."""
    for form in ACCEPTED_INPUTS:
        if len(form) == len(in_shape) and all(d is None or d == f for d, f in zip(in_shape, form)):
            return form
    return None


def _shape(shape: tuple) -> str:
    return str((None, *shape))


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- predicting

ENGINES = ("auto", "tflite", "tensorflow")
BATCH_SIZE = 256  # images per TFLite call in predict_batch: ~20 MB of activations for best-cnn


class Predictor:
    """Fast, thread-safe probabilities from a digit model.

    Two engines run the same forward pass:
      "tflite"      the model converted in memory to TensorFlow Lite and run by its XNNPACK
                    CPU kernels: several times faster than TensorFlow's graphs for one image
                    and for a batch (benchmarks/run.py); the conversion is paid once per model.
      "tensorflow"  two concrete TensorFlow functions, (1, 28, 28, 1) and (None, 28, 28, 1),
                    traced once: the fallback, e.g. for a layer TFLite cannot convert, or a
                    TensorFlow without `tf.lite` (upstream deprecated `tf.lite.Interpreter`
                    for the separate LiteRT package; the pinned 2.21 still ships it).
    "auto" (the default) tries TFLite and falls back to TensorFlow, saying why in
    `fallback_reason`: when the conversion fails, or when the converted model's outputs on
    a few fixed inputs differ from the model's own. Both engines agree to 1e-5
    (tests/test_inference.py). Loading a model writes no file (see `_to_tflite`).

    Sessions may share one Predictor: a TFLite interpreter serves one call at a time, so
    each has a lock (one for single images, one for batches); concrete TensorFlow
    functions need none. Each engine is warmed up here, not in the first user's click.

    Outputs are made probabilities (rows summing to 1) according to `output_kind`, decided
    once by probing the model: "probabilities" (softmax; used as they are), "scores" (all
    in [0, 1] but not summing to 1, e.g. sigmoid; divided by their sum) or "logits"
    (values outside [0, 1]; softmax applied).

    `temperature` (> 0) is the run's fitted softmax temperature (run.json, see
    `digit_check.calibrate`): `predict_image` shows probabilities calibrated with it;
    `predict_batch` and `predict_one` give the model's own, as TF Serving would.
    """

    def __init__(self, model: keras.Model, engine: str = "auto", temperature: float = 1.0):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        _check_shapes(model, model.name)  # a model built in memory skips load_model's check
        self.model = model
        self.temperature = float(temperature)
        self._model_shape = (-1, *_input_form(tuple(model.inputs[0].shape)[1:]))
        probes = _probes().reshape(self._model_shape)
        raw = np.asarray(model(probes, training=False), dtype=np.float32)
        self.output_kind = _output_kind(raw)
        self.fallback_reason: str | None = None
        backend = None
        if engine in ("auto", "tflite"):
            try:
                backend = _LiteBackend(model, self._model_shape, probes, raw)
            except Exception as exc:  # converter and interpreter raise anything
                reason = _shorten(" ".join(str(exc).split()))
                if engine == "tflite":
                    raise ModelError(
                        f"Model {model.name!r} cannot run on TensorFlow Lite: {reason}"
                    ) from exc
                self.fallback_reason = f"{type(exc).__name__}: {reason}"
                _log.warning(
                    "Model %r runs on TensorFlow, not TFLite: %s", model.name, self.fallback_reason
                )
        self._backend = backend or _GraphBackend(model, self._model_shape)
        self.engine = self._backend.name

    @classmethod
    def from_path(cls, path: str | os.PathLike, engine: str = "auto") -> Predictor:
        """`Predictor(load_model(path), engine)` with the temperature its run recorded
        (`runs.temperature_of`); raises ModelError like `load_model`."""
        return cls(load_model(path), engine, runs.temperature_of(Path(path)))

    def predict_batch(self, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Probabilities float32 (N, 10) for images float32 (N, 28, 28, 1) or (N, 28, 28) in [0, 1].

        Runs in chunks of `batch_size` images to bound memory.
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
            out[start : start + batch_size] = self._backend.batch(x[start : start + batch_size])
        return _as_probabilities(out, self.output_kind)

    def predict_one(self, x28: np.ndarray) -> np.ndarray:
        """Probabilities float32 (10,) for one image float32 (28, 28) or (28, 28, 1) in [0, 1]."""
        x = np.asarray(x28, dtype=np.float32)
        if x.shape not in ((28, 28), IMAGE_SHAPE, (1, *IMAGE_SHAPE)):
            raise InputError(f"Expected one image of shape (28, 28), got {x.shape}.")
        return _as_probabilities(self._backend.one(x.reshape(1, *IMAGE_SHAPE)), self.output_kind)[0]


def _probes() -> np.ndarray:
    """float32 (4, 28, 28, 1): a few fixed inputs the model is run on when it is loaded."""
    rng = np.random.default_rng(0)
    return np.stack(
        [
            np.zeros(IMAGE_SHAPE),
            np.ones(IMAGE_SHAPE),
            rng.random(IMAGE_SHAPE),
            rng.random(IMAGE_SHAPE) ** 4,
        ]
    ).astype(np.float32)


def _output_kind(y: np.ndarray) -> str:
    """What the model's outputs on the probes look like (see `Predictor.output_kind`).

    Probing rather than reading the last layer's activation: a softmax can also sit in
    its own Activation or Softmax layer, or in a custom one; the outputs tell for all.
    """
    y = y.astype(np.float64)
    if (y < -1e-6).any() or (y > 1 + 1e-6).any():
        return "logits"
    if np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        return "probabilities"
    return "scores"


def _as_probabilities(y: np.ndarray, kind: str) -> np.ndarray:
    """Rows of raw model outputs float32 (N, 10) made probabilities, as `output_kind` says."""
    if kind == "logits":
        e = np.exp(y - y.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if kind == "scores":
        y = np.maximum(y, 0.0)
        total = y.sum(axis=1, keepdims=True)
        # All scores zero says nothing: read it as "every digit equally likely".
        return np.where(total > 0.0, y / np.maximum(total, 1e-30), np.float32(1.0 / NUM_CLASSES))
    return y


class _GraphBackend:
    """The forward pass as concrete TensorFlow functions, traced once; thread-safe."""

    name = "TensorFlow"

    def __init__(self, model: keras.Model, model_shape: tuple):
        def forward(x):
            return tf.cast(model(tf.reshape(x, model_shape), training=False), tf.float32)

        forward = tf.function(forward, autograph=False)
        self._one = forward.get_concrete_function(tf.TensorSpec((1, *IMAGE_SHAPE), tf.float32))
        self._batch = forward.get_concrete_function(tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32))
        self.one(np.zeros((1, *IMAGE_SHAPE), np.float32))
        self.batch(np.zeros((2, *IMAGE_SHAPE), np.float32))

    def one(self, x: np.ndarray) -> np.ndarray:
        return self._one(tf.constant(x)).numpy()

    def batch(self, x: np.ndarray) -> np.ndarray:
        return self._batch(tf.constant(x)).numpy()


class _LiteBackend:
    """The model converted to TensorFlow Lite; one interpreter for single images (one
    thread: more only adds hand-offs at this size) and one for batches (every core)."""

    name = "TensorFlow Lite"

    def __init__(self, model: keras.Model, model_shape: tuple, probes: np.ndarray, expected):
        """`expected`: the model's own outputs on `probes`, which the conversion must give."""
        flatbuffer = _to_tflite(model)
        self._model_shape = model_shape
        self._single = _Interpreter(flatbuffer, threads=1)
        self._many = _Interpreter(flatbuffer, threads=os.cpu_count() or 1)
        for got in (self._many.run(probes), self._single.run(probes[:1])):
            if not np.allclose(got, expected[: len(got)], rtol=1e-3, atol=1e-4):  # NaN fails
                difference = float(np.max(np.abs(got - expected[: len(got)])))
                raise ValueError(
                    f"the converted model's outputs differ from the model's by up to "
                    f"{difference:.3g} on test inputs"
                )
        self.one(np.zeros((1, *IMAGE_SHAPE), np.float32))
        self.batch(np.zeros((BATCH_SIZE, *IMAGE_SHAPE), np.float32))

    def one(self, x: np.ndarray) -> np.ndarray:
        return self._single.run(x.reshape(self._model_shape))

    def batch(self, x: np.ndarray) -> np.ndarray:
        return self._many.run(x.reshape(self._model_shape))


class _Interpreter:
    """A TFLite interpreter behind a lock, its input resized to each call's batch size."""

    def __init__(self, flatbuffer: bytes, threads: int):
        with warnings.catch_warnings():  # the deprecation notice, once per interpreter
            warnings.simplefilter("ignore")
            self._interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple | None = None
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.empty((0, NUM_CLASSES), np.float32)
        with self._lock:
            if x.shape != self._shape:
                self._interpreter.resize_tensor_input(self._input["index"], x.shape)
                self._interpreter.allocate_tensors()
                self._shape = x.shape
            self._interpreter.set_tensor(
                self._input["index"], np.ascontiguousarray(x, self._input["dtype"])
            )
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).astype(np.float32, copy=False)


def _to_tflite(model: keras.Model) -> bytes:
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


# --------------------------------------------------------------------------- one picture


@dataclass(eq=False)  # == on numpy fields would be ambiguous; compare fields instead
class Prediction:
    """What the model made of one picture; all fields None when no ink was found.

    `is_digit` False: the picture does not look like a digit at all (a line, a scribble, a
    letter...; see `digit_check`): say so rather than show `digit`, which still holds the
    model's best guess. None: not checked (no ink, or made by hand without the check).
    """

    digit: int | None  # the most probable class, 0..9
    confidence: float | None  # its calibrated probability, 0..1 (the run's temperature)
    probabilities: np.ndarray | None  # float32 (10,), calibrated, sums to 1
    input_image: np.ndarray | None  # float32 (28, 28) in [0, 1]: what the model saw
    is_digit: bool | None = None  # the verdict of `digit_check` on input_image
    not_digit_score: float | None = None  # 0..1, how unlike a digit; >= threshold: not one

    @property
    def found(self) -> bool:
        return self.digit is not None


def predict_image(predictor: Predictor, image) -> Prediction:
    """Preprocess `image` (anything `preprocess.to_mnist` takes), classify it with the
    predictor's calibrated probabilities, and check that it is a digit at all."""
    x28 = preprocess.to_mnist(image)
    if x28 is None:
        return Prediction(None, None, None, None)
    probabilities = digit_check.calibrate(predictor.predict_one(x28), predictor.temperature)
    digit = int(np.argmax(probabilities))
    check = digit_check.detector()
    score = float(check.scores(x28)[0])
    return Prediction(
        digit, float(probabilities[digit]), probabilities, x28, score < check.threshold, score
    )
