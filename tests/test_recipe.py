"""mnist_core.recipe: each optimizer and schedule a spec may name, the loss with and without
label smoothing, and the callbacks its training settings ask for."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_core import recipe, specs


def _spec(**settings) -> specs.Spec:
    return specs.check({"layers": [], **settings})


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("adam", keras.optimizers.Adam),
        ("adam-fast", keras.optimizers.Adam),
        ("sgd", keras.optimizers.SGD),
        ("sgd-momentum", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
    ],
)
def test_each_optimizer_is_kerass_own(name, kind):
    optimizer = recipe.make_optimizer(_spec(optimizer=name), 0.01, 100)
    assert type(optimizer) is kind
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    if name == "sgd-momentum":
        assert optimizer.momentum == 0.9
    if name == "adam-fast":
        assert (optimizer.beta_1, optimizer.beta_2) == (0.7, 0.9)


def _rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_one_cycle_climbs_for_thirty_percent_of_the_steps_then_falls_to_zero():
    rates = _rates(recipe.schedule(_spec(schedule="one-cycle"), 0.01, 100), range(0, 101, 10))
    assert rates[0] == pytest.approx(0.01 / 25)
    assert rates[3] == pytest.approx(0.01) and rates.argmax() == 3
    assert np.all(np.diff(rates[:4]) > 0) and np.all(np.diff(rates[3:]) < 0)
    assert rates[-1] == pytest.approx(0.0, abs=1e-9)


def test_warmup_cosine_warms_up_for_its_fraction():
    spec = _spec(schedule="warmup-cosine", warmup_fraction=0.2)
    rates = _rates(recipe.schedule(spec, 1.0, 50), [0, 10, 50])
    assert rates.tolist() == pytest.approx([0.05, 1.0, 0.0], abs=1e-6)


def test_constant_and_reduce_on_plateau_start_from_a_plain_rate():
    assert recipe.schedule(_spec(), 0.02, 100) == 0.02
    assert recipe.schedule(_spec(schedule="reduce-on-plateau"), 0.02, 100) == 0.02


def test_label_smoothing_switches_to_one_hot_labels():
    plain, smooth = _spec(), _spec(label_smoothing=0.1)
    assert not recipe.one_hot_labels(plain)
    assert isinstance(recipe.loss(plain), keras.losses.SparseCategoricalCrossentropy)
    assert recipe.one_hot_labels(smooth)
    loss = recipe.loss(smooth)
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    # A sure, right answer still costs something with smoothing: 0.1 of the mass is spread.
    assert float(loss(np.eye(10)[[3]], np.eye(10)[[3]] * 0.999 + 0.0001)) > 0.05


def test_callbacks_follow_the_settings_and_watch_validation_when_there_is_some():
    assert recipe.callbacks(_spec(), validation=True) == []
    plateau, stop = recipe.callbacks(_spec(schedule="reduce-on-plateau", patience=3), True)
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau) and plateau.monitor == "val_loss"
    assert isinstance(stop, keras.callbacks.EarlyStopping) and stop.patience == 3
    (stop,) = recipe.callbacks(_spec(patience=2), validation=False)
    assert stop.monitor == "loss"
