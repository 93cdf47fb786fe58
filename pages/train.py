"""Train page: choose a preset, adjust it, start a training and watch it live.

The training itself runs in a worker process of the server's one TrainingQueue (see
`mnist_core.jobs`); this page only submits requests and reads the run directory. The
visitor's own request is remembered in the session and in the URL (?job=RUN_ID), so a
page change or a reload finds it again. The live panel polls once a second while anything
is training or waiting, and not at all otherwise.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from mnist_core import figures, runs
from mnist_core.errors import InputError, StudioError
from mnist_core.presets import PRESETS
from mnist_core.training import BOUNDS, TrainConfig
from pages import shared

POLL_S = 1.0  # how often the live panel refreshes while something trains or waits
BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
QUICK_SIZES = [500, 1000, 2000, 5000, 10000, 20000]  # training images for a quick run
QUICK_DEFAULT = 2000
QUICK_TEST_LIMIT = 2000  # a quick run is also scored on fewer test images
ACTIVE = ("queued", "running")
FINISHED = ("completed", "stopped", "failed")  # final statuses a worker writes in run.json
STATUS_WORDS = {
    "completed": "Completed",
    "stopped": "Stopped early",
    "failed": "Failed",
    "interrupted": "Interrupted",
    "cancelled": "Cancelled",
    "running": "Training",
    "queued": "Waiting in the queue",
}


# --------------------------------------------------------------------------- small helpers


def _number(value: float) -> str:
    """A learning rate as people write it: 0.001, not 1e-03."""
    return np.format_float_positional(value, trim="-")


def _with(options: list, value) -> list:
    return sorted(set(options) | {value})


def _run_or_none(models_dir, run_id: str) -> runs.Run | None:
    try:
        return runs.get_run(run_id, models_dir)
    except StudioError:
        return None


def _job_status(queue, run_id: str) -> tuple[str, runs.Run | None]:
    """What became of a request: queued, running, completed, stopped, failed, interrupted,
    cancelled, or unknown (no such request and no such run directory)."""
    job = queue.job(run_id)
    run = _run_or_none(queue.models_dir, run_id)
    if job is not None and job.state in ("queued", "running", "cancelled"):
        if job.state == "running" and run is not None and run.status in FINISHED:
            return run.status, run  # run.json has its last word before the queue reaps the worker
        return job.state, run
    if run is None or run.error:
        return ("failed" if job is not None else "unknown"), run
    return run.status, run  # "running" here: a worker this server no longer knows, still alive


def _activity(queue, my_run: str | None) -> tuple[bool, str | None]:
    """(something trains or waits, the state of this visitor's request): when it changes,
    the whole page is redrawn and the polling switched on or off."""
    state = queue.state()
    busy = bool(state.running or state.queued or state.external_run)
    mine = _job_status(queue, my_run)[0] if my_run else None
    return busy or mine in ACTIVE, mine


def _my_run() -> str | None:
    """This visitor's request: the URL's ?job= wins (a reload, a shared link), else the session's."""
    wanted = st.query_params.get("job") or st.session_state.get("train_job")
    if not wanted:
        return None
    try:
        runs.validate_run_id(wanted)
    except StudioError:
        st.warning("The training named in the address is not valid; it was ignored.")
        st.session_state.pop("train_job", None)
        st.query_params.pop("job", None)
        return None
    st.session_state.train_job = wanted
    if st.query_params.get("job") != wanted:
        st.query_params["job"] = wanted
    return wanted


# --------------------------------------------------------------------------- the form


def _apply_preset_defaults() -> None:
    """Set every control to the chosen preset's own defaults (called when the preset changes)."""
    preset = PRESETS[st.session_state.train_preset]
    st.session_state.train_epochs = preset.epochs
    st.session_state.train_batch_size = preset.batch_size
    st.session_state.train_lr = preset.learning_rate
    st.session_state.train_val_pct = int(round(preset.val_fraction * 100))


def _settings_form(disabled: bool) -> None:
    """The controls, each keeping its value in session state under its key."""
    if "train_preset" not in st.session_state:
        st.session_state.train_preset = "fast-cnn" if "fast-cnn" in PRESETS else next(iter(PRESETS))
        _apply_preset_defaults()
        st.session_state.train_seed = 42
        st.session_state.train_quick = False
    name = st.selectbox(
        "Model",
        list(PRESETS),
        key="train_preset",
        on_change=_apply_preset_defaults,
        disabled=disabled,
        help="Each model comes with settings that suit it.",
    )
    preset = PRESETS[name]
    st.caption(preset.description)

    st.slider(
        "Epochs (passes over the training images)",
        *BOUNDS["epochs"],
        key="train_epochs",
        disabled=disabled,
        help="More passes usually help, up to a point, and take longer.",
    )
    st.select_slider(
        "Batch size (images per learning step)",
        _with(BATCH_SIZES, preset.batch_size),
        key="train_batch_size",
        disabled=disabled,
        help="Larger batches are faster per image but take fewer, coarser steps.",
    )
    st.select_slider(
        "Learning rate (size of each step)",
        _with(LEARNING_RATES, preset.learning_rate),
        key="train_lr",
        format_func=_number,
        disabled=disabled,
        help="Too small learns slowly; too large can stop the model from learning at all.",
    )
    low, high = BOUNDS["val_fraction"]
    st.slider(
        "Held back for checking (validation), %",
        int(low * 100),
        int(high * 100),
        key="train_val_pct",
        disabled=disabled,
        help="This share of the training images is not learned from; it shows how well "
        "the model does on images it has not seen, after every epoch.",
    )
    st.number_input(
        "Seed (the same seed repeats the same run)",
        *BOUNDS["seed"],
        step=1,
        key="train_seed",
        disabled=disabled,
    )
    quick = st.checkbox(
        "Quick run on a small slice",
        key="train_quick",
        disabled=disabled,
        help=f"Learn from only the first few thousand images and score on "
        f"{QUICK_TEST_LIMIT:,} test images: done in seconds, less accurate.",
    )
    if quick:
        st.session_state.setdefault("train_quick_size", QUICK_DEFAULT)
        st.select_slider(
            "Training images",
            QUICK_SIZES,
            key="train_quick_size",
            disabled=disabled,
            format_func=lambda n: f"{n:,}",
        )


def _config_from_state() -> TrainConfig:
    """The TrainConfig the controls describe (read from session state, so callbacks can use it)."""
    state = st.session_state
    quick = bool(state.get("train_quick"))
    return TrainConfig(
        preset=state.train_preset,
        epochs=int(state.train_epochs),
        batch_size=int(state.train_batch_size),
        learning_rate=float(state.train_lr),
        seed=int(state.train_seed),
        val_fraction=state.train_val_pct / 100,
        train_limit=int(state.train_quick_size) if quick else None,
        test_limit=QUICK_TEST_LIMIT if quick else None,
    )


def _start(queue) -> None:
    """The Start button's callback: runs before the page is drawn, so the page shows the new job
    at once (and the Start button disabled) without a second rerun."""
    try:
        job = queue.submit(_config_from_state(), owner=st.session_state.train_owner)
    except StudioError as exc:
        st.session_state.train_error = str(exc)
        return
    st.session_state.train_job = job.run_id
    st.session_state.pop("train_stopping", None)
    st.query_params["job"] = job.run_id


# --------------------------------------------------------------------------- the live panel


def _live_view(run_dir, *, key: str) -> None:
    """Progress bar, numbers and learning curves of a training that is running now."""
    progress = runs.read_progress(run_dir)
    history = runs.read_history(run_dir)
    if not progress:
        st.progress(0, text="Starting: loading TensorFlow and the images (about ten seconds)…")
        return
    epoch, epochs = progress.get("epoch", 1), progress.get("epochs", 1)
    batch, batches = progress.get("batch", 0), max(1, progress.get("batches", 1))
    fraction = min(1.0, max(0.0, float(progress.get("fraction", 0.0))))
    eta = progress.get("eta_s")
    if progress.get("status") != "running" or fraction >= 1 or runs.stop_requested(run_dir):
        text = "Finishing: scoring the model on the test images…"
    else:
        left = (
            f"about {shared.duration(eta)} left"
            if eta is not None
            else "working out the time left…"
        )
        text = f"Epoch {epoch} of {epochs} · batch {batch:,} of {batches:,} · {left}"
    st.progress(fraction, text=text)
    cols = st.columns(4)
    loss, acc = progress.get("loss"), progress.get("accuracy")
    cols[0].metric("Training loss", f"{loss:.4f}" if loss is not None else "-")
    cols[1].metric("Training accuracy", f"{acc:.2%}" if acc is not None else "-")
    val = progress.get("val_accuracy")
    held_back = runs.read_run(run_dir).meta.get("params", {}).get("val_fraction")
    if held_back == 0:
        val_text = "none"
    elif isinstance(val, (int, float)) and np.isfinite(val):
        val_text = f"{val:.2%}"
    else:
        val_text = "–"
    cols[2].metric(
        "Validation accuracy",
        val_text,
        help="Accuracy on the held-back images, measured at the end of each epoch "
        "(none when no images are held back).",
    )
    cols[3].metric("Time so far", shared.duration(progress.get("elapsed_s")))
    live = None
    if loss is not None:
        live = {"epoch": epoch - 1 + batch / batches, "loss": loss, "accuracy": acc}
    fig = figures.learning_curves(history, live=live)
    # The whole run's width from the start, so the curves grow into the chart.
    fig.update_xaxes(range=[0, epochs + 0.05], dtick=max(1, -(-epochs // 10)))
    st.plotly_chart(fig, key=key)


def _describe(job, run: runs.Run | None, my_run: str | None) -> str:
    """One line: which preset, which run, whose."""
    if job is None:
        who = "started outside this page (command line, or before the server restarted)"
        preset, run_id = (run.preset, run.id) if run else ("?", "?")
    else:
        who = "started by you" if job.run_id == my_run else "started by another visitor"
        preset, run_id = job.config.preset, job.run_id
    return f"**{preset}** · run `{run_id}` · {who}"


def _result(status: str, run: runs.Run | None, job) -> None:
    """How this visitor's training ended, with its numbers and a link to Evaluate."""
    meta = run.meta if run is not None else {}
    if status == "completed":
        st.success("Your training is complete.", icon=":material/check_circle:")
    elif status == "stopped":
        done = meta.get("epochs_completed") or 0
        st.info(
            f"Your training was stopped after {done} complete epoch{'s' if done != 1 else ''}; "
            "the best weights seen so far were kept."
            if done
            else "Your training was stopped during its first epoch; the model was kept as it was "
            "at that moment.",
            icon=":material/stop_circle:",
        )
    elif status == "cancelled":
        st.info(
            "Your request was taken off the queue before it started.", icon=":material/stop_circle:"
        )
        return
    elif status == "interrupted":
        st.warning(
            "The training process ended unexpectedly (for example, the server restarted). "
            + (
                "The weights of the best finished epoch were saved."
                if run and run.has_model
                else "No epoch had finished, so there is no model."
            ),
            icon=":material/warning:",
        )
    elif status == "failed":
        error = (
            meta.get("error")
            or (job.error if job is not None else None)
            or "no reason was recorded"
        )
        st.error(f"Training failed: {error}", icon=":material/warning:")
    if run is None:
        return
    cols = st.columns(3)
    acc = run.test_accuracy
    tested = meta.get("data", {}).get("test_examples")
    cols[0].metric(
        "Test accuracy",
        f"{acc:.2%}" if isinstance(acc, (int, float)) else "-",
        help=f"Share of {tested:,} test images read correctly." if tested else None,
    )
    cols[1].metric("Training time", shared.duration(meta.get("train_seconds")))
    cols[2].metric("Epochs", meta.get("epochs_completed", "-"))
    if tested and tested < 10000:
        st.caption(
            f"A quick run is scored on the first {tested:,} test images; the Evaluate page "
            "scores every model on all 10,000."
        )
    history = runs.read_history(run.path)
    if history:
        st.plotly_chart(figures.learning_curves(history), key="train_result_curves")
    if run.has_model:
        try:
            st.page_link(
                Path(__file__).with_name("evaluate.py"),
                label="Evaluate this model",
                icon=":material/analytics:",
                query_params={"run": run.id},
            )
        except StreamlitAPIException:  # the page run on its own (tests): a plain link
            st.markdown(f"[📊 Evaluate this model](/evaluate?run={run.id})")


def _panel(queue, my_run: str | None) -> None:
    """The queue as everyone sees it, then this visitor's own request."""
    state = queue.state()
    status, my = _job_status(queue, my_run) if my_run else (None, None)

    if state.running is not None:
        job = state.running
        st.markdown(f"#### Now training\n{_describe(job, None, my_run)}")
        _live_view(queue.models_dir / job.run_id, key="train_live_curves")
        if job.run_id == my_run:
            stopping = st.session_state.get("train_stopping") == my_run
            if st.button(
                "Stop training",
                key="train_stop",
                disabled=stopping,
                help="Ends after the current batch and keeps the best weights so far.",
            ):
                queue.stop(my_run)
                st.session_state.train_stopping = my_run
                stopping = True
            if stopping:
                st.caption("Stopping after the current batch…")
    elif state.external_run is not None:
        run = _run_or_none(queue.models_dir, state.external_run)
        st.markdown(f"#### Now training\n{_describe(None, run, my_run)}")
        _live_view(queue.models_dir / state.external_run, key="train_live_curves")
    elif status not in ACTIVE:
        st.info(
            "Nothing is training right now. Choose a model on the left and press **Start training**."
        )

    if state.queued:
        mine = [j for j in state.queued if j.run_id == my_run]
        others = len(state.queued) - len(mine)
        if mine:
            place = queue.position(my_run) or 1
            ahead = place  # the training that runs now plus the requests before this one
            st.info(
                f"Your training (**{mine[0].config.preset}**) is waiting: you are number "
                f"{place + 1} in the queue, with {ahead} training{'s' if ahead != 1 else ''} "
                "before yours.",
                icon=":material/hourglass_top:",
            )
            if st.button("Cancel my request", key="train_cancel"):
                queue.stop(my_run)
                st.rerun(scope="app")
        if others:
            st.caption(f"{others} other request{'s' if others != 1 else ''} waiting in the queue.")

    if my_run and status not in ACTIVE:
        st.markdown("#### Your last training")
        if status == "unknown":
            st.warning("The training in the address was not found; it may have been deleted.")
        elif status == "running":  # a worker of an earlier server, still going
            st.caption(f"Run `{my_run}` is still training in another process.")
        else:
            st.caption(f"Run `{my_run}` · {STATUS_WORDS.get(status, status)}")
            _result(status, my, queue.job(my_run))


# --------------------------------------------------------------------------- the page

st.title("Train a model")
st.caption(
    "Pick a model, adjust how it learns, and watch it learn to read handwritten digits. "
    "One training runs at a time on this server; other requests wait their turn."
)

queue = shared.training_queue()
if "train_owner" not in st.session_state:
    st.session_state.train_owner = uuid.uuid4().hex[:12]
my_run = _my_run()
mine_active = my_run is not None and _job_status(queue, my_run)[0] in ACTIVE
demo = shared.demo_mode()

left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("New training")
    if demo:
        st.info(
            "Training is turned off in this demo: it would keep the server busy for everyone. "
            "Run MNIST Studio on your own computer to train models.",
            icon=":material/lock:",
        )
    _settings_form(disabled=demo)
    st.button(
        "Start training",
        type="primary",
        key="train_start",
        disabled=demo or mine_active,
        on_click=_start,
        args=(queue,),
        help="Your training is already queued or running." if mine_active else None,
    )
    if "train_error" in st.session_state:
        shared.show_error(InputError(st.session_state.pop("train_error")))

with right:
    active, _ = snapshot = _activity(queue, my_run)

    @st.fragment(run_every=POLL_S if active else None)
    def live_panel():
        if _activity(queue, my_run) != snapshot:
            st.rerun(scope="app")  # started, finished or queued: redraw all, switch polling
        try:
            _panel(queue, my_run)
        except Exception as exc:  # a half-written file, a vanished run: say so, poll again
            shared.show_error(exc)

    live_panel()
