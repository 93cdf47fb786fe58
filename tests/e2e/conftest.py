"""Browser tests: the real app in a real (headless) Chromium, driven by Playwright.

One Streamlit server for the session (tests/e2e/server.py) over a temporary models
directory holding a copy of a good model as run "default": the shipped models/default
when there is one, else a fast-cnn trained once (about 20 s, 99%) and kept in pytest's
cache until mnist_core changes. One browser for the session, a fresh context (a new
Streamlit session) per test.

Without Playwright or Chromium these tests are skipped, unless CI=true: then they fail.
Chromium is /usr/bin/chromium (or E2E_CHROMIUM, or chromium on PATH): Playwright's own
browser download is not used. On a failure the page's screenshot and the server log are
left in tests/e2e/artifacts/.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.server import CHROMIUM_ARGS, chromium_path, running_app
from tests.e2e.streamlit_page import TIMEOUT_MS, VIEWPORT

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
GOOD_ENOUGH = 0.98  # a cached model below this test accuracy is trained again
TRAIN_TIMEOUT_S = 300


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives the running app in a headless browser")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


def unavailable(reason: str):
    """Skip, or fail under CI=true, where a missing browser must not pass silently."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- the model


def _code_version() -> str:
    """A hash of mnist_core's source: a cached model is retrained when the code changes."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "mnist_core").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _good_run(run_dir: Path) -> bool:
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        (run_dir / "model.keras").is_file()
        and meta.get("status") == "completed"
        and (meta.get("test_accuracy") or 0) >= GOOD_ENOUGH
    )


def _train_default(models_dir: Path) -> Path:
    """`python -m mnist_core train --preset fast-cnn --run-id default` into models_dir."""
    shutil.rmtree(models_dir / "default", ignore_errors=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MNIST_MODELS_DIR": str(models_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, *"-m mnist_core train --preset fast-cnn --run-id default --quiet".split()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TRAIN_TIMEOUT_S,
    )
    if done.returncode != 0 or not _good_run(models_dir / "default"):
        pytest.fail(
            f"training the e2e model failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return models_dir / "default"


@pytest.fixture(scope="session")
def good_model_run(request) -> Path:
    """A run directory with a ~99% model: models/default, or one trained once and cached."""
    shipped = ROOT / "models" / "default"
    if _good_run(shipped):  # not while it is being (re)trained: a half-trained copy misleads
        return shipped
    if getattr(request.config, "cache", None) is None:  # -p no:cacheprovider: train every time
        return _train_default(Path(tempfile.mkdtemp(prefix="mnist-e2e-trained-")))
    cache = Path(request.config.cache.mkdir("e2e-default-model")) / _code_version()
    if _good_run(cache / "default"):
        return cache / "default"
    for old in cache.parent.iterdir():  # models trained by older code
        if old != cache:
            shutil.rmtree(old, ignore_errors=True)
    return _train_default(cache)


@pytest.fixture(scope="session")
def e2e_models_dir(good_model_run) -> Path:
    """A temporary models directory holding a copy of the good model as run "default".

    Made with tempfile, not tmp_path_factory: pytest prunes old basetemp folders, and another
    pytest run by the same user could prune ours while the server still uses it."""
    models = Path(tempfile.mkdtemp(prefix="mnist-e2e-models-"))
    shutil.copytree(
        good_model_run, models / "default", ignore=shutil.ignore_patterns("STOP", "*.tmp")
    )
    yield models
    shutil.rmtree(models, ignore_errors=True)


# --------------------------------------------------------------------------- server and browser


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -r requirements-dev.txt)")
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium was not found (/usr/bin/chromium, E2E_CHROMIUM or chromium on PATH)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Error as exc:
        playwright.stop()
        unavailable(f"Chromium did not start: {str(exc).splitlines()[0]}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def app_url(browser, e2e_models_dir):
    """Base URL of the app server (started once; stopped with its training workers at the end)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(e2e_models_dir, log_path=ARTIFACTS / "server.log") as url:
        yield url


@pytest.fixture
def page(browser, app_url, request):
    """A fresh browser context (a new Streamlit session) at 1400x900; 30 s default timeouts."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    if getattr(request.node, "e2e_failed", False):
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        except Exception:  # the page may be gone; the failure itself is what matters
            pass
    context.close()
