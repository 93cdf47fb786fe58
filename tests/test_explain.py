"""mnist_core.explain: saliency checked against what is known another way (completeness, a
model that reads one region only, receptive fields found by probing), layer shapes for every
preset, an ensemble explained as one model, the deletion test, and one-line refusals of bad
input."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from mnist_core import explain, presets, specs
from mnist_core.errors import InputError
from mnist_core.explain import METHODS, Explainer
from mnist_core.inference import load_model

ROOT = Path(__file__).resolve().parent.parent
REGION = (slice(8, 16), slice(8, 16))  # the 8x8 block the synthetic model reads, and no more


@pytest.fixture(scope="module")
def shipped():
    return Explainer(load_model(ROOT / "models" / "default" / "model.keras"))


@pytest.fixture(scope="module")
def digits(mnist):
    """float32 (8, 28, 28) in [0, 1]: the first test digits, 7 2 1 0 4 1 4 9."""
    return (mnist.x_test[:8] / 255.0).astype(np.float32)


def region_model(seed: int = 1) -> keras.Model:
    """A CNN whose answer depends on the pixels of REGION only: a 3x3 convolution ("same",
    no bias) read by a softmax layer whose weights are 0 except on the conv cells whose 3x3
    window lies inside REGION. Fixed random weights: the answer varies with the picture."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((28, 28, 1))
    conv = layers.Conv2D(4, 3, padding="same", use_bias=False, activation="relu")
    dense = layers.Dense(10, activation="softmax")
    model = keras.Model(inputs, dense(layers.Flatten()(conv(inputs))))
    conv.set_weights([rng.normal(size=(3, 3, 1, 4)).astype(np.float32)])
    weights = np.zeros((28, 28, 4, 10), np.float32)
    rows, cols = REGION
    inner = (slice(rows.start + 1, rows.stop - 1), slice(cols.start + 1, cols.stop - 1))
    weights[inner] = rng.normal(size=(6, 6, 4, 10))
    dense.set_weights([weights.reshape(-1, 10), np.zeros(10, np.float32)])
    return model


@pytest.fixture(scope="module")
def region():
    return Explainer(region_model())


def inside(mask_rows: slice, mask_cols: slice) -> np.ndarray:
    mask = np.zeros((28, 28), bool)
    mask[mask_rows, mask_cols] = True
    return mask


# --------------------------------------------------------------------------- saliency


def test_integrated_gradients_add_up_to_the_change_from_black(shipped, digits):
    """Completeness: the attributions sum to p(x) - p(black) for the explained digit."""
    black = shipped.probabilities(np.zeros((28, 28), np.float32))
    checked = 0
    for x in digits:
        p = shipped.probabilities(x)
        target = int(p.argmax())
        change = float(p[target] - black[target])
        total = float(shipped.saliency(x, target, "integrated-gradients", steps=256).sum())
        # The shipped model reads a black picture as a "1" (99.96%): for a 1 there is next
        # to no change to share out, so the 5% are of at least 0.02.
        assert abs(total - change) <= 0.05 * max(abs(change), 0.02), (target, total, change)
        checked += abs(change) > 0.5
    assert checked >= 5


