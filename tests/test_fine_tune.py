"""Fine-tuning a run on MNIST plus your digits: a normal run folder, trained on a small slice."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mnist_core import fine_tune, runs
from mnist_core.data import Mnist
from mnist_core.errors import InputError, ModelError
from mnist_core.fine_tune import FineTuneConfig


@pytest.fixture
def models(tiny_models_dir, tmp_path):
    """A models folder of our own holding a copy of the tiny "default" run."""
    shutil.copytree(tiny_models_dir / "default", tmp_path / "default")
    return tmp_path


@pytest.fixture(scope="module")
def own(mnist):
    """Twenty "your digits": test digits, so MNIST's training images do not hold them."""
    return mnist.x_test[-20:].copy(), mnist.y_test[-20:].copy()


def test_prepare_makes_a_queued_run_that_records_its_origin(models, own):
    run = FineTuneConfig("default", *own).prepare(models)
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "queued" and meta["preset"] == "seed-mlp-dropout"
    assert meta["fine_tuned"] == {
        "from": "default",
        "digits": 20,
        "own_share": fine_tune.OWN_SHARE,
        "mnist_images": fine_tune.MNIST_IMAGES,
    }
    assert meta["spec"]["augment"] is True
    assert meta["spec"]["learning_rate"] == fine_tune.LEARNING_RATE
    x, y = fine_tune.load_digits(run.path)
    np.testing.assert_array_equal(x, own[0])
    np.testing.assert_array_equal(y, own[1])
    assert "fine-tuned on MNIST plus 20 of your digits" in run.meta.description


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"base": "nope"}, ModelError, "No run called"),
        ({"base": "../default"}, InputError, "Invalid run id"),
        ({"count": 5}, InputError, "at least 10"),
        ({"epochs": 0}, InputError, "epochs must be between"),
        ({"own_share": 1.0}, InputError, "own_share"),
    ],
)
def test_a_bad_request_writes_nothing(models, own, change, error, words):
    x, y = own
    count = change.pop("count", len(y))
    config = FineTuneConfig(
        **{"base": "default", "images": x[:count], "labels": y[:count], **change}
    )
    with pytest.raises(error, match=words):
        config.prepare(models)
    assert [p.name for p in models.iterdir()] == ["default"]


def test_your_digits_make_their_share_of_each_epoch(models, own, mnist):
    run = FineTuneConfig("default", *own, mnist_images=900, own_share=0.1).prepare(models)
    x, y = fine_tune.training_set(run, mnist.x_train[:5000], mnist.y_train[:5000])
    assert len(x) == len(y) == 900 + 20 * 5  # 20 digits repeated 5 times: 100 of 1,000
    ours = (x[:, None] == own[0][None]).all(axis=(2, 3))  # (M, 20): which rows are which digit
    assert (ours.sum(axis=0) == 5).all()
    assert (y[ours.any(axis=1)] == np.tile(own[1], 5)).all()


def test_the_fine_tune_path_trains_a_normal_run(models, own, mnist):
    """One epoch on a few hundred MNIST images: a completed run, loadable in safe mode, that
    starts from the base's weights and is listed like any other."""
    from mnist_core.inference import load_model
    from mnist_core.training import train_run

    small = Mnist(mnist.x_train[:3000], mnist.y_train[:3000], mnist.x_test, mnist.y_test, "slice")
    config = FineTuneConfig("default", *own, epochs=1, mnist_images=300, test_limit=200)
    run = train_run(config.prepare(models).path, data=small)
    assert run.status == "completed" and run.meta.fine_tuned["digits"] == 20
    assert run.meta.data.train_examples == 300 + 20 * 2  # 2 repeats: 40 of 340 (at least 10%)
    assert 0 < run.meta.test_accuracy <= 1 and run.meta.data.test_examples == 200
    tuned = load_model(run.model_path)  # safe mode
    base = load_model(models / "default" / "model.keras")
    assert [w.shape for w in tuned.get_weights()] == [w.shape for w in base.get_weights()]
    changed = [not np.allclose(a, b) for a, b in zip(tuned.get_weights(), base.get_weights())]
    assert any(changed)
    # Started from the base, not from scratch: the weights moved only a little.
    first = np.abs(tuned.get_weights()[0] - base.get_weights()[0]).mean()
    assert first < 0.5 * np.abs(base.get_weights()[0]).mean()
    assert (run.path / "model.tflite").is_file()
    assert run.id in [r.id for r in runs.list_runs(models) if r.has_model]


def test_a_base_deleted_before_its_turn_fails_in_one_line(models, own, mnist):
    from mnist_core.training import train_run

    run = FineTuneConfig("default", *own, epochs=1, mnist_images=300).prepare(models)
    shutil.rmtree(models / "default")
    with pytest.raises(ModelError):
        train_run(run.path, data=mnist)
    failed = runs.read_run(run.path)
    assert failed.status == "failed" and "default" in failed.meta.error
    assert "\n" not in failed.meta.error


@pytest.mark.slow  # a real worker process (it loads MNIST and TensorFlow)
def test_the_queue_runs_a_fine_tuning_in_its_worker(models, own, monkeypatch):
    """The app's way: submitted to the training queue, trained by `python -m mnist_core train
    --run-dir` in a worker process, as any run."""
    from mnist_core.jobs import TrainingQueue

    monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    queue = TrainingQueue(models, poll_interval=0.1)
    job = queue.submit(FineTuneConfig("default", *own, epochs=1, mnist_images=300, test_limit=200))
    assert queue.wait(job.run_id, timeout=300) is not None
    request = queue.request(job.run_id)
    assert request.status == "completed", request.error
    assert request.watch.run.meta.fine_tuned["from"] == "default"


def test_the_demo_queues_no_fine_tuning(models, own, monkeypatch):
    from mnist_core.jobs import TrainingQueue

    queue = TrainingQueue(models)
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    with pytest.raises(InputError, match="turned off in this demo"):
        queue.submit(FineTuneConfig("default", *own))
    assert [p.name for p in models.iterdir()] == ["default"]
