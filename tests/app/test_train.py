"""The Train page through Streamlit's AppTest: controls, a real quick training, odd URLs.

One test starts a real worker (500 images, one epoch: about ten seconds, mostly importing
TensorFlow); the others never train.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mnist_core import runs, specs
from mnist_core.presets import PRESETS
from pages import train_form

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "train.py")
TIMEOUT = 90  # the first run imports TensorFlow
WAIT_S = 80


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT)


def _texts(at: AppTest) -> str:
    """Everything the page wrote, as one string to search."""
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "success", "warning", "error")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def scratch_models(own_models):
    """A models directory of our own (a copy of the tiny default), to add odd runs to."""
    return own_models()


def test_page_renders_with_preset_defaults(models_env):
    at = _page().run()
    assert not at.exception
    preset = at.selectbox(key="train_preset")
    assert preset.options == list(PRESETS)
    assert PRESETS[preset.value].description in _texts(at)  # folded under Technical details
    assert train_form.plain_description(PRESETS[preset.value].spec) in _texts(at)
    assert not at.button(key="train_start").disabled
    assert "Nothing is training right now" in _texts(at)
    # Opens on settings that show learning and checking: several epochs, some held back.
    assert at.slider(key="train_epochs").value == 3 and at.slider(key="train_val_pct").value == 10

    preset.set_value("keras-convnet").run()  # choosing a preset loads its own defaults
    wanted = PRESETS["keras-convnet"]
    assert at.slider(key="train_epochs").value == wanted.epochs
    assert at.select_slider(key="train_batch_size").value == wanted.batch_size
    assert at.select_slider(key="train_lr").value == wanted.learning_rate
    assert at.slider(key="train_val_pct").value == round(wanted.val_fraction * 100)
    assert PRESETS["keras-convnet"].description in _texts(at)


@pytest.mark.slow  # starts a real training worker
def test_quick_run_trains_and_links_to_evaluate(scratch_models):
    at = _page().run()
    at.selectbox(key="train_preset").set_value("seed-mlp-dropout").run()
    at.slider(key="train_epochs").set_value(1)
    at.checkbox(key="train_quick").check().run()
    at.select_slider(key="train_quick_size").set_value(500).run()
    at.text_input(key="train_title").input("Quick <i>one</i> ✏️")
    at.button(key="train_start").click().run()
    assert not at.exception

    run_id = at.session_state["train_job"]
    assert at.query_params["job"] == run_id
    assert at.button(key="train_start").disabled  # one request per visitor at a time

    deadline, seen_running = time.monotonic() + WAIT_S, False
    while "Your training is complete" not in _texts(at):
        assert time.monotonic() < deadline, _texts(at)
        assert "Training failed" not in _texts(at), _texts(at)
        seen_running |= f"run `{run_id}` · started by you" in _texts(at)
        time.sleep(1)
        at.run()
        assert not at.exception
    assert seen_running
    run = runs.get_run(run_id, scratch_models)
    assert run.status == "completed" and run.has_model
    assert run.meta.params.train_limit == 500 and run.meta.params.epochs == 1
    # One model, one accuracy: a quick run is tested on all 10,000 test images, and the figure
    # is the one Evaluate computes for the same model file.
    assert run.meta.data.test_examples == 10000
    labels = {m.label: m.value for m in at.metric}
    assert all(m.help for m in at.metric)  # every figure says what it is in one sentence
    assert labels["Test accuracy"] == f"{run.test_accuracy:.2%}"
    from pages import shared

    assert f"{shared.evaluation(run.model_path).accuracy:.2%}" == labels["Test accuracy"]
    assert run.label().endswith("· quick: 500 images") and "A quick run" in _texts(at)
    assert run.name == "Quick <i>one</i> ✏️" and at.text_input(key="train_title").value == ""
    assert len(runs.read_steps(run.path)) > 1  # one epoch, and still a curve
    assert f"/evaluate?run={run_id}" in _texts(at)
    assert not at.button(key="train_start").disabled

    again = _page()  # a reload or a shared link: a new session that finds the job by the URL
    again.query_params["job"] = run_id
    again.run()
    assert "This training is complete" in _texts(again)  # not "Your": it cannot know
    assert "Your" not in _texts(again)


def test_demo_mode_disables_training_but_not_the_editor(models_env, monkeypatch):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    at = _page().run()
    assert not at.exception
    assert at.button(key="train_start").disabled
    assert "Training is turned off in this demo" in _texts(at)
    at.selectbox(key="net_add_type").set_value("Dense").run()
    at.button(key="net_add").click().run()  # exploring shapes and costs still works
    assert not at.exception and len(_layer_boxes(at)) == len(PRESETS["fast-cnn"].spec.layers) + 1
    assert at.button(key="train_start").disabled
    wide = at.session_state["net_ids"][-2]  # the preset's own Dense, after the 5x5 maps
    at.number_input(key=f"net_{wide}_units").set_value(4096).run()  # the demo's limits
    assert "Too many parameters" in _texts(at) and "at most 1,000,000" in _texts(at)


def test_a_run_whose_worker_died_is_reported_interrupted(scratch_models):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    run_dir = scratch_models / "20250101-000000-fast-cnn-dead"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(
        json.dumps(
            {"run_id": run_dir.name, "preset": "fast-cnn", "status": "running", "pid": dead.pid}
        )
    )
    at = _page()
    at.query_params["job"] = run_dir.name
    at.run()
    assert not at.exception
    assert "ended unexpectedly" in _texts(at)
    assert "there is no model" in _texts(at)


def test_a_training_started_elsewhere_is_shown_to_everyone(scratch_models):
    params = runs.RunParams(epochs=2, batch_size=256, learning_rate=0.01, seed=1, val_fraction=0.0)
    run = runs.create_run(  # this test's own process: alive
        "fast-cnn", params, scratch_models, "20250101-000000-fast-cnn-cli0", status="running"
    )
    run_dir = run.path
    runs.write_progress(
        run_dir,
        {
            "epoch": 1,
            "epochs": 2,
            "batch": 30,
            "batches": 200,
            "fraction": 0.075,
            "loss": 0.5,
            "accuracy": 0.8,
            "elapsed_s": 12.0,
            "eta_s": 150.0,
            "status": "running",
        },
    )
    at = _page().run()
    assert not at.exception
    assert f"run `{run_dir.name}` · started outside this page" in _texts(at)
    assert (
        at.get("progress")[0].proto.text == "Epoch 1 of 2 · batch 30 of 200 · about 2 min 30 s left"
    )
    assert "train_stop" not in [b.key for b in at.button]
    runs.update_meta(run, status="completed")


@pytest.mark.parametrize(
    "job, message",
    [
        ("20250101-000000-fast-cnn-gone", "was not found"),
        ("../etc", "not valid"),
        ("../x", "not valid"),
        ("default/../../x", "not valid"),
    ],
)
def test_odd_job_addresses_are_explained(scratch_models, job, message):
    at = _page()
    at.query_params["job"] = job
    at.run()
    assert not at.exception
    assert message in _texts(at)
    assert not at.button(key="train_start").disabled


def test_a_second_request_waits_its_turn_and_can_be_cancelled(scratch_models, tmp_path):
    from mnist_core.training import TrainConfig
    from pages import shared

    queue = shared._training_queue(str(scratch_models))  # the very queue the page uses
    stand_in = tmp_path / "worker"  # a worker that only sleeps: this test is about the queue
    stand_in.write_text(  # honours the STOP file, as a real worker does before training
        f"#!{sys.executable}\nimport os, sys, time\n"
        "stop = os.path.join(sys.argv[sys.argv.index('--run-dir') + 1], 'STOP')\n"
        "while not os.path.exists(stop): time.sleep(0.05)\n"
    )
    stand_in.chmod(0o755)
    queue.python = str(stand_in)
    other = queue.submit(TrainConfig("best-cnn"))  # someone else's request
    try:
        at = _page().run()
        assert f"run `{other.run_id}` · started by another visitor" in _texts(at)
        assert "train_stop" not in [b.key for b in at.button]  # not ours to stop
        at.button(key="train_start").click().run()
        assert not at.exception
        mine = at.session_state["train_job"]
        assert queue.position(mine) == 1
        assert "you are number 2 in the queue" in _texts(at)
        at.button(key="train_cancel").click().run()
        assert "taken off the queue before it started" in _texts(at)
        assert queue.job(mine).state == "cancelled"
        assert not at.button(key="train_start").disabled
    finally:
        queue.stop(other.run_id)
        assert queue.wait(other.run_id, 10) is other


@pytest.mark.parametrize("name", ["started-123", "params-x", "linked"])
def test_a_damaged_run_in_the_job_address_says_why(damaged_runs, damaged_reasons, name):
    at = _page()
    at.query_params["job"] = name
    at.run()
    assert not at.exception
    text = _texts(at)
    assert "This run cannot be read" in text and damaged_reasons[name] in text
    assert not at.button(key="train_start").disabled


# --------------------------------------------------------------------------- the network editor


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _layer_boxes(at: AppTest) -> list[str]:
    """The headline of each layer's box, in order ("3 · MaxPooling2D → 5×5×48 · 0 parameters")."""
    return [m.value for m in at.markdown if re.match(r"\*\*\d+ · ", str(m.value))]


