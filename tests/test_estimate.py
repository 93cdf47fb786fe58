"""mnist_core.estimate: the calibration measures something sensible and the estimate follows
the spec's size (no assertion on how fast this machine is)."""

from __future__ import annotations

import dataclasses

import pytest

from mnist_core import estimate, presets, specs


@pytest.fixture(scope="module")
def calibration():
    return estimate.calibrate(steps=1)


def test_the_calibration_is_measured_and_non_negative(calibration):
    values = dataclasses.asdict(calibration)
    assert set(values) == {"per_step", "per_image", "per_madd", "measured_s"}
    assert all(value >= 0 for value in values.values()) and calibration.measured_s > 0
    assert calibration.per_step + calibration.per_image + calibration.per_madd > 0


def test_the_estimate_is_the_formula_over_the_specs_multiply_adds():
    made_up = estimate.Calibration(per_step=0.01, per_image=1e-5, per_madd=1e-9, measured_s=1.0)
    spec = presets.PRESETS["keras-convnet"].spec  # batch 128
    madds = estimate.madds_of(spec)
    assert madds == sum(cost.madds for cost in spec.costs())
    per_image = 1e-5 + 1e-9 * madds
    expected = 10 * 0.01 + 1280 * per_image + 300 * per_image * estimate.VALIDATION_SHARE
    assert estimate.epoch_seconds(made_up, spec, 1280, 300) == pytest.approx(expected)


def test_an_ensembles_training_is_every_networks_epochs_one_after_another():
    made_up = estimate.Calibration(per_step=0.01, per_image=1e-5, per_madd=1e-9, measured_s=1.0)
    one, two = presets.PRESETS["robust-cnn"].spec, presets.PRESETS["robust-ensemble"].spec
    assert two.members == 2 and two.epochs == one.epochs
    # An epoch is one network's, alike in both; the whole training is 2 x epochs of them.
    epoch = estimate.epoch_seconds(made_up, one, 54_000, 6_000)
    assert estimate.epoch_seconds(made_up, two, 54_000, 6_000) == pytest.approx(epoch)
    assert estimate.training_seconds(made_up, one, 54_000, 6_000) == pytest.approx(
        one.epochs * epoch
    )
    assert estimate.training_seconds(made_up, two, 54_000, 6_000) == pytest.approx(
        2 * one.epochs * epoch
    )


def test_bigger_networks_and_more_images_take_longer(calibration):
    small = specs.check({"layers": [], "batch_size": 64})
    big = specs.check({**presets.FAST_CNN, "batch_size": 64})
    assert estimate.epoch_seconds(calibration, big, 5000) > estimate.epoch_seconds(
        calibration, small, 5000
    )
    assert estimate.epoch_seconds(calibration, big, 10_000) > estimate.epoch_seconds(
        calibration, big, 5000
    )


def test_a_step_of_any_spec_can_be_timed():
    spec = specs.check({"layers": [{"type": "Dropout", "rate": 0.1}], "label_smoothing": 0.1})
    assert estimate.step_seconds(spec, 16, steps=1) > 0
