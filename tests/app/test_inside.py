"""The Inside page through Streamlit's AppTest: every preset's network, every tab, every way
in (a drawing from Draw, a test image from the address, an upload), and the faults.

The page runs through the entry point (its links need st.navigation). Its tabs run lazily
(only the open one), so a test opens a tab by setting its key, as a click would. The
numbers the page states are checked against Keras and numpy directly where they can be.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnist_core import runs, specs
from mnist_core.presets import PRESETS

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90  # seconds: a first run imports TensorFlow, loads a model and traces its functions
TABS = ("Why this digit", "Layer by layer", "What it learned", "Step by step")
INDEX = 0  # x_test[0], a 7


def inside(run: str | None = None, test: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    if run is not None:
        at.query_params["run"] = run
    if test is not None:
        at.query_params["test"] = test
    return at.switch_page("pages/inside.py")


def open_tab(at: AppTest, name: str) -> AppTest:
    at.session_state["inside_tab"] = name
    return at.run()


def html(at: AppTest) -> str:
    return " ".join(element.proto.body for element in at.get("html"))


def one_line_problems(at: AppTest) -> list[str]:
    problems = [e.value for e in at.error] + [w.value for w in at.warning]
    assert all("\n" not in p for p in problems), problems
    return problems


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def preset_models(tiny_models_dir, tmp_path_factory) -> Path:
    """A models folder with the tiny trained "default" and every preset, untrained, as a run
    of its name (built with the preset's own factory, saved as training saves them)."""
    models = tmp_path_factory.mktemp("inside-models")
    shutil.copytree(tiny_models_dir / "default", models / "default")
    for name, preset in PRESETS.items():
        run = runs.create_run(name, models_dir=models, run_id=name, status="completed")
        preset.build().save(run.path / "model.keras")
    return models


@pytest.fixture
def presets_env(preset_models, monkeypatch) -> Path:
    monkeypatch.setenv("MNIST_MODELS_DIR", str(preset_models))
    return preset_models


def keras_probabilities(model_path: Path, x28: np.ndarray) -> np.ndarray:
    """The model's outputs for one picture by Keras alone, made to sum to 1."""
    import keras

    model = keras.saving.load_model(model_path)
    y = np.asarray(model(x28.reshape(1, 28, 28, 1).astype(np.float32), training=False))[0]
    return y / y.sum()


# --------------------------------------------------------------------------- every network


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_shows_every_tab_and_every_step(presets_env, mnist, preset):
    import keras

    at = inside(run=preset, test=str(INDEX)).run()
    assert not at.exception and not one_line_problems(at)
    model_path = presets_env / preset / "model.keras"
    x28 = mnist.x_test[INDEX].astype(np.float32) / 255.0
    expected = keras_probabilities(model_path, x28)
    [metric] = at.metric
    assert metric.label == "It reads" and metric.value == str(int(expected.argmax()))

    # Why: one overlay per method the network allows, each with its one-line description.
    model = keras.saving.load_model(model_path)
    networks = specs.networks(model)  # Grad-CAM: one network with a convolution only
    has_conv = len(networks) == 1 and any(
        type(layer).__name__ == "Conv2D" for layer in networks[0].layers
    )
    captions = " ".join(c.value for c in at.caption)
    assert "**Integrated gradients**" in captions and "**Occlusion**" in captions
    assert ("**Grad-CAM**" in captions) == has_conv
    assert "Blacking out the 40 pixels a map marks first" in " ".join(m.value for m in at.markdown)

    # Layer by layer: the diagram's total is Keras' own count; a picture per shown block.
    open_tab(at, "Layer by layer")
    assert not at.exception and not one_line_problems(at)
    total = model.count_params()
    assert f"In all: <b>{total:,} parameters</b>" in html(at)
    assert at.image and at.get("plotly_chart")  # feature maps or neurons; the ten outputs

    open_tab(at, "What it learned")
    assert not at.exception and not one_line_problems(at)
    assert any("The first layer (" in " ".join(image.captions) for image in at.image)

    open_tab(at, "Step by step")
    for step in range(1, 8):
        assert not at.exception and not one_line_problems(at), step
        assert any(m.value.startswith(f"**Step {step} of 7**") for m in at.markdown)
        if step < 7:
            at.button(key="inside_story_next").click().run()
    assert at.button(key="inside_story_next").disabled
    at.button(key="inside_story_back").click().run()
    assert any(m.value.startswith("**Step 6 of 7**") for m in at.markdown)


# --------------------------------------------------------------------------- an ensemble

ENSEMBLE_NOTE = (
    "This model averages the answers of 2 networks of the same shape; the layers shown are "
    "the first network's."
)


def test_an_ensemble_is_shown_as_one_model_with_its_first_networks_layers(own_models, mnist):
    """A run whose model averages two tiny untrained networks (`specs.ensemble`): the answer
    is the average's, Grad-CAM is not offered, and each tab that shows layers says in one
    line that they are the first network's; a one-network run says nothing of the kind."""
    import keras

    from mnist_core import explain

    models = own_models("ensemble")
    spec = specs.check(
        {"layers": [{"type": "Conv2D", "filters": 3, "kernel_size": 5, "activation": "relu"}]}
    )
    keras.utils.set_random_seed(5)
    first, second = specs.build_model(spec), specs.build_model(spec)
    model = specs.ensemble([first, second])
    for name in ("model.tflite", runs.WEIGHTS_FILE):  # the copied run's, of another model
        (models / "ensemble" / name).unlink(missing_ok=True)
    model.save(models / "ensemble" / "model.keras")

    at = inside(run="ensemble", test=str(INDEX)).run()
    assert not at.exception and not one_line_problems(at)
    x28 = mnist.x_test[INDEX].astype(np.float32) / 255.0
    expected = keras_probabilities(models / "ensemble" / "model.keras", x28)
    assert at.metric[0].value == str(int(expected.argmax()))
    captions = " ".join(c.value for c in at.caption)
    assert "**Integrated gradients**" in captions and "**Occlusion**" in captions
    assert "**Grad-CAM**" not in captions and "Grad-CAM is left out" in captions
    assert ENSEMBLE_NOTE not in [i.value for i in at.info]  # the maps are the whole model's

    open_tab(at, "Layer by layer")
    assert not at.exception and not one_line_problems(at)
    assert ENSEMBLE_NOTE in [i.value for i in at.info]
    diagram = html(at)
    assert f"In all: <b>{model.count_params():,} parameters</b> in its 2 networks" in diagram
    assert f"the first network, drawn here, has {first.count_params():,}." in diagram

    open_tab(at, "What it learned")
    assert not at.exception and not one_line_problems(at)
    assert ENSEMBLE_NOTE in [i.value for i in at.info]
    layer = explain.first_layer_images(first).layer
    assert any(f"The first layer ({layer})" in " ".join(i.captions) for i in at.image)

    open_tab(at, "Step by step")
    assert ENSEMBLE_NOTE in [i.value for i in at.info]
    own = np.asarray(first(x28[None, ..., None]))[0]
    for step in range(1, 8):
        assert not at.exception and not one_line_problems(at), step
        if step == 5:  # the scores are the first network's, and said to be
            words = " ".join(m.value for m in at.markdown)
            assert (
                f"the first network's scores: for test image {INDEX}, its highest is digit "
                f"**{int(own.argmax())}**" in words
            )
        if step == 6:
            words = " ".join(m.value for m in at.markdown)
            assert "This model has **2 networks** that each do this" in words
        if step < 7:
            at.button(key="inside_story_next").click().run()

    at.selectbox(key="inside_run").set_value(runs.read_run(models / "default")).run()
    assert not at.exception and at.selectbox(key="inside_run").value.id == "default"
    for tab in ("Layer by layer", "What it learned", "Step by step"):
        open_tab(at, tab)
        assert not at.exception and "averages the answers" not in " ".join(
            i.value for i in at.info
        ), tab


# --------------------------------------------------------------------------- ways in


def test_a_drawing_handed_over_by_draw_is_looked_at_first(models_env):
    from pages import shared

    x28 = np.zeros((28, 28), np.float32)
    x28[4:24, 13:16] = 1.0  # a plain "1"
    at = inside()
    at.session_state[shared.INSIDE_INPUT] = {"image": x28, "what": "your drawing", "fresh": True}
    at.run()
    assert not at.exception and not one_line_problems(at)
    assert at.segmented_control(key="inside_source").value == "drawing"
    assert "test" not in at.query_params
    expected = keras_probabilities(models_env / "default" / "model.keras", x28)
    assert at.metric[0].value == str(int(expected.argmax()))
    assert "Your drawing" in at.segmented_control(key="inside_source").options
    # Going to a test image and back to the drawing.
    at.segmented_control(key="inside_source").set_value("test").run()
    assert not at.exception and at.query_params["test"] == "0"
    at.segmented_control(key="inside_source").set_value("drawing").run()
    assert not at.exception and at.metric[0].value == str(int(expected.argmax()))


def test_the_address_chooses_the_run_and_the_test_image(own_models, mnist):
    own_models("second")
    at = inside(run="second", test="7").run()
    assert not at.exception and not one_line_problems(at)
    assert at.selectbox(key="inside_run").value.id == "second"
    assert at.number_input(key="inside_test_index").value == 7
    assert any(f"labels test image 7 as **{mnist.y_test[7]}**:" in c.value for c in at.caption)
    at.number_input(key="inside_test_index").set_value(12).run()
    assert not at.exception and at.query_params["test"] == "12"
    at.button(key="inside_random").click().run()
    assert not at.exception and at.query_params["test"] == str(
        at.number_input(key="inside_test_index").value
    )


@pytest.mark.parametrize("bad", ["-1", "99999", "10000", "abc", "3.5", "", "٣"])
def test_a_bad_test_image_in_the_address_is_one_line(models_env, bad):
    at = inside(test=bad).run()
    assert not at.exception and not at.error
    assert one_line_problems(at) == [  # the address is not repeated
        "The test image named in the address is not a number from 0 to 9,999; showing "
        "another picture instead."
    ]
    assert at.metric and at.number_input(key="inside_test_index").value == 0
    at.run()  # the warning was about the address: the next run has nothing to say
    assert not at.exception and not at.warning


def test_an_uploaded_picture_is_looked_at_and_a_bad_one_is_one_line(models_env):
    at = inside().run()
    at.segmented_control(key="inside_source").set_value("upload").run()
    assert not at.exception and not at.metric
    paper = np.full((200, 200), 255, np.uint8)
    paper[30:170, 90:110] = 0  # a dark "1" on white paper
    at.file_uploader(key="inside_upload").set_value(("one.png", png(paper), "image/png")).run()
    assert not at.exception and not one_line_problems(at)
    assert at.metric and at.metric[0].label == "It reads"
    at.file_uploader(key="inside_upload").set_value(("x.png", b"not a picture", "image/png"))
    at.run()
    assert not at.exception and not at.metric
    [error] = one_line_problems(at)
    assert "x.png" in error


# --------------------------------------------------------------------------- why


def test_asking_why_not_another_digit_explains_that_digit(models_env, mnist):
    at = inside(test=str(INDEX)).run()
    assert not at.exception
    x28 = mnist.x_test[INDEX].astype(np.float32) / 255.0
    answer = int(at.metric[0].value)
    control = next(c for c in at.segmented_control if c.label == "Explain the digit")
    assert control.value == answer
    other = (answer + 1) % 10
    control.set_value(other).run()
    assert not at.exception and not one_line_problems(at)
    assert f"pushed the model toward <b>{other}</b>" in html(at)
    sentence = next(m.value for m in at.markdown if "Blacking out" in m.value)
    assert f"confidence in {other} from" in sentence and f"it answered {answer}" in sentence
    # The brightest-pixels baseline of the sentence, recomputed with Keras and numpy alone.
    order = np.argsort(-x28.ravel(), kind="stable")
    dimmed = x28.ravel().copy()
    dimmed[order[:40]] = 0.0
    p = keras_probabilities(models_env / "default" / "model.keras", dimmed)[other]
    from pages.inside_figures import percent

    assert sentence.endswith(f"instead leaves {percent(float(p))}.")

    # The whole deletion test, folded away until opened: a curve per map and the baseline.
    assert not at.get("plotly_chart")
    at.session_state["inside_deletion_open"] = True
    at.run()
    assert not at.exception and not one_line_problems(at)
    [chart] = at.get("plotly_chart")
    names = [trace["name"] for trace in json.loads(chart.proto.spec)["data"]]
    assert names == ["integrated gradients", "occlusion", "brightest ink first"]
    assert any(
        c.value.endswith(".") and "Areas: integrated gradients " in c.value for c in at.caption
    )


# --------------------------------------------------------------------------- watch it learn


def _snapshots_run(models: Path, name: str, with_file: bool) -> None:
    (models / name / runs.WEIGHTS_FILE).unlink(missing_ok=True)
    if with_file:
        rng = np.random.default_rng(0)
        runs.write_weight_snapshots(
            models / name,
            runs.WeightSnapshots(
                "dense", "dense", np.array([0, 1, 2]), rng.normal(size=(3, 16, 28, 28))
            ),
        )


@pytest.mark.parametrize("kind", ["none", "damaged"])
def test_a_run_without_snapshots_says_so_in_one_sentence(own_models, kind):
    models = own_models()
    _snapshots_run(models, "default", with_file=False)
    if kind == "damaged":
        (models / "default" / runs.WEIGHTS_FILE).write_bytes(b"PK\x03\x04 cut short")
    at = open_tab(inside().run(), "What it learned")
    assert not at.exception and not at.get("select_slider")
    assert any("kept no snapshots of its weights" in i.value for i in at.info)


def test_a_run_with_snapshots_plays_them_with_a_slider(own_models):
    models = own_models()
    _snapshots_run(models, "default", with_file=True)
    at = open_tab(inside().run(), "What it learned")
    assert not at.exception and not one_line_problems(at)
    [slider] = at.select_slider
    assert slider.value == 2 and slider.format_func(0) == "before training"
    assert any("after epoch 2" in " ".join(i.captions) for i in at.image)
    slider.set_value(0).run()
    assert not at.exception
    assert any("before training" in " ".join(i.captions) for i in at.image)


# --------------------------------------------------------------------------- faults


def test_a_model_that_cannot_be_loaded_is_one_line_and_the_page_goes_on(odd_model_runs):
    for kind in odd_model_runs:
        at = inside(run=kind).run()
        assert not at.exception and not at.metric, kind
        [error] = one_line_problems(at)
        assert "model" in error.lower(), error
        at.selectbox(key="inside_run").select_index(0).run()
        assert not at.exception and not at.error and at.metric


def test_no_model_yet_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "empty"))
    at = inside().run()
    assert not at.exception and "No trained model yet" in at.warning[0].value


