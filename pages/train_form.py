"""The Train page's form: where the network starts from, how it learns, and submitting it.

Every control keeps its value in session state under its key (train_preset, train_epochs,
...); the network itself is the editor's (`pages.network_editor`). The Start button's
callback builds the spec from both and queues it as a `TrainConfig`.
"""

from __future__ import annotations

import streamlit as st

from mnist_core import runs, specs
from mnist_core.config import BOUNDS, TrainConfig
from mnist_core.errors import StudioError
from mnist_core.presets import PRESETS
from pages import network_editor, shared

BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
QUICK_SIZES = [500, 1000, 2000, 5000, 10000, 20000]  # training images for a quick run
QUICK_DEFAULT = 2000
FIRST_EPOCHS = 3  # the page opens on fast-cnn for 3 epochs with 10% held back
FIRST_VAL_PCT = 10


def _apply_preset() -> None:
    """The chosen preset's network and settings into the editor and the form."""
    name = st.session_state.train_preset
    network_editor.load(PRESETS[name].spec, name)


NUMBER_WORDS = {2: "Two", 3: "Three", 4: "Four"}  # an ensemble's networks (members)


def plain_description(spec: specs.Spec) -> str:
    """What a newcomer understands of a network: how big, how it looks at a picture, how long
    it learns ("A small network with 3 layers that learn, which looks at ..."); for an
    ensemble, how many such networks it averages."""
    costs = spec.costs()
    learning = sum(1 for c in costs if c.kind in ("Dense", "Conv2D", "DepthwiseConv2D",
                                                  "SeparableConv2D"))  # fmt: skip
    params = sum(c.params for c in costs)
    size = "small" if params < 60_000 else "medium-sized" if params < 200_000 else "larger"
    looks = (
        "looks at small patches of the picture first, as our eyes pick out strokes "
        "(a convolutional network)"
        if any("Conv" in c.kind for c in costs)
        else "looks at all 784 pixels at once (a plain, fully connected network)"
    )
    passes = f"{spec.epochs} pass{'es' if spec.epochs != 1 else ''} over the training images"
    extra = ", each shifted, turned and zoomed a little" if spec.augment else ""
    words = (
        f"A {size} network with {learning} layers that learn ({params:,} numbers to tune), "
        f"which {looks}; {passes}{extra}."
    )
    if spec.members > 1:
        count = NUMBER_WORDS.get(spec.members, str(spec.members))
        words += (
            f" {count} such networks learn one after the other, each from its own start and "
            f"with its own passes, and the model averages their answers "
            f"({spec.members * params:,} numbers to tune in all)."
        )
    return words


def start() -> None:
    """Defaults, once per session: fast-cnn in the editor for 3 epochs with 10% held back for
    validation (so the curves show learning and checking), seed 42, a full run."""
    network_editor.sync()
    first = "train_preset" not in st.session_state
    if first:
        st.session_state.train_preset = "fast-cnn"
        st.session_state.train_seed = 42
        st.session_state.train_quick = False
    network_editor.ensure_loaded(st.session_state.train_preset)
    if first and st.session_state.get("net_origin") == "fast-cnn":
        # Settings that show learning: fast-cnn alone is one epoch with nothing held back,
        # so its validation would be nothing and its epochs one dot.
        st.session_state.train_epochs = FIRST_EPOCHS
        st.session_state.train_val_pct = FIRST_VAL_PCT


def starting_point(disabled: bool) -> None:
    """Which preset the network starts from (or scratch), and what it is now."""
    name = st.selectbox(
        "Start from a model",
        list(PRESETS),
        key="train_preset",
        on_change=_apply_preset,
        help="Loads the model's network and the settings that suit it; change any of them below.",
    )
    origin = st.session_state.get("net_origin")
    if origin in PRESETS:
        st.caption(plain_description(PRESETS[origin].spec))
        with st.expander("Technical details"):
            st.caption(PRESETS[origin].description)
    elif origin:
        st.caption(f"The network of run {origin}.")
    st.button("Start from scratch", key="net_scratch", on_click=network_editor._scratch,
              help="An empty network: the picture straight to the ten outputs.")  # fmt: skip
    del name, disabled  # the editor works in the demo too: only Start is off there


