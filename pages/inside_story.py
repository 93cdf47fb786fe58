"""The guided story of the Inside page: a walk in plain words through what the visitor's own
network does with their own digit, one step at a time, each step beside the live picture it
talks about. Formulas are folded away; nothing here needs maths to follow.

`show_story(story)` draws the current step with Back and Next; the step number lives in
st.session_state[STEP_KEY] (kept when the input or the model changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from mnist_core import runs
from pages import curves, explorer
from pages import inside_figures as pictures
from pages import inside_views as views

STEP_KEY = "inside_step"


@dataclass(frozen=True)
class Story:
    """What the story talks about: the run, its Explainer, the input (float32 (28, 28) in
    [0, 1]), what the visitor calls it ("your drawing", "test image 12") and its Reading."""

    run: runs.Run
    explainer: object
    x28: np.ndarray
    what: str
    reading: views.Reading

    @property
    def blocks(self) -> list[pictures.Block]:
        return views.blocks_of(self.explainer)

    @property
    def configs(self) -> dict:
        return views.layer_configs(self.explainer)

    def first_weighted(self) -> pictures.Block | None:
        return next((b for b in self.blocks if b.category in ("conv", "dense", "output")), None)


# --------------------------------------------------------------------------- the steps


def _pixels(story: Story) -> None:
    st.markdown(
        f"A computer does not see a picture: it sees numbers. {story.what.capitalize()} is "
        "cut into 28 × 28 = **784 pixels**, and each pixel becomes one number, from **0** "
        "(black, no ink) to **255** (white, full ink). On the right are the numbers of the "
        "rows and columns that hold ink; all the others are 0."
    )
    st.markdown(
        "Before the network sees them, each number is divided by 255, so they run from 0 "
        "to 1. That list of 784 numbers is all the network ever gets."
    )


def _pixels_picture(story: Story) -> None:
    st.html(pictures.pixel_table_html(story.x28))


def _weigh(story: Story) -> None:
    first = story.first_weighted()
    if first is not None and first.category == "conv":
        kh, kw = pictures.pair(story.configs.get(first.main.name, {}).get("kernel_size", 3))
        st.markdown(
            "The first layer of this network is a **convolution**. Each of its filters is a "
            f"small {kh} × {kw} patch of weights that slides over the picture. At each place "
            f"it multiplies the {kh * kw} pixels under it by its weights and **adds them up**: "
            "big where the ink matches the filter's red part."
        )
        st.markdown(
            "One filter slid over the whole picture gives a new, smaller picture: a **feature "
            "map**, bright where that filter found its pattern. On the right: the filter that "
            "answered most strongly overall, and its map for your digit."
        )
    else:
        st.markdown(
            "Each neuron of the first layer has **784 weights**, one per pixel. It multiplies "
            "every pixel by its weight and **adds it all up** (plus a constant of its own). "
            "Red weights add where there is ink, blue ones take away."
        )
        st.markdown(
            "Drawn as a 28 × 28 picture, a neuron's weights show what it looks for. On the "
            "right: the neuron your digit excites most, the ink it weighs, and its sum."
        )
    n = kh * kw if first is not None and first.category == "conv" else 784
    with st.expander("The formula"):
        st.latex(rf"\text{{sum}} = w_1 x_1 + w_2 x_2 + \dots + w_{{{n}}} x_{{{n}}} + b")
        st.caption("x: the pixels, w: the weights, b: a constant of its own (the bias).")


def _weigh_picture(story: Story) -> None:
    first = story.explainer.first_layer()
    block = story.first_weighted()
    if first is None or block is None:
        st.info("This network's first layer cannot be drawn as pictures.")
        return
    values = story.reading.output(block)
    if first.kind == "conv":
        # The filter most active over the whole picture: its map shows the digit's shape.
        k = int(values.reshape(-1, values.shape[-1]).mean(axis=0).argmax())
        left, right = st.columns(2)
        left.image(
            pictures.mosaic(
                first.images[k : k + 1], 1, max(1, 112 // first.images.shape[1]), signed=True
            )
        )
        left.caption(f"Filter {k}: its weights")
        right.image(pictures.mosaic(values[..., k][None], 1, max(1, 112 // values.shape[0])))
        right.caption(f"Its feature map for {story.what}")
        return
    k = int(values.argmax())
    template = first.images[k]
    weighed = template * story.x28
    cols = st.columns(3)
    cols[0].image(pictures.mosaic(template[None], 1, 4, signed=True))
    cols[0].caption(f"Neuron {k}: its weights")
    cols[1].image(explorer.enlarge(story.x28, 4))
    cols[1].caption(story.what.capitalize())
    vmax = float(np.abs(weighed).max()) or 1.0
    cols[2].image(pictures.mosaic(weighed[None], 1, 4, signed=True, vmax=vmax))
    cols[2].caption(f"Weights × ink · its output: {values[k]:.2f}")


def _activate(story: Story) -> None:
    block = story.first_weighted()
    name = _activation_of(block) if block else None
    if name == "relu":
        st.markdown(
            "The sum then goes through an **activation**. This network uses **ReLU**: a "
            "positive sum passes unchanged, a negative one becomes 0. A neuron at 0 is "
            "**silent**: what it looks for is not in this picture."
        )
    elif name == "sigmoid":
        st.markdown(
            "The sum then goes through an **activation**. This network uses the **sigmoid**: "
            "it squeezes any sum into 0 to 1, near 1 for a big sum and near 0 for a very "
            "negative one: how sure the neuron is that it found its pattern."
        )
    else:
        st.markdown(
            "The sum then goes through an **activation**, a simple bend that keeps the useful "
            "part of it. Without one, stacking layers would add nothing: many sums in a row "
            "are still just one sum."
        )
    if block is not None:
        values = story.reading.output(block)
        silent = int((values <= 0).sum()) if name == "relu" else None
        unit = "numbers in its feature maps" if values.ndim == 3 else "neurons"
        if silent is not None:
            st.markdown(
                f"For {story.what}, **{silent:,} of the {values.size:,}** {unit} of the first "
                "layer are 0."
            )
    st.markdown(
        "Why bother? Because of this bend, layers stacked on each other can learn "
        "shapes that no single sum could describe."
    )


def _activation_of(block: pictures.Block) -> str | None:
    names = [i.activation for i in block.layers if i.activation and i.activation != "linear"]
    return names[0] if names else None


def _activate_picture(story: Story) -> None:
    block = story.first_weighted()
    if block is None:
        return
    curve = pictures.activation_curve_svg(_activation_of(block))
    if curve:
        st.image(curve)
        st.caption(
            f"{pictures.ACTIVATION_WORDS.get(_activation_of(block), '')}: sum in, output out"
        )
    values = story.reading.output(block)
    if values.ndim == 1:
        st.image(pictures.neuron_strip_svg(values))
        st.caption(f"The first layer's neurons for {story.what} (black: silent).")
    else:
        picture, _ = views.maps_picture(np.transpose(values, (2, 0, 1))[:16])
        st.image(picture)
        st.caption("The first 16 feature maps after the activation (black: silent).")


def _layers(story: Story) -> None:
    hidden = [b for b in story.blocks if b.category in ("conv", "dense")]
    st.markdown(
        f"This network has **{len(hidden)} hidden layers** between your picture and the "
        "answer. Each takes the previous layer's outputs as its input and does the same "
        "thing again: weigh, add up, activate."
    )
    if any(b.category == "conv" for b in hidden):
        st.markdown(
            "The first convolutions find **simple strokes**: edges, bits of line at one "
            "angle. The deeper ones look at the first ones' maps, so they find **shapes made "
            "of strokes**: a loop, a corner, the crossing of a 4. Their maps get smaller and "
            "more numerous as they go."
        )
    else:
        st.markdown(
            "The first layer's neurons respond to **bits of strokes** in certain places; the "
            "next layers combine them into **larger shapes**: this loop with that bar."
        )
    st.markdown(
        "Nobody told the network what to look for: it found these patterns itself, while learning."
    )


def _layers_picture(story: Story) -> None:
    hidden = [b for b in story.blocks if b.category in ("conv", "dense")]
    chosen = hidden[:1] + hidden[-1:] if len(hidden) > 1 else hidden
    for block, label in zip(chosen, ("Early", "Deeper")):
        values = story.reading.output(block)
        title, what, _ = pictures.block_words(block, story.configs)
        st.markdown(f"**{label}: {title.lower()}**, {what}")
        if values.ndim == 3:
            picture, _ = views.maps_picture(np.transpose(values, (2, 0, 1)))
            st.image(picture)
        else:
            st.image(pictures.neuron_strip_svg(values))


def _networks(story: Story) -> int:
    """How many networks the model averages (1: one network)."""
    return story.explainer.networks


def _scores(story: Story) -> None:
    if _networks(story) > 1:
        top = int(_score_values(story).argmax())
        st.markdown(
            "The last layer has **ten neurons, one per digit**. Each adds up the previous "
            "layer's outputs with its own weights: its sum is a **score** for its digit. On "
            f"the right, the first network's scores: for {story.what}, its highest is "
            f"digit **{top}**. Each of the model's {_networks(story)} networks gives its "
            "own ten scores."
        )
    else:
        st.markdown(
            "The last layer has **ten neurons, one per digit**. Each adds up the previous "
            "layer's outputs with its own weights: its sum is a **score** for its digit. The "
            f"highest score wins: for {story.what}, digit **{story.reading.digit}**."
        )
    if story.explainer.output_kind == "scores":
        st.markdown(
            "This network squeezes each score into 0 to 1 with a sigmoid before it gives "
            "them out: the bars are those ten outputs."
        )
    else:
        st.markdown("Scores can be any number, negative too: only how they compare matters.")
    if story.explainer.output_kind == "probabilities":
        with st.expander("Where these scores come from"):
            st.caption(
                "This network applies softmax inside its last layer, so the page recovers "
                "the scores from its probabilities (the logarithm). Softmax does not change "
                "when every score moves by the same amount, so the scores are centred on 0."
            )


def _score_values(story: Story) -> np.ndarray:
    """The ten scores before softmax: the outputs themselves for a network that gives scores,
    else the logarithm of the probabilities (softmax's inverse, up to a shift), centred. For
    a model that averages several networks, the first network's (its last layer's output;
    the averaged probabilities are no one network's)."""
    last = story.reading.activations[-1][1].astype(np.float64)
    if story.explainer.output_kind != "probabilities":
        return last
    own = last if _networks(story) > 1 else story.reading.probabilities.astype(np.float64)
    logs = np.log(np.clip(own, 1e-30, 1.0))
    return logs - logs.mean()


def _scores_picture(story: Story) -> None:
    values = _score_values(story)
    if _networks(story) > 1:
        highlight, title = int(values.argmax()), "The first network's ten scores"
    else:
        highlight, title = story.reading.digit, "The ten scores"
    st.plotly_chart(
        pictures.score_bars(values, highlight, title, percent_axis=False),
        key="inside_story_scores",
        config={"displayModeBar": False},
    )


def _softmax(story: Story) -> None:
    p = story.reading.probabilities
    digit = story.reading.digit
    runner_up = int(np.argsort(-p)[1])
    if story.explainer.output_kind == "scores":
        st.markdown(
            "This network's last layer squeezes each score into 0 to 1 (a sigmoid). To read "
            "them as probabilities that add up to 100%, the app divides each by their total."
        )
    else:
        st.markdown(
            "**Softmax** turns the ten scores into ten **probabilities** that add up to 100%. "
            "It exaggerates the differences: a score a little higher than the others takes "
            "most of the vote."
        )
    if _networks(story) > 1 and story.explainer.output_kind == "scores":
        st.markdown(
            f"This model has **{_networks(story)} networks**: it averages their ten outputs, "
            "digit by digit, before the total divides them."
        )
    elif _networks(story) > 1:
        st.markdown(
            f"This model has **{_networks(story)} networks** that each do this; it then "
            "averages their probabilities, digit by digit. The bars on the right are that "
            "average."
        )
    st.markdown(
        f"For {story.what}: **{digit}** with {pictures.percent(float(p[digit]))}; the runner-up "
        f"is {runner_up} with {pictures.percent(float(p[runner_up]))}. This is what the Draw "
        "page shows as its answer and its confidence."
    )
    with st.expander("The formula"):
        if story.explainer.output_kind == "scores":
            st.latex(r"p_k = \frac{s_k}{s_0 + s_1 + \dots + s_9}")
            st.caption("s: the ten outputs; p: the probabilities.")
        else:
            st.latex(r"p_k = \frac{e^{s_k}}{e^{s_0} + e^{s_1} + \dots + e^{s_9}}")
            st.caption("s: the ten scores; p: the probabilities; e ≈ 2.718.")


def _softmax_picture(story: Story) -> None:
    st.plotly_chart(
        pictures.score_bars(
            story.reading.probabilities,
            story.reading.digit,
            "The ten probabilities",
            percent_axis=True,
        ),
        key="inside_story_probabilities",
        config={"displayModeBar": False},
    )


def _learning(story: Story) -> None:
    st.markdown(
        "Where do the weights come from? At first they are **random**, and so are the "
        "answers. During training the network reads thousands of labelled pictures; for "
        "each, the **loss** says how wrong it was (small when it gave the right digit a "
        "high probability)."
    )
    st.markdown(
        "The **gradient** says, for every weight, which way would make the loss grow; "
        "training moves each weight **a small step the other way**, batch after batch. One "
        "pass over all the training pictures is an **epoch**."
    )
    st.markdown(
        "Watch the two lines on the right: the **training** pictures and the held-out "
        "**validation** ones it never learns from. When training keeps getting better but "
        "validation stops or gets worse, the network is learning its training pictures by "
        "heart instead of digits: **overfitting**."
    )
    with st.expander("The formula"):
        st.latex(r"\text{loss} = -\log p_{\text{true digit}}")
        st.latex(r"w \leftarrow w - \eta \, \frac{\partial\, \text{loss}}{\partial w}")
        st.caption("η: the learning rate, the size of each step.")


def _learning_picture(story: Story) -> None:
    history = runs.read_history(story.run.path)
    if not history:
        st.info("This model was saved without its training history, so there are no curves.")
        return
    st.plotly_chart(
        curves.learning_curves(history, steps=runs.read_steps(story.run.path)),
        key="inside_story_curves",
        config={"displayModeBar": False},
    )
    last = history[-1]
    gap = last.get("accuracy", np.nan) - last.get("val_accuracy", np.nan)
    if np.isfinite(gap):
        st.caption(
            f"After its last epoch: {last['accuracy']:.1%} of the training pictures right, "
            f"{last['val_accuracy']:.1%} of the validation ones"
            + (": a gap worth watching." if gap > 0.02 else ": little sign of overfitting.")
        )


STEPS: list[tuple[str, Callable, Callable]] = [
    ("Pixels become numbers", _pixels, _pixels_picture),
    ("Each neuron weighs them and adds up", _weigh, _weigh_picture),
    ("An activation keeps the useful part", _activate, _activate_picture),
    ("Layers build strokes into shapes", _layers, _layers_picture),
    ("The last layer gives ten scores", _scores, _scores_picture),
    ("Softmax turns scores into probabilities", _softmax, _softmax_picture),
    ("Learning: small steps against the mistakes", _learning, _learning_picture),
]


def _move(by: int) -> None:
    st.session_state[STEP_KEY] = min(max(st.session_state.get(STEP_KEY, 0) + by, 0), len(STEPS) - 1)


def show_story(story: Story) -> None:
    """The current step: its title, its words on the left, its live picture on the right,
    and Back / Next."""
    step = st.session_state.get(STEP_KEY, 0)
    step = step if isinstance(step, int) and 0 <= step < len(STEPS) else 0
    title, words, picture = STEPS[step]
    back, where, forward = st.columns([1, 4, 1], vertical_alignment="center")
    back.button(
        "Back",
        icon=":material/arrow_back:",
        on_click=_move,
        args=(-1,),
        disabled=step == 0,
        key="inside_story_back",
        width="stretch",
    )
    where.markdown(f"**Step {step + 1} of {len(STEPS)}** · {title}")
    forward.button(
        "Next",
        icon=":material/arrow_forward:",
        on_click=_move,
        args=(1,),
        disabled=step == len(STEPS) - 1,
        key="inside_story_next",
        width="stretch",
    )
    st.progress((step + 1) / len(STEPS))
    text, live = st.columns([1, 1], gap="large")
    with text:
        words(story)
    with live:
        picture(story)
