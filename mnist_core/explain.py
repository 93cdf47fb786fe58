"""Inside a digit model: its layers, what each computes for one input, and why it answered.

    explainer = Explainer(load_model("models/default/model.keras"))
    x = preprocess.to_mnist(picture)                  # float32 (28, 28) in [0, 1]
    p = explainer.probabilities(x)                    # float32 (10,)
    maps = explainer.saliency(x, target=int(p.argmax()))  # float32 (28, 28), signed
    curve = explainer.deletion(x, maps, target)       # how faithful that map is

Conventions: an input is one preprocessed picture, float32 (28, 28) in [0, 1] (MNIST's: white
ink on black). A saliency map is float32 (28, 28); positive = this pixel is evidence *for* the
explained digit, negative = evidence against it; scales differ between methods (compare signs
and ranks, not values). The explained quantity is the model's probability of the target digit
(softmax applied where the model outputs logits). An ensemble (`specs.ensemble`) is one
model here: the maps explain its averaged answer; the layers shown are its first network's.

The methods (`METHODS`, the default first):
  integrated-gradients  Sundararajan et al. 2017: the gradient averaged along the straight path
                        from a black picture to the input, times the input. Its attributions
                        add up to p(input) - p(black) (completeness). Works for every network.
  grad-cam              Grad-CAM (Selvaraju et al. 2017) in its element-wise form, HiResCAM
                        (Draelos & Carin 2020), on the last convolutional feature maps of at
                        least GRAD_CAM_MIN_SIZE (4x4): each map times its
                        gradient at each place, summed over the maps, then drawn at 28x28 with
                        each cell over the centre of the pixels it sees (`_cam_geometry`).
                        Plain Grad-CAM first averages each map's gradient over all places,
                        which lights up wherever a map fires, also where the answer does not
                        look (on the synthetic model of tests/test_explain.py about 20% of its
                        map fell inside the only region the model reads; here all). Kept
                        signed (no ReLU) so that evidence against shows too. Networks with a
                        convolution only.
  occlusion             Zeiler & Fergus 2014: a 6x6 black patch slid over the picture (stride 3,
                        and one more at the far edge);
                        the drop of the target's probability is shared among the pixels the
                        patch changed, in proportion to their ink (a pixel black already is
                        not changed by a black patch, so it gets none). Needs no gradients;
                        for every network.
How faithful a map is, is measured, not assumed: `deletion` (Petsiuk et al. 2018) blacks out
the pixels in the map's order, 8 at a time, and records the target's probability; the area
under that curve (lower = the map found what the answer depends on) is compared with
deleting in random order and with deleting the brightest ink first (`ink_first`), a baseline
that knows nothing about the model (benchmarks/explain_bench.py).

TensorFlow is needed (gradients); everything runs as a few batched calls of traced functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from . import specs
from .data import NUM_CLASSES
from .errors import InputError
from .inference import IMAGE_SHAPE, _input_form, _output_kind, _probes

METHODS = ("integrated-gradients", "grad-cam", "occlusion")
# The settings below were chosen by the deletion test (mean area, lower = more faithful) on 300
# of the shipped best-cnn's own validation images, never test images (`python
# benchmarks/explain_bench.py --tune`, 2026-11-29): brightest ink first 0.179, random 0.624.
DEFAULT_METHOD = "integrated-gradients"  # 0.090; occlusion 0.130, Grad-CAM 0.211 (the lowest
# mean, though occlusion is lower on 62-68% of the images: integrated gradients fail less badly)
METHOD_NAMES = {
    "integrated-gradients": "Integrated gradients",
    "grad-cam": "Grad-CAM",
    "occlusion": "Occlusion",
}
IG_STEPS = 64  # path points (midpoint rule). 16/32/64/128: 0.102/0.093/0.090/0.086; 128 gain
# 0.004 +- 0.002 but make all maps of one input 91 ms p50 instead of 60 (busy cores).
# Completeness misses by a median 3% here (p95 45%), 0.9% (7%) at 128, 21% (84%) at 32
OCCLUSION_PATCH, OCCLUSION_STRIDE = 6, 3  # patch/stride 3/1, 4/2, 5/2, 6/3, 8/4: 0.131, 0.130,
# 0.129, 0.130, 0.134; 6/3 is as faithful as 4/2 with 64 patches instead of 169 (18 ms less)
GRAD_CAM_MIN_SIZE = 4  # the last feature maps at least this big. best-cnn's 4x4: 0.211, 8x8:
# 0.243 (-0.033 +- 0.007 paired), 10x10 0.235, 12x12 0.236, 24x24 0.643; under 4x4 not tried
DELETION_STEP = 8  # pixels blacked out per step of the deletion test (the issue's, Petsiuk's)
MAX_IG_STEPS = 4096  # a bound on a caller's `steps` (the CLI's --steps): 4096 take seconds
IG_BATCH = 128  # path points per gradient call: bounds the memory of a long path
CONV_KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")


@dataclass(frozen=True)
class LayerInfo:
    """One layer as a newcomer's diagram shows it.

    name: Keras' layer name; kind: its class name ("Conv2D", "Dense", ...); shape: its output
    without the batch axis, e.g. (24, 24, 32) or (128,); params: trainable and other weights;
    activation: the activation function's name where the layer has one ("relu"), else None.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    params: int
    activation: str | None

    @property
    def spatial(self) -> bool:
        """Whether the output is a stack of pictures (height, width, channels)."""
        return len(self.shape) == 3


