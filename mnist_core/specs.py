"""A network as data: a JSON spec of layers (Keras' names and argument names) and training
settings, checked against allowlists and limits, and built into a Keras model.

    {"layers": [{"type": "Conv2D", "filters": 6, "kernel_size": 5, "activation": "relu"},
                {"type": "MaxPooling2D", "pool_size": 2},
                {"type": "Flatten"},
                {"type": "Dense", "units": 84, "activation": "relu"}],
     "optimizer": "adam", "learning_rate": 0.001, "batch_size": 128, "epochs": 5}

The input is always 28x28x1. The project adds the output: a Flatten when the last layer
still gives maps, then Dense(10, output_activation), unless the last layer already is that
Dense; so a learner writes only the hidden layers, and `{"layers": []}` is a linear
classifier. Nothing in a spec is code: layer types, arguments, activations and optimizers
come from fixed lists, so a model built from any spec saves and loads in Keras' safe mode.

Every fault is a `SpecError` with one line naming the layer by position (from 1) and type.
Shapes, parameters and multiply-adds are worked out without TensorFlow (`layer_costs`), so
the page and the command line can check a spec, and the server can queue one, cheaply.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from . import paths
from .errors import SpecError
from .layer_costs import LayerCost, trace

# --------------------------------------------------------------------------- the allowlists

_POOL_ARGS = ("pool_size", "strides", "padding")
LAYER_ARGS: dict[str, tuple[str, ...]] = {  # type -> the arguments it takes, required first
    "Dense": ("units", "activation", "use_bias"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
    "MaxPooling2D": _POOL_ARGS,
    "AveragePooling2D": _POOL_ARGS,
    "GlobalAveragePooling2D": (),
    "GlobalMaxPooling2D": (),
    "Flatten": (),
    "Dropout": ("rate",),
    "BatchNormalization": ("momentum",),
    "Activation": ("activation",),
}
REQUIRED = {
    "Dense": ("units",),
    "Conv2D": ("filters", "kernel_size"),
    "Activation": ("activation",),
}
REQUIRED["Dropout"] = ("rate",)
ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "elu", "gelu", "selu", "swish", "linear")
OPTIMIZERS = {  # name -> what the page says about it
    "adam": "Adam (Keras defaults)",
    "adam-fast": "Adam with shorter memories (β1 0.7, β2 0.9): reacts faster",
    "sgd": "plain stochastic gradient descent",
    "sgd-momentum": "SGD with momentum 0.9",
    "rmsprop": "RMSprop",
}
SCHEDULES = {
    "constant": "constant",
    "warmup-cosine": "warm-up, then cosine decay to 0",
    "one-cycle": "one cycle: up from a 25th for 30% of the steps, then down to 0",
    "reduce-on-plateau": "halved when the loss stops improving for 2 epochs",
}
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid")
# Largest sizes a layer may ask for: beyond them a network only burns the server's time.
SIZE_LIMITS = {"units": 4096, "filters": 512, "kernel_size": 28, "strides": 28, "pool_size": 28}
# Training settings and their bounds (the Train page's controls use the same numbers).
BOUNDS = {
    "epochs": (1, 200),
    "batch_size": (8, 4096),
    "learning_rate": (1e-5, 1.0),
    "val_fraction": (0.0, 0.5),
    "warmup_fraction": (0.0, 0.5),
    "patience": (1, 50),
    "label_smoothing": (0.0, 0.5),
    "corrupted_share": (0.0, 1.0),
    "members": (1, 4),
}
MAX_SPEC_CHARS = 100_000  # a pasted or uploaded spec


@dataclass(frozen=True)
class Limits:
    layers: int  # the spec's own layers (not the output the project adds)
    params: int
    madds: int  # multiply-adds per image, forward pass


LIMITS = Limits(layers=30, params=5_000_000, madds=50_000_000)
# The hosted demo trains nothing, but every visitor's edits are traced on the shared server.
# Room for every preset, the two-network robust-ensemble (13.2M multiply-adds) included.
DEMO_LIMITS = Limits(layers=30, params=1_000_000, madds=15_000_000)


def limits() -> Limits:
    return DEMO_LIMITS if paths.demo_mode() else LIMITS


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Spec:
    """A checked network spec. `layers`: the hidden layers as written (dicts with "type" and
    allowed arguments only); the rest are training settings with their defaults."""

    layers: tuple[dict[str, Any], ...] = ()
    output_activation: str = "softmax"  # the output Dense(10)'s; "sigmoid" for the seed MLP
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    warmup_fraction: float = 0.0  # share of all steps spent warming up (warmup-cosine)
    patience: int | None = None  # early stopping: epochs without improvement; None: off
    augment: bool = False  # random shifts, rotations and zoom of the training images
    label_smoothing: float = 0.0
    # Extra training images: a copy of this share of them, each changed by one of the
    # robustness view's corruptions (`robustness.corrupted_copies`); 0: none.
    corrupted_share: float = 0.0
    batch_size: int = 128
    epochs: int = 5
    val_fraction: float = 0.1  # share of the training images held back for validation
    # An ensemble: this many networks of these layers, trained one after another (each from
    # its own seed, on the same held-back images) and their probabilities averaged (`ensemble`).
    members: int = 1

    def to_dict(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        raw["layers"] = [dict(layer) for layer in self.layers]
        return raw

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def costs(self) -> list[LayerCost]:
        """Every layer the model has, the project's output included: shape, params, madds."""
        return trace(self.full_layers(), spec_length=len(self.layers))

    def full_layers(self) -> list[dict[str, Any]]:
        """The spec's layers with what the project adds to reach the ten outputs."""
        layers = [dict(layer) for layer in self.layers]
        output = {"type": "Dense", "units": 10, "activation": self.output_activation}
        last = layers[-1] if layers else {}
        if {k: last.get(k) for k in output} == output and last.get("use_bias", True):
            return layers
        shape = trace(layers)[-1].shape if layers else (28, 28, 1)
        extra = [{"type": "Flatten"}] if len(shape) == 3 else []
        return layers + extra + [output]

    def replace(self, **changes: Any) -> Spec:
        return check({**self.to_dict(), **changes})


