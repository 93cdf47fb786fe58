"""pages/shared.py under load: each model is loaded once per server process however many
sessions and threads ask for it, and twelve sessions predicting at once while a training
runs all get the right digit, quickly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_draw import canvas_with, draw_page, stroke_of_one  # tests/app/test_draw.py

from mnist_core import inference, runs
from mnist_core.jobs import TrainingQueue
from mnist_core.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 12
PREDICTIONS_EACH = 20
WAIT_S = 120


def as_canvas(digit: np.ndarray) -> np.ndarray:
    """An MNIST test digit as the Draw page's canvas sends it: RGBA uint8 (280, 280, 4),
    white strokes on opaque black."""
    strokes = np.asarray(Image.fromarray(digit).resize((280, 280), Image.BILINEAR))
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., :3] = strokes[..., None]
    canvas[..., 3] = 255
    return canvas


def test_each_model_is_loaded_once_per_process(models_env):
    from pages import shared

    shared._predictor.clear()
    shared._evaluation.clear()
    model_path = models_env / "default" / "model.keras"
    loads, from_path = [], inference.Predictor.from_path

    def counting_from_path(path, engine="auto"):
        loads.append(path)
        return from_path(path, engine)

    start = threading.Barrier(8)
    predictors = []

    def visitor():
        start.wait()  # all eight ask for the cold cache at the same moment
        predictors.append(shared.predictor(model_path))

    with (
        mock.patch.object(inference.Predictor, "from_path", counting_from_path),
        canvas_with(stroke_of_one()),
    ):
        threads = [threading.Thread(target=visitor) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for _ in range(3):  # three visitors of the Draw page
            at = draw_page().run()
            assert not at.exception and [m.label for m in at.metric] == ["Prediction"]
        # Through the entry point: Evaluate's gallery links to Inside (needs st.navigation).
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90)
        at.switch_page("pages/evaluate.py").run()
        assert not at.exception and at.metric  # Evaluate predicts with the same Predictor
    assert loads == [str(model_path)]
    assert len(predictors) == 8 and all(p is predictors[0] for p in predictors)


def test_twelve_sessions_predict_right_while_a_training_runs(shipped_models_dir, mnist, tmp_path):
    from pages import shared

    model_path = shipped_models_dir / "default" / "model.keras"
    predictor = shared.predictor(model_path)
    # Digits the shipped model reads right on a quiet machine: under load it must read them
    # exactly the same.
    drawn = [(as_canvas(x), int(y)) for x, y in zip(mnist.x_test[:100], mnist.y_test[:100])]
    right = [
        (canvas, y) for canvas, y in drawn if inference.predict_image(predictor, canvas).digit == y
    ]
    assert len(right) >= 95

    queue = TrainingQueue(tmp_path / "models", poll_interval=0.1)
    job = queue.submit(TrainConfig("fast-cnn", epochs=3, train_limit=20000, test_limit=200))
    try:
        deadline = time.monotonic() + WAIT_S
        while not runs.read_progress(queue.models_dir / job.run_id):  # batches under way
            assert job.state == "running" and time.monotonic() < deadline, job
            time.sleep(0.1)

        start = threading.Barrier(SESSIONS)
        latencies, wrong = [], []

        def session(number: int) -> None:
            start.wait()
            for i in range(PREDICTIONS_EACH):
                canvas, digit = right[(number * PREDICTIONS_EACH + i) % len(right)]
                began = time.perf_counter()
                prediction = inference.predict_image(shared.predictor(model_path), canvas)
                latencies.append(time.perf_counter() - began)
                if prediction.digit != digit:
                    wrong.append((number, i, digit, prediction.digit))

        threads = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        assert job.state == "running", "the training ended before the predictions did"
    finally:
        job.process.kill()
        job.process.wait()

    assert wrong == [] and len(latencies) == SESSIONS * PREDICTIONS_EACH
    p50, p95 = np.percentile(latencies, [50, 95])
    print(
        f"\n{SESSIONS} sessions x {PREDICTIONS_EACH} predictions during a training: "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms, "
        f"{len(latencies) / elapsed:.0f} predictions/s"
    )
    assert p95 < 5.0  # seconds: generous, for a busy machine; the figure itself goes in the docs


# --------------------------------------------------------------------------- warming up (serve.py)


def test_warm_up_fills_the_home_page_caches(models_env):
    from pages import shared

    shared.mnist.clear()
    shared.label_counts.clear()
    shared.mean_images.clear()
    shared.warm_up()
    with (
        mock.patch.object(shared, "load_mnist", side_effect=AssertionError("not cached")),
        mock.patch.object(shared, "mean_images_of", side_effect=AssertionError("not cached")),
    ):
        data = shared.mnist()
        assert shared.label_counts()["test"].sum() == len(data.x_test)
        assert shared.mean_images().shape == (10, 28, 28)


def test_warm_up_leaves_a_missing_dataset_to_the_page(models_env, caplog):
    from mnist_core.errors import DataError
    from pages import shared

    shared.mnist.clear()
    with mock.patch.object(
        shared, "load_mnist", side_effect=DataError("MNIST is not available here.")
    ):
        shared.warm_up()  # no exception: the home page shows the error to its visitor
    assert "MNIST is not available here." in caplog.text


def test_model_warm_up_starts_once_after_a_page_and_only_when_asked(models_env, monkeypatch):
    from pages import shared

    started = []
    monkeypatch.setattr(shared, "warm_up_default_model", lambda: started.append(time.monotonic()))
    monkeypatch.setattr(shared, "_model_warm_up", {"wanted": False, "started": False})
    shared.after_page()
    assert started == []  # plain `streamlit run streamlit_app.py`: no warm-up
    shared.want_model_warm_up()
    for _ in range(3):
        shared.after_page()
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert len(started) == 1


def test_model_warm_up_scores_the_default_model(models_env):
    from pages import shared

    shared._predictor.clear()
    shared._evaluation.clear()
    shared.warm_up_default_model()
    model_path = models_env / "default" / "model.keras"
    with mock.patch.object(inference, "load_model", side_effect=AssertionError("not cached")):
        assert 0.0 <= shared.evaluation(model_path).accuracy <= 1.0


FLAG = "streamlit.runtime.pages_manager.PagesManager.uses_pages_directory"
UPGRADE_HINT = (
    f"pages/shared.py's _leave_legacy_pages_mode() flips Streamlit's private {FLAG}, and this "
    "Streamlit ({version}) {what}. Streamlit has no documented switch for it (1.67): look for "
    "the new spelling in streamlit/runtime/pages_manager.py and update the function, or "
    "rename pages/ (Streamlit's own advice for st.navigation apps) and drop the workaround."
)


def test_before_any_session_the_legacy_pages_mode_is_switched_off():
    """serve.py imports pages.shared before the first session: that session must then not
    start in the legacy `pages/` mode (no st.rerun is possible or needed there).

    The switch is a private Streamlit flag; an upgrade that renames or drops it must fail
    here, by name, not go quiet (setting a missing class attribute just creates it)."""
    import streamlit
    from streamlit.runtime import pages_manager

    manager = getattr(pages_manager, "PagesManager", None)
    assert manager is not None and "uses_pages_directory" in vars(manager), UPGRADE_HINT.format(
        version=streamlit.__version__, what="has no such class attribute"
    )  # (checked before importing pages.shared, whose import would create the attribute)
    from pages import shared

    saved = manager.uses_pages_directory
    try:
        # Streamlit still decides the legacy mode by this flag: a fresh server process
        # (flag None) whose main script sits beside pages/ turns it on, as ours does.
        manager.uses_pages_directory = None
        manager(str(ROOT / "streamlit_app.py"), setup_watcher=False)
        assert manager.uses_pages_directory is True, UPGRADE_HINT.format(
            version=streamlit.__version__,
            what="no longer sets it for a main script beside a pages/ folder",
        )
        # Outside a session the function switches it off for good, and the first session's
        # PagesManager keeps it off.
        manager.uses_pages_directory = None
        shared._leave_legacy_pages_mode()
        assert manager.uses_pages_directory is False
        manager(str(ROOT / "streamlit_app.py"), setup_watcher=False)
        assert manager.uses_pages_directory is False
    finally:
        manager.uses_pages_directory = saved


def test_freeze_imports_leaves_later_objects_collectable():
    import gc
    import weakref

    from pages import shared

    shared.freeze_imports()
    shared.freeze_imports()  # once is enough: a second call freezes nothing more
    frozen = gc.get_freeze_count()
    assert frozen > 100_000  # TensorFlow's modules and functions are in the permanent generation

    class Cycle:
        pass

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a  # a reference cycle, as a Keras model's layers make
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None  # made after the freeze: still collected
    assert gc.get_freeze_count() == frozen


_PAGES_WITHOUT_TENSORFLOW = """
import json, sys, types
from types import SimpleNamespace
import numpy as np
from streamlit.testing.v1 import AppTest

