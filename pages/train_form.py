"""The Train page's form: the controls of a training request, and submitting it.

Every control keeps its value in session state under its key (train_preset, train_epochs,
...), so the Start button's callback can build the `TrainConfig` from them.
"""

from __future__ import annotations

import streamlit as st

from mnist_core.config import BOUNDS, TrainConfig
from mnist_core.errors import StudioError
from mnist_core.presets import PRESETS
from pages import shared

BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
QUICK_SIZES = [500, 1000, 2000, 5000, 10000, 20000]  # training images for a quick run
QUICK_DEFAULT = 2000
QUICK_TEST_LIMIT = 2000  # a quick run is also scored on fewer test images


def _apply_preset_defaults() -> None:
    """Set every control to the chosen preset's own defaults (called when the preset changes)."""
    preset = PRESETS[st.session_state.train_preset]
    st.session_state.train_epochs = preset.epochs
    st.session_state.train_batch_size = preset.batch_size
    st.session_state.train_lr = preset.learning_rate
    st.session_state.train_val_pct = int(round(preset.val_fraction * 100))


def settings(disabled: bool) -> None:
    """The controls, each keeping its value in session state under its key."""
    if "train_preset" not in st.session_state:
        st.session_state.train_preset = "fast-cnn"
        _apply_preset_defaults()
        st.session_state.train_seed = 42
        st.session_state.train_quick = False
    name = st.selectbox(
        "Model",
        list(PRESETS),
        key="train_preset",
        disabled=disabled,
        on_change=_apply_preset_defaults,
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
    # fmt: off
    st.select_slider("Batch size (images per learning step)", sorted({*BATCH_SIZES, preset.batch_size}),
                     key="train_batch_size", disabled=disabled,
                     help="Larger batches are faster per image but take fewer, coarser steps.")
    st.select_slider("Learning rate (size of each step)", sorted({*LEARNING_RATES, preset.learning_rate}),
                     key="train_lr", format_func=shared.learning_rate_text, disabled=disabled,
                     help="Too small learns slowly; too large can stop the model from learning at all.")
    # fmt: on
    low, high = BOUNDS["val_fraction"]
    st.slider(
        "Held back for checking (validation), %",
        int(low * 100),
        int(high * 100),
        key="train_val_pct",
        disabled=disabled,
        help="This share of the training images is not learned from; it shows how well the "
        "model does on images it has not seen, after every epoch.",
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


def submit(queue) -> None:
    """The Start button's callback: runs before the page is drawn, so the page shows the new job
    at once (and the Start button disabled) without a second rerun."""
    state, quick = st.session_state, bool(st.session_state.get("train_quick"))
    config = TrainConfig(
        state.train_preset,
        epochs=int(state.train_epochs),
        batch_size=int(state.train_batch_size),
        learning_rate=float(state.train_lr),
        seed=int(state.train_seed),
        val_fraction=state.train_val_pct / 100,
        train_limit=int(state.train_quick_size) if quick else None,
        test_limit=QUICK_TEST_LIMIT if quick else None,
    )
    try:
        job = queue.submit(config)
    except StudioError as exc:
        st.session_state.train_error = str(exc)
        return
    st.session_state.train_job = st.query_params["job"] = job.run_id
    st.session_state.setdefault("train_started", set()).add(job.run_id)
    st.session_state.pop("train_stopping", None)
