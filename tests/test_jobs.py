"""The training queue: one worker process at a time, FIFO, stop and cancel, bad input.

The first tests start real workers (`python -m mnist_core train` on a few hundred images:
about ten seconds each, mostly importing TensorFlow). The last ones swap the worker for a
tiny stand-in program, because they test the queue's bookkeeping, not training.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

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


@pytest.mark.slow  # starts a real training worker
def test_jobs_run_one_at_a_time_in_order(queue):
    first = queue.submit(TrainConfig("seed-mlp-dropout", **TINY))
    second = queue.submit(TrainConfig("seed-mlp-dropout", seed=7, **TINY))
    assert first.run_id != second.run_id
    assert queue.position(first.run_id) == 0 and queue.position(second.run_id) == 1
    state = queue.state()
    assert state.running is first and state.queued == [second]
    assert queue.request(second.run_id).status == "queued"  # its run directory says so
    assert queue.request(first.run_id).status in ("starting", "running")

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
        assert run.meta.params.train_limit == 300
        assert queue.request(job.run_id).status == "completed"
    assert runs.get_run(second.run_id, queue.models_dir).meta.params.seed == 7
    assert queue.position(first.run_id) is None and queue.state().running is None


@pytest.mark.slow  # starts a real training worker
def test_stop_cancels_a_queued_job_and_ends_a_running_one(queue):
    # Small batches over many images: long enough that the stop lands mid-training.
    running = queue.submit(
        TrainConfig("seed-mlp-dropout", epochs=3, batch_size=8, train_limit=20000, test_limit=200)
    )
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
    assert run.meta.epochs_completed < 3
    assert not (run_dir / "STOP").exists()
    assert not (queue.models_dir / waiting.run_id).exists()  # the cancelled one never started
    assert queue.request(waiting.run_id).status == "cancelled"
    assert queue.stop("no-such-run") is False


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig("fast-cnn", epochs=0),
        TrainConfig("fast-cnn", learning_rate=5.0),
        TrainConfig("fast-cnn", train_limit=10),
        TrainConfig("no-such-preset"),
    ],
)
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


def test_stop_while_the_worker_starts_cancels_and_leaves_nothing(tmp_path):
    # A worker still loading (run.json says "starting") honours the STOP file once it is ready
    # to train, as the real one does before its first batch: nothing was trained, nothing kept.
    worker = _stand_in(
        tmp_path,
        """
import os, sys, time
run_dir = sys.argv[sys.argv.index("--run-dir") + 1]
while not os.path.exists(os.path.join(run_dir, "STOP")):
    time.sleep(0.05)
""",
    )
    queue = TrainingQueue(tmp_path / "models", poll_interval=0.05, python=worker)
    job = queue.submit(TrainConfig("fast-cnn"))
    assert job.state == "running" and queue.request(job.run_id).status == "starting"
    assert runs.get_run(job.run_id, queue.models_dir).meta.pid == job.process.pid
    assert queue.stop(job.run_id) is True
    assert queue.wait(job.run_id, 10) is job
    assert job.state == "cancelled" and job.error is None
    assert queue.request(job.run_id).status == "cancelled"
    assert not (queue.models_dir / job.run_id).exists()


def test_worker_failing_before_its_run_directory_reports_its_last_words(tmp_path):
    queue = TrainingQueue(
        tmp_path,
        poll_interval=0.05,
        python=_stand_in(
            tmp_path, "import sys; print('loading'); print('No MNIST files found'); sys.exit(2)"
        ),
    )
    job = queue.submit(TrainConfig("fast-cnn"))
    assert queue.wait(job.run_id, 10) is job
    assert job.state == "finished" and job.returncode == 2
    assert job.error == "No MNIST files found"
    request = queue.request(job.run_id)  # recorded in run.json: a restarted server knows too
    assert request.status == "failed" and request.error == "No MNIST files found"
    assert runs.get_run(job.run_id, tmp_path).meta.error == "No MNIST files found"


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


def _finishing_stand_in(tmp_path, seconds: float) -> str:
    """A worker that takes over its run directory, takes `seconds`, then leaves it completed,
    like the real one."""
    return _stand_in(
        tmp_path,
        f"""