def test_the_editor_starts_from_the_preset_and_follows_edits(models_env):
    at = _page().run()
    assert not at.exception
    fast = PRESETS["fast-cnn"].spec
    costs = fast.costs()
    total, n = sum(c.params for c in costs), len(fast.layers)  # the preset's, output included
    units = fast.layers[-1]["units"]  # its last layer: a Dense
    assert _metrics(at)["Parameters"] == f"{total:,}"
    assert _metrics(at)["Multiply-adds per image"] == f"{sum(c.madds for c in costs):,}"
    assert _metrics(at)["Seconds per epoch (estimate)"].startswith(("≈", "under"))
    assert _layer_boxes(at)[0] == f"**1 · Conv2D** → 12×12×16 · {costs[0].params:,} parameters"
    assert len(_layer_boxes(at)) == n
    assert _layer_boxes(at)[-1].startswith(f"**{n} · Dense** → {units} ·")

    # Add a layer: a Dense of 64 after the preset's last Dense; its shape and the count follow.
    at.selectbox(key="net_add_type").set_value("Dense").run()
    at.button(key="net_add").click().run()
    assert not at.exception
    assert _layer_boxes(at)[-1] == f"**{n + 1} · Dense** → 64 · {units * 64 + 64:,} parameters"
    more = total - (units * 10 + 10) + (units * 64 + 64) + (64 * 10 + 10)
    assert _metrics(at)["Parameters"] == f"{more:,}"
    new = at.session_state["net_ids"][-1]
    at.number_input(key=f"net_{new}_units").set_value(32).run()
    assert _layer_boxes(at)[-1] == f"**{n + 1} · Dense** → 32 · {units * 32 + 32:,} parameters"

    # An impossible layer: a convolution after the dense layers gets its message, no Start.
    at.selectbox(key="net_add_type").set_value("Conv2D").run()
    at.button(key="net_add").click().run()
    assert not at.exception
    message = f"Layer {n + 2} (Conv2D): needs maps (height × width × channels) but meets 32 numbers"
    assert message in _texts(at)
    assert at.button(key="train_start").disabled
    assert "Parameters" not in _metrics(at)

    # Move it up past the Flatten: still wrong (a 3x3 kernel fits the 5x5 maps: not that)...
    conv = at.session_state["net_ids"][-1]
    for _ in range(3):
        at.button(key=f"net_up_{conv}").click().run()
    assert _layer_boxes(at)[n - 2].startswith(f"**{n - 1} · Conv2D** → 3×3×16")
    assert not at.button(key="train_start").disabled
    # ... and remove it again: the network is the one before.
    at.button(key=f"net_remove_{conv}").click().run()
    assert _metrics(at)["Parameters"] == f"{total - units * 10 - 10 + units * 32 + 32 + 330:,}"


