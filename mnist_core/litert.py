"""A TFLite flatbuffer run by LiteRT (`ai-edge-litert`): TensorFlow Lite's runtime on its own,
with XNNPACK's CPU kernels, and no TensorFlow import (about 0.1 s against 2.5 s).

    LiteBackend(flatbuffer)   .one(x) and .batch(x): raw outputs float32 (N, 10) for images
                              float32 (N, 28, 28, 1); ModelError for bytes that are not a
                              TFLite digit model (input one of ACCEPTED_INPUTS, 10 outputs)

`inference.Predictor` makes probabilities of the outputs; this module only runs the model.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from . import quiet
from .data import NUM_CLASSES
from .errors import ModelError

IMAGE_SHAPE = (28, 28, 1)
# Input shapes a model may declare (without the batch axis); the predictor reshapes the
# (N, 28, 28, 1) images to whichever one it has. `None` in the model's shape matches anything.
ACCEPTED_INPUTS = ((28, 28, 1), (28, 28), (784,))
BATCH_SIZE = 256  # images per LiteRT call in predict_batch: ~20 MB of activations for best-cnn
# What LiteRT writes on descriptor 2 when a process makes its first interpreter (C++ code:
# no logging setting reaches it); kept off the terminal by `quiet.native_lines_dropped`.
_NOTICES = (b"INFO: Created TensorFlow Lite XNNPACK delegate",)


def input_form(in_shape: tuple) -> tuple[int, ...] | None:
    """The accepted form that the model's input shape (batch axis excluded) matches."""
    for form in ACCEPTED_INPUTS:
        if len(form) == len(in_shape) and all(d is None or d == f for d, f in zip(in_shape, form)):
            return form
    return None


def shape_text(shape: tuple) -> str:
    return str((None, *shape))


def shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LiteBackend:
    """A TFLite flatbuffer on LiteRT: one interpreter for single images (one thread: more
    only adds hand-offs at this size) and one for batches (every core). ModelError when the
    bytes are not a TFLite model or not a digit model's shapes."""

    name = "LiteRT"

    def __init__(self, flatbuffer: bytes):
        self._single = _Interpreter(flatbuffer, threads=1)
        self._many = _Interpreter(flatbuffer, threads=os.cpu_count() or 1)
        self.one(np.zeros((1, *IMAGE_SHAPE), np.float32))
        self.batch(np.zeros((BATCH_SIZE, *IMAGE_SHAPE), np.float32))

    def one(self, x: np.ndarray) -> np.ndarray:
        return self._single.run(x)

    def batch(self, x: np.ndarray) -> np.ndarray:
        return self._many.run(x)


_announced: list[bool] = []  # LiteRT's first interpreter in this process has been made


class _Interpreter:
    """A LiteRT interpreter behind a lock, its input resized to each call's batch size."""

    def __init__(self, flatbuffer: bytes, threads: int):
        from ai_edge_litert.interpreter import Interpreter  # 0.1 s, once

        try:
            if _announced:
                self._interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
            else:
                with quiet.native_lines_dropped(*_NOTICES):
                    self._interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
                    self._interpreter.allocate_tensors()
                _announced.append(True)
            inputs = self._interpreter.get_input_details()
            outputs = self._interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"Not a TFLite model LiteRT can run: {shorten(str(exc))}") from exc
        self._model_shape = lite_shapes(inputs, outputs)
        self._input, self._output = inputs[0], outputs[0]["index"]
        self._shape: tuple | None = None
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs float32 (N, 10) for images float32 (N, 28, 28, 1)."""
        if len(x) == 0:
            return np.empty((0, NUM_CLASSES), np.float32)
        x = np.ascontiguousarray(x.reshape(self._model_shape), self._input["dtype"])
        with self._lock:
            if x.shape != self._shape:
                self._interpreter.resize_tensor_input(self._input["index"], x.shape)
                self._interpreter.allocate_tensors()
                self._shape = x.shape
            self._interpreter.set_tensor(self._input["index"], x)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).astype(np.float32, copy=False)


def lite_shapes(inputs: list[dict], outputs: list[dict]) -> tuple:
    """(-1, ...): the input form of a flatbuffer's model; ModelError unless it takes one 28x28
    image form (ACCEPTED_INPUTS) and gives 10 outputs, as `keras_model.check_shapes` says."""
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"The TFLite model must have one input and one output, "
            f"has {len(inputs)} and {len(outputs)}."
        )
    in_shape = tuple(None if d < 0 else int(d) for d in inputs[0]["shape_signature"][1:])
    out_shape = tuple(int(d) for d in outputs[0]["shape_signature"][1:])
    form = input_form(in_shape)
    if form is None:
        raise ModelError(
            f"The TFLite model takes input {shape_text(in_shape)}, "
            "but a 28x28 digit model needs (None, 28, 28, 1)."
        )
    if out_shape != (NUM_CLASSES,):
        raise ModelError(
            f"The TFLite model outputs {shape_text(out_shape)}, "
            f"but a digit classifier needs (None, {NUM_CLASSES})."
        )
    return (-1, *form)
