"""Start and stop the MNIST Studio server for browser tests and the app benchmark; find Chromium.

`running_app(models_dir)` runs `python -m streamlit run serve.py` on a free
loopback port with MNIST_MODELS_DIR pointing at `models_dir`, waits until
`/_stcore/health` answers, yields the base URL and, on the way out, stops the server and
every training worker it started. The workers run in sessions of their own (so they
survive a server restart in real use), so they are found by their MNIST_MODELS_DIR.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT_S = 120.0  # importing Streamlit on a busy 2-core machine can take a while
STOP_TIMEOUT_S = 10.0  # after SIGTERM, before SIGKILL
# Headless Chromium as the tests and the benchmark start it (Playwright's own browser
# download is not used: `launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)`).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BaseUrl(str):
    """The server's base URL ("http://127.0.0.1:PORT"), carrying facts about the process:
    `pid` (the Streamlit server) and `startup_s` (process start until the health check answered)."""

    pid: int
    startup_s: float
    log_path: Path


def chromium_path() -> str | None:
    """E2E_CHROMIUM, /usr/bin/chromium or chromium on PATH; None when there is none."""
    for candidate in (
        os.environ.get("E2E_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _workers_of(models_dir: Path) -> list[int]:
    """Pids of our own processes whose environment has MNIST_MODELS_DIR=models_dir (the
    training workers `mnist_core.jobs` starts), excluding this process."""
    wanted = f"MNIST_MODELS_DIR={models_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if wanted in environ and b"mnist_core" in cmdline:
            found.append(int(entry.name))
    return found


def _stop_pids(pids: list[int], group: bool = False) -> None:
    """SIGTERM, wait up to STOP_TIMEOUT_S, then SIGKILL whatever is left."""
    send = os.killpg if group else os.kill
    for pid in pids:
        try:
            send(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT_S
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if _alive(pid)]
    for pid in alive:
        try:
            send(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is as good as dead
    except (OSError, IndexError):
        return False


@contextmanager
def running_app(
    models_dir: Path | str,
    port: int | None = None,
    *,
    timeout: float = HEALTH_TIMEOUT_S,
    log_path: Path | None = None,
) -> Iterator[BaseUrl]:
    """Run the app on 127.0.0.1:`port` (a free one by default) over `models_dir`; yield its base URL.

    The server's output goes to `log_path` (a temporary file by default); its last lines are
    in the error when the server dies or does not answer within `timeout` seconds.
    """
    models_dir = Path(models_dir).resolve()
    port = port or free_port()
    url = BaseUrl(f"http://127.0.0.1:{port}")
    own_log = log_path is None
    if own_log:
        handle, name = tempfile.mkstemp(prefix="streamlit-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    env = {
        **os.environ,
        "MNIST_MODELS_DIR": str(models_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONUNBUFFERED": "1",
    }
    args = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "serve.py",  # as `make run` starts it
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = started + timeout
        while not _healthy(url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"the app server exited with code {process.returncode}:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the app server did not answer within {timeout:.0f} s:\n{_tail(log_path)}"
                )
            time.sleep(0.1)
        url.pid, url.startup_s, url.log_path = process.pid, time.monotonic() - started, log_path
        yield url
    finally:
        _stop_pids([process.pid], group=True)  # the server and anything in its session
        process.wait(timeout=5)
        _stop_pids(_workers_of(models_dir))
        if own_log:
            log_path.unlink(missing_ok=True)