@dataclass(frozen=True)
class FirstLayer:
    """What the first weighted layer learned, as pictures.

    kind "dense": images float32 (units, 28, 28), each unit's 784 input weights (a template);
    kind "conv": images float32 (filters, kh, kw), each filter's weights on the one input
    channel. Signed, in the layer's own units.
    """

    layer: str
    kind: str
    images: np.ndarray


@dataclass(frozen=True)
class Deletion:
    """The deletion test on one input: `curve[k]` (float32) is the target's probability after
    the first min(k * step, 784) pixels of `order` (int (784,)) were set to 0: curve[0] is the
    untouched input, curve[-1] the all-black picture. `auc` is the area under the curve over
    the fraction deleted (`fractions`, 0 to 1), in [0, 1]; lower is better."""

    order: np.ndarray
    curve: np.ndarray
    step: int

    @property
    def fractions(self) -> np.ndarray:
        """float64 (len(curve),): the share of the 784 pixels deleted at each point."""
        return np.minimum(np.arange(len(self.curve)) * self.step, 28 * 28) / (28 * 28)

    @property
    def auc(self) -> float:
        # The true x axis: the last step is shorter when `step` does not divide 784.
        return float(np.trapezoid(self.curve, self.fractions))


def first_layer_images(model: keras.Model) -> FirstLayer | None:
    """The first Dense or Conv2D layer's weights as pictures, or None when it has neither
    shape (e.g. a Dense layer that does not see all 784 pixels, a multi-channel input). For
    an ensemble (`specs.ensemble`), its first network's."""
    for layer in specs.networks(model)[0].layers:
        kind = type(layer).__name__
        if kind not in ("Dense", "Conv2D"):
            continue
        kernel = np.asarray(layer.get_weights()[0], dtype=np.float32)
        if kind == "Dense" and kernel.shape[0] == 28 * 28:
            return FirstLayer(layer.name, "dense", kernel.T.reshape(-1, 28, 28))
        if kind == "Conv2D" and kernel.ndim == 4 and kernel.shape[2] == 1:
            return FirstLayer(layer.name, "conv", np.transpose(kernel[:, :, 0, :], (2, 0, 1)))
        return None
    return None


def describe(model: keras.Model) -> list[LayerInfo]:
    """The model's layers in order (its input layer left out). An ensemble's are its own
    (input, networks, average): `Explainer` describes its first network instead."""
    infos = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None) if activation is not None else None
        infos.append(
            LayerInfo(
                name=layer.name,
                kind=type(layer).__name__,
                shape=tuple(int(d) for d in layer.output.shape[1:]),
                params=int(layer.count_params()),
                activation=name,
            )
        )
    return infos


