"""One training at a time per server: a FIFO queue of requests, each run by a worker process.

The worker is `python -m mnist_core train ... --run-id ID`, the same code path as the
command line, so the app and the CLI cannot drift apart. It reports through its run
directory (progress.json, history.csv, run.json; see `runs`), which any page can read, and
it is stopped through the run directory's STOP file. Running in its own process and
session, it survives reruns, page changes, closed tabs and even a restart of the server;
its crash cannot take the server down.

A background thread starts the next queued job when the current one ends. Before starting
one it also checks the run directories for a training that another server process started
(after a restart), so two trainings never share the two cores. A worker still loading
TensorFlow has no run directory yet; the marker file `.logs/RUN_ID.worker` (its pid) makes
it visible to a restarted server in those first seconds too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, paths, runs
from .errors import InputError
from .training import TrainConfig

LOG_DIR_NAME = ".logs"  # worker output and markers, beside the run directories
# A worker makes its run directory once TensorFlow and MNIST are loaded (about ten seconds);
# an older marker without one is a worker that died starting up, or a recycled pid.
STARTUP_GRACE_S = 300


@dataclass
class Job:
    run_id: str
    config: TrainConfig
    owner: str = ""  # who asked (a session id), so a page can say "your job"
    state: str = "queued"  # queued, running, finished, cancelled
    submitted_at: float = field(default_factory=time.time)
    returncode: int | None = None
    error: str | None = None  # the worker's last words when it failed before writing run.json
    stop_requested: bool = False  # stop() was called while it ran
    process: subprocess.Popen | None = field(default=None, repr=False)


@dataclass
class QueueState:
    running: Job | None
    queued: list[Job]
    external_run: str | None = None  # a training started outside this queue, still running


class TrainingQueue:
    """Thread-safe; create one per server process (the app keeps it in `st.cache_resource`)."""

    def __init__(
        self,
        models_dir: Path | None = None,
        poll_interval: float = 0.5,
        python: str = sys.executable,
    ):
        self.models_dir = Path(models_dir or paths.models_dir())
        self.poll_interval, self.python = poll_interval, python
        self._lock = threading.RLock()
        self._queued: list[Job] = []
        self._running: Job | None = None
        self._finished: dict[str, Job] = {}
        self._external: str | None = None
        # A server (re)start is when a worker killed mid-save can have left a temporary file.
        runs.remove_stale_temp_files(self.models_dir)
        self._thread = threading.Thread(target=self._loop, name="training-queue", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API

    def submit(self, config: TrainConfig, owner: str = "") -> Job:
        """Queue a training; InputError for bad parameters or in demo mode, before anything is queued."""
        if paths.demo_mode():
            raise InputError("Training is turned off in this demo.")
        config.resolve()
        job = Job(runs.new_run_id(config.preset), config, owner)
        with self._lock:
            self._queued.append(job)
            self._pump()
        return job

    def state(self) -> QueueState:
        with self._lock:
            self._pump()
            if self._running is None and not self._queued:  # idle: is anyone else training?
                self._external = self._find_external()
            return QueueState(self._running, list(self._queued), self._external)

    def job(self, run_id: str) -> Job | None:
        with self._lock:
            if self._running and self._running.run_id == run_id:
                return self._running
            return next((j for j in self._queued if j.run_id == run_id), self._finished.get(run_id))

    def position(self, run_id: str) -> int | None:
        """0 while running, 1 for the next in line, ...; None once finished or unknown."""
        with self._lock:
            if self._running and self._running.run_id == run_id:
                return 0
            for place, job in enumerate(self._queued, start=1):
                if job.run_id == run_id:
                    return place
        return None

    def stop(self, run_id: str) -> bool:
        """Stop a running job after its current batch, or take a queued one off the queue."""
        with self._lock:
            if self._running and self._running.run_id == run_id:
                self._running.stop_requested = True
                if (self.models_dir / run_id).is_dir():
                    runs.request_stop(self.models_dir / run_id)
                else:  # still loading data: no run directory for a STOP file yet
                    self._terminate(self._running)
                return True
            for job in self._queued:
                if job.run_id == run_id:
                    self._queued.remove(job)
                    job.state = "cancelled"
                    self._finished[run_id] = job
                    return True
        return False

    def wait(self, run_id: str, timeout: float) -> Job | None:
        """Block until the job has finished (tests, scripts); returns it, or None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(run_id)
            if job is None or job.state in ("finished", "cancelled"):
                return job
            time.sleep(0.1)
        return None

    # ------------------------------------------------------------------ internals

    def _loop(self) -> None:
        while True:
            time.sleep(self.poll_interval)
            with self._lock:
                self._pump()

    def _pump(self) -> None:
        """Reap the finished worker, then start the next job if nothing else trains."""
        job = self._running
        if job is not None and job.process is not None and job.process.poll() is not None:
            job.returncode, job.state = job.process.returncode, "finished"
            if job.returncode != 0 and not (self.models_dir / job.run_id / "run.json").is_file():
                if job.stop_requested:  # stopped while starting up: nothing was trained
                    job.state = "cancelled"
                else:
                    job.error = (
                        self._last_log_line(job) or f"worker exited with code {job.returncode}"
                    )
            self._finished[job.run_id] = job
            self._running = None
            self._marker(job.run_id).unlink(missing_ok=True)
        if self._running is not None or not self._queued:
            return
        self._external = self._find_external()
        if self._external is None:
            self._start(self._queued.pop(0))

    def _find_external(self) -> str | None:
        """A training alive but not ours (CLI, earlier server): a run directory saying "running",
        or the marker of a worker an earlier server started that is still loading."""
        running = next(
            (r.id for r in runs.list_runs(self.models_dir) if r.status == "running"), None
        )
        if running is not None:
            return running
        for marker in (self.models_dir / LOG_DIR_NAME).glob("*.worker"):
            run_id = marker.stem
            try:
                young = time.time() - marker.stat().st_mtime < STARTUP_GRACE_S
                worker = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if (
                young
                and not (self.models_dir / run_id).exists()
                and isinstance(worker, dict)
                and runs.process_alive(worker.get("pid"), worker.get("host"))
            ):
                return run_id
        return None

    def _marker(self, run_id: str) -> Path:
        return self.models_dir / LOG_DIR_NAME / f"{run_id}.worker"

    def _start(self, job: Job) -> None:
        c = job.config
        args = [
            self.python,
            "-m",
            "mnist_core",
            "train",
            "--preset",
            c.preset,
            "--seed",
            str(c.seed),
            "--run-id",
            job.run_id,
            "--quiet",
        ]
        for flag, value in (
            ("--epochs", c.epochs),
            ("--batch-size", c.batch_size),
            ("--lr", c.learning_rate),
            ("--val-fraction", c.val_fraction),
            ("--train-limit", c.train_limit),
            ("--test-limit", c.test_limit),
        ):
            if value is not None:
                args += [flag, repr(value)]
        log_dir = self.models_dir / LOG_DIR_NAME
        env = {**os.environ, "MNIST_MODELS_DIR": str(self.models_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            with open(log_dir / f"{job.run_id}.log", "wb") as log:
                job.process = subprocess.Popen(
                    args,
                    cwd=paths.PROJECT_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )  # survives the server's signals
        except (
            OSError
        ) as exc:  # a full disk or a read-only models folder: the job fails, the queue goes on
            job.state, job.error = (
                "finished",
                f"Could not start the training: {exc.strerror or exc}",
            )
            self._finished[job.run_id] = job
            return
        try:
            atomic.write_json(
                self._marker(job.run_id), {"pid": job.process.pid, "host": socket.gethostname()}
            )
        except OSError:
            pass  # only a restarted server's view of the worker's first seconds needs it
        job.state = "running"
        self._running = job

    def _terminate(self, job: Job) -> None:
        if job.process is not None and job.process.poll() is None:
            job.process.terminate()  # the worker's SIGTERM handler stops after the batch

    def _last_log_line(self, job: Job) -> str | None:
        try:
            text = (self.models_dir / LOG_DIR_NAME / f"{job.run_id}.log").read_text(
                errors="replace"
            )
        except OSError:
            return None
        lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
        return lines[-1] if lines else None