import json, os, sys, time
path = os.path.join(sys.argv[sys.argv.index("--run-dir") + 1], "run.json")
meta = {{**json.load(open(path)), "status": "running", "pid": os.getpid()}}
open(path, "w").write(json.dumps(meta))
time.sleep({seconds})
open(path, "w").write(json.dumps({{**meta, "status": "completed"}}))
""",
    )


def test_two_sessions_starting_at_the_same_moment_take_turns(tmp_path):
    queue = TrainingQueue(tmp_path, poll_interval=0.05, python=_finishing_stand_in(tmp_path, 1.0))
    start = threading.Barrier(2)
    jobs = {}

    def session(owner):
        start.wait()
        jobs[owner] = queue.submit(TrainConfig("fast-cnn"))

    threads = [threading.Thread(target=session, args=(owner,)) for owner in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = queue.state()
    assert state.running in jobs.values() and len(state.queued) == 1
    waiting = state.queued[0]
    assert waiting is not state.running and queue.position(waiting.run_id) == 1
    assert waiting.process is None  # not started, not even briefly
    assert queue.wait(waiting.run_id, 20) is waiting
    for job in jobs.values():
        assert job.state == "finished" and job.returncode == 0
    assert [r.status for r in runs.list_runs(tmp_path)] == ["completed", "completed"]


@pytest.mark.slow  # starts a real training worker
def test_a_restarted_server_waits_for_the_old_worker_and_sees_how_it_ended(tmp_path):
    """Server 1 starts a real training and goes away (its queue object is dropped); server 2
    sees that training at once, even while its worker is still loading, starts nothing beside
    it, and runs its own (real) request afterwards. Server 2 goes too, its next worker is
    killed while no server watches, and server 3 finds that run interrupted."""
    models = tmp_path / "models"
    server1 = TrainingQueue(models, poll_interval=0.1)
    old = server1.submit(TrainConfig("seed-mlp-dropout", **TINY))
    del server1

    server2 = TrainingQueue(models, poll_interval=0.1)
    assert runs.get_run(old.run_id, models).status == "starting"  # still loading TensorFlow...
    assert server2.state().external_run == old.run_id  # ...and seen all the same
    new = server2.submit(TrainConfig("seed-mlp-dropout", seed=7, **TINY))
    deadline = time.monotonic() + WAIT_S
    while (state := server2.state()).running is None:  # no second training while the old one runs
        assert state.queued == [new] and time.monotonic() < deadline, (
            "the old worker did not finish"
        )
        time.sleep(0.1)
    assert runs.get_run(old.run_id, models).status == "completed"  # (read after the start)
    assert server2.wait(new.run_id, WAIT_S) is new and new.returncode == 0
    assert [r.status for r in runs.list_runs(models)] == ["completed", "completed"]
    assert runs.get_run(old.run_id, models).has_model and runs.get_run(new.run_id, models).has_model

    server2.python = _finishing_stand_in(tmp_path, 60)  # (a real worker's kill -9: test_training)
    last = server2.submit(TrainConfig("seed-mlp-dropout", **TINY))
    while runs.get_run(last.run_id, models).meta.status != "running":
        assert _alive(last) and time.monotonic() < deadline + WAIT_S
        time.sleep(0.05)
    del server2
    last.process.kill()
    last.process.wait()
    server3 = TrainingQueue(models, poll_interval=0.1)
    assert server3.state().external_run is None
    assert runs.get_run(last.run_id, models).status == "interrupted"


def test_demo_mode_refuses_to_queue_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    queue = TrainingQueue(tmp_path / "models", python="/bin/true")
    with pytest.raises(InputError, match="turned off in this demo"):
        queue.submit(TrainConfig("fast-cnn"))
    assert queue.state().queued == [] and not (tmp_path / "models").exists()  # nothing written


def test_a_worker_that_cannot_start_fails_its_job_and_the_queue_goes_on(tmp_path):
    queue = TrainingQueue(tmp_path, poll_interval=0.05, python=str(tmp_path / "no-such-python"))
    job = queue.submit(TrainConfig("fast-cnn"))
    assert job.state == "finished" and job.error.startswith("Could not start the training: ")
    assert queue.request(job.run_id).status == "failed"
    assert queue.state().running is None and queue.job(job.run_id) is job


def test_runs_whose_process_died_block_nothing(tmp_path):
    """A run left "queued" by a server that is gone never started: it reads cancelled; one
    left "starting" or "running" by a dead worker reads interrupted. Neither holds the queue."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, status in (("q", "queued"), ("s", "starting"), ("r", "running")):
        runs.create_run("fast-cnn", models_dir=tmp_path, run_id=name, status=status, pid=dead.pid)
    queue = TrainingQueue(tmp_path, poll_interval=0.05, python=_finishing_stand_in(tmp_path, 0))
    assert [queue.request(n).status for n in "qsr"] == ["cancelled", "interrupted", "interrupted"]
    assert queue.state().external_run is None
    job = queue.submit(TrainConfig("fast-cnn"))
    assert job.state == "running" and queue.wait(job.run_id, 10) is job and job.returncode == 0
    assert queue.request(job.run_id).status == "completed"
    assert queue.request("no-such-run").status == "unknown"