def settings(disabled: bool) -> None:
    """How it learns: each control keeps its value in session state under its key."""
    state = st.session_state
    # fmt: off
    st.slider("Epochs (passes over the training images)", *BOUNDS["epochs"], key="train_epochs",
              disabled=disabled, help="More passes usually help, up to a point, and take longer.")
    st.select_slider("Batch size (images per learning step)",
                     sorted({*BATCH_SIZES, state.train_batch_size}), key="train_batch_size",
                     disabled=disabled,
                     help="Larger batches are faster per image but take fewer, coarser steps.")
    st.select_slider("Learning rate (size of each step)", sorted({*LEARNING_RATES, state.train_lr}),
                     key="train_lr", format_func=shared.learning_rate_text, disabled=disabled,
                     help="Too small learns slowly; too large can stop the model from learning at all.")
    st.selectbox("Optimizer", list(specs.OPTIMIZERS), key="train_optimizer", disabled=disabled,
                 format_func=lambda o: f"{o}: {specs.OPTIMIZERS[o]}")
    st.selectbox("Learning-rate schedule", list(specs.SCHEDULES), key="train_schedule",
                 disabled=disabled, format_func=lambda s: f"{s}: {specs.SCHEDULES[s]}")
    if state.train_schedule == "warmup-cosine":
        st.slider("Warm-up, % of the steps", 0, 50, key="train_warmup_pct", disabled=disabled)
    low, high = BOUNDS["val_fraction"]
    st.slider("Held back for checking (validation), %", int(low * 100), int(high * 100),
              key="train_val_pct", disabled=disabled,
              help="This share of the training images is not learned from; it shows how well the "
              "model does on images it has not seen, after every epoch.")
    st.number_input("Stop early after this many epochs without improvement (0: never)", 0, 50,
                    step=1, key="train_patience", disabled=disabled)
    st.slider("Label smoothing", 0.0, 0.5, step=0.05, key="train_smoothing", disabled=disabled,
              help="Teaches the model not to be 100% sure: a little of each answer is spread "
              "over the other digits.")
    st.checkbox("Augment: shift, rotate and zoom the training images a little",
                key="train_augment", disabled=disabled)
    st.number_input("Seed (the same seed repeats the same run)", *BOUNDS["seed"], step=1,
                    key="train_seed", disabled=disabled)
    quick = st.checkbox("Quick run on a small slice", key="train_quick", disabled=disabled,
                        help="Learn from only the first few thousand training images: done in "
                        "seconds, less accurate. It is still tested on all 10,000 test images, "
                        "and marked as quick wherever it is listed.")
    if quick:
        st.session_state.setdefault("train_quick_size", QUICK_DEFAULT)
        st.select_slider("Training images", QUICK_SIZES, key="train_quick_size",
                         disabled=disabled, format_func=lambda n: f"{n:,}")
    # fmt: on


def naming(disabled: bool) -> None:
    """A name and a note for the run, both optional (the folder id is made either way)."""
    st.text_input(
        "Name this run (optional)",
        key="train_title",
        max_chars=runs.TITLE_CHARS,
        disabled=disabled,
        placeholder="e.g. My first CNN",
        help="Shown in the menus and in Compare instead of the folder id; any letters "
        "and symbols. You can rename it later on the Compare page.",
    )
    st.text_area("Note (optional)", key="train_note", max_chars=runs.NOTE_CHARS, height=68,
                 disabled=disabled, placeholder="What are you trying out?")  # fmt: skip


def train_images() -> int:
    """How many training images (validation included) a run of the form would read."""
    state = st.session_state
    return int(state.train_quick_size) if state.get("train_quick") else runs.FULL_TRAIN_IMAGES


def run_name(spec: specs.Spec) -> str | None:
    """The preset's name while the layers and the number of networks (an ensemble's
    members) are still the preset's, else None ("custom")."""
    origin = st.session_state.get("net_origin")
    if origin not in PRESETS or spec.members != PRESETS[origin].spec.members:
        return None
    same = [(c.kind, c.config) for c in PRESETS[origin].spec.costs()]
    return origin if [(c.kind, c.config) for c in spec.costs()] == same else None


def submit(queue) -> None:
    """The Start button's callback: runs before the page is drawn, so the page shows the new job
    at once (and the Start button disabled) without a second rerun."""
    state, quick = st.session_state, bool(st.session_state.get("train_quick"))
    try:
        spec = specs.check(network_editor.raw_spec())
        config = TrainConfig(
            run_name(spec),
            spec=spec,
            seed=int(state.train_seed),
            train_limit=int(state.train_quick_size) if quick else None,
            title=state.get("train_title") or "",
            note=state.get("train_note") or "",
        )
        job = queue.submit(config)
    except StudioError as exc:
        st.session_state.train_error = str(exc)
        return
    st.session_state.train_job = st.query_params["job"] = job.run_id
    st.session_state.setdefault("train_started", set()).add(job.run_id)
    st.session_state.pop("train_stopping", None)
    state.train_title = state.train_note = ""  # the next run gets a name of its own
