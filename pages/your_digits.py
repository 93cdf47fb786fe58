"""Your digits: the drawings and pictures you corrected on Draw, with their true labels.

See them (delete any), score any model on them, fine-tune one on MNIST plus them (a new run
through the training queue), and take them away or bring them back as a file. The set is
`mnist_core.own_digits`; its files are `mnist_core.digit_files`.
"""

from __future__ import annotations

import streamlit as st

from mnist_core import digit_files, fine_tune, paths
from mnist_core.errors import StudioError
from mnist_core.evaluation import score
from pages import explorer, figures, own_digit_form, shared
from pages.evaluate_debug import as_text

PER_ROW = 10  # thumbnails per row
SHOWN = 100  # newest first; older ones stay in the set (and in exports)
THUMB_SCALE = 3  # 28 px shown at 84


def gallery(store, digits) -> None:
    newest = digits[::-1][:SHOWN]
    if len(digits) > SHOWN:
        st.caption(f"The newest {SHOWN} of {len(digits)} are shown.")
    for start in range(0, len(newest), PER_ROW):
        for column, digit in zip(st.columns(PER_ROW), newest[start : start + PER_ROW]):
            column.image(
                explorer.enlarge(digit.image / 255.0, THUMB_SCALE),
                caption=f"{digit.label} · {digit.source}",
            )
            if column.button(
                "Delete",
                key=f"delete_{digit.id}",
                icon=":material/delete:",
                type="tertiary",
                help=f"Forget this {digit.label}",
            ):
                store.delete(digit.id)
                st.rerun()


def evaluate_on(x, y) -> None:
    run = shared.run_picker("Model to test on your digits", key="own_run")
    if run is None:
        return
    try:
        result = score(shared.predictor(run.model_path), x, y)
    except (StudioError, OSError) as exc:
        shared.show_error(exc)
        return
    st.metric(
        "Accuracy on your digits",
        f"{result.accuracy:.0%}",
        f"{len(y)} digit{'s' if len(y) != 1 else ''}",
        delta_color="off",
        delta_arrow="off",
    )
    st.plotly_chart(
        figures.confusion_matrix_figure(result.confusion, title="True digit (rows) by answer"),
        width="content",
        key="own_confusion",
        config={"displayModeBar": False},
    )
    fine_tune_button(run, x, y)


def fine_tune_button(run, x, y) -> None:
    st.subheader("Teach it your style")
    st.caption(
        f"Fine-tuning trains {as_text(run.name)} a little more, on {fine_tune.MNIST_IMAGES:,} MNIST "
        f"images plus your digits, repeated so that they make {fine_tune.OWN_SHARE:.0%} of "
        "what it sees, each time shifted, turned and zoomed a little. The result is a new "
        "run: compare it, evaluate it and draw with it like any other."
    )
    demo, enough = shared.demo_mode(), len(y) >= fine_tune.MIN_DIGITS
    if st.button(
        f"Fine-tune {as_text(run.name)} on your digits",  # a label reads Markdown
        key="own_fine_tune",
        icon=":material/model_training:",
        disabled=demo or not enough,
        help="Training is turned off in this demo."
        if demo
        else None
        if enough
        else f"Add at least {fine_tune.MIN_DIGITS} digits first.",
    ):
        try:
            job = shared.training_queue().submit(fine_tune.FineTuneConfig(run.id, x, y))
        except StudioError as exc:
            shared.show_error(exc)
            return
        st.session_state.train_job = job.run_id
        st.switch_page("pages/train.py", query_params={"job": job.run_id})


def files(store, x, y) -> None:
    st.subheader("Take them with you")
    npz, idx = st.columns(2)
    npz.download_button(
        "Download as npz",
        (lambda: digit_files.to_npz(x, y)) if len(y) else b"",  # made on the click, not each rerun
        "your-digits.npz",
        disabled=not len(y),
        key="own_npz",
        icon=":material/download:",
    )
    idx.download_button(
        "Download as IDX (zip)",
        (lambda: digit_files.to_idx_zip(x, y)) if len(y) else b"",
        "your-digits-idx.zip",
        disabled=not len(y),
        key="own_idx",
        icon=":material/download:",
    )
    upload = st.file_uploader(
        "Add digits from a file (.npz or a .zip of IDX files, as downloaded here)",
        type=["npz", "zip"],
        key=f"own_import_{st.session_state.get('own_import_version', 0)}",
    )
    if upload is not None:
        try:
            images, labels = digit_files.read_file(upload.name, upload.getvalue())
            store.add_many(images, labels, "import")
        except StudioError as exc:
            shared.show_error(exc)
            return
        st.session_state.own_import_version = st.session_state.get("own_import_version", 0) + 1
        st.session_state.own_notice = f"Added {len(labels)} digits from {upload.name}."
        st.rerun()


st.title("Your digits")
st.caption(
    "Digits the model misread, each with the digit you meant: add one on the Draw page with "
    "“Not right? Tell it the digit”. "
    + (
        "In this demo they live in your browser session only: nothing is kept on the server."
        if shared.demo_mode()
        else f"They are kept on this computer, in {paths.own_digits_dir()}."
    )
)
if "own_notice" in st.session_state:
    st.success(st.session_state.pop("own_notice"), icon=":material/check:")
store = own_digit_form.store()
try:
    digits = store.digits()
except StudioError as exc:
    shared.show_error(exc)
    st.stop()
x, y = store.arrays()
if digits:
    gallery(store, digits)
    st.header("How well does a model read them?")
    evaluate_on(x, y)
else:
    st.info("No digits yet. Draw one on the Draw page and tell it which digit you meant.")
    st.page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
files(store, x, y)
