"""What each layer of a spec gives and costs, worked out by hand as Keras would build it:
its output shape, its parameters and its multiply-adds per image. No TensorFlow here.

Shapes leave out the batch axis: (height, width, channels) for maps, (n,) for numbers.
Parameters count every weight Keras saves (batch norm's moving statistics too, as
`model.count_params()` does). Multiply-adds are the forward pass of one image through the
Dense and Conv2D layers, which dominate it; pooling, activations and batch norm count 0.
A layer that cannot take what it meets raises `SpecError` naming it by position and type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError

INPUT_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class LayerCost:
    """One layer of a spec as the diagram and the cost table show it.

    position: 1-based place in the spec's layers; for the output the project adds, one past
    them (`added` True). name: "layer 3" or "output"; kind: the Keras type; config: its
    arguments with Keras' defaults filled in; shape: output shape; params; madds."""

    position: int
    kind: str
    shape: tuple[int, ...]
    params: int
    madds: int
    config: dict[str, Any] = field(default_factory=dict)
    added: bool = False

    @property
    def name(self) -> str:
        return f"added {self.kind}" if self.added else f"layer {self.position}"

    @property
    def activation(self) -> str | None:
        return self.config.get("activation")


def _pair(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) else (value, value)


def _map_words(shape: Sequence[int]) -> str:
    if len(shape) == 3:
        return f"{shape[2]} map{'s' if shape[2] != 1 else ''} of {shape[0]}×{shape[1]}"
    return f"{shape[0]:,} numbers"


def trace(layers: Sequence[dict[str, Any]], spec_length: int | None = None) -> list[LayerCost]:
    """Each layer's LayerCost, in order, from the 28x28x1 input. Layers past `spec_length`
    (default: all are the spec's) are the ones the project added."""
    spec_length = len(layers) if spec_length is None else spec_length
    shape: tuple[int, ...] = INPUT_SHAPE
    out = []
    for position, layer in enumerate(layers, start=1):
        kind = layer["type"]
        where = f"Layer {position} ({kind})"
        config = {k: v for k, v in layer.items() if k != "type"}
        params = madds = 0
        spatial = len(shape) == 3
        if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                    "GlobalMaxPooling2D") and not spatial:  # fmt: skip
            raise SpecError(
                f"{where}: needs maps (height × width × channels) but meets {_map_words(shape)}; "
                "move it before Flatten or Dense"
            )
        if kind == "Dense" and spatial:
            raise SpecError(
                f"{where}: meets {_map_words(shape)}; put Flatten or GlobalAveragePooling2D "
                "before it"
            )
        if kind == "Conv2D":
            config = {"strides": 1, "padding": "valid", "activation": "linear", "use_bias": True,
                      **config}  # fmt: skip
            window, channels_in = _pair(config["kernel_size"]), shape[2]
            shape = _slide(where, "kernel", shape, window, config, config["filters"])
            params = window[0] * window[1] * channels_in * config["filters"]
            madds = params * shape[0] * shape[1]
            params += config["filters"] if config["use_bias"] else 0
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            config = {"pool_size": 2, "strides": None, "padding": "valid", **config}
            window = _pair(config["pool_size"])
            shape = _slide(where, "pool", shape, window, config, shape[2])
        elif kind.startswith("Global"):
            shape = (shape[2],)
        elif kind == "Flatten":
            shape = (math.prod(shape),)
        elif kind == "Dense":
            config = {"activation": "linear", "use_bias": True, **config}
            madds = shape[0] * config["units"]
            params = madds + (config["units"] if config["use_bias"] else 0)
            shape = (config["units"],)
        elif kind == "BatchNormalization":
            config = {"momentum": 0.99, **config}
            params = 4 * shape[-1]  # gamma, beta, moving mean and variance
        out.append(
            LayerCost(position, kind, shape, params, madds, config, added=position > spec_length)
        )
    return out


def _slide(where: str, what: str, shape, window, config, channels) -> tuple[int, int, int]:
    """Output shape of a window sliding over (h, w, c) maps, as Keras computes it."""
    h, w = shape[0], shape[1]
    if window[0] > h or window[1] > w:
        raise SpecError(
            f"{where}: the {window[0]}×{window[1]} {what} is larger than the {h}×{w} map it meets"
        )
    strides = _pair(config["strides"] if config["strides"] is not None else window)
    if config["padding"] == "same":
        return (math.ceil(h / strides[0]), math.ceil(w / strides[1]), channels)
    return ((h - window[0]) // strides[0] + 1, (w - window[1]) // strides[1] + 1, channels)
