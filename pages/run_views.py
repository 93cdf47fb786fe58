"""Views of one training run on the Train page: its progress while it trains, and how it
ended. Each takes what `TrainingQueue.overview` read (a `runs.Watch`, a `jobs.Request`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from mnist_core import runs
from mnist_core.errors import StudioError
from pages import curves, shared

# How each ending is shown: the kind of box and its icon.
ENDINGS = {
    "completed": (st.success, ":material/check_circle:"),
    "stopped": (st.info, ":material/stop_circle:"),
    "cancelled": (st.info, ":material/stop_circle:"),
    "interrupted": (st.warning, ":material/warning:"),
    "failed": (st.error, ":material/warning:"),
    "invalid": (st.error, ":material/warning:"),
}


def live_view(watch: runs.Watch) -> None:
    """Progress bar, numbers and learning curves of a training under way."""
    progress, meta = watch.progress, watch.run.meta
    if not progress:
        st.progress(0, text="Starting: loading TensorFlow and the images (about ten seconds)…")
        return
    epoch, epochs = progress["epoch"], progress["epochs"]
    batch, batches = progress["batch"], max(1, progress["batches"])
    if meta.status != "running" or progress["fraction"] >= 1:
        text = "Finishing: scoring the model on the test images…"
    else:
        eta = progress.get("eta_s")
        left = (
            f"about {shared.duration(eta)} left"
            if eta is not None
            else "working out the time left…"
        )
        text = f"Epoch {epoch} of {epochs} · batch {batch:,} of {batches:,} · {left}"
    st.progress(min(1.0, max(0.0, progress["fraction"])), text=text)
    loss, acc, val = progress.get("loss"), progress.get("accuracy"), progress.get("val_accuracy")
    cols = st.columns(4)
    cols[0].metric(
        "Training loss",
        f"{loss:.4f}" if loss is not None else "-",
        help="How wrong the model still is on the images it learns from, on average this "
        "epoch: lower is better, and it should fall as the model learns.",
    )
    cols[1].metric(
        "Training accuracy",
        f"{acc:.2%}" if acc is not None else "-",
        help="Share of the images it learns from that it reads right so far this epoch.",
    )
    cols[2].metric(
        "Validation accuracy",
        f"{val:.2%}" if val is not None else "–" if watch.held_back else "none",
        help="Share of the held-back images (validation: images it does not learn from) "
        "that it reads right, measured at the end of each epoch; none when none are held back.",
    )
    cols[3].metric(
        "Time so far",
        shared.duration(progress.get("elapsed_s")),
        help="Time spent training, from the first learning step.",
    )
    live = (
        {"epoch": epoch - 1 + batch / batches, "loss": loss, "accuracy": acc}
        if loss is not None
        else None
    )
    full = full_scale_switch("train_full_scale")
    fig = curves.learning_curves(watch.history, live=live, steps=watch.steps, full_scale=full)
    # The whole run's width from the start, so the curves grow into the chart.
    fig.update_xaxes(range=[0, epochs + 0.05], dtick=max(1, -(-epochs // 10)))
    st.plotly_chart(fig, key="train_live_curves")
    curves_help()


CURVES_SAY = (
    "Loss: how wrong the model is, on average (lower is better). Training: on the images it "
    "learns from; validation: on held-back images it never learns from."
)
CURVES_HELP = """**Training loss**: how wrong the model still is on the images it learns from, on
average: lower is better, and it should fall as the model learns.

**Validation loss**: the same, on the held-back images (validation: images it never learns
from), measured at the end of each epoch. When it rises while the training loss still falls,
the model is memorising its training images instead of learning digits.

**Validation accuracy**: the share of the held-back images it reads right; the best guess of
how it will do on images it has never seen.

**Learning rate**: how big each learning step is (some settings make it smaller as
training goes on)."""


def curves_help() -> None:
    """One plain line under a learning-curves chart, with a help that says what each line is."""
    st.caption(CURVES_SAY, help=CURVES_HELP)


def full_scale_switch(key: str) -> bool:
    """The accuracy axis from 0 to 100% (on) or zoomed to the data (off, the default)."""
    return st.toggle(
        "Accuracy from 0 to 100%",
        key=key,
        help="Off: the accuracy axis zooms in on the data, where the differences are (a good "
        "model's story is between 96% and 100%). On: the whole scale.",
    )


def ending(request, yours: bool) -> None:
    """How a training ended, with its numbers and a link to Evaluate. `yours`: this visitor
    started it in this session (a link to someone else's training says "This", not "Your")."""
    run = request.watch.run if request.watch else None
    meta, status = run.meta if run else None, request.status
    epochs = meta.epochs_completed if meta else None
    saved = run is not None and run.has_model
    whose = "Your" if yours else "This"
    message = {
        "completed": f"{whose} training is complete.",
        "stopped": f"{whose} training was stopped after {epochs} complete epoch(s); the best "
        "weights seen so far were kept."
        if epochs
        else f"{whose} training was stopped during its first epoch; the model was kept as it "
        "was at that moment.",
        "cancelled": f"{whose} request was taken off the queue before it started.",
        "interrupted": "The training process ended unexpectedly (for example, the server "
        "restarted). "
        + (
            "The weights of the best finished epoch were saved."
            if saved
            else "No epoch had finished, so there is no model."
        ),
        "failed": f"Training failed: {request.error or 'no reason was recorded'}",
        "invalid": f"This run cannot be read: {request.error}.",
    }[status]
    show, icon = ENDINGS[status]
    show(message, icon=icon)
    if run is None or status in ("cancelled", "invalid"):
        return
    tested = meta.data.test_examples if meta.data else None
    cols = st.columns(3)
    cols[0].metric(
        "Test accuracy",
        f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "-",
        help=f"Share of the {tested or runs.FULL_TEST_IMAGES:,} test images, never seen in "
        "training, whose digit the model named correctly.",
    )
    cols[1].metric(
        "Training time",
        shared.duration(meta.train_seconds),
        help="How long the learning took, without loading the data or testing.",
    )
    cols[2].metric(
        "Epochs",
        meta.epochs_completed if meta.epochs_completed is not None else "-",
        help="Passes over all the training images that were finished.",
    )
    if run.is_quick:
        st.caption(
            f"A quick run: it learned from {run.train_images:,} of the "
            f"{runs.FULL_TRAIN_IMAGES:,} training images, "
            f"so it reads fewer digits right than a full run would. Tested on all {tested or 0:,} "
            "test images, as every model is."
        )
    if request.watch.history or request.watch.steps:
        figure = curves.learning_curves(
            request.watch.history,
            steps=request.watch.steps,
            full_scale=full_scale_switch("train_result_full_scale"),
        )
        st.plotly_chart(figure, key="train_result_curves")
        curves_help()
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


# --------------------------------------------------------------------------- any run's network


def architecture(run: runs.Run) -> str | None:
    """The run's layers in one line ("Conv2D 6 5x5 relu → ..."), None when unknown."""
    from mnist_core.config import spec_of
    from mnist_core.specs import summary

    if run.error:
        return None
    try:
        return summary(spec_of(run.meta))
    except StudioError:  # a damaged spec in run.json, or a preset that no longer exists
        return None


def train_again(run: runs.Run) -> None:
    """A link to the Train page with this run's network in the editor."""
    if architecture(run) is None:
        return
    st.page_link(
        "pages/train.py",
        label="Train again with changes",
        icon=":material/edit:",
        query_params={"from": run.id},
        help="Opens this run's network and settings in the Train page's editor.",
    )
