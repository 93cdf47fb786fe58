"""What several pages share: cached data and models, the training queue, run menus, errors.

Not a page itself (streamlit_app.py lists the pages explicitly). All machine learning stays
in `mnist_core`; this module only caches its results per server process.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st

from mnist_core import api, paths, runs
from mnist_core.data import Mnist, load_mnist
from mnist_core.errors import StudioError
from pages.explorer import mean_images as mean_images_of

_log = logging.getLogger(__name__)

DEMO_MAX_UPLOAD_MB = 2  # uploads in demo mode (server.maxUploadSize caps everyone at 5 MB)


def demo_mode() -> bool:
    """Hosted-demo mode (`MNIST_STUDIO_DEMO=1`): no training, no deleting, nothing kept on disk."""
    return paths.demo_mode()


@st.cache_resource(show_spinner="Loading MNIST…")
def mnist() -> Mnist:
    """The whole dataset, loaded once per server process (arrays are shared, read-only)."""
    data = load_mnist()
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


@st.cache_data(show_spinner=False)
def label_counts() -> dict[str, np.ndarray]:
    data = mnist()
    return {
        "train": np.bincount(data.y_train, minlength=10),
        "test": np.bincount(data.y_test, minlength=10),
    }


@st.cache_data(show_spinner="Averaging the training images…")
def mean_images() -> np.ndarray:
    """float32 (10, 28, 28): the average training image of each digit."""
    data = mnist()
    return mean_images_of(data.x_train, data.y_train)


# The model cache is mnist_core.api's, shared with the REST API (api_routes.py): one load per
# server process and model file version, whichever asks first. `_predictor(path, mtime)`.
_predictor = api.MODELS


_frozen = threading.Lock()
_FROZEN: list[bool] = []


def freeze_imports() -> None:
    """Import TensorFlow (and what explains models) once, then move every object alive to the
    garbage collector's permanent generation (`gc.freeze`), so that full collections skip them.

    Why: after every script run Streamlit collects all generations twice (its
    `runner.postScriptGC`, and `keras.backend.clear_session()`, which calls `gc.collect()`).
    With TensorFlow imported that is about 400,000 objects, 220 ms a collection on 2 cores,
    holding the Python lock: every rerun of every page (each stroke on Draw) waited about
    half a second for it. Frozen once after the imports: 2 to 4 ms. Only the Inside page
    (gradients) imports TensorFlow: Draw and Evaluate predict on LiteRT without it.
    """
    if _FROZEN:
        return
    import mnist_core.explain  # noqa: F401  (TensorFlow and Keras, and mnist_core.inference)

    with _frozen:
        if not _FROZEN:
            gc.collect()
            gc.freeze()
            _FROZEN.append(True)


def predictor(model_path: Path):
    """The Predictor for a model file, loaded once per server process and file version."""
    if api.MODELS.holds(model_path):
        return api.MODELS.get(model_path)
    with st.spinner("Loading the model…"):
        return api.MODELS.get(model_path)


@st.cache_resource(show_spinner="Getting ready to look inside the model…", max_entries=8)
def _explainer(model_path: str, mtime: float):
    from mnist_core.explain import Explainer
    from mnist_core.inference import load_model

    return Explainer(load_model(model_path))  # gradients need the Keras model (TensorFlow)


def explainer(model_path: Path):
    """The Explainer of a model file, built once per server process and file version."""
    mtime = model_path.stat().st_mtime
    if not _FROZEN:
        with st.spinner("Getting ready to look inside the model…"):
            freeze_imports()
    return _explainer(str(model_path), mtime)


@st.cache_resource(show_spinner="Evaluating on the 10,000 test images…", max_entries=16)
def _evaluation(model_path: str, mtime: float):
    from mnist_core.evaluation import score

    data = mnist()
    return score(_predictor(model_path, mtime), data.x_test, data.y_test)


def evaluation(model_path: Path):
    """The test-set Evaluation of a model file, computed once per file version."""
    return _evaluation(str(model_path), model_path.stat().st_mtime)


@st.cache_resource
def _training_queue(models_dir: str):
    from mnist_core.jobs import TrainingQueue

    return TrainingQueue(Path(models_dir))


def training_queue():
    """The server's one training queue (one training at a time, shared by every visitor)."""
    return _training_queue(str(paths.models_dir()))


def runs_with_models(listed: list[runs.Run] | None = None) -> list[runs.Run]:
    """Runs that can predict (the shipped default first), for run pickers."""
    listed = runs.list_runs() if listed is None else listed
    return [r for r in listed if r.has_model and r.status not in runs.ACTIVE and not r.error]


def run_picker(label: str, key: str, help: str | None = None) -> runs.Run | None:
    """A selectbox of runs with a model; the choice is kept in the URL (?run=ID) so it can be shared."""
    listed = runs.list_runs()
    options = runs_with_models(listed)
    if not options:
        st.warning("No trained model yet. Train one on the Train page.")
        return None
    ids = [r.id for r in options]
    wanted = st.query_params.get("run")
    if wanted is not None and wanted not in ids:
        damaged = next((r for r in listed if r.id == wanted and r.error), None)
        if damaged is not None:  # a run of ours that cannot be read: say why
            st.warning(
                f"The run {damaged.id} cannot be read ({damaged.error}); showing another one."
            )
        else:  # a stale link, or a made-up name: not echoed
            st.warning(
                "The model named in the address is not available; showing another one instead."
            )
    index = ids.index(wanted) if wanted in ids else 0
    chosen = st.selectbox(
        label, options, index=index, format_func=runs.Run.label, key=key, help=help
    )
    if chosen is not None and chosen.id != runs.DEFAULT_RUN_ID:
        st.query_params["run"] = chosen.id
    elif "run" in st.query_params:
        del st.query_params["run"]
    return chosen