def _shapes(network: keras.Model) -> list[tuple[str, tuple[int, ...]]]:
    """Each layer's kind and output shape: two networks of the same shape have equal ones."""
    return [(info.kind, info.shape) for info in describe(network)]


def _check_image(x28) -> np.ndarray:
    try:
        x = np.asarray(x28, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"Expected an image of numbers, got {type(x28).__name__}.") from None
    if x.shape not in ((28, 28), IMAGE_SHAPE):
        raise InputError(f"Expected one image of shape (28, 28), got {x.shape}.")
    if not np.isfinite(x).all():
        raise InputError("The image has values that are not numbers.")
    return x.reshape(28, 28)


def _check_target(target) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise InputError(f"The digit to explain must be a whole number, got {target!r}.")
    if not 0 <= int(target) < NUM_CLASSES:
        raise InputError(f"The digit to explain must be 0 to 9, got {target}.")
    return int(target)


def _check_count(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be a whole number, got {value!r}.")
    if not low <= int(value) <= high:
        raise InputError(f"{name} must be {low} to {high}, got {value}.")
    return int(value)


def check_steps(steps) -> int:
    """`steps` for integrated gradients if it is a whole number from 1 to MAX_IG_STEPS, else
    InputError (one line) saying so."""
    return _check_count(steps, "Integrated gradients' steps", 1, MAX_IG_STEPS)


def _check_order(order_or_map) -> np.ndarray:
    """int (784,): a pixel order as given, or a map's pixels from the most positive."""
    try:
        order = np.asarray(order_or_map)
        if order.shape == (28, 28):
            values = order.astype(np.float64).ravel()
            if not np.isfinite(values).all():
                raise InputError("The saliency map has values that are not numbers.")
            return np.argsort(-values, kind="stable")
    except (TypeError, ValueError):
        raise InputError("Expected an order of 784 pixels or a 28x28 map of numbers.") from None
    if order.shape != (28 * 28,):
        raise InputError(f"Expected an order of 784 pixels or a 28x28 map, got {order.shape}.")
    if order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(28 * 28)):
        raise InputError("A pixel order must name each of the 784 pixels (0 to 783) once.")
    return order


def ink_first(x28: np.ndarray) -> np.ndarray:
    """A baseline ordering for `deletion` that knows nothing about the model: the brightest
    pixels first (ties in reading order). int (784,)."""
    return np.argsort(-_check_image(x28).ravel(), kind="stable")


