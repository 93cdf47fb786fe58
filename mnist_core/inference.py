"""Predict with a trained model, fast and without TensorFlow: its model.tflite on LiteRT.

Why not `model.predict`: it builds a data pipeline and a fresh step function around every
call, which for one image costs tens of times more than the forward pass itself. Why not
TensorFlow at all: importing it takes about 2.5 s and hundreds of MB, only to run a
0.1 ms model. A run's model.keras has a model.tflite beside it (written when training ends;
made once here for a run without one), which `Predictor` runs on LiteRT (`ai-edge-litert`,
TensorFlow Lite's runtime on its own, XNNPACK kernels): predicting, evaluating, the API
and the app's Draw and Evaluate pages import no TensorFlow (tests/test_inference.py checks
it in a fresh process; speed and memory in benchmarks/results/ and the README).

    Predictor.from_path(model_path)   -> the run's model.tflite on LiteRT, with its temperature
    Predictor(flatbuffer)             -> a TFLite flatbuffer (bytes) on LiteRT
    Predictor(keras_model, engine)    -> a Keras model, converted in memory (imports TensorFlow)
    predictor.predict_batch(x)        -> float32 (N, 10) probabilities
    predictor.predict_one(x28)        -> float32 (10,) probabilities
    predict_image(predictor, image)   -> Prediction (preprocessing included): the digit, its
                                         calibrated confidence, and whether it is a digit at all
    load_model(path)                  -> keras.Model, checked (keras_model.py: imports TensorFlow)
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import atomic, digit_check, paths, preprocess, runs
from .data import NUM_CLASSES
from .errors import InputError, ModelError
from .litert import ACCEPTED_INPUTS, BATCH_SIZE, IMAGE_SHAPE, LiteBackend  # noqa: F401
from .litert import input_form as _input_form  # noqa: F401  (explain.py imports it from here)
from .litert import shorten as _shorten

if TYPE_CHECKING:  # keras is imported only where a Keras model is given
    import keras

ENGINES = ("auto", "tflite", "tensorflow")

_log = logging.getLogger(__name__)


def load_model(path: str | os.PathLike) -> keras.Model:
    """`keras_model.load_model`: a Keras model file loaded in safe mode and checked (this
    imports TensorFlow; prediction does not need it, see `Predictor.from_path`)."""
    from .keras_model import load_model as load

    return load(path)


# --------------------------------------------------------------------------- predicting


class Predictor:
    """Fast, thread-safe probabilities from a digit model.

    Two engines run the same forward pass:
      "tflite"      a TFLite flatbuffer run by LiteRT's XNNPACK CPU kernels: a run's
                    model.tflite, or a Keras model converted in memory; several times
                    faster than TensorFlow's graphs for one image and for a batch.
      "tensorflow"  two concrete TensorFlow functions traced once (`keras_model.GraphBackend`):
                    the fallback for a Keras model that LiteRT cannot run.
    "auto" (the default) tries LiteRT and, for a Keras model, falls back to TensorFlow,
    saying why in `fallback_reason`: when the conversion fails, or when the converted
    model's outputs on a few fixed inputs differ from the model's own. Both engines agree to
    1e-5 (tests/test_inference.py). A flatbuffer needs no check: the one a run keeps was
    checked so when it was made (`keras_model.save_tflite`, `from_path`).

    `model` is the Keras model given (None for a flatbuffer); `flatbuffer` the bytes LiteRT
    runs (None on the TensorFlow engine).

    Sessions may share one Predictor: a LiteRT interpreter serves one call at a time, so
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

    def __init__(self, model: keras.Model | bytes, engine: str = "auto", temperature: float = 1.0):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = float(temperature)
        self.fallback_reason: str | None = None
        self.flatbuffer: bytes | None = None
        self.model = None
        if isinstance(model, (bytes, bytearray, memoryview)):
            if engine == "tensorflow":
                raise ValueError("the TensorFlow engine needs a Keras model, not a flatbuffer")
            self.flatbuffer = bytes(model)
            self._backend = LiteBackend(self.flatbuffer)
        else:
            self._backend = self._keras_backend(model, engine)
        self.engine = self._backend.name
        self.output_kind = _output_kind(self._backend.batch(_probes()))

    def _keras_backend(self, model: keras.Model, engine: str):
        from . import keras_model  # TensorFlow

        keras_model.check_shapes(model, model.name)  # a model built in memory skips load_model's
        self.model = model
        shape = keras_model.model_shape(model)
        if engine in ("auto", "tflite"):
            try:
                flatbuffer = keras_model.to_tflite(model)
                backend = LiteBackend(flatbuffer)
                _check_same(backend, model, shape)
                self.flatbuffer = flatbuffer
                return backend
            except Exception as exc:  # converter and interpreter raise anything
                reason = _shorten(" ".join(str(exc).split()))
                if engine == "tflite":
                    raise ModelError(
                        f"Model {model.name!r} cannot run on LiteRT: {reason}"
                    ) from exc
                self.fallback_reason = f"{type(exc).__name__}: {reason}"
                _log.warning(
                    "Model %r runs on TensorFlow, not LiteRT: %s", model.name, self.fallback_reason
                )
        return keras_model.GraphBackend(model, shape)

    @classmethod
    def from_path(cls, path: str | os.PathLike, engine: str = "auto") -> Predictor:
        """The predictor of a model file, with the temperature its run recorded
        (`runs.temperature_of`); raises ModelError like `load_model`.

        A run's model.keras runs as the model.tflite beside it, without TensorFlow. Where
        that is missing, damaged or older than model.keras (a run killed before training
        ended, a run from before model.tflite existed), the model is loaded with Keras and
        converted once, and the flatbuffer kept as model.tflite (atomically; not in demo
        mode, which writes nothing; a read-only folder is only logged). Any other .keras
        file is converted in memory each time, and engine "tensorflow" always loads Keras.
        """
        path = Path(path)
        temperature = runs.temperature_of(path)
        lite = runs.tflite_of(path)
        if engine != "tensorflow" and kept_tflite(path) is not None:
            try:
                return cls(lite.read_bytes(), engine, temperature)
            except (ModelError, OSError) as exc:
                _log.warning("%s is unusable (%s); making it again", lite, exc)
        predictor = cls(load_model(path), engine, temperature)
        if lite is not None and predictor.flatbuffer is not None and not paths.demo_mode():
            try:
                atomic.write_bytes(lite, predictor.flatbuffer)
            except OSError as exc:
                _log.warning("Could not keep %s: %s", lite, exc.strerror or exc)
        return predictor

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


