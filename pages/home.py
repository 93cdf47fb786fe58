"""Home page: what MNIST Studio does, a look at the MNIST digits, and the shipped model."""

from __future__ import annotations

import streamlit as st

from mnist_core import runs
from mnist_core.errors import StudioError
from pages import explorer, figures, shared

SAMPLES = 40  # digits in the sample grid
GRID_COLUMNS = 10
SAMPLE_SCALE = 3  # 28 px -> 84 px, pixel for pixel (the browser would blur a resize)
ALL = "All"


def _shuffle() -> None:
    st.session_state.home_seed = st.session_state.get("home_seed", 0) + 1


st.title("MNIST Studio")
st.write(
    "MNIST Studio teaches a computer to read handwritten digits. You train small neural "
    "networks on 70,000 pictures of the digits 0 to 9, see how well they do and where they "
    "go wrong, and then draw your own digits to see what they make of them."
)
links = st.columns(5)
links[0].page_link("pages/train.py", label="Train", icon=":material/model_training:")
links[0].caption("Teach a new network, and watch it learn.")
links[1].page_link("pages/evaluate.py", label="Evaluate", icon=":material/analytics:")
links[1].caption("Score a network on 10,000 test pictures and see its mistakes.")
links[2].page_link("pages/draw.py", label="Draw", icon=":material/draw:")
links[2].caption("Draw a digit and see what a network reads.")
links[3].page_link("pages/inside.py", label="Inside", icon=":material/neurology:")
links[3].caption("Look inside a network: what each layer sees, and why it answered.")
links[4].page_link("pages/compare.py", label="Compare", icon=":material/compare:")
links[4].caption("Put your training runs side by side; tidy up old ones.")

try:
    mnist = shared.mnist()
except StudioError as exc:
    shared.show_error(exc)
    st.stop()

# --------------------------------------------------------------------------- the shipped model
st.header("The ready-made model")
try:
    default_run = runs.get_run(runs.DEFAULT_RUN_ID)
except StudioError:
    default_run = None
if default_run is None or not default_run.has_model:
    st.warning(
        "The ready-made model is missing. Train one on the Train page to use Draw and Evaluate."
    )
elif isinstance(default_run.test_accuracy, (int, float)):
    left, right = st.columns([1, 3], vertical_alignment="center")
    left.metric(
        "Test accuracy",
        f"{default_run.test_accuracy:.2%}",
        help="Share of the 10,000 test pictures, never seen in training, that it reads right.",
    )
    right.write(f"A network of the **{default_run.preset}** kind comes ready to use.")
    try_it, look = right.columns(2)
    try_it.page_link("pages/draw.py", label="Try it: draw a digit", icon=":material/draw:")
    look.page_link("pages/inside.py", label="Look inside it", icon=":material/neurology:")
else:
    st.info(f"The ready-made model has no test score yet (status: {default_run.status}).")

# --------------------------------------------------------------------------- the dataset
SOURCE_WORDS = {  # data.load_mnist's kinds of source, in words a visitor understands
    "MNIST_DATA_DIR": "from a folder prepared by whoever runs this server",
    "cache": "from a copy saved on this server at an earlier visit",
    "Keras download": "downloaded from the Keras library's copy",
    "npm package": "downloaded from a published copy",
}
st.header("The MNIST digits")
facts = st.columns(4)
facts[0].metric("Training pictures", f"{len(mnist.x_train):,}")
facts[1].metric("Test pictures", f"{len(mnist.x_test):,}")
facts[2].metric("Picture size", "28 × 28", help="Grey levels from 0 (black) to 255 (white).")
facts[3].metric("Classes", "10", help="The digits 0 to 9.")
kind = mnist.source.split(" (")[0]  # the kind of source, never a local path
where = next((words for start, words in SOURCE_WORDS.items() if kind.startswith(start)), None)
st.caption(
    f"These are the original MNIST pictures{', ' + where if where else ''}, checked against "
    "the published files' fingerprints before use.",
    help=f"Technical detail: the data source was {kind}.",
)

st.subheader("Sample training pictures")
choice, shuffle = st.columns([4, 1], vertical_alignment="bottom")
with choice:
    digit = st.segmented_control(
        "Show", [ALL, *map(str, range(10))], default=ALL, required=True, key="home_digit"
    )
shuffle.button("Shuffle", icon=":material/shuffle:", on_click=_shuffle)
wanted = None if digit in (None, ALL) else int(digit)
indices = explorer.sample_indices(
    mnist.y_train, SAMPLES, seed=st.session_state.get("home_seed", 0), digit=wanted
)
for start in range(0, len(indices), GRID_COLUMNS):
    cells = st.columns(GRID_COLUMNS)
    for cell, index in zip(cells, indices[start : start + GRID_COLUMNS]):
        cell.image(
            explorer.enlarge(mnist.x_train[index], SAMPLE_SCALE), caption=str(mnist.y_train[index])
        )

# Pictures, not Plotly charts: this page is most visitors' first, and loading the Plotly
# bundle would be a large share of its first render (figures.class_balance_svg).
left, right = st.columns(2)
with left:
    st.subheader("How many of each digit")
    share = st.toggle("As a share of each set", help="The test set is six times smaller.")
    counts = shared.label_counts()
    st.image(
        figures.class_balance_svg(counts["train"], counts["test"], share=share), width="stretch"
    )
    fewest, most = int(counts["train"].argmin()), int(counts["train"].argmax())
    st.caption(
        f"Training pictures per digit run from {counts['train'][fewest]:,} (digit {fewest}) "
        f"to {counts['train'][most]:,} (digit {most}); the test set is split alike."
    )
with right:
    st.subheader("The average of each digit")
    st.image(figures.image_row(shared.mean_images(), scale=2), width="stretch")
    st.caption(
        "Every training picture of a digit laid on top of the others, 0 to 9 from the "
        "left: bright where most people put ink."
    )
