"""One training at a time per server: a FIFO queue of requests, each run by a worker process,
and the one lifecycle of a request.

    queue = TrainingQueue()
    job = queue.submit(TrainConfig("fast-cnn"))     # the run directory exists from here on
    queue.request(job.run_id).status                # queued, starting, running, completed, ...

`submit` checks the request and creates its run directory (status "queued", the resolved
parameters in run.json). When its turn comes, the queue marks it "starting" with the
worker's pid and starts `python -m mnist_core train --run-dir DIR`, the same code path as
the command line; the worker marks it "running" and reports through the directory
(progress.json, history.csv, run.json; see `runs`). Running in its own process and session,
a worker survives reruns, page changes, closed tabs and even a restart of the server; its
crash cannot take the server down. A stop request is the directory's STOP file.

Because the run directory says who owns the run from the first moment (the server's pid
while queued, the worker's from "starting" on), a restarted server sees a training that
another process started and waits for it, and a request whose process died reads as
"cancelled" (never started) or "interrupted" (see `runs.Run.status`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, runs
from .config import TrainConfig, prepare_run
from .errors import InputError
from .fine_tune import FineTuneConfig

LOG_DIR_NAME = ".logs"  # worker output, beside the run directories


@dataclass
class Job:
    """The queue's record of one request; what became of it is `TrainingQueue.request`."""

    run_id: str
    preset: str
    state: str = "queued"  # queued, running, finished, cancelled (the queue's bookkeeping)
    submitted_at: float = field(default_factory=time.time)
    returncode: int | None = None
    error: str | None = None  # the worker's last words when it failed before training
    process: subprocess.Popen | None = field(default=None, repr=False)


@dataclass
class QueueState:
    running: Job | None
    queued: list[Job]
    external_run: str | None = None  # a training started outside this queue, still running


@dataclass(frozen=True)
class Request:
    """What became of a training request, in one read of its run directory.

    status: a key of `runs.STATUS_WORDS` ("unknown": no such request and no run directory);
    words: how a page says it; position: 0 while it trains, 1 for the next in line, ...,
    None otherwise; watch: its run.json, progress and history (None when there is no run
    directory); error: one line when it failed."""

    run_id: str
    status: str
    position: int | None
    watch: runs.Watch | None
    error: str | None = None

    @property
    def words(self) -> str:
        return runs.STATUS_WORDS[self.status]

    @property
    def active(self) -> bool:
        return self.status in runs.ACTIVE

    @property
    def waiting(self) -> int | None:
        """Requests (the running one included) before this one while it waits, else None."""
        return self.position if self.status == "queued" and self.position else None


