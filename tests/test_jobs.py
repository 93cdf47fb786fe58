"""The training queue: one worker process at a time, FIFO, stop and cancel, bad input.

The first tests start real workers (`python -m mnist_core train` on a few hundred images:
about ten seconds each, mostly importing TensorFlow). The last ones swap the worker for a
tiny stand-in program, because they test the queue's bookkeeping, not training.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from mnist_core import runs
from mnist_core.errors import InputError
from mnist_core.jobs import TrainingQueue
from mnist_core.training import TrainConfig

TINY = dict(epochs=1, train_limit=300, test_limit=200, val_fraction=0.1)
WAIT_S = 60


@pytest.fixture
def queue(tmp_path):
    q = TrainingQueue(tmp_path / "models", poll_interval=0.1)
    yield q
    for job in [q.state().running, *q.state().queued]:  # never leave a worker behind
        if job is not None:
            q.stop(job.run_id)
            if job.process is not None:
                job.process.kill()


def _alive(job) -> bool:
    return job.process is not None and job.process.poll() is None


def test_jobs_run_one_at_a_time_in_order(queue):
    first = queue.submit(TrainConfig("seed-mlp-dropout", **TINY), owner="alice")
    second = queue.submit(TrainConfig("seed-mlp-dropout", seed=7, **TINY), owner="bob")
    assert first.run_id != second.run_id
    assert queue.position(first.run_id) == 0 and queue.position(second.run_id) == 1
    state = queue.state()
    assert state.running is first and state.queued == [second]
    assert (first.owner, second.owner) == ("alice", "bob")

    deadline = time.monotonic() + WAIT_S
    while first.state == "running":  # the second waits the whole time, and no overlap
        assert second.state == "queued" and not _alive(second)
        assert queue.position(second.run_id) == 1
        assert time.monotonic() < deadline, "the first job did not finish"
        time.sleep(0.1)
        queue.state()
    assert queue.wait(second.run_id, WAIT_S) is second

    for job in (first, second):
        assert job.state == "finished" and job.returncode == 0 and job.error is None
        run = runs.get_run(job.run_id, queue.models_dir)
        assert run.status == "completed" and run.has_model
        assert run.meta["params"]["train_limit"] == 300
    assert runs.get_run(second.run_id, queue.models_dir).meta["seed"] == 7
    assert queue.position(first.run_id) is None and queue.state().running is None


def test_stop_cancels_a_queued_job_and_ends_a_running_one(queue):
    # Small batches over many images: long enough that the stop lands mid-training.
    running = queue.submit(TrainConfig("seed-mlp-dropout", epochs=3, batch_size=8,
                                       train_limit=20000, test_limit=200))
    waiting = queue.submit(TrainConfig("seed-mlp-dropout", **TINY))
    assert queue.stop(waiting.run_id) is True
    assert waiting.state == "cancelled" and queue.position(waiting.run_id) is None
    assert queue.job(waiting.run_id) is waiting and queue.state().queued == []

    run_dir = queue.models_dir / running.run_id
    deadline = time.monotonic() + WAIT_S
    while not runs.read_progress(run_dir):  # wait until batches are being trained
        assert running.state == "running", "the worker ended before training began"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert queue.stop(running.run_id) is True
    assert queue.wait(running.run_id, WAIT_S) is running
    run = runs.get_run(running.run_id, queue.models_dir)
    assert run.status == "stopped" and run.has_model
    assert run.meta["epochs_completed"] < 3
    assert not (run_dir / "STOP").exists()
    assert not (queue.models_dir / waiting.run_id).exists()  # the cancelled one never started
    assert queue.stop("no-such-run") is False


@pytest.mark.parametrize("config", [
    TrainConfig("fast-cnn", epochs=0),
    TrainConfig("fast-cnn", learning_rate=5.0),
    TrainConfig("fast-cnn", train_limit=10),
    TrainConfig("no-such-preset"),
])
def test_bad_config_is_refused_before_queueing(tmp_path, config):
    queue = TrainingQueue(tmp_path, python="/bin/true")
    with pytest.raises(InputError):
        queue.submit(config)
    state = queue.state()
    assert state.running is None and state.queued == []


# --------------------------------------------------------------------------- stand-in workers

def _stand_in(tmp_path, code: str) -> str:
    """An executable that ignores the worker's arguments and runs `code` instead."""
    path = tmp_path / "worker"
    path.write_text(f"#!{sys.executable}\n{code}\n")
    path.chmod(0o755)
    return str(path)


def test_stop_before_the_run_directory_exists_cancels(tmp_path):
    # The worker is still starting (no run directory yet): stop() terminates it.
    queue = TrainingQueue(tmp_path, poll_interval=0.05,
                          python=_stand_in(tmp_path, "import time; time.sleep(30)"))
    job = queue.submit(TrainConfig("fast-cnn"))
    assert job.state == "running"
    assert queue.stop(job.run_id) is True
    assert queue.wait(job.run_id, 10) is job
    assert job.state == "cancelled" and job.error is None


def test_worker_failing_before_its_run_directory_reports_its_last_words(tmp_path):
    queue = TrainingQueue(tmp_path, poll_interval=0.05, python=_stand_in(
        tmp_path, "import sys; print('loading'); print('No MNIST files found'); sys.exit(2)"))
    job = queue.submit(TrainConfig("fast-cnn"))
    assert queue.wait(job.run_id, 10) is job
    assert job.state == "finished" and job.returncode == 2
    assert job.error == "No MNIST files found"


def test_waits_for_a_training_started_outside_the_queue(tmp_path):
    # A run directory saying "running" for a live process (an earlier server's worker).
    outside = tmp_path / "20250101-000000-fast-cnn-0000"
    outside.mkdir()
    meta = {"run_id": outside.name, "preset": "fast-cnn", "status": "running", "pid": os.getpid()}
    (outside / "run.json").write_text(json.dumps(meta))
    queue = TrainingQueue(tmp_path, poll_interval=0.05, python=_stand_in(tmp_path, "pass"))
    assert queue.state().external_run == outside.name  # seen even with nothing queued
    job = queue.submit(TrainConfig("fast-cnn"))
    time.sleep(0.3)
    state = queue.state()
    assert job.state == "queued" and state.running is None and state.external_run == outside.name
    assert queue.position(job.run_id) == 1

    (outside / "run.json").write_text(json.dumps({**meta, "status": "completed"}))
    assert queue.wait(job.run_id, 10) is job and job.returncode == 0
    assert queue.state().external_run is None
