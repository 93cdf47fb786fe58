"""A run's model to take away, from the Evaluate page: the Keras file, the TensorFlow
SavedModel as a zip (for TF Serving), the LiteRT flatbuffer, and the metrics table.

Files are made when the button is clicked (Streamlit's deferred download data), in memory.
In the hosted demo a file over DEMO_MAX_DOWNLOAD_MB is not offered, and the SavedModel is
not built at all (TensorFlow writes it to a temporary folder first; the demo writes nothing).
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

from mnist_core import runs
from mnist_core.export import saved_model_zip  # TensorFlow only when a zip is made
from pages import shared

DEMO_MAX_DOWNLOAD_MB = 5  # the largest file the hosted demo serves (memory and bandwidth)


def tflite_bytes(model_path: Path) -> bytes:
    """The run's model.tflite, or (a run made before those were kept, or one whose kept file
    is older than its model: `inference.kept_tflite`) a conversion in memory."""
    from mnist_core.inference import kept_tflite, load_model

    kept = kept_tflite(model_path)
    if kept is not None:
        return kept.read_bytes()
    from mnist_core.keras_model import to_tflite

    return to_tflite(load_model(model_path))


def _too_big_for_the_demo(path: Path) -> bool:
    return shared.demo_mode() and path.stat().st_size > DEMO_MAX_DOWNLOAD_MB * 1024 * 1024


def _button(column, label: str, data, file_name: str, key: str, help: str) -> None:
    column.download_button(
        label,
        data=data,
        file_name=file_name,
        mime="application/octet-stream",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        help=help,
    )


def downloads(run: runs.Run, metrics_csv: str) -> None:
    """The four download buttons, or for each file the demo does not serve, why not."""
    st.subheader("Downloads")
    path, demo = run.model_path, shared.demo_mode()
    keras_col, saved_col, tflite_col, csv_col = st.columns(4)
    not_here = f"Not in this demo: the file is over {DEMO_MAX_DOWNLOAD_MB} MB."
    if _too_big_for_the_demo(path):
        keras_col.caption(f"Model file (.keras): {not_here}")
    else:
        _button(
            keras_col,
            "Model file (.keras)",
            path.read_bytes,
            f"mnist-{run.id}.keras",
            "evaluate_download_model",
            "Keras 3's own format: `keras.models.load_model(...)` reads it.",
        )
    if demo:
        saved_col.caption(
            "SavedModel (.zip): not in this demo, which writes no files (TensorFlow builds a "
            "SavedModel in a folder). Locally: `python -m mnist_core export RUN`."
        )
    else:
        _button(
            saved_col,
            "SavedModel (.zip)",
            functools.partial(saved_model_zip, path),
            f"mnist-{run.id}-saved_model.zip",
            "evaluate_download_saved_model",
            "TensorFlow's SavedModel (signature `serve`) for TF Serving; made when you "
            "click, which takes a few seconds.",
        )
    kept = runs.tflite_of(path)
    if kept is not None and kept.is_file() and _too_big_for_the_demo(kept):
        tflite_col.caption(f"LiteRT model (.tflite): {not_here}")
    else:
        _button(
            tflite_col,
            "LiteRT model (.tflite)",
            functools.partial(tflite_bytes, path),
            f"mnist-{run.id}.tflite",
            "evaluate_download_tflite",
            "The flatbuffer the app predicts with (LiteRT, formerly TensorFlow Lite), "
            "float32 as trained.",
        )
    csv_col.download_button(
        "Metrics table (.csv)",
        data=metrics_csv,
        file_name=f"mnist-{run.id}-metrics.csv",
        mime="text/csv",
        key="evaluate_download_metrics",
        on_click="ignore",
        icon=":material/download:",
    )