def test_a_preset_keeps_the_settings_the_form_has_no_control_for(models_env):
    """robust-ensemble's two networks and changed copies survive loading it into the form."""
    at = _page().run()
    at.selectbox(key="train_preset").set_value("robust-ensemble").run()
    assert not at.exception
    each = sum(c.params for c in PRESETS["robust-ensemble"].spec.costs())
    assert _metrics(at)["Parameters"] == f"{2 * each:,}"
    assert at.session_state["net_settings"] == {"corrupted_share": 0.5, "members": 2}
    at.selectbox(key="train_preset").set_value("fast-cnn").run()
    assert (
        _metrics(at)["Parameters"] == f"{sum(c.params for c in PRESETS['fast-cnn'].spec.costs()):,}"
    )


def test_scratch_json_paste_and_a_changed_network_is_custom(models_env):
    at = _page().run()
    at.button(key="net_scratch").click().run()
    assert not at.exception and _layer_boxes(at) == []
    assert "a linear classifier" in _texts(at)
    assert _metrics(at)["Parameters"] == "7,850"

    at.text_area(key="net_paste").input("{not json").run()
    at.button(key="net_paste_use").click().run()
    assert "Not valid JSON" in _texts(at) and not at.exception
    lenet = {
        "layers": [
            {"type": "Conv2D", "filters": 6, "kernel_size": 5, "activation": "relu"},
            {"type": "MaxPooling2D", "pool_size": 2},
            {"type": "Flatten"},
            {"type": "Dense", "units": 84, "activation": "relu"},
        ],
        "optimizer": "sgd-momentum",
        "epochs": 3,
    }
    at.text_area(key="net_paste").input(json.dumps(lenet)).run()
    at.button(key="net_paste_use").click().run()
    assert not at.exception and len(_layer_boxes(at)) == 4
    assert at.selectbox(key="train_optimizer").value == "sgd-momentum"
    assert at.slider(key="train_epochs").value == 3
    shown = specs.from_json(at.code[0].value)  # the JSON shown is the editor's network
    assert shown.layers == specs.check(lenet).layers and shown.optimizer == "sgd-momentum"


