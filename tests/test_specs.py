"""mnist_core.specs: the spec format. Presets as specs (today's parameter counts, JSON round
trips), the output the project adds, the bad-spec corpus (one line naming the layer and the
fault), the limits and their tighter demo version, and models that load in safe mode."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from mnist_core import presets, specs
from mnist_core.errors import InputError, SpecError

# Parameter counts of the presets before they became specs (model.count_params(), each built by
# its own Keras function), which the specs must keep exactly; fast-cnn's and accurate-cnn's by
# hand since batch norm joined them: conv 16*5*5, BN 4*16, conv F*3*3*16, BN 4*F, dense
# (5*5*F)*U+U, output U*10+10 with F, U = 32, 128 and 48, 256.
PRESET_PARAMS = {
    "seed-mlp-100-sigmoid": 79_510,
    "seed-mlp-128-64-16": 109_946,
    "seed-mlp-dropout": 101_770,
    "keras-convnet": 34_826,
    "fast-cnn": 400 + 64 + 2_304 + 64 + 102_656 + 2_570,
    "accurate-cnn": 400 + 64 + 6_912 + 192 + 307_456 + 2_570,
    "best-cnn": 236_074,
    "robust-cnn": 236_074,  # best-cnn's network, more training images
    "robust-ensemble": 236_074,  # each of its two networks
}
LENET = {
    "layers": [
        {"type": "Conv2D", "filters": 6, "kernel_size": 5, "padding": "same", "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "units": 84, "activation": "relu"},
    ],
    "optimizer": "adam",
    "learning_rate": 0.001,
    "batch_size": 128,
    "epochs": 5,
}


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_each_preset_is_a_spec_with_todays_parameter_count_and_round_trips(name):
    spec = presets.PRESETS[name].spec
    model = specs.build_model(spec)
    assert model.count_params() == PRESET_PARAMS[name]
    assert sum(cost.params for cost in spec.costs()) == PRESET_PARAMS[name]
    again = specs.from_json(spec.to_json())
    assert again == spec
    assert json.loads(again.to_json()) == json.loads(spec.to_json())


def test_the_issue_example_builds_with_the_output_added():
    spec = specs.check(LENET)
    costs = spec.costs()
    assert [c.kind for c in costs] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert costs[-1].added and costs[-1].config["activation"] == "softmax"
    assert [c.shape for c in costs] == [(28, 28, 6), (14, 14, 6), (1176,), (84,), (10,)]
    # conv 5*5*6+6, dense 1176*84+84, output 84*10+10
    assert sum(c.params for c in costs) == 156 + 98_868 + 850
    assert specs.build_model(spec).count_params() == 156 + 98_868 + 850


def test_an_empty_list_is_a_linear_classifier():
    spec = specs.check({"layers": []})
    assert [c.kind for c in spec.costs()] == ["Flatten", "Dense"]
    assert specs.build_model(spec).count_params() == 784 * 10 + 10


def test_a_last_ten_unit_softmax_dense_is_the_output_not_doubled():
    spec = specs.check(
        {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}
    )
    assert [c.kind for c in spec.costs()] == ["Flatten", "Dense"]
    assert not any(c.added for c in spec.costs())


def test_a_built_model_saves_and_loads_in_safe_mode(tmp_path):
    spec = specs.check({**LENET, "layers": [*LENET["layers"], {"type": "Dropout", "rate": 0.3}]})
    model = specs.build_model(spec)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), rtol=1e-5)


def test_an_ensemble_averages_its_networks_and_saves_and_loads_in_safe_mode(tmp_path):
    spec = specs.check({**LENET, "members": 2})
    nets = [specs.build_model(spec), specs.build_model(spec)]
    model = specs.ensemble(nets)
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    mean = (nets[0].predict(x, verbose=0) + nets[1].predict(x, verbose=0)) / 2
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), mean, atol=1e-6)
    assert len(specs.networks(again)) == 2 and specs.networks(nets[0]) == [nets[0]]


def test_summary_says_the_layers_in_one_line():
    text = specs.summary(specs.check(LENET))
    assert text == "Conv2D 6 5x5 relu → MaxPooling2D 2 → Flatten → Dense 84 relu → Dense 10 softmax"


def test_summary_of_an_ensemble_says_how_many_networks_it_averages():
    text = specs.summary(specs.check({**LENET, "members": 3}))
    assert text == specs.summary(specs.check(LENET)) + " × 3 networks, averaged"


def test_replace_checks_the_changes():
    spec = specs.check(LENET)
    assert spec.replace(epochs=1).epochs == 1
    with pytest.raises(SpecError, match="epochs must be between 1 and 200"):
        spec.replace(epochs=0)


def _layers(*layers):
    return json.dumps({"layers": list(layers)})


CONV = {"type": "Conv2D", "filters": 8, "kernel_size": 3}
# (spec text, the words its one-line message must hold)
BAD_SPECS = [
    ("{not json", "Not valid JSON"),
    ('{"layers": [], "corrupted_share": 1.5}', "corrupted_share must be between 0 and 1, not 1.5"),
    ("[1, 2]", "A spec must be a JSON object"),
    ('"layers"', "A spec must be a JSON object"),
    ("{}", 'The spec has no "layers"'),
    ('{"layers": {"type": "Dense"}}', '"layers" must be a list'),
    (
        _layers({"type": "Lambda", "function": "lambda x: x"}),
        "Layer 1 ('Lambda'): unknown layer type",
    ),
    (_layers({"type": "keras.layers.Dense"}), "Layer 1 ('keras.layers.Dense'): unknown layer type"),
    (_layers(CONV, {"type": "__import__('os')"}), "Layer 2 (\"__import__('os')\"): unknown layer"),
    (_layers({"units": 3}), "Layer 1 (null): unknown layer type"),
    (_layers("Dense"), 'Layer 1: must be an object with a "type"'),
    (
        _layers({"type": "Dense", "units": 8, "kernel_initializer": "zeros"}),
        "Layer 1 (Dense): unknown argument 'kernel_initializer'",
    ),
    (
        _layers({"type": "Dense", "units": 8, "module": "os"}),
        "Layer 1 (Dense): unknown argument 'module'",
    ),
    (_layers({"type": "Dense"}), "Layer 1 (Dense): needs 'units'"),
    (
        _layers({"type": "Flatten"}, {"type": "Dense", "units": 8, "activation": "exec"}),
        "Layer 2 (Dense): unknown activation 'exec'",
    ),
    (_layers({"type": "Flatten"}, {"type": "Dense", "units": 0}), "Layer 2 (Dense): units must be"),
    (_layers({**CONV, "filters": -4}), "Layer 1 (Conv2D): filters must be between 1 and 512"),
    (_layers({**CONV, "filters": 10**9}), "Layer 1 (Conv2D): filters must be between 1 and 512"),
    (_layers({**CONV, "filters": 2.5}), "Layer 1 (Conv2D): filters must be a whole number"),
    (_layers({**CONV, "filters": True}), "Layer 1 (Conv2D): filters must be a whole number"),
    (_layers({"type": "Dropout", "rate": 1.0}), "Layer 1 (Dropout): rate must be a number from 0"),
    (_layers({"type": "Dropout", "rate": -0.1}), "Layer 1 (Dropout): rate must be a number from 0"),
    (_layers({**CONV, "padding": "full"}), 'Layer 1 (Conv2D): padding must be "valid" or "same"'),
    (
        _layers({**CONV, "kernel_size": 5, "strides": 4}, {**CONV, "kernel_size": 7}),
        "Layer 2 (Conv2D): the 7×7 kernel is larger than the 6×6 map it meets",
    ),
    (
        _layers(CONV, {"type": "MaxPooling2D", "pool_size": 27}),
        "Layer 2 (MaxPooling2D): the 27×27 pool is larger than the 26×26 map",
    ),
    (
        _layers({"type": "Flatten"}, CONV),
        "Layer 2 (Conv2D): needs maps (height × width × channels) but meets 784 numbers",
    ),
    (
        _layers(CONV, {"type": "Dense", "units": 8}),
        "Layer 2 (Dense): meets 8 maps of 26×26; put Flatten or GlobalAveragePooling2D before it",
    ),
    (
        _layers({"type": "GlobalAveragePooling2D"}, {"type": "GlobalMaxPooling2D"}),
        "Layer 2 (GlobalMaxPooling2D): needs maps",
    ),
    (_layers(*[{"type": "Dropout", "rate": 0.1}] * 31), "Too many layers: 31 (at most 30)"),
    (
        _layers(
            {"type": "Flatten"}, {"type": "Dense", "units": 4096}, {"type": "Dense", "units": 4096}
        ),
        f"Too many parameters: {785 * 4096 + 4097 * 4096 + 4097 * 10:,} (at most 5,000,000)",
    ),
    (
        _layers(
            {**CONV, "filters": 512, "padding": "same"}, {**CONV, "filters": 64, "padding": "same"}
        ),
        "Too many multiply-adds per image",
    ),
    ('{"layers": [], "optimizer": "adamw2"}', "Unknown optimizer 'adamw2'"),
    ('{"layers": [], "optimizer": "os.system"}', "Unknown optimizer 'os.system'"),
    ('{"layers": [], "schedule": "cyclic"}', "Unknown schedule 'cyclic'"),
    ('{"layers": [], "learning_rate": NaN}', "learning_rate must be a number"),
    ('{"layers": [], "batch_size": 100000}', "batch_size must be between 8 and 4096"),
    ('{"layers": [], "augment": "yes"}', "augment must be true or false"),
    ('{"layers": [], "members": 0}', "members must be between 1 and 4, not 0"),
    ('{"layers": [], "members": 1.5}', "members must be a whole number"),
    (  # 2,782,510 parameters a network: one fits the limit, two do not
        _layers({"type": "Flatten"}, {"type": "Dense", "units": 3500}).replace(
            "]}", '], "members": 2}'
        ),
        f"Too many parameters: {2 * (785 * 3500 + 3501 * 10):,} (at most 5,000,000)",
    ),
    ('{"layers": [], "class_name": "Lambda"}', "Unknown setting 'class_name'"),
    ("x" * (specs.MAX_SPEC_CHARS + 1), "The spec is too long"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_a_bad_spec_gives_one_line_naming_the_fault(text, message):
    with pytest.raises(SpecError) as caught:
        specs.from_json(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    assert isinstance(caught.value, InputError)  # the CLI's exit 2, the page's message


def test_the_bad_spec_corpus_is_large_enough():
    assert len(BAD_SPECS) >= 15


def test_the_hosted_demo_has_tighter_limits(monkeypatch):
    wide = {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2000}]}  # 1.59M params
    assert specs.check(wide).costs()[1].params == 784 * 2000 + 2000
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    with pytest.raises(SpecError, match="Too many parameters: 1,590,010 \\(at most 1,000,000\\)"):
        specs.check(wide)
    for preset in presets.PRESETS.values():  # every preset can still be explored there
        specs.check(preset.spec.to_dict())