def test_a_long_path_in_batches_gives_the_same_attributions(region, digits, monkeypatch):
    x = digits[0]
    whole = region.saliency(x, 3, steps=300)
    monkeypatch.setattr(explain, "IG_BATCH", 7)  # 43 gradient calls instead of 3
    np.testing.assert_allclose(region.saliency(x, 3, steps=300), whole, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_points_at_the_only_region_the_model_reads(region, digits, method):
    # Occlusion hides 4x4 patches: one across REGION's edge shares its drop with the ink it
    # hid outside, so its map is held to REGION widened by that much.
    grow = explain.OCCLUSION_PATCH - 1 if method == "occlusion" else 0
    rows, cols = REGION
    mask = inside(
        slice(rows.start - grow, rows.stop + grow), slice(cols.start - grow, cols.stop + grow)
    )
    if method == "grad-cam":  # on the convolution's own maps, 28x28 like the picture
        assert isinstance(region.model.get_layer(region.cam_layer), layers.Conv2D)
    for x in digits[:5]:
        assert x[~inside(*REGION)].sum() > x[inside(*REGION)].sum() > 5  # ink on both sides
        target = int(region.probabilities(x).argmax())
        weight = np.abs(region.saliency(x, target, method))
        assert weight.sum() > 0
        assert weight[mask].sum() / weight.sum() > 0.9, method


def _cell_model(preset: str) -> tuple[keras.Model, str, tuple[int, int]]:
    """The preset's layers up to its Grad-CAM layer, read by a softmax layer at one cell only
    (about a third of the way in on each axis); each kernel averages its inputs (no bias) and
    each batch normalisation is the identity: that cell responds to any ink it sees."""
    model = presets.PRESETS[preset].build()
    name = Explainer(model).cam_layer
    maps = model.get_layer(name).output
    h, w, c = (int(d) for d in maps.shape[1:])
    cell = (h // 3, w // 3)
    dense = layers.Dense(10, activation="softmax")
    cut = keras.Model(model.inputs[0], dense(layers.Flatten()(maps)))
    for layer in cut.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights([np.ones_like(v) if i in (0, 3) else np.zeros_like(v)
                               for i, v in enumerate(layer.get_weights())])  # fmt: skip
        elif layer is not dense and layer.get_weights():  # an average, no bias
            kernel, *rest = layer.get_weights()
            fan_in = np.prod(kernel.shape[:-1])
            layer.set_weights([np.full_like(kernel, 1 / fan_in), *map(np.zeros_like, rest)])
    reads = np.zeros((h, w, c, 10), np.float32)
    reads[cell[0], cell[1], :, 0] = 1 / c
    dense.set_weights([reads.reshape(-1, 10), np.zeros(10, np.float32)])
    return cut, name, cell


@pytest.mark.parametrize("preset", ["keras-convnet", "fast-cnn", "best-cnn"])
def test_grad_cam_draws_each_cell_over_the_pixels_it_sees(preset):
    """The reference, by probing: light one row (or column) of the picture at a time and see
    which rows (columns) make the cell respond; its map must be centred between them."""
    cut, name, cell = _cell_model(preset)
    probe = keras.Model(cut.inputs[0], cut.get_layer(name).output)
    lines = np.zeros((56, 28, 28, 1), np.float32)
    for k in range(28):
        lines[k, k, :] = 1.0  # row k
        lines[28 + k, :, k] = 1.0  # column k
    response = np.asarray(probe(lines))[:, cell[0], cell[1], :].sum(axis=-1) > 0
    seen_rows, seen_cols = np.flatnonzero(response[:28]), np.flatnonzero(response[28:])
    assert seen_rows.min() > 0 and seen_rows.max() < 27  # wholly inside the picture

    explainer = Explainer(cut)
    assert explainer.cam_layer == name
    cam = explainer.saliency(np.ones((28, 28), np.float32), 0, "grad-cam")
    assert cam.min() >= 0 and cam.max() > 0
    centre = [(np.arange(28) * cam.sum(axis=1 - axis)).sum() / cam.sum() for axis in (0, 1)]
    assert centre[0] == pytest.approx((seen_rows.min() + seen_rows.max()) / 2, abs=0.05)
    assert centre[1] == pytest.approx((seen_cols.min() + seen_cols.max()) / 2, abs=0.05)


# --------------------------------------------------------------------------- inside


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_activations_and_first_layer_pictures_match_every_preset(name, digits):
    model = presets.PRESETS[name].build()
    explainer = Explainer(model)
    network = specs.networks(model)[0]  # the model itself, or an ensemble's first network
    inner = [layer for layer in network.layers if not isinstance(layer, layers.InputLayer)]
    assert [info.name for info in explainer.layers] == [layer.name for layer in inner]
    assert sum(info.params for info in explainer.layers) == network.count_params()
    outputs = explainer.activations(digits[0])
    assert len(outputs) == len(inner)
    for (info, values), layer in zip(outputs, inner):
        assert values.shape == info.shape == tuple(layer.output.shape[1:]), info.name
        assert values.dtype == np.float32
    np.testing.assert_allclose(outputs[-1][1], np.asarray(network(digits[:1]))[0], atol=1e-6)

    first = explainer.first_layer()
    kernel = next(layer for layer in inner if layer.get_weights()).get_weights()[0]
    if first.kind == "dense":
        assert first.images.shape == (kernel.shape[1], 28, 28)
        assert first.images[5, 10, 3] == kernel[10 * 28 + 3, 5]  # unit 5's weight on (10, 3)
    else:
        kh, kw, _, filters = kernel.shape
        assert first.images.shape == (filters, kh, kw)
        assert first.images[2, 1, 0] == kernel[1, 0, 0, 2]
    weighted = [layer["type"] for layer in presets.PRESETS[name].spec.full_layers()]
    weighted = [kind for kind in weighted if kind in ("Conv2D", "Dense")]
    assert first.kind == ("conv" if weighted[0] == "Conv2D" else "dense")


# --------------------------------------------------------------------------- an ensemble


@pytest.fixture(scope="module")
def tiny_ensemble():
    """(ensemble, its first network, its second, the ensemble's Explainer): two tiny untrained
    networks of one small convolution, different weights, averaged by `specs.ensemble`."""
    spec = specs.check(
        {"layers": [{"type": "Conv2D", "filters": 3, "kernel_size": 5, "activation": "relu"}]}
    )
    keras.utils.set_random_seed(7)
    first, second = specs.build_model(spec), specs.build_model(spec)
    model = specs.ensemble([first, second])
    return model, first, second, Explainer(model)


def test_an_ensemble_answers_with_the_average_of_its_networks(tiny_ensemble, digits):
    model, first, second, explainer = tiny_ensemble
    assert explainer.networks == 2 and explainer.alike
    for x in digits[:3]:
        own = [np.asarray(net(x[None, ..., None]))[0] for net in (first, second)]
        assert not np.allclose(own[0], own[1], atol=1e-3)  # two networks, two answers
        p = explainer.probabilities(x)
        np.testing.assert_allclose(p, (own[0] + own[1]) / 2, atol=1e-6)
        np.testing.assert_allclose(p, np.asarray(model(x[None, ..., None]))[0], atol=1e-6)


def test_an_ensembles_layers_and_activations_are_its_first_networks(tiny_ensemble, digits):
    model, first, second, explainer = tiny_ensemble
    inner = [layer for layer in first.layers if not isinstance(layer, layers.InputLayer)]
    assert [info.name for info in explainer.layers] == [layer.name for layer in inner]
    assert [info.kind for info in explainer.layers] == ["Conv2D", "Flatten", "Dense"]
    assert sum(info.params for info in explainer.layers) == first.count_params()
    assert model.count_params() == 2 * first.count_params()
    x = digits[0]
    outputs = explainer.activations(x)
    assert len(outputs) == len(inner)
    probe = keras.Model(first.inputs[0], [layer.output for layer in inner])
    for (info, values), expected in zip(outputs, probe(x[None, ..., None])):
        assert values.shape == info.shape
        np.testing.assert_allclose(values, np.asarray(expected)[0], atol=1e-6)
    last = outputs[-1][1]
    np.testing.assert_allclose(last, np.asarray(first(x[None, ..., None]))[0], atol=1e-6)
    assert not np.allclose(last, np.asarray(second(x[None, ..., None]))[0], atol=1e-3)


def test_an_ensemble_offers_no_grad_cam(tiny_ensemble):
    model, first, _, explainer = tiny_ensemble
    assert "grad-cam" in Explainer(first).methods  # its network alone would have it
    assert explainer.cam_layer is None
    assert explainer.methods == ("integrated-gradients", "occlusion")
    with pytest.raises(InputError, match="averages 2 networks") as caught:
        explainer.saliency(np.zeros((28, 28), np.float32), 0, "grad-cam")
    assert "\n" not in str(caught.value)


def test_an_ensembles_maps_explain_its_averaged_answer(tiny_ensemble, digits):
    model, first, _, explainer = tiny_ensemble
    x = digits[1]
    p = explainer.probabilities(x)
    target = int(p.argmax())
    for method in explainer.methods:
        smap = explainer.saliency(x, target, method)
        assert smap.shape == (28, 28) and smap.dtype == np.float32, method
        assert np.isfinite(smap).all() and np.abs(smap).sum() > 0, method
    # Completeness of integrated gradients: they add up to the change of the *averaged*
    # probability from black, not to the first network's.
    black = explainer.probabilities(np.zeros((28, 28), np.float32))
    total = float(explainer.saliency(x, target, "integrated-gradients", steps=256).sum())
    change = float(p[target] - black[target])
    assert total == pytest.approx(change, abs=0.05 * abs(change) + 1e-4)
    alone = Explainer(first)
    change_alone = float(alone.probabilities(x)[target] - alone.probabilities(0 * x)[target])
    assert abs(change - change_alone) > 0.1 * abs(change) + 1e-4  # the test tells them apart
    deletion = explainer.deletion(x, explain.ink_first(x), target)
    assert deletion.curve[0] == pytest.approx(p[target], abs=1e-6)


def test_an_ensembles_first_layer_pictures_are_its_first_networks(tiny_ensemble):
    model, first, second, explainer = tiny_ensemble
    pictures, own = explain.first_layer_images(model), explain.first_layer_images(first)
    assert pictures.kind == own.kind == "conv" and pictures.layer == own.layer
    assert pictures.images.shape == (3, 5, 5)
    np.testing.assert_array_equal(pictures.images, own.images)
    assert not np.allclose(pictures.images, explain.first_layer_images(second).images)
    np.testing.assert_array_equal(explainer.first_layer().images, own.images)


def test_a_first_layer_that_does_not_see_the_picture_has_no_pictures():
    inputs = keras.Input((28, 28, 1))
    x = layers.Dense(3)(inputs)  # applied to each pixel's one channel: a (1, 3) kernel
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(layers.Flatten()(x)))
    assert explain.first_layer_images(model) is None


# --------------------------------------------------------------------------- how faithful


def test_the_deletion_curve_runs_from_the_picture_to_black(region, digits):
    x = digits[1]
    target = int(region.probabilities(x).argmax())
    order = explain.ink_first(x)
    deletion = region.deletion(x, order, target)
    assert len(deletion.curve) == 784 // 8 + 1 and deletion.step == 8
    assert deletion.curve[0] == pytest.approx(region.probabilities(x)[target], abs=1e-6)
    black = region.probabilities(np.zeros((28, 28), np.float32))[target]
    assert deletion.curve[-1] == pytest.approx(black, abs=1e-6)
    cut = x.ravel().copy()
    cut[order[: 5 * 8]] = 0  # the fifth point, done by hand
    assert deletion.curve[5] == pytest.approx(region.probabilities(cut.reshape(28, 28))[target])
    assert 0 <= deletion.auc <= 1

    # A step that does not divide 784: the last, shorter step counts for what it is.
    uneven = region.deletion(x, order, target, step=100)
    assert len(uneven.curve) == 9 and uneven.fractions[-2:].tolist() == [700 / 784, 1.0]
    by_hand = sum(
        (uneven.fractions[k + 1] - uneven.fractions[k])
        * (uneven.curve[k] + uneven.curve[k + 1])
        / 2
        for k in range(8)
    )
    assert uneven.auc == pytest.approx(by_hand)


def test_a_map_of_the_region_deletes_faster_than_random_order(region, digits):
    rng = np.random.default_rng(0)
    for x in digits[:5]:
        target = int(region.probabilities(x).argmax())
        by_map = region.deletion(x, region.saliency(x, target), target).auc
        by_chance = np.mean(
            [region.deletion(x, rng.permutation(784), target).auc for _ in range(5)]
        )
        assert 0 <= by_map < by_chance - 0.1 <= 1


def test_the_default_model_faithful_maps_beat_random_order(shipped, digits):
    """A sanity check on the shipped model (the benchmark measures it properly)."""
    rng = np.random.default_rng(0)
    gains = []
    for x in digits:
        target = int(shipped.probabilities(x).argmax())
        by_map = shipped.deletion(x, shipped.saliency(x, target), target).auc
        gains.append(shipped.deletion(x, rng.permutation(784), target).auc - by_map)
    assert np.median(gains) > 0.2


# --------------------------------------------------------------------------- bad input


def _call(explainer: Explainer, what: str, value):
    x = np.zeros((28, 28), np.float32)
    if what == "image":
        return explainer.saliency(value, 0)
    if what == "deletion image":
        return explainer.deletion(value, explain.ink_first(x), 0)
    if what == "target":
        return explainer.saliency(x, value)
    if what == "method":
        return explainer.saliency(x, 0, value)
    if what == "steps":
        return explainer.saliency(x, 0, steps=value)
    if what == "order":
        return explainer.deletion(x, value, 0)
    if what == "step":
        return explainer.deletion(x, explain.ink_first(x), 0, step=value)
    raise AssertionError(what)


@pytest.mark.parametrize(
    "what, value, message",
    [
        ("image", np.zeros((27, 28)), r"shape \(28, 28\), got \(27, 28\)"),
        ("image", np.zeros((2, 28, 28)), r"got \(2, 28, 28\)"),
        ("image", np.full((28, 28), np.nan), "not numbers"),
        ("image", np.full((28, 28), np.inf), "not numbers"),
        ("image", "a picture", "Expected an image of numbers, got str"),
        ("deletion image", np.zeros(784), r"got \(784,\)"),
        ("target", 10, "must be 0 to 9, got 10"),
        ("target", -1, "must be 0 to 9, got -1"),
        ("target", 2.5, "must be a whole number, got 2.5"),
        ("target", True, "must be a whole number"),
        ("method", "saliency", "Unknown method 'saliency'; choose one of integrated-gradients"),
        ("steps", 0, "steps must be 1 to 4096, got 0"),
        ("steps", 10**6, "steps must be 1 to 4096"),
        ("steps", 1.5, "must be a whole number"),
        ("order", np.arange(783), r"784 pixels or a 28x28 map, got \(783,\)"),
        ("order", np.zeros(784, int), "each of the 784 pixels"),
        ("order", np.arange(784) + 0.5, "each of the 784 pixels"),
        ("order", np.full((28, 28), np.nan), "map has values that are not numbers"),
        ("step", 0, "deletion step must be 1 to 784, got 0"),
    ],
)
def test_bad_input_is_refused_in_one_line(region, what, value, message):
    with pytest.raises(InputError, match=message) as caught:
        _call(region, what, value)
    assert "\n" not in str(caught.value)


def test_grad_cam_on_a_network_without_convolutions_is_refused():
    mlp = Explainer(presets.PRESETS["seed-mlp-dropout"].build())
    assert mlp.cam_layer is None and mlp.methods == ("integrated-gradients", "occlusion")
    with pytest.raises(InputError, match="Grad-CAM needs a network with a convolution layer"):
        mlp.saliency(np.zeros((28, 28), np.float32), 0, "grad-cam")


def test_a_model_that_is_not_a_digit_classifier_is_refused():
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, layers.Dense(5)(layers.Flatten()(inputs)))
    with pytest.raises(InputError, match="is not a 28x28 digit classifier"):
        Explainer(model)
