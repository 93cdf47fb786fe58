"""The Your digits page: thumbnails and delete, a model scored on them, fine-tuning through
the queue, export and import; in the demo, the session only."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mnist_core import digit_files
from mnist_core.own_digits import FolderStore

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds: the first run imports the model's runtime


def page() -> AppTest:
    """The page through the real entry point: its links to Draw and Train need st.navigation."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    # Run once first: the first run in a process leaves Streamlit's legacy pages mode with a
    # rerun (pages/shared.py), which would drop a page switched to before it.
    return at.run().switch_page("pages/your_digits.py")


@pytest.fixture
def mine(models_env, tmp_path, monkeypatch, mnist):
    """Twelve test digits (two of each of 0 to 5) in a folder of your digits."""
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    picks = np.concatenate([np.flatnonzero(mnist.y_test == d)[:2] for d in range(6)])
    FolderStore().add_many(mnist.x_test[picks], mnist.y_test[picks], "import")
    return picks


def test_an_empty_set_says_how_to_add_one(models_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    at = page().run()
    assert not at.exception and not at.error
    assert any(info.value.startswith("No digits yet") for info in at.info)
    assert not at.metric


def test_thumbnails_accuracy_and_confusion_of_a_model(mine, mnist):
    at = page().run()
    assert not at.exception and not at.error
    captions = [image.captions[0] for image in at.image]
    # Newest first; two of each digit 0 to 5, all imported.
    assert sorted(captions) == sorted(f"{d} · import" for d in mnist.y_test[mine])
    from mnist_core.evaluation import score
    from mnist_core.inference import Predictor
    from mnist_core.runs import get_run

    expected = score(
        Predictor.from_path(get_run("default").model_path), mnist.x_test[mine], mnist.y_test[mine]
    )
    [metric] = at.metric
    assert metric.value == f"{expected.accuracy:.0%}" and metric.delta == "12 digits"
    [chart] = at.get("plotly_chart")
    assert '"customdata"' in chart.proto.spec  # the clickable confusion matrix


def test_delete_forgets_one_digit(mine):
    at = page().run()
    first = FolderStore().digits()[-1]  # the newest, shown first
    at.button(key=f"delete_{first.id}").click().run()
    assert not at.exception
    assert first.id not in [d.id for d in FolderStore().digits()]
    assert len(at.image) == 11


def test_fine_tune_queues_a_run_and_opens_the_train_page(mine, monkeypatch):
    """The button hands the request to the training queue (its submit is tested with a real
    worker in tests/test_fine_tune.py) and opens the Train page, which follows the run."""
    from pages import shared

    submitted = []
    queue = shared.training_queue()
    monkeypatch.setattr(
        queue, "submit", lambda config: submitted.append(config) or SimpleNamespace(run_id="x")
    )
    at = page().run()
    at.button(key="own_fine_tune").click().run()
    assert not at.exception and not at.error
    [config] = submitted
    assert config.base == "default" and len(config.labels) == 12
    assert (config.labels == np.sort(config.labels)).all()  # oldest first, as added
    assert at.title[0].value == "Train a model"


def test_export_and_import_round_trip_and_a_bad_file_is_one_line(mine):
    at = page().run()
    npz = at.get("download_button")[0]
    assert npz.proto.label == "Download as npz"
    x, y = FolderStore().arrays()
    data = digit_files.to_idx_zip(x[:3], y[:3])
    at.file_uploader[0].set_value(("three.zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    assert len(FolderStore().digits()) == 15
    assert any("Added 3 digits from three.zip" in s.value for s in at.success)
    at.file_uploader[0].set_value(("bad.npz", b"nonsense", "application/octet-stream")).run()
    assert not at.exception
    [error] = at.error
    assert error.value.startswith("bad.npz: not an .npz") and "\n" not in error.value
    assert len(FolderStore().digits()) == 15


def test_the_demo_keeps_them_in_the_session_and_cannot_fine_tune(
    models_env, tmp_path, monkeypatch, mnist
):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    monkeypatch.setenv("MNIST_OWN_DIGITS_DIR", str(tmp_path / "mine"))
    at = page().run()
    buffer = io.BytesIO()
    np.savez(buffer, images=mnist.x_test[:10], labels=mnist.y_test[:10])
    at.file_uploader[0].set_value(("ten.npz", buffer.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error
    assert len(at.image) == 10
    assert any("browser session only" in c.value for c in at.caption)
    assert at.button(key="own_fine_tune").disabled
    assert list(tmp_path.rglob("*")) == []  # nothing written