def from_json(text: str, limits: Limits | None = None) -> Spec:
    """A spec from JSON text; SpecError (one line) for anything wrong with it."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(
            f"The spec is too long ({len(text):,} characters; at most {MAX_SPEC_CHARS:,})"
        )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise SpecError("Not valid JSON: nested too deeply") from None
    return check(raw, limits)


def check(raw: Any, limits_: Limits | None = None) -> Spec:
    """A Spec from a parsed JSON value, every layer and setting checked, then the shapes
    traced and the limits applied (`limits()` by default: tighter in the hosted demo)."""
    limits_ = limits_ or limits()
    if not isinstance(raw, dict):
        raise SpecError(
            f'A spec must be a JSON object such as {{"layers": [...]}}, not {_kind(raw)}'
        )
    known = {f.name for f in dataclasses.fields(Spec)}
    for key in raw:
        if key not in known:
            raise SpecError(
                f"Unknown setting {_short(key)}; a spec takes {', '.join(sorted(known))}"
            )
    if "layers" not in raw:
        raise SpecError('The spec has no "layers": give a list of layers (it may be empty)')
    layers = raw["layers"]
    if not isinstance(layers, list):
        raise SpecError(f'"layers" must be a list of layers, not {_kind(layers)}')
    if len(layers) > limits_.layers:
        raise SpecError(f"Too many layers: {len(layers)} (at most {limits_.layers})")
    checked = tuple(_check_layer(i, layer) for i, layer in enumerate(layers, start=1))
    settings = {k: v for k, v in raw.items() if k != "layers"}
    spec = Spec(layers=checked, **_check_settings(settings))
    costs = spec.costs()
    params = spec.members * sum(c.params for c in costs)
    madds = spec.members * sum(c.madds for c in costs)
    if params > limits_.params:
        raise SpecError(f"Too many parameters: {params:,} (at most {limits_.params:,})")
    if madds > limits_.madds:
        raise SpecError(f"Too many multiply-adds per image: {madds:,} (at most {limits_.madds:,})")
    return spec


def _check_layer(position: int, layer: Any) -> dict[str, Any]:
    if not isinstance(layer, dict):
        raise SpecError(f'Layer {position}: must be an object with a "type", not {_kind(layer)}')
    kind = layer.get("type")
    if not isinstance(kind, str) or kind not in LAYER_ARGS:
        raise SpecError(
            f"Layer {position} ({_short(kind)}): unknown layer type; use one of "
            f"{', '.join(LAYER_ARGS)}"
        )
    where = f"Layer {position} ({kind})"
    allowed = LAYER_ARGS[kind]
    for name in layer:
        if name != "type" and name not in allowed:
            takes = f"takes {', '.join(allowed)}" if allowed else "takes no arguments"
            raise SpecError(f"{where}: unknown argument {_short(name)}; {kind} {takes}")
    for name in REQUIRED.get(kind, ()):
        if name not in layer:
            raise SpecError(f"{where}: needs {name!r}")
    out: dict[str, Any] = {"type": kind}
    for name in allowed:
        if name in layer:
            out[name] = _check_arg(where, name, layer[name])
    return out


def _check_arg(where: str, name: str, value: Any) -> Any:
    if name in ("units", "filters"):
        return _whole(where, name, value, 1, SIZE_LIMITS[name])
    if name in ("kernel_size", "strides", "pool_size"):
        if name == "strides" and value is None:
            return None  # pooling: the pool's own size
        if isinstance(value, list) and len(value) == 2:
            return [_whole(where, name, v, 1, SIZE_LIMITS[name]) for v in value]
        return _whole(where, name, value, 1, SIZE_LIMITS[name])
    if name == "padding":
        if value not in ("valid", "same"):
            raise SpecError(f'{where}: padding must be "valid" or "same", not {_short(value)}')
        return value
    if name == "activation":
        if value is None:
            return "linear"
        if value not in ACTIVATIONS:
            raise SpecError(
                f"{where}: unknown activation {_short(value)}; use one of {', '.join(ACTIVATIONS)}"
            )
        return value
    if name == "use_bias":
        if not isinstance(value, bool):
            raise SpecError(f"{where}: use_bias must be true or false, not {_short(value)}")
        return value
    # rate (dropout) and momentum (batch norm): fractions in [0, 1)
    if not _number(value) or not 0 <= value < 1:
        raise SpecError(
            f"{where}: {name} must be a number from 0 up to (not including) 1, not {_short(value)}"
        )
    return float(value)


def _check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    out = dict(settings)
    for name, choices in (
        ("optimizer", OPTIMIZERS),
        ("schedule", SCHEDULES),
        ("output_activation", OUTPUT_ACTIVATIONS),
    ):
        if name in out and out[name] not in choices:
            raise SpecError(f"Unknown {name} {_short(out[name])}; use one of {', '.join(choices)}")
    if "augment" in out and not isinstance(out["augment"], bool):
        raise SpecError(f"augment must be true or false, not {_short(out['augment'])}")
    for name, (low, high) in BOUNDS.items():
        if name not in out or (name == "patience" and out[name] is None):
            continue
        value, whole = out[name], name in ("epochs", "batch_size", "patience", "members")
        if not _number(value) or (whole and not float(value).is_integer()):
            kind = "a whole number" if whole else "a number"
            raise SpecError(f"{name} must be {kind}, not {_short(value)}")
        if not low <= value <= high:
            raise SpecError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
        out[name] = int(value) if whole else float(value)
    return out


def _whole(where: str, name: str, value: Any, low: int, high: int) -> int:
    if not _number(value) or not float(value).is_integer():
        raise SpecError(f"{where}: {name} must be a whole number, not {_short(value)}")
    if not low <= value <= high:
        raise SpecError(f"{where}: {name} must be between {low} and {high}, not {value:g}")
    return int(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    names = {list: "a list", dict: "an object", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- words


def summary(spec: Spec) -> str:
    """The layers in one line, e.g. "Conv2D 6 5x5 relu → MaxPooling2D 2 → Flatten → Dense 10";
    an ensemble's end with how many networks of them it averages (" × 2 networks, averaged")."""
    parts = []
    for layer in spec.full_layers():
        words = [layer["type"]]
        for name in ("units", "filters", "kernel_size", "pool_size", "rate", "activation"):
            value = layer.get(name)
            if value is None or value == "linear":
                continue
            if name == "kernel_size":
                value = "x".join(map(str, value)) if isinstance(value, list) else f"{value}x{value}"
            words.append(str(value))
        parts.append(" ".join(words))
    networks = f" × {spec.members} networks, averaged" if spec.members > 1 else ""
    return " → ".join(parts) + networks


# --------------------------------------------------------------------------- Keras


def build_model(spec: Spec):
    """The uncompiled keras.Model of `spec`: float32 (N, 28, 28, 1) in, (N, 10) out."""
    import keras
    from keras import layers

    classes = {name: getattr(layers, name) for name in LAYER_ARGS}  # the allowlist, nothing else
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = inputs
    for layer in spec.full_layers():
        args = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in layer.items() if k != "type"
        }
        x = classes[layer["type"]](**args)(x)
    return keras.Model(inputs, x)


def ensemble(models: list):
    """One keras.Model that averages the probabilities of `models` (each a network from
    `build_model`): the app, the command line, the export and the explanations see one model.
    Only Keras' own classes (nested models, Average), so it saves and loads in safe mode."""
    import keras

    inputs = keras.Input(shape=(28, 28, 1), name="image")
    average = keras.layers.Average(name="average")([model(inputs) for model in models])
    return keras.Model(inputs, average, name="ensemble")


def networks(model) -> list:
    """The networks `model` averages when it is an `ensemble`, else [model] itself."""
    import keras

    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    last = model.layers[-1] if model.layers else None
    return inner if inner and isinstance(last, keras.layers.Average) else [model]