def test_a_new_queue_clears_what_a_killed_save_left(tmp_path):
    """A server (re)start builds the queue: the hidden temporary file of a worker killed
    mid-save an hour ago goes, a run's real files stay."""
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="killed", status="completed")
    leftover, model = run.path / ".model.keras.x1y2z3.tmp.keras", run.path / "model.keras"
    for path in (leftover, model):
        path.write_bytes(b"partial")
        os.utime(path, (time.time() - 2 * runs.STALE_TEMP_S,) * 2)
    TrainingQueue(tmp_path, poll_interval=0.05)
    assert not leftover.exists() and model.exists()


def _count_reads(monkeypatch) -> collections.Counter:
    reads, original = collections.Counter(), Path.read_text

    def counting(self, *args, **kwargs):
        reads[f"{self.parent.name}/{self.name}"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


def test_a_viewer_poll_reads_each_file_at_most_once(tmp_path, monkeypatch):
    """What a Train page shows every second, in one read of each file: a training started
    elsewhere with its progress, the visitor's own request waiting behind it, then running."""
    params = runs.RunParams(epochs=1, batch_size=8, learning_rate=0.1, seed=1, val_fraction=0.1)
    outside = runs.create_run("fast-cnn", params, tmp_path, "outside", status="running")
    runs.write_progress(outside.path, {"epoch": 1, "epochs": 1, "batch": 3, "fraction": 0.5})
    queue = TrainingQueue(tmp_path, poll_interval=60, python=_finishing_stand_in(tmp_path, 30))
    mine = queue.submit(TrainConfig("fast-cnn"))

    reads = _count_reads(monkeypatch)
    view = queue.overview(mine.run_id)
    assert view.external and view.now.run_id == "outside" and view.now.watch.progress["batch"] == 3
    assert view.mine.status == "queued" and view.mine.waiting == 1 and view.busy
    assert reads and max(reads.values()) == 1, reads

    runs.update_meta(outside, status="completed")
    view = queue.overview(mine.run_id)  # the outside run ended: ours starts
    assert view.now is view.mine and view.mine.status in ("starting", "running")
    reads.clear()
    view = queue.overview(mine.run_id)
    assert not view.external and view.now.run_id == mine.run_id
    assert reads and max(reads.values()) == 1, reads
    queue.stop(mine.run_id)
    mine.process.kill()