@dataclass(frozen=True)
class Overview:
    """What a Train page shows, in one read of each file: the training under way (`now`:
    this queue's, or one started elsewhere when `external`), the requests waiting, and the
    visitor's own request (`mine`, the same object as `now` when it is that one)."""

    now: Request | None
    external: bool
    queued: list[Job]
    mine: Request | None

    @property
    def busy(self) -> bool:
        """Something trains or waits, or the visitor's own request is under way."""
        return bool(self.now or self.queued or (self.mine and self.mine.active))

    @property
    def key(self) -> tuple[bool, str | None]:
        """Changes exactly when the page must be drawn anew (and its polling switched)."""
        return self.busy, self.mine.status if self.mine else None


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
        self._external: runs.Run | None = None  # a training started elsewhere, when one runs
        self._seen: dict[str, runs.Run] = {}  # run directories read by the latest _pump
        # A server (re)start is when a worker killed mid-save can have left a temporary file.
        runs.remove_stale_temp_files(self.models_dir)
        self._thread = threading.Thread(target=self._loop, name="training-queue", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API

    def submit(self, config: TrainConfig | FineTuneConfig) -> Job:
        """Queue a training (or a fine-tuning) and create its run directory; InputError for
        bad parameters or in demo mode, before anything is queued or written."""
        if paths.demo_mode():
            raise InputError("Training is turned off in this demo.")
        if isinstance(config, FineTuneConfig):
            run = config.prepare(self.models_dir)
        else:
            run = prepare_run(config, self.models_dir)
        job = Job(run.id, run.preset)
        with self._lock:
            self._queued.append(job)
            self._pump()
        return job

    def state(self) -> QueueState:
        with self._lock:
            self._pump(look_outside=True)
            external = self._external.id if self._external else None
            return QueueState(self._running, list(self._queued), external)

    def request(self, run_id: str) -> Request:
        """The status of a request (or of any run), from the queue and its run directory."""
        with self._lock:
            self._pump()
        return self._request(run_id)

    def _request(self, run_id: str, run: runs.Run | None = None) -> Request:
        """`request` without pumping the queue; `run` is its run directory, already read."""
        with self._lock:
            job, position = self.job(run_id), self.position(run_id)
        path = self.models_dir / run_id
        if run is None and (path / "run.json").is_file():
            run = runs.read_run(path)
        watch = runs.watch(path, run) if run is not None else None
        if watch is not None:
            status = watch.run.status
            error = watch.run.meta.error or watch.run.error
        elif job is not None:  # cancelled (its directory removed), or a worker that never began
            status = "cancelled" if job.state == "cancelled" else "failed"
            error = job.error
        else:
            status, error = "unknown", None
        return Request(run_id, status, position, watch, error)

    def overview(self, mine: str | None = None) -> Overview:
        """The queue as a page shows it, with the request `mine` (a run id) if any. Each file
        of a run directory is read at most once (a page calls this every second)."""
        with self._lock:
            self._pump(look_outside=True)
            running, queued, external = self._running, list(self._queued), self._external
            seen = self._seen  # the run directories this pump read already
        now_id = running.run_id if running else external.id if external else None
        now = self._request(now_id, seen.get(now_id)) if now_id else None
        if mine is None or (now is not None and mine == now.run_id):
            my_request = now if mine is not None else None
        else:
            my_request = self._request(mine, seen.get(mine))
        return Overview(now, external is not None, queued, my_request)

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
        """Stop a running job after its current batch (or before its first, while it starts),
        or take a queued one off the queue and remove its run directory."""
        with self._lock:
            if self._running and self._running.run_id == run_id:
                runs.request_stop(self.models_dir / run_id)
                return True
            for job in self._queued:
                if job.run_id == run_id:
                    self._queued.remove(job)
                    job.state = "cancelled"
                    self._finished[run_id] = job
                    shutil.rmtree(self.models_dir / run_id, ignore_errors=True)  # nothing trained
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

    def _pump(self, look_outside: bool = False) -> None:
        """Reap the finished worker, then start the next job if nothing else trains. Whether
        something else trains (`_external`, a Run) is looked up when a job waits, or when
        `look_outside` (a viewer asks) and nothing of ours runs."""
        self._seen: dict[str, runs.Run] = {}
        job = self._running
        if job is not None and job.process is not None and job.process.poll() is not None:
            job.returncode, job.state = job.process.returncode, "finished"
            self._running = None
            self._finished[job.run_id] = job
            self._settle(job)
        if self._running is not None:
            self._external = None
            return
        if self._queued or look_outside:
            self._external = self._external_run()
        if self._queued and self._external is None:
            self._start(self._queued.pop(0))

    def _settle(self, job: Job) -> None:
        """What a finished worker left. A stop request before its first batch ("cancelled" in
        run.json, or a worker that ended while "starting" after a stop): nothing was trained,
        and the run directory goes. A worker that ended while "starting" otherwise failed:
        run.json records its last words."""
        path = self.models_dir / job.run_id
        run = runs.read_run(path)
        if run.error:
            return
        stopped_starting = run.meta.status == "starting" and runs.stop_requested(path)
        if run.meta.status == "cancelled" or stopped_starting:
            job.state = "cancelled"
            shutil.rmtree(path, ignore_errors=True)
        elif run.meta.status == "starting":
            job.error = self._last_log_line(job) or f"worker exited with code {job.returncode}"
            self._mark(run, status="failed", error=job.error, ended_at=runs.now_iso())

    def _external_run(self) -> runs.Run | None:
        """A training alive but not ours (CLI, an earlier server's worker): a run directory
        saying "starting" or "running" whose process is alive."""
        ours = self._running.run_id if self._running else None
        self._seen = {r.id: r for r in runs.list_runs(self.models_dir)}
        return next(
            (
                r
                for r in self._seen.values()
                if r.status in ("starting", "running") and r.id != ours
            ),
            None,
        )

    def _start(self, job: Job) -> None:
        path = self.models_dir / job.run_id
        args = [self.python, "-m", "mnist_core", "train", "--run-dir", str(path), "--quiet"]
        log_dir = self.models_dir / LOG_DIR_NAME
        # TensorFlow's C++ log lines would bury the worker's last words in its log.
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
                    start_new_session=True,  # survives the server's signals
                )
        except (
            OSError
        ) as exc:  # a full disk or a read-only models folder: the job fails, the queue goes on
            job.state, job.error = (
                "finished",
                f"Could not start the training: {exc.strerror or exc}",
            )
            self._finished[job.run_id] = job
            self._mark(runs.read_run(path), status="failed", error=job.error)
            return
        job.state = "running"
        self._running = job
        # (the Run this pump read, if any, so what viewers are shown next says so too)
        run = self._seen.get(job.run_id) or runs.read_run(path)
        self._mark(run, status="starting", pid=job.process.pid)

    @staticmethod
    def _mark(run: runs.Run, **changes) -> None:
        """Record a change of a run the worker has not taken over (yet); a run directory that
        cannot be written (a full disk) keeps its old word and the queue goes on."""
        if run.error:
            return
        try:
            runs.update_meta(run, **changes)
        except (OSError, ValueError):
            pass

    def _last_log_line(self, job: Job) -> str | None:
        try:
            text = (self.models_dir / LOG_DIR_NAME / f"{job.run_id}.log").read_text(
                errors="replace"
            )
        except OSError:
            return None
        lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
        return lines[-1] if lines else None