class Explainer:
    """Activations, first-layer weights and saliency maps of one digit model.

    An ensemble (`specs.ensemble`) is explained as one model: its probabilities, saliency
    maps and deletion tests are of the averaged answer; its layers, their outputs and its
    first-layer pictures are its first network's (`networks` says how many are averaged,
    `alike` whether all have the first one's layers and shapes); Grad-CAM is not offered.

    Build it once per model (it traces a few TensorFlow functions, about a second); its
    calls are then batched and fast (all maps for one input about 60 ms p50 for best-cnn on
    2 cores, more when the cores are busy: benchmarks/explain_bench.py). Safe to share between threads: Keras models
    and traced functions are.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        in_shape = _input_form(tuple(model.inputs[0].shape)[1:])
        if in_shape is None or tuple(model.outputs[0].shape)[1:] != (NUM_CLASSES,):
            raise InputError(f"Model {model.name!r} is not a 28x28 digit classifier.")
        self._model_shape = (-1, *in_shape)
        probes = _probes()
        raw = np.asarray(model(probes.reshape(self._model_shape), training=False))
        self.output_kind = _output_kind(raw)
        # An ensemble's answer is the average of its networks': the answer and the maps
        # above use the whole model; the layers, their outputs and the first layer's
        # pictures are its first network's (in an ensemble of one spec the others have the
        # same layers, other weights).
        networks = specs.networks(model)
        self.networks = len(networks)  # how many networks the answer averages (1: one)
        self.first_network = networks[0]  # the network `layers` describes (`model` itself)
        self.alike = all(_shapes(n) == _shapes(networks[0]) for n in networks[1:])
        network = self.first_network
        network_shape = _input_form(tuple(network.inputs[0].shape)[1:])
        if network_shape is None:
            raise InputError(f"Model {model.name!r} is not a 28x28 digit classifier.")
        self._network_shape = (-1, *network_shape)
        self.layers = describe(network)
        self._every_layer = keras.Model(
            network.inputs, [network.get_layer(info.name).output for info in self.layers]
        )
        self.cam_layer = self._grad_cam_layer()
        self._cam_model = (
            keras.Model(model.inputs, [model.get_layer(self.cam_layer).output, model.outputs[0]])
            if self.cam_layer
            else None
        )
        # autograph=False: nothing here needs it, and AutoGraph writes its converted code as
        # __autograph_generated_file*.py into the temporary folder (the hosted demo writes
        # nothing; inference.py does the same).
        spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        target = tf.TensorSpec((), tf.int32)
        self._probs = tf.function(self._probabilities_tf, input_signature=[spec], autograph=False)
        model_spec = tf.TensorSpec((None, *network_shape), tf.float32)
        self._layer_outputs = tf.function(
            lambda x: self._every_layer(x, training=False),
            input_signature=[model_spec],
            autograph=False,
        )
        self._gradients = tf.function(
            self._gradients_tf, input_signature=[spec, target], autograph=False
        )
        self._cam = (
            tf.function(self._grad_cam_tf, input_signature=[spec, target], autograph=False)
            if self._cam_model
            else None
        )
        self._cam_upsampling = _upsampling(model, self.cam_layer) if self.cam_layer else None

    # ------------------------------------------------------------------ the model's answer

    @property
    def methods(self) -> tuple[str, ...]:
        """The saliency methods this model allows (Grad-CAM needs a convolution, and one
        network: on an ensemble it would explain one network's answer, not the average)."""
        return tuple(m for m in METHODS if m != "grad-cam" or self.cam_layer)

    def _as_probabilities_tf(self, y):
        if self.output_kind == "logits":
            return tf.nn.softmax(y, axis=-1)
        if self.output_kind == "scores":
            y = tf.maximum(y, 0.0)
            return y / tf.maximum(tf.reduce_sum(y, axis=-1, keepdims=True), 1e-30)
        return y

    def _probabilities_tf(self, x):
        y = self.model(tf.reshape(x, self._model_shape), training=False)
        return self._as_probabilities_tf(tf.cast(y, tf.float32))

    def _gradients_tf(self, x, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            p = self._probabilities_tf(x)[:, target]
        return tape.gradient(p, x), p

    def probabilities(self, x28) -> np.ndarray:
        """float32 (10,): the model's probabilities for one picture."""
        x = _check_image(x28).reshape(1, 28, 28, 1)
        return self._probs(tf.constant(x)).numpy()[0]

    def _batch_probabilities(self, images: np.ndarray) -> np.ndarray:
        return self._probs(tf.constant(images.reshape(-1, 28, 28, 1))).numpy()

    # ------------------------------------------------------------------ inside

    def activations(self, x28) -> list[tuple[LayerInfo, np.ndarray]]:
        """Each layer's output for one picture, in order: float32 arrays of `info.shape`
        (feature maps (h, w, channels); a dense layer's units (n,); the last: 10 outputs)."""
        x = _check_image(x28).reshape(self._network_shape[1:])[None]
        outputs = self._layer_outputs(tf.constant(x))
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [(info, np.asarray(out)[0]) for info, out in zip(self.layers, outputs)]

    def first_layer(self) -> FirstLayer | None:
        return first_layer_images(self.model)

    # ------------------------------------------------------------------ why

    def saliency(
        self, x28, target: int, method: str = DEFAULT_METHOD, steps: int = IG_STEPS
    ) -> np.ndarray:
        """float32 (28, 28): how much each pixel pushed the model toward `target` (positive)
        or away from it (negative), by `method` (see METHODS); `steps`: integrated
        gradients' path points."""
        x = _check_image(x28)
        target = _check_target(target)
        method = self.check_method(method)
        if method == "integrated-gradients":
            return self._integrated_gradients(x, target, steps)
        if method == "grad-cam":
            return self._grad_cam(x, target)
        return self._occlusion(x, target)

    def check_method(self, method) -> str:
        """`method` if this model allows it (see `methods`), else InputError saying why."""
        if method not in self.methods:
            if method == "grad-cam" and self.networks > 1:
                raise InputError(
                    f"Grad-CAM is not offered for a model that averages {self.networks} "
                    "networks: it would explain one network, not the averaged answer."
                )
            if method == "grad-cam":
                raise InputError("Grad-CAM needs a network with a convolution layer.")
            raise InputError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
        return method

    def _integrated_gradients(self, x: np.ndarray, target: int, steps: int):
        steps = check_steps(steps)
        alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps  # midpoints of the path
        total = np.zeros((28, 28), np.float64)
        for start in range(0, steps, IG_BATCH):
            path = alphas[start : start + IG_BATCH, None, None] * x[None]  # black -> x
            grads, _ = self._gradients(tf.constant(path[..., None]), tf.constant(target))
            total += grads.numpy()[..., 0].sum(axis=0)
        return (total / steps * x).astype(np.float32)

    def _grad_cam_layer(self) -> str | None:
        """The last stack of feature maps of at least GRAD_CAM_MIN_SIZE (else the last of
        any size), from the first convolution on; None for a network without one, and for
        an ensemble (its maps would be one network's, the answer is the average)."""
        if self.networks > 1:
            return None
        kinds = [info.kind for info in self.layers]
        first = next((i for i, kind in enumerate(kinds) if kind in CONV_KINDS), None)
        if first is None:
            return None
        spatial = [info for info in self.layers[first:] if info.spatial]
        big = [info for info in spatial if min(info.shape[:2]) >= GRAD_CAM_MIN_SIZE]
        return (big or spatial)[-1].name

    def _grad_cam_tf(self, x, target):
        with tf.GradientTape() as tape:
            maps, y = self._cam_model(tf.reshape(x, self._model_shape), training=False)
            p = self._as_probabilities_tf(tf.cast(y, tf.float32))[:, target]
        grads = tape.gradient(p, maps)
        return tf.reduce_sum(grads * maps, axis=-1)  # each place's own gradient (HiResCAM)

    def _grad_cam(self, x: np.ndarray, target: int) -> np.ndarray:
        cam = self._cam(tf.constant(x.reshape(1, 28, 28, 1)), tf.constant(target)).numpy()[0]
        rows, cols = self._cam_upsampling
        return (rows @ cam.astype(np.float64) @ cols.T).astype(np.float32)

    def _occlusion(self, x: np.ndarray, target: int) -> np.ndarray:
        size, stride = OCCLUSION_PATCH, OCCLUSION_STRIDE
        starts = sorted({*range(0, 28 - size + 1, stride), 28 - size})  # the far edge too
        corners = [(r, c) for r in starts for c in starts]
        hidden = np.repeat(x[None], len(corners), axis=0)
        for k, (r, c) in enumerate(corners):
            hidden[k, r : r + size, c : c + size] = 0.0
        p = self._batch_probabilities(np.concatenate([x[None], hidden]))[:, target]
        total = np.zeros((28, 28), np.float64)
        count = np.zeros((28, 28), np.float64)
        for k, (r, c) in enumerate(corners):
            changed = x[r : r + size, c : c + size].astype(np.float64)  # what the patch took
            if changed.sum() > 0:  # (a patch over black changes nothing: no drop to share)
                total[r : r + size, c : c + size] += (p[0] - p[k + 1]) * changed / changed.sum()
            count[r : r + size, c : c + size] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)

    # ------------------------------------------------------------------ how faithful

    def deletion(
        self, x28, order_or_map: np.ndarray, target: int, step: int = DELETION_STEP
    ) -> Deletion:
        """The deletion test: pixels set to 0 in the given order (int (784,)), or in a saliency
        map's order (float (28, 28): the most positive first), `step` at a time."""
        x = _check_image(x28)
        target = _check_target(target)
        order = _check_order(order_or_map)
        step = _check_count(step, "The deletion step", 1, 28 * 28)
        counts = list(range(0, 28 * 28, step)) + [28 * 28]
        images = np.repeat(x.ravel()[None], len(counts), axis=0)
        for row, count in enumerate(counts):
            images[row, order[:count]] = 0.0
        curve = self._batch_probabilities(images)[:, target]
        return Deletion(order=order, curve=curve.astype(np.float32), step=step)


# --------------------------------------------------------------------------- Grad-CAM geometry


def _cam_geometry(model: keras.Model, layer_name: str):
    """Where `layer_name`'s cells sit on the input: for rows and for columns, (a, b, h, n):
    cell k of n is centred on input pixel a * k + b and sees the pixels within h of it.
    Followed through a chain of convolutions, poolings, paddings, croppings and layers that
    keep the size; None for anything else (a branching network, an unknown layer)."""
    axes = [(1.0, 0.0, 0.0, 28), (1.0, 0.0, 0.0, 28)]  # the input: pixel k is cell k
    prev = model.inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.input is not prev or len(layer.output.shape) != 4:
            return None
        prev = layer.output
        for axis, (a, b, h, n) in enumerate(axes):
            m = int(layer.output.shape[1 + axis])
            moved = _cell_centres(layer, axis, n, m)
            if moved is None:
                return None
            scale, shift, reach = moved
            axes[axis] = (a * scale, b + a * shift, h + a * reach, m)
        if layer.name == layer_name:
            return axes
    return None


def _cell_centres(layer, axis: int, n: int, m: int) -> tuple[float, float, float] | None:
    """(scale, shift, reach) along `axis` (n cells in, m out): output cell k of `layer` is
    centred on input cell scale * k + shift and sees the input cells within reach of that;
    None when the layer's kind is not known here."""
    kind = type(layer).__name__
    if kind in CONV_KINDS or kind in ("MaxPooling2D", "AveragePooling2D"):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            return None
        kernel = (layer.kernel_size if kind in CONV_KINDS else layer.pool_size)[axis]
        stride = layer.strides[axis]
        dilation = getattr(layer, "dilation_rate", (1, 1))[axis]
        span = (kernel - 1) * dilation + 1
        before = 0 if layer.padding == "valid" else max((m - 1) * stride + span - n, 0) // 2
        return float(stride), (span - 1) / 2 - before, (span - 1) / 2  # (TF pads the end more)
    if kind == "ZeroPadding2D":
        return 1.0, -float(layer.padding[axis][0]), 0.0
    if kind == "Cropping2D":
        return 1.0, float(layer.cropping[axis][0]), 0.0
    return (1.0, 0.0, 0.0) if m == n else None


def _upsampling(model: keras.Model, layer_name: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 (28, h) and (28, w): linear interpolation of the layer's (h, w) map to 28x28
    between its cells' centres (`_cam_geometry`); beyond the outermost centres the edge cells
    fade out linearly to 0 at the end of what they see (a receptive field counts its middle
    most), so no pixel that no cell sees gets a value. A network whose geometry is unknown
    gets the plain image resize (the cells spread evenly over the picture)."""
    geometry = _cam_geometry(model, layer_name)
    if geometry is None:
        shape = model.get_layer(layer_name).output.shape
        geometry = [(28 / n, 14 / n - 0.5, 14 / n, n) for n in (int(shape[1]), int(shape[2]))]
    matrices = []
    pixels = np.arange(28)
    for a, b, h, n in geometry:
        u = np.clip((pixels - b) / a, 0, n - 1)  # each pixel's place among the cells
        low = np.floor(u).astype(int)
        high = np.minimum(low + 1, n - 1)
        matrix = np.zeros((28, n))
        np.add.at(matrix, (pixels, low), 1 - (u - low))
        np.add.at(matrix, (pixels, high), u - low)
        beyond = np.maximum(b - pixels, pixels - (a * (n - 1) + b)).clip(0)
        matrices.append(matrix * np.clip(1 - beyond / (h + 0.5), 0, 1)[:, None])
    return matrices[0], matrices[1]
