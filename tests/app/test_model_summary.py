"""A run's layer table (pages/model_summary.py) against Keras' own model.summary() numbers,
and where the pages show it (Evaluate, Compare)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mnist_core import runs

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


def _keras_rows(model) -> list[tuple[str, str, int]]:
    """(Keras type, output shape without the batch axis, parameters) of each layer."""
    return [
        (
            type(layer).__name__,
            "×".join(str(d) for d in layer.output.shape[1:]),
            layer.count_params(),
        )
        for layer in model.layers
        if type(layer).__name__ != "InputLayer"
    ]


def _table_rows(frame) -> list[tuple[str, str, int]]:
    kinds = [layer.split(" · ")[1].removesuffix(" (added)") for layer in frame["Layer"]]
    return list(zip(kinds, frame["Output shape"], (int(p) for p in frame["Parameters"])))


def test_the_trained_run_matches_its_saved_model(own_models):
    """The tiny default run (an MLP): the table equals the saved model.keras, layer for layer."""
    import keras

    from pages import model_summary

    models = own_models()
    run = runs.read_run(models / "default")
    model = keras.models.load_model(models / "default" / "model.keras")
    assert _table_rows(model_summary.layer_frame(run)) == _keras_rows(model)
    assert model_summary.totals(run) == (model.count_params(), model.count_params())


@pytest.mark.parametrize(
    "preset", ["fast-cnn", "best-cnn", "keras-convnet", "seed-mlp-100-sigmoid"]
)
def test_presets_with_conv_and_batch_norm_match_keras(own_models, preset):
    """Conv, pooling and batch norm presets: shapes, parameters and the trainable count as
    Keras builds the same network (batch norm's moving statistics are not trainable)."""
    from mnist_core.config import get_preset
    from mnist_core.specs import build_model
    from pages import model_summary

    spec = get_preset(preset).spec
    run = runs.update_meta(runs.read_run(own_models("p") / "p"), preset=preset, spec=None)
    model = build_model(spec)
    assert _table_rows(model_summary.layer_frame(run)) == _keras_rows(model)
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert model_summary.totals(run) == (model.count_params(), trainable)


def test_an_ensemble_run_counts_every_network_as_keras_does(own_models):
    """robust-ensemble (two robust-cnn networks, batch norm in each): the table is one
    network's layers, the totals are the whole averaged model's `count_params()`."""
    import numpy as np

    from mnist_core.config import get_preset
    from mnist_core.specs import build_model, ensemble
    from pages import model_summary

    spec = get_preset("robust-ensemble").spec
    assert spec.members == 2
    run = runs.update_meta(
        runs.read_run(own_models("e") / "e"), preset="robust-ensemble", spec=None
    )
    nets = [build_model(spec) for _ in range(spec.members)]
    model = ensemble(nets)
    assert _table_rows(model_summary.layer_frame(run)) == _keras_rows(nets[0])
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert model_summary.totals(run) == (model.count_params(), trainable)
    assert model.count_params() == 2 * nets[0].count_params()
    assert model_summary.networks(run) == 2


def _table_of(run_id: str) -> None:
    """A page of just the layer table of the run `run_id` (AppTest runs this function's body)."""
    import os
    from pathlib import Path

    from mnist_core import runs
    from pages import model_summary

    run = runs.read_run(Path(os.environ["MNIST_MODELS_DIR"]) / run_id)
    model_summary.layer_table(run, key="t")


def test_an_ensembles_table_says_how_many_networks_and_counts_them_all(own_models):
    from pages import model_summary

    models = own_models("e")
    run = runs.update_meta(runs.read_run(models / "e"), preset="robust-ensemble", spec=None)
    each = int(model_summary.layer_frame(run)["Parameters"].sum())
    at = AppTest.from_function(_table_of, args=("e",)).run()
    assert not at.exception
    [caption] = [c.value for c in at.caption if "parameters" in c.value]
    assert caption.startswith("2 networks of these layers, their answers averaged: ")
    assert f"{2 * each:,} parameters in all ({each:,} in each)" in caption


def test_an_unknown_network_is_said_in_one_line(own_models):
    from pages import model_summary

    models = own_models("gone")
    run = runs.update_meta(runs.read_run(models / "gone"), preset="no-such-preset", spec=None)
    assert model_summary.layer_frame(run) is None and model_summary.totals(run) is None

    at = AppTest.from_function(_table_of, args=("gone",)).run()
    assert not at.exception and not at.dataframe
    assert "not recorded" in at.caption[0].value


def _layers_tables(at: AppTest) -> list:
    """The layer tables on the page (AppTest keeps no key for a dataframe: found by column)."""
    return [d for d in at.dataframe if "Output shape" in d.value.columns]


def test_evaluate_shows_the_runs_layer_table(own_models):
    from pages import model_summary

    models = own_models()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    [table] = _layers_tables(at)
    expected = model_summary.layer_frame(runs.read_run(models / "default"))
    assert table.value.equals(expected)
    total = int(expected["Parameters"].sum())
    assert any(c.value == f"{total:,} parameters" for c in at.caption)


def test_compare_shows_the_chosen_runs_side_by_side(own_models, monkeypatch):
    models = own_models("second", started_at="2000-01-01T00:00:00+00:00")
    runs.update_meta(runs.read_run(models / "second"), preset="fast-cnn", spec=None)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    tables = _layers_tables(at)
    assert len(tables) == 2
    kinds = [set(t.value["Layer"].str.split(" · ").str[1]) for t in tables]
    assert "Conv2D" not in kinds[0] and "Conv2D" in kinds[1]  # the MLP, then fast-cnn
    at.multiselect(key="compare_runs").set_value([]).run()
    assert not _layers_tables(at)