def test_demo_mode_writes_nothing_in_the_models_folder(own_models, monkeypatch):
    models = own_models()
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    before = {str(p): p.stat().st_mtime_ns for p in sorted(models.rglob("*"))}
    at = inside(test="3").run()
    for tab in TABS:
        open_tab(at, tab)
        assert not at.exception, tab
    assert {str(p): p.stat().st_mtime_ns for p in sorted(models.rglob("*"))} == before


def test_a_changed_answer_is_not_served_from_an_old_model(own_models, mnist):
    """The caches are keyed by model file and its time: a retrained file is read afresh."""
    models = own_models("second")
    at = inside(run="second", test=str(INDEX)).run()
    first = at.metric[0].value
    import keras

    model = keras.saving.load_model(models / "second" / "model.keras")
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    wanted = (int(first) + 3) % 10
    bias = np.full_like(bias, -50.0)
    bias[wanted] = 50.0
    last.set_weights([kernel * 0, bias])
    model.save(models / "second" / "model.keras")
    at.run()
    assert not at.exception and at.metric[0].value == str(wanted)
    assert re.search(rf"confidence in {wanted} from", " ".join(m.value for m in at.markdown))


# A fresh interpreter, as a server starts, visiting every tab of the Inside page in demo
# mode: the temporary folder is listed inside it before and after (files a library writes
# while it runs and removes at exit would not show from outside).
_VISIT_INSIDE = """
import json, sys, tempfile
from pathlib import Path

root = Path(sys.argv[1])
sys.path[:0] = [str(root), str(root / "tests" / "app")]
folders = [tempfile.gettempdir(), *sys.argv[2:]]

def listing():
    return {f: sorted(str(p.relative_to(f)) for p in Path(f).rglob("*")) for f in folders}

from streamlit.testing.v1 import AppTest

before = listing()
at = AppTest.from_file(str(root / "streamlit_app.py"), default_timeout=120)
at.query_params["test"] = "3"
at.switch_page("pages/inside.py").run()
problems = ["first"] if at.exception else []
for tab in ["Layer by layer", "What it learned", "Step by step", "Why this digit"]:
    at.session_state["inside_tab"] = tab
    at.run()
    problems += [tab] if at.exception else []
print(json.dumps({"before": before, "after": listing(), "problems": problems}))
"""


def test_demo_mode_leaves_the_temporary_folder_as_it_was(own_models, tmp_path):
    from fresh_python import run_demo_script

    models = own_models()
    temp = tmp_path / "tmp"
    temp.mkdir()
    seen = run_demo_script(_VISIT_INSIDE, str(ROOT), str(models), temp=temp, timeout=240)
    assert seen["problems"] == []
    assert seen["after"] == seen["before"]


def test_a_digit_the_network_reads_in_a_blank_picture_says_why_its_map_is_empty(
    shipped_models_env,
):
    from mnist_core.explain import Explainer
    from mnist_core.inference import load_model

    model = load_model(shipped_models_env / "default" / "model.keras")
    blank = Explainer(model).probabilities(np.zeros((28, 28), np.float32))
    assert int(blank.argmax()) == 1 and blank[1] > 0.5  # the shipped model: black reads as 1
    at = inside(run="default", test="2").run()  # MNIST's test image 2 is a 1, read as 1
    assert not at.exception
    assert "already says **1** for an empty black picture" in " ".join(i.value for i in at.info)
    at = inside(run="default", test="0").run()  # a 7: black says little about 7
    assert not at.exception
    assert "empty black picture" not in " ".join(i.value for i in at.info)
