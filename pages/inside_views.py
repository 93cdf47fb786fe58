"""The Inside page's parts: what the model computes for one input (cached per model file
and input), and the Streamlit sections that show it. The numbers come from
`mnist_core.explain`; the pictures from `pages.inside_figures`.

A model is named by its `ModelKey` (model file path, mtime) in the caches, so a retrained
file is never answered from an older model's results; the Explainer itself is passed along
unhashed (`_explainer`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from mnist_core import runs
from pages import explorer, figures, shared
from pages import inside_figures as pictures

ModelKey = tuple[str, float]
FAITHFUL_PIXELS = 40  # the faithfulness sentence: what blacking out this many pixels does
INPUT_SCALE = 8  # 28x28 pictures shown at 224x224, pixel for pixel
MAX_TILES = 64  # feature maps or weights shown per layer (the rest are counted)
WEIGHTS_WIDTH = 960  # px: the first layer's weights get the page's width
METHOD_SENTENCES = {  # one plain sentence each; {patch}: the occlusion patch's side
    "integrated-gradients": "Fades your digit in from black and adds up how much each pixel "
    "moved the answer along the way.",
    "grad-cam": "Asks the last layer of feature maps which of its places moved the answer: "
    "coarser than the pixels, but it shows where the network looked.",
    "occlusion": "Hides the picture {patch}×{patch} pixels at a time and watches how much the "
    "answer drops: it asks the model, not its insides.",
}
NO_SNAPSHOTS = (
    "This training kept no snapshots of its weights while it learned, so there is no film "
    "of it learning to play."
)


def model_key(run: runs.Run) -> ModelKey:
    return str(run.model_path), run.model_path.stat().st_mtime


def input_id(key: ModelKey, x28: np.ndarray) -> str:
    """A short name for (model file version, input), for widget keys that must start afresh
    on a new one (the digit explained starts at the model's answer)."""
    digest = hashlib.sha256(repr(key).encode() + np.asarray(x28, np.float32).tobytes())
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------- computed once


@dataclass(frozen=True)
class Reading:
    """What the model computes for one input: probabilities float32 (10,) and each layer's
    output (explain.LayerInfo, float32 array of its shape), in order."""

    probabilities: np.ndarray
    activations: list

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    def output(self, block: pictures.Block) -> np.ndarray:
        """The output of `block`'s last layer (what the next block receives)."""
        return next(a for info, a in self.activations if info.name == block.last.name)


@dataclass(frozen=True)
class Reasons:
    """Why the model gave `target` the probability it did: one saliency map float32 (28, 28)
    per method, and the faithfulness test's one number per map: the target's probability
    after the FAITHFUL_PIXELS pixels the map ranks first were blacked out (`after`), and
    after the brightest ones were (`ink_after`)."""

    target: int
    maps: dict
    after: dict
    ink_after: float


@st.cache_data(show_spinner=False, max_entries=64)
def reading(_explainer, key: ModelKey, x28: np.ndarray) -> Reading:
    return Reading(_explainer.probabilities(x28), _explainer.activations(x28))


@st.cache_data(show_spinner="Working out which pixels mattered…", max_entries=128)
def reasons(_explainer, key: ModelKey, x28: np.ndarray, target: int) -> Reasons:
    from mnist_core.explain import ink_first

    def after(order) -> float:  # one deletion step of FAITHFUL_PIXELS: curve[1]
        return float(_explainer.deletion(x28, order, target, step=FAITHFUL_PIXELS).curve[1])

    maps = {method: _explainer.saliency(x28, target, method) for method in _explainer.methods}
    return Reasons(
        target, maps, {m: after(smap) for m, smap in maps.items()}, after(ink_first(x28))
    )


@st.cache_data(show_spinner=False, max_entries=32)
def deletions(_explainer, key: ModelKey, x28: np.ndarray, target: int) -> dict:
    """{name: explain.Deletion}: the whole deletion test of each map and of brightest ink
    first, for the chart (computed only when it is opened)."""
    from mnist_core.explain import ink_first

    maps = reasons(_explainer, key, x28, target).maps
    tests = {method_name(m): _explainer.deletion(x28, smap, target) for m, smap in maps.items()}
    tests["brightest ink first"] = _explainer.deletion(x28, ink_first(x28), target)
    return tests


def layer_configs(explainer) -> dict[str, dict]:
    """Each layer's Keras config (filters, kernel size, strides, rate...) by name (an
    ensemble's: its first network's, the layers `explainer.layers` describes)."""
    configs = {}
    for info in explainer.layers:
        try:
            configs[info.name] = explainer.first_network.get_layer(info.name).get_config()
        except (ValueError, NotImplementedError, AttributeError):
            configs[info.name] = {}
    return configs


def blocks_of(explainer) -> list[pictures.Block]:
    return pictures.group_layers(explainer.layers)


def weight_snapshots(run: runs.Run) -> runs.WeightSnapshots | None:
    """The run's first-layer weight snapshots, or None (none kept, or a damaged file)."""
    try:
        return runs.read_weight_snapshots(run.path)
    except OSError as exc:  # the reader refuses damaged files itself; this is the disk
        shared.show_error(exc)
        return None


# --------------------------------------------------------------------------- sections


def show_input(x28: np.ndarray, caption: str = "What it sees") -> None:
    st.image(explorer.enlarge(x28, 3), caption=caption)


def ensemble_note(explainer) -> str | None:
    """One plain sentence for a model that averages several networks, whose layers the
    page shows for the first network only; None for one network."""
    if explainer.networks <= 1:
        return None
    alike = " of the same shape" if explainer.alike else ""
    return (
        f"This model averages the answers of {explainer.networks} networks{alike}; the "
        "layers shown are the first network's."
    )


def show_ensemble_note(explainer) -> None:
    note = ensemble_note(explainer)
    if note:
        st.info(note, icon=":material/stacks:")


def show_network(explainer) -> None:
    """The layers as a diagram of boxes, left to right (an ensemble's first network, with
    the whole model's parameter count)."""
    blocks, configs = blocks_of(explainer), layer_configs(explainer)
    if explainer.networks > 1:
        html = pictures.network_html(
            blocks, configs, explainer.networks, int(explainer.model.count_params())
        )
    else:
        html = pictures.network_html(blocks, configs)
    st.html(html)


def maps_picture(
    maps: np.ndarray, signed: bool | None = None, vmax: float | None = None, width: int = 520
):
    """(picture, caption note) for pictures (n, h, w): a grid of at most MAX_TILES, about
    `width` pixels wide."""
    n, side = len(maps), max(maps.shape[1:])
    shown = maps[:MAX_TILES]
    columns, scale = pictures.tile_layout(len(shown), side, width)
    note = f" (the first {MAX_TILES} of {n})" if n > MAX_TILES else ""
    return pictures.mosaic(shown, columns, scale, vmax=vmax, signed=signed), note


def show_block_output(block: pictures.Block, values: np.ndarray, configs, reading: Reading):
    """One block's output for this input: feature maps as a grid, neurons as a strip, the
    output as ten probabilities."""
    title, what, extras = pictures.block_words(block, configs)
    after = f", after {extras}" if extras else ""
    if block.category == "output":
        st.markdown(f"**{title}** · {what}")
        st.plotly_chart(
            figures.probability_bars(reading.probabilities),
            key=f"inside_output_{block.main.name}",
            config={"displayModeBar": False},
        )
        st.caption("The ten probabilities, one per digit: the answer is the tallest bar.")
    elif values.ndim == 3:
        picture, note = maps_picture(np.transpose(values, (2, 0, 1)))
        st.markdown(f"**{title}** · {what} → {pictures.shape_words(values.shape)}")
        st.image(picture)
        quiet = int((values.reshape(-1, values.shape[-1]).max(axis=0) <= 0).sum())
        st.caption(
            f"Each square is one map{note}{after}: bright where it found what its filter "
            "looks for."
            + (f" {quiet} of {values.shape[-1]} found nothing here (all black)." if quiet else "")
        )
    elif values.ndim == 1:
        st.markdown(f"**{title}** · {what}")
        st.image(pictures.neuron_strip_svg(values))
        quiet = int((values <= 0).sum())
        st.caption(
            f"One square per neuron{after}: the brighter, the more active. "
            f"{quiet} of {len(values)} are silent (0 or less) for this picture. "
            f"Outlined, the most active: {active_list(values)}."
        )


def active_list(values: np.ndarray) -> str:
    """ "#18 (1.38), #113 (1.14), ...": the most active neurons and their values."""
    return ", ".join(f"#{i} ({values[i]:.2f})" for i in pictures.most_active(values))


def show_activations(explainer, reading: Reading) -> None:
    """Every block's output for this input, two blocks a row (flatten boxes left out: they
    only rearrange the numbers)."""
    configs = layer_configs(explainer)
    shown = [b for b in blocks_of(explainer) if b.category not in ("flatten",)]
    shown = [b for b in shown if len(b.shape) in (1, 3)]
    for start in range(0, len(shown), 2):
        for column, block in zip(st.columns(2, gap="large"), shown[start : start + 2]):
            with column:
                show_block_output(block, reading.output(block), configs, reading)


def method_caption(method: str) -> str:
    from mnist_core.explain import METHOD_NAMES, OCCLUSION_PATCH

    sentence = METHOD_SENTENCES.get(method, "").format(patch=OCCLUSION_PATCH)
    return f"**{METHOD_NAMES.get(method, method)}**: {sentence}"


def faithfulness_sentence(reasons: Reasons, probability: float) -> str:
    """One sentence: what blacking out the pixels each map marks first does to the answer,
    compared with blacking out the brightest pixels."""
    n, t = FAITHFUL_PIXELS, reasons.target
    drops = [f"{pictures.percent(p)} ({method_name(m)})" for m, p in reasons.after.items()]
    listed = drops[0] if len(drops) == 1 else ", ".join(drops[:-1]) + " or " + drops[-1]
    return (
        f"Blacking out the {n} pixels a map marks first changes the model's confidence in "
        f"{t} from {pictures.percent(probability)} to {listed}; blacking out the {n} "
        f"brightest pixels instead leaves {pictures.percent(reasons.ink_after)}."
    )


def method_name(method: str) -> str:
    """The method's name inside a sentence: "integrated gradients", "Grad-CAM"."""
    from mnist_core.explain import METHOD_NAMES

    name = METHOD_NAMES.get(method, method)
    return name if any(c.isupper() for c in name[1:]) else name[:1].lower() + name[1:]


def show_legend(target: int) -> None:
    st.html(pictures.legend_html(target))


BLANK_SAYS_ALREADY = 0.5  # a black picture's probability for the target above which IG says little


def show_reasons(
    explainer, key: ModelKey, x28: np.ndarray, target: int, probabilities: np.ndarray
) -> None:
    """The saliency maps for `target` side by side, each with its one-line description, the
    faithfulness sentence, and the deletion curves folded away."""
    found = reasons(explainer, key, x28, target)
    columns = st.columns(max(len(found.maps), 3))
    for column, (method, smap) in zip(columns, found.maps.items()):
        with column:
            st.image(pictures.saliency_overlay(x28, smap, INPUT_SCALE))
            st.caption(method_caption(method))
    if explainer.networks > 1:
        st.caption(
            f"These maps explain the answer of all {explainer.networks} networks together "
            "(their average). Grad-CAM is left out: it reads one network's feature maps."
        )
    predicted, probability = int(probabilities.argmax()), float(probabilities[target])
    verdict = "its answer" if target == predicted else f"it answered {predicted}"
    st.markdown(
        f"The model gives **{target}** a probability of {pictures.percent(probability)} "
        f"({verdict}). " + faithfulness_sentence(found, probability)
    )
    blank = float(explainer.probabilities(np.zeros((28, 28), np.float32))[target])
    if blank >= BLANK_SAYS_ALREADY and "integrated-gradients" in found.maps:
        # Integrated gradients explain the change from a black picture; when black alone
        # already reads as the target, there is little change to explain (the shipped
        # model reads a black picture as 1), and a near-empty map would mislead.
        model = "model" if explainer.networks > 1 else "network"
        st.info(
            f"This {model} already says **{target}** for an empty black picture "
            f"({pictures.percent(blank)}), so integrated gradients, which start from black, "
            "find little to explain here. The occlusion map asks the question another way."
        )
    # Built only when opened (a rerun on opening): the curves and their chart cost more
    # than the rest of the tab.
    box = st.expander(
        "How faithful is each map? The deletion test", key="inside_deletion_open", on_change="rerun"
    )
    if box.open:
        with box:
            tests = deletions(explainer, key, x28, target)
            step = next(iter(tests.values())).step
            st.caption(
                f"Pixels are blacked out {step} at a time in the order each map ranks them, "
                "and the model is asked again. A map that found what the answer depends on "
                "drops the curve fast: a small area under it. The dotted line blacks out the "
                "brightest ink first, without asking the model. Areas: "
                + ", ".join(f"{name} {test.auc:.2f}" for name, test in tests.items())
                + "."
            )
            st.plotly_chart(
                pictures.deletion_figure(
                    {name: test.curve for name, test in tests.items()}, step, target
                ),
                key="inside_deletion",
                config={"displayModeBar": False},
            )


def robust_scale(values: np.ndarray) -> float:
    """A colour scale's end for weights: their 99th percentile of magnitude, so that a few
    large weights do not leave all the others pale."""
    top = float(np.percentile(np.abs(values), 99)) if np.size(values) else 0.0
    return top if top > 0 else 1.0


def show_weights(explainer, run: runs.Run) -> None:
    """What the first layer looks for: each neuron's 784 weights as a 28x28 template (a
    dense first layer) or each filter (a convolution); then "watch it learn", the same
    pictures before training and after each epoch when the run kept them, or one sentence
    saying it did not."""
    first = explainer.first_layer()
    if first is None:
        st.info("This network's first layer has no weights that can be drawn as pictures.")
        return
    if first.kind == "dense":
        st.markdown(
            f"Each of the {len(first.images)} neurons of the first layer weighs all 784 pixels. "
            "Drawn as a 28×28 picture, its weights show what it looks for: **red** pixels add "
            "to its sum when they hold ink, **blue** ones take away."
        )
    else:
        kh, kw = first.images.shape[1:]
        st.markdown(
            f"Each of the {len(first.images)} filters of the first convolution is a {kh}×{kw} "
            "patch of weights slid over the picture: where the ink under it matches its "
            "**red** part (and avoids the **blue**), it answers strongly."
        )
    snapshots = weight_snapshots(run)
    if snapshots is None or len(snapshots.epochs) == 0:
        picture, note = maps_picture(
            first.images, signed=True, vmax=robust_scale(first.images), width=WEIGHTS_WIDTH
        )
        st.image(picture, caption=f"The first layer ({first.layer}){note}")
        st.subheader("Watch it learn")
        st.info(NO_SNAPSHOTS, icon=":material/movie_off:")
        return
    st.subheader("Watch it learn")
    st.caption("Drag the slider: the same weights before training and after each epoch.")
    epochs = [int(e) for e in snapshots.epochs]
    chosen = st.select_slider(
        "Weights after",
        options=list(range(len(epochs))),
        value=len(epochs) - 1,
        format_func=lambda i: "before training" if epochs[i] == 0 else f"epoch {epochs[i]}",
        key=f"inside_snapshot_{run.id}",
    )
    images = np.asarray(snapshots.images, np.float32)
    # One scale for every epoch, so that what changes shows.
    picture, note = maps_picture(
        images[chosen], signed=True, vmax=robust_scale(images), width=WEIGHTS_WIDTH
    )
    when = "before training" if epochs[chosen] == 0 else f"after epoch {epochs[chosen]}"
    shown = (
        f" (the first {images.shape[1]} of {len(first.images)})"
        if images.shape[1] < len(first.images)
        else note
    )
    st.image(picture, caption=f"The first layer ({snapshots.layer}) {when}{shown}")
