"""The Train page's network editor: the layers as a list of small forms (add, remove, move,
edit), loaded from a preset, from scratch, from pasted JSON or from an earlier run.

State lives in st.session_state: `net_ids` (the layers' ids, in order), `net_types` (id ->
Keras type), each argument under the key `net_<id>_<argument>` (the widget's own key, so a
layer keeps its values when it moves), `net_output` (the output's activation) and
`net_origin` (the preset the network started from, None from scratch). Loading a network
must happen before the widgets are drawn: in a callback, or at the top of the page.

Streamlit forgets a widget's value when a run does not draw it (a visit to another page), so
`sync` keeps a copy of every value the editor and the Train form use in `net_kept` and puts
back what was forgotten, at the top of every run of the Train page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import streamlit as st

from mnist_core import specs

ADDABLE = list(specs.LAYER_ARGS)
ARGS_PER_ROW = 3  # argument fields side by side in a layer's box
NEW_LAYER = {  # the arguments a newly added layer starts with
    "Dense": {"units": 64, "activation": "relu"},
    "Conv2D": {"filters": 16, "kernel_size": 3, "activation": "relu"},
    "MaxPooling2D": {"pool_size": 2},
    "AveragePooling2D": {"pool_size": 2},
    "Dropout": {"rate": 0.25},
    "Activation": {"activation": "relu"},
}
DEFAULTS = {  # Keras' defaults: an argument left at it is not written into the JSON
    "strides": 1,
    "padding": "valid",
    "activation": "linear",
    "use_bias": True,
    "momentum": 0.99,
}
FORM_KEYS = (  # the Train form's widgets besides TRAINING_KEYS, kept the same way
    "train_preset",
    "train_val_pct",
    "train_warmup_pct",
    "train_patience",
    "train_seed",
    "train_quick",
    "train_quick_size",
    "net_add_type",
)
TRAINING_KEYS = {  # spec setting -> the Train form's widget key
    "epochs": "train_epochs",
    "batch_size": "train_batch_size",
    "learning_rate": "train_lr",
    "optimizer": "train_optimizer",
    "schedule": "train_schedule",
    "augment": "train_augment",
    "label_smoothing": "train_smoothing",
}

# Spec settings the Train form has no control for: kept as the network was loaded (a preset's
# changed copies, an ensemble's networks), so Start trains what the preset says.
KEPT_SETTINGS = ("corrupted_share", "members")


def _key(layer_id: int, arg: str) -> str:
    return f"net_{layer_id}_{arg}"


def _square(value: Any) -> Any:
    """[3, 3] -> 3: the editor shows square windows as one number."""
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    return value


# --------------------------------------------------------------------------- loading


def load(spec: specs.Spec, origin: str | None) -> None:
    """Put `spec` into the editor and its training settings into the Train form."""
    state = st.session_state
    for key in [k for k in state if isinstance(k, str) and re.match(r"net_\d+_", k)]:
        del state[key]
    state.net_ids, state.net_types = [], {}
    for layer in spec.layers:
        _append(layer)
    state.net_output, state.net_origin = spec.output_activation, origin
    for name, key in TRAINING_KEYS.items():
        state[key] = getattr(spec, name)
    state.train_val_pct = int(round(spec.val_fraction * 100))
    state.train_warmup_pct = int(round(spec.warmup_fraction * 100))
    state.train_patience = spec.patience or 0
    state.net_settings = {name: getattr(spec, name) for name in KEPT_SETTINGS}
    sync()


def _append(layer: dict[str, Any]) -> None:
    state = st.session_state
    layer_id = state.get("net_next", 0)
    state.net_next = layer_id + 1
    state.net_ids.append(layer_id)
    state.net_types[layer_id] = layer["type"]
    for arg in specs.LAYER_ARGS[layer["type"]]:
        value = _square(layer.get(arg, DEFAULTS.get(arg)))
        if arg == "strides" and layer["type"] != "Conv2D":
            value = _square(layer.get(arg))  # pooling: None, the pool's own size
        state[_key(layer_id, arg)] = value


def ensure_loaded(preset: str) -> None:
    if "net_ids" not in st.session_state:
        from mnist_core.presets import get_preset

        load(get_preset(preset).spec, preset)


def _kept_keys() -> list[str]:
    state = st.session_state
    keys = [*TRAINING_KEYS.values(), *FORM_KEYS]
    for layer_id in state.get("net_ids", []):
        keys += [_key(layer_id, arg) for arg in specs.LAYER_ARGS[state.net_types[layer_id]]]
    return keys


def sync() -> None:
    """Remember each value the page has; put back each one Streamlit forgot (see above)."""
    state = st.session_state
    kept = state.setdefault("net_kept", {})
    for key in _kept_keys():
        if key in state:
            kept[key] = state[key]
        elif key in kept:
            state[key] = kept[key]


# --------------------------------------------------------------------------- callbacks


def _add() -> None:
    kind = st.session_state.net_add_type
    _append({"type": kind, **NEW_LAYER.get(kind, {})})
    sync()


def _remove(layer_id: int) -> None:
    st.session_state.net_ids.remove(layer_id)


def _move(layer_id: int, step: int) -> None:
    ids = st.session_state.net_ids
    i = ids.index(layer_id)
    j = min(max(i + step, 0), len(ids) - 1)
    ids[i], ids[j] = ids[j], ids[i]


def _scratch() -> None:
    load(specs.check({"layers": []}), None)


def _paste() -> None:
    try:
        spec = specs.from_json(st.session_state.get("net_paste") or "")
    except specs.SpecError as exc:
        st.session_state.net_paste_error = str(exc)
        return
    load(spec, None)
    st.session_state.pop("net_paste_error", None)


# --------------------------------------------------------------------------- reading


def layers() -> list[dict[str, Any]]:
    """The layers as the editor holds them, in spec form (Keras' defaults left out)."""
    state, out = st.session_state, []
    for layer_id in state.get("net_ids", []):
        kind = state.net_types[layer_id]
        layer: dict[str, Any] = {"type": kind}
        for arg in specs.LAYER_ARGS[kind]:
            value = state.get(_key(layer_id, arg))
            required = arg in specs.REQUIRED.get(kind, ())
            if value is None or (not required and DEFAULTS.get(arg, object()) == value):
                continue
            layer[arg] = float(value) if arg in ("rate", "momentum") else value
        out.append(layer)
    return out


def raw_spec() -> dict[str, Any]:
    """The whole spec, unchecked: the layers and the Train form's settings."""
    state = st.session_state
    raw: dict[str, Any] = {"layers": layers(), "output_activation": state.get("net_output")}
    for name, key in TRAINING_KEYS.items():
        raw[name] = state.get(key)
    raw["val_fraction"] = state.get("train_val_pct", 10) / 100
    raw["warmup_fraction"] = state.get("train_warmup_pct", 0) / 100
    raw["patience"] = state.get("train_patience") or None
    raw.update(state.get("net_settings", {}))
    return raw


# --------------------------------------------------------------------------- drawing


def _arg_widget(layer_id: int, kind: str, arg: str) -> None:
    key, label = _key(layer_id, arg), arg.replace("_", " ")
    value = st.session_state.get(key)
    if arg in ("units", "filters", "kernel_size", "pool_size") or (
        arg == "strides" and kind == "Conv2D"
    ):
        if isinstance(value, list):  # a window that is not square: kept, edited in the JSON
            st.caption(f"{label}: {value[0]}×{value[1]}")
            return
        high = specs.SIZE_LIMITS[arg]
        st.number_input(label, 1, high, step=1, key=key)
    elif arg == "strides":
        st.number_input(
            label, 1, 28, step=1, key=key, placeholder="= pool", help="Empty: the pool's size"
        )
    elif arg == "padding":
        st.selectbox(label, ["valid", "same"], key=key, help="same: keep the map's size")
    elif arg == "activation":
        st.selectbox(label, specs.ACTIVATIONS, key=key)
    elif arg == "use_bias":
        st.checkbox("bias", key=key)
    elif arg == "rate":
        st.number_input("dropout rate", 0.0, 0.95, step=0.05, key=key)
    elif arg == "momentum":
        st.number_input(label, 0.0, 0.999, step=0.01, key=key, format="%.3f")


def editor(costs: list | None, fault: tuple[int | None, str] | None) -> None:
    """The layer list. `costs`: specs.LayerCost of each layer when the network is sound;
    `fault`: (layer position or None, message) when it is not."""
    state = st.session_state
    ids = state.net_ids
    if not ids:
        st.info(
            "No hidden layers: the picture goes straight to the ten outputs (a linear "
            "classifier). Add layers below."
        )
    for position, layer_id in enumerate(ids, start=1):
        kind = state.net_types[layer_id]
        with st.container(border=True, key=f"net_layer_{layer_id}"):
            line = f"**{position} · {kind}**"
            if costs is not None:
                cost = costs[position - 1]
                line += f" → {'×'.join(map(str, cost.shape))} · {cost.params:,} parameters"
            st.markdown(line)
            args = specs.LAYER_ARGS[kind]
            for first in range(0, len(args), ARGS_PER_ROW):
                row = args[first : first + ARGS_PER_ROW]
                for column, arg in zip(st.columns(ARGS_PER_ROW), row, strict=False):
                    with column:
                        _arg_widget(layer_id, kind, arg)
            if fault is not None and fault[0] == position:
                st.error(fault[1], icon=":material/error:")
            with st.container(horizontal=True, gap="small"):
                st.button("Up", key=f"net_up_{layer_id}", on_click=_move, args=(layer_id, -1),
                          disabled=position == 1, icon=":material/arrow_upward:",
                          type="tertiary", help="Move this layer up")  # fmt: skip
                st.button("Down", key=f"net_down_{layer_id}", on_click=_move,
                          args=(layer_id, 1), disabled=position == len(ids),
                          icon=":material/arrow_downward:", type="tertiary",
                          help="Move this layer down")  # fmt: skip
                st.button("Remove", key=f"net_remove_{layer_id}", on_click=_remove,
                          args=(layer_id,), icon=":material/delete:", type="tertiary",
                          help="Remove this layer")  # fmt: skip
    add_type, add_button = st.columns([3, 1], vertical_alignment="bottom")
    add_type.selectbox("Layer to add at the end", ADDABLE, key="net_add_type")
    add_button.button("Add layer", key="net_add", on_click=_add, icon=":material/add:")
    st.caption(
        "The output, ten numbers one per digit, is added after your layers (with a Flatten "
        "first when your last layer still gives maps)."
    )


def json_tools(spec: specs.Spec | None, raw: dict[str, Any]) -> None:
    """The network as JSON: shown, downloadable, and a box to paste one into the editor."""
    text = spec.to_json(indent=2) if spec is not None else json.dumps(raw, indent=2)
    with st.expander("The network as JSON (copy, download or paste)"):
        st.code(text, language="json")
        st.download_button("Download network.json", text, file_name="network.json",
                           mime="application/json", key="net_download")  # fmt: skip
        st.text_area("Paste a network spec", key="net_paste", height=140,
                     placeholder='{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 64}]}')  # fmt: skip
        st.button("Use this JSON", key="net_paste_use", on_click=_paste)
        if "net_paste_error" in st.session_state:
            st.error(st.session_state.net_paste_error, icon=":material/error:")