one = np.zeros((280, 280, 4), np.uint8)
one[..., 3] = 255
one[50:230, 130:150, :3] = 255  # a white bar: a 1
canvas = types.ModuleType("streamlit_drawable_canvas")  # AppTest has no browser to draw in
canvas.st_canvas = lambda *args, **kwargs: SimpleNamespace(image_data=one)
sys.modules["streamlit_drawable_canvas"] = canvas
seen = {"errors": [], "metrics": []}
for page in ("pages/draw.py", "pages/evaluate.py"):
    at = AppTest.from_file("streamlit_app.py", default_timeout=120).switch_page(page).run()
    seen["errors"] += [e.value for e in at.exception]
    seen["metrics"] += [(m.label, m.value) for m in at.metric]
seen["loaded"] = [m for m in ("tensorflow", "keras") if m in sys.modules]
print(json.dumps(seen))
"""


def test_draw_and_evaluate_run_on_litert_without_importing_tensorflow(shipped_models_dir):
    """In a fresh process, as a server: a drawing read on Draw, the test set scored on
    Evaluate, and neither TensorFlow nor Keras imported (the Inside page alone needs them)."""
    env = {**os.environ, "MNIST_MODELS_DIR": str(shipped_models_dir)}
    done = subprocess.run(
        [sys.executable, "-c", _PAGES_WITHOUT_TENSORFLOW],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    assert ["Prediction", "1"] in seen["metrics"]  # Draw read the 1
    assert any(label.startswith("Accuracy") for label, _ in seen["metrics"]), seen["metrics"]
    assert seen["loaded"] == []