def test_train_again_with_changes_opens_the_runs_network(scratch_models):
    layers = [{"type": "Flatten"}, {"type": "Dense", "units": 12}]
    spec = specs.check({"layers": layers, "batch_size": 64})
    params = runs.RunParams(epochs=1, batch_size=64, learning_rate=0.01, seed=1, val_fraction=0.1)
    runs.create_run("custom", params, scratch_models, "old-custom", spec=spec.to_dict(),
                    status="completed")  # fmt: skip
    at = _page()
    at.query_params["from"] = "old-custom"
    at.run()
    assert not at.exception
    assert "The network of run old-custom is in the editor" in _texts(at)
    assert _layer_boxes(at)[1] == f"**2 · Dense** → 12 · {784 * 12 + 12:,} parameters"
    assert at.select_slider(key="train_batch_size").value == 64
    assert "from" not in at.query_params

    bad = _page()
    bad.query_params["from"] = "no-such-run"
    bad.run()
    assert not bad.exception and "Could not open that run's network" in _texts(bad)


def test_the_network_survives_a_visit_to_another_page(models_env):
    """Streamlit forgets the values of widgets another page did not draw; the editor keeps them."""
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/train.py").run()
    at.button(key="net_scratch").click().run()
    at.selectbox(key="net_add_type").set_value("Dense").run()
    at.button(key="net_add").click().run()
    dense = at.session_state["net_ids"][-1]
    at.number_input(key=f"net_{dense}_units").set_value(20).run()
    at.slider(key="train_epochs").set_value(3).run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert _layer_boxes(at) == ["**1 · Dense**"]  # right after the picture: it says why not
    assert "Layer 1 (Dense): meets 1 map of 28×28; put Flatten" in _texts(at)
    assert at.number_input(key=f"net_{dense}_units").value == 20
    assert at.slider(key="train_epochs").value == 3


# --------------------------------------------------------------------------- an ensemble


def test_an_ensembles_plain_description_says_how_many_networks():
    one = PRESETS["robust-cnn"].spec
    two = PRESETS["robust-ensemble"].spec
    assert two.members == 2 and two.layers == one.layers
    each = sum(c.params for c in one.costs())
    assert "networks" not in train_form.plain_description(one)
    words = train_form.plain_description(two)
    assert words.startswith(train_form.plain_description(one))  # each network, as before
    assert "Two such networks learn one after the other" in words
    assert "the model averages their answers" in words
    assert f"({2 * each:,} numbers to tune in all)" in words


def _ensemble_costs() -> None:
    """The Train page's totals and drawing of robust-ensemble (AppTest runs this body)."""
    from mnist_core.presets import PRESETS
    from pages import network_view

    network_view.totals(PRESETS["robust-ensemble"].spec, 60_000)
    network_view.diagram(PRESETS["robust-ensemble"].spec)


def test_an_ensembles_totals_count_every_network(monkeypatch):
    from mnist_core import estimate
    from pages import network_view

    made_up = estimate.Calibration(per_step=0.01, per_image=1e-5, per_madd=1e-9, measured_s=1.0)
    monkeypatch.setattr(network_view, "calibration", lambda: made_up)
    spec = PRESETS["robust-ensemble"].spec
    costs = spec.costs()
    params, madds = sum(c.params for c in costs), sum(c.madds for c in costs)
    at = AppTest.from_function(_ensemble_costs, default_timeout=TIMEOUT).run()
    assert not at.exception
    metrics = _metrics(at)
    assert metrics["Parameters"] == f"{2 * params:,}"
    assert metrics["Multiply-adds per image"] == f"{2 * madds:,}"
    assert "Seconds per epoch of one network (estimate)" in metrics  # each network's epochs
    assert "Seconds per epoch (estimate)" not in metrics
    assert "2 networks of these layers, their answers averaged" in _texts(at)
    [drawing] = at.get("html")
    assert f"{2 * params:,} parameters</b> in its 2 networks" in drawing.proto.body
    assert f"the first network, drawn here, has {params:,}" in drawing.proto.body


def _names() -> None:
    """run_name of robust-ensemble as loaded and with one network (AppTest runs this body)."""
    import streamlit as st

    from mnist_core.presets import PRESETS
    from pages import train_form

    st.session_state.net_origin = "robust-ensemble"
    spec = PRESETS["robust-ensemble"].spec
    st.text(str(train_form.run_name(spec)))
    st.text(str(train_form.run_name(spec.replace(members=1))))


def test_an_ensemble_of_another_size_is_not_named_after_the_preset():
    at = AppTest.from_function(_names).run()
    assert not at.exception
    assert [t.value for t in at.text] == ["robust-ensemble", "None"]