def kept_tflite(model_path: Path) -> Path | None:
    """The run's model.tflite when it stands for `model_path` as it is now: a plain file
    written no earlier than the model file. None otherwise (none kept, not a run's model, or
    older than model.keras: a run killed before training ended, a model trained again)."""
    lite = runs.tflite_of(Path(model_path))
    try:
        fresh = (
            lite is not None
            and lite.is_file()
            and not lite.is_symlink()
            and lite.stat().st_mtime_ns >= Path(model_path).stat().st_mtime_ns
        )
    except OSError:
        return None
    return lite if fresh else None


def _check_same(backend: LiteBackend, model: keras.Model, shape: tuple) -> None:
    """ValueError unless the converted model gives the Keras model's outputs on the probes."""
    probes = _probes()
    expected = np.asarray(model(probes.reshape(shape), training=False), dtype=np.float32)
    for got in (backend.batch(probes), backend.one(probes[:1])):
        if not np.allclose(got, expected[: len(got)], rtol=1e-3, atol=1e-4):  # NaN fails
            difference = float(np.max(np.abs(got - expected[: len(got)])))
            raise ValueError(
                f"the converted model's outputs differ from the model's by up to "
                f"{difference:.3g} on test inputs"
            )


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
    box: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) of the digit in the picture

    @property
    def found(self) -> bool:
        return self.digit is not None


def predict_image(predictor: Predictor, image) -> Prediction:
    """Preprocess `image` (anything `preprocess.to_mnist` takes), classify it with the
    predictor's calibrated probabilities, and check that it is a digit at all. The answer's
    `box` is where the digit was found (`preprocess.find_digit`): a page draws it on the
    picture without preprocessing the picture a second time."""
    found = preprocess.find_digit(image)
    if found is None:
        return Prediction(None, None, None, None)
    x28 = found.input28
    probabilities = digit_check.calibrate(predictor.predict_one(x28), predictor.temperature)
    digit = int(np.argmax(probabilities))
    check = digit_check.detector()
    score = float(check.scores(x28)[0])
    return Prediction(
        digit,
        float(probabilities[digit]),
        probabilities,
        x28,
        score < check.threshold,
        score,
        tuple(int(v) for v in found.box),
    )
