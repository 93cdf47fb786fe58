"""What a network in the editor will be and cost, before it trains: each layer's output shape,
parameters and multiply-adds, the seconds an epoch should take on this server, and the
network drawn as the Inside page draws it."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from mnist_core import estimate, specs
from pages import inside_figures as pictures
from pages import shared


@st.cache_resource(show_spinner="Timing a few training steps on this server…")
def calibration() -> estimate.Calibration:
    """Measured once per server process (about two seconds)."""
    return estimate.calibrate()


def check(raw: dict) -> tuple[specs.Spec | None, tuple[int | None, str] | None]:
    """(the checked spec, None), or (None, (the faulty layer's position or None, message))."""
    try:
        return specs.check(raw), None
    except specs.SpecError as exc:
        found = re.match(r"Layer (\d+)", str(exc))
        return None, (int(found[1]) if found else None, str(exc))


def _table(costs: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Layer": [f"{c.position} · {c.kind}" + (" (added)" if c.added else "") for c in costs],
            "Output": ["×".join(map(str, c.shape)) for c in costs],
            "Parameters": [c.params for c in costs],
            "Multiply-adds": [c.madds for c in costs],
        }
    )


def totals(spec: specs.Spec, train_images: int) -> None:
    """Parameters, multiply-adds and the estimated seconds per epoch, side by side. An
    ensemble's totals count all its networks, and a line says how many there are."""
    layer_costs, networks = spec.costs(), spec.members
    each_params = sum(c.params for c in layer_costs)
    each_madds = sum(c.madds for c in layer_costs)
    params, madds = networks * each_params, networks * each_madds
    val_images = round(train_images * spec.val_fraction)
    seconds = estimate.epoch_seconds(calibration(), spec, train_images - val_images, val_images)
    timed = (
        f"An estimate for {train_images:,} training images on this server, from a few "
        "training steps timed here once; other trainings and visitors can slow it down."
    )
    if networks > 1:
        whole = estimate.training_seconds(
            calibration(), spec, train_images - val_images, val_images
        )
        timed += (
            f" The {networks} networks train one after another, {spec.epochs} epochs each: "
            f"{networks * spec.epochs} epochs, about {shared.duration(whole)} in all."
        )
        st.caption(
            f"{networks} networks of these layers, their answers averaged: the totals count "
            "them all; the table and the drawing show one network."
        )
    cols = st.columns(3)
    cols[0].metric(
        "Parameters",
        f"{params:,}",
        help="The numbers the network learns."
        if networks == 1
        else f"The numbers the {networks} networks learn, {each_params:,} each.",
    )
    cols[1].metric(
        "Multiply-adds per image",
        f"{madds:,}",
        help="Arithmetic to read one picture (Dense and Conv2D layers)"
        + ("." if networks == 1 else f": {each_madds:,} in each of the {networks} networks."),
    )
    cols[2].metric(
        "Seconds per epoch (estimate)"
        if networks == 1
        else "Seconds per epoch of one network (estimate)",
        f"≈ {shared.duration(seconds)}" if seconds >= 1 else "under 1 s",
        help=timed,
    )


def table(spec: specs.Spec) -> None:
    """Each layer's output, parameters and multiply-adds."""
    st.dataframe(
        _table(spec.costs()),
        hide_index=True,
        key="net_costs",
        column_config={
            "Layer": st.column_config.TextColumn(help="Position · Keras type"),
            "Output": st.column_config.TextColumn(help="Height × width × maps, or numbers"),
            "Parameters": st.column_config.NumberColumn(format="localized", width="small"),
            "Multiply-adds": st.column_config.NumberColumn(format="localized", width="small"),
        },
    )


def diagram(spec: specs.Spec) -> None:
    """The network drawn as on the Inside page; an ensemble's one network, with the total of
    them all under it."""
    layer_costs = spec.costs()
    configs = {c.name: c.config for c in layer_costs}
    blocks = pictures.group_layers(layer_costs)
    if spec.members > 1:
        total = spec.members * sum(c.params for c in layer_costs)
        st.html(pictures.network_html(blocks, configs, spec.members, total))
    else:
        st.html(pictures.network_html(blocks, configs))