def duration(seconds) -> str:
    """ "42 s", "3 min 05 s", "1 h 02 min"; "-" when unknown."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def learning_rate_text(value: float) -> str:
    """A learning rate as people write it: 0.001, not 1e-03."""
    return np.format_float_positional(value, trim="-")


def show_error(exc: Exception) -> None:
    """One plain line for an expected fault; the program keeps going."""
    text = (
        str(exc)
        if isinstance(exc, StudioError)
        else f"Something went wrong: {type(exc).__name__}: {exc}"
    )
    st.error(" ".join(text.split()), icon=":material/warning:")


# --------------------------------------------------------------------------- pictures

UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]
SHOWABLE_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK")  # what st.image can encode as is
PREVIEW_SIZE = 280  # px: an uploaded picture is shown at most this wide


def read_upload(upload):
    """The uploaded picture (PIL image), or None with a one-line error when it is unusable."""
    from mnist_core.errors import InputError
    from mnist_core.images import load_image

    if upload is None:
        return None
    try:
        if demo_mode() and upload.size > DEMO_MAX_UPLOAD_MB * 1024 * 1024:
            # The browser holds back bigger files already; this catches any that get past it.
            raise InputError(
                f"Upload {upload.name!r} is too large for this demo: "
                f"{upload.size / 1024 / 1024:.1f} MB (the limit is "
                f"{DEMO_MAX_UPLOAD_MB} MB)."
            )
        return load_image(upload)
    except StudioError as exc:
        show_error(exc)
        return None


def upload_preview(picture):
    """The uploaded picture in a form st.image can show: 16-bit pictures as 8-bit grey."""
    from mnist_core.images import to_grayscale

    if picture.mode in SHOWABLE_MODES:
        return picture
    gray = to_grayscale(picture)
    step = max(1, min(gray.shape) // PREVIEW_SIZE)  # no need to send more pixels than are shown
    return gray[::step, ::step]


INSIDE_INPUT = "inside_input"  # session_state: the picture Draw hands to the Inside page


def look_inside(run: runs.Run, image: np.ndarray, what: str) -> None:
    """Open the Inside page on `run` with `image` (float32 (28, 28) in [0, 1], what the model
    saw) as its input; `what` names it ("your drawing", "your picture")."""
    st.session_state[INSIDE_INPUT] = {
        "image": np.array(image, dtype=np.float32).reshape(28, 28),
        "what": what,
        "fresh": True,  # the Inside page shows it first, whatever it showed before
    }
    st.switch_page("pages/inside.py", query_params={"run": run.id})


# --------------------------------------------------------------------------- warming up


def warm_up() -> None:
    """What the home page needs, made ready before the first visitor (see serve.py).

    Imports and fills the caches the home page uses, so that its first render after a server
    start costs no more than later ones (benchmarks/app_bench.py measures it). A fault (no
    MNIST yet) is left to the page.
    """
    from pages import figures  # noqa: F401  (imports Plotly)

    try:
        with _outside_a_session():
            mnist()
            label_counts()
            mean_images()
    except StudioError as exc:
        _log.warning("Warm-up skipped the dataset: %s", exc)


def warm_up_default_model() -> None:
    """Load the shipped model (LiteRT) and score it on the test set, so that the first Draw
    or Evaluate visit does not wait for them; TensorFlow is left for the Inside page."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only (Linux)
    except (AttributeError, OSError):
        pass
    try:
        run = runs.get_run(runs.DEFAULT_RUN_ID)
        if run is not None and run.has_model:
            with _outside_a_session():
                evaluation(run.model_path)
    except Exception as exc:  # the pages report any fault properly on their own
        _log.warning("Warm-up could not prepare the default model: %s", exc)


@contextmanager
def _outside_a_session():
    """Streamlit logs "missing ScriptRunContext" for each cached call made outside a session
    (the spinner has nowhere to go); expected here, so not logged."""
    logger = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


_model_warm_up = {"wanted": False, "started": False}
_model_warm_up_lock = threading.Lock()


def want_model_warm_up() -> None:
    """Ask for `warm_up_default_model` in the background after the first page is served."""
    _model_warm_up["wanted"] = True


def after_page() -> None:
    """Called at the end of every run of streamlit_app.py: starts the model warm-up once.

    Not earlier: running beside the first page's own run, the import of TensorFlow (which
    holds the GIL much of the time) made that page several times slower.
    """
    with _model_warm_up_lock:
        if not _model_warm_up["wanted"] or _model_warm_up["started"]:
            return
        _model_warm_up["started"] = True
    threading.Thread(target=warm_up_default_model, name="warm-up-model", daemon=True).start()


def _leave_legacy_pages_mode() -> None:
    """Make a first visit straight to /train (or any page) go through st.navigation.

    A Streamlit server whose main script sits beside a `pages/` folder starts in the legacy
    multipage mode, in which `/train` runs pages/train.py directly: no wide layout, and a
    sidebar listing every file in pages/ (shared.py too). Only a run of streamlit_app.py,
    which calls `st.navigation`, switches the process over. Every page imports this module
    first, so a legacy-mode run is turned into a rerun of streamlit_app.py here.

    Imported outside any script run (serve.py's warm-up, before the first session), the
    flag is set off before a session could read it, and there is nothing to rerun.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        PagesManager.uses_pages_directory = False
    elif PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_legacy_pages_mode()
