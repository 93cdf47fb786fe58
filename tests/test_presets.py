"""mnist_core.presets: every preset builds a model of the agreed shape; the seeds are exact."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mnist_core import presets
from mnist_core.errors import InputError

# Parameter counts of the reproduced networks, computed by hand from their layer sizes.
EXACT_PARAMS = {
    "seed-mlp-100-sigmoid": 784 * 100 + 100 + 100 * 10 + 10,  # 79,510
    "seed-mlp-128-64-16": (784 * 128 + 128) + (128 * 64 + 64) + (64 * 16 + 16) + (16 * 10 + 10),
    "seed-mlp-dropout": 784 * 128 + 128 + 128 * 10 + 10,  # 101,770
    "keras-convnet": 34_826,  # as printed by model.summary() in the Keras example
}


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_builds_a_28x28_to_10_model(name):
    preset = presets.get_preset(name)
    model = preset.build()
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    out = np.asarray(model(np.zeros((2, 28, 28, 1), np.float32), training=False))
    assert out.shape == (2, 10) and np.all(out >= 0)
    if name != "seed-mlp-100-sigmoid":  # sigmoid outputs need not sum to 1
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert preset.description and "\n" not in preset.description
    assert preset.epochs >= 1 and preset.batch_size >= 1 and 0 < preset.learning_rate < 1
    if name in EXACT_PARAMS:
        assert model.count_params() == EXACT_PARAMS[name]


def test_seed_training_settings_match_their_sources():
    p = presets.PRESETS
    assert (p["seed-mlp-128-64-16"].batch_size, p["seed-mlp-128-64-16"].epochs) == (1000, 100)
    assert p["seed-mlp-128-64-16"].reported_accuracy == 0.9767
    assert (p["keras-convnet"].batch_size, p["keras-convnet"].epochs) == (128, 15)
    assert p["keras-convnet"].reported_accuracy == 0.9922
    assert p["seed-mlp-100-sigmoid"].epochs == 10


def test_unknown_preset_lists_the_choices():
    with pytest.raises(
        InputError, match="Unknown preset 'nope'; choose one of: seed-mlp-100-sigmoid"
    ):
        presets.get_preset("nope")


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_descriptions_carry_no_measured_figures(name):
    # Accuracies and times belong to benchmarks/results/ and the README, with their date,
    # machine and load: a description says what a preset is, not what it scored once.
    description = presets.get_preset(name).description
    assert not re.search(r"\d\s*%|\d\s*(s|seconds|min)\b", description), description
