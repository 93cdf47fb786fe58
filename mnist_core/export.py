"""Export a run for serving: a TensorFlow SavedModel (TF Serving) and a `.tflite` file.

    exports/<run-id>/saved_model/   `model.export(...)`: signature `serve`, float32 (N, 28, 28, 1)
    exports/<run-id>/model.tflite   converted from that SavedModel

The export is built in a temporary folder beside the target and renamed into place, so an
interrupted export never leaves a folder that looks complete.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import paths, runs
from .errors import ModelError


def export_run(ref: str, out: Path | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Export the run `ref` (id or directory); returns the output folder."""
    import tensorflow as tf

    from .inference import load_model

    log = log or (lambda message: None)
    model_path = runs.resolve_model_path(ref)
    run_id = model_path.parent.name
    out = Path(out) if out else paths.PROJECT_ROOT / "exports" / run_id
    model = load_model(model_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        log(f"Writing SavedModel for {run_id}")
        model.export(str(staging / "saved_model"), format="tf_saved_model", verbose=False)
        log("Converting to TensorFlow Lite")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(staging / "saved_model"))
        (staging / "model.tflite").write_bytes(converter.convert())
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"Export of {run_id} failed: {type(exc).__name__}: {exc}") from exc
    return out


def saved_model_zip(model_path: Path) -> bytes:
    """The model file `model_path` as a TensorFlow SavedModel (signature `serve`, float32
    (N, 28, 28, 1) -> (N, 10)), zipped in memory: `saved_model/saved_model.pb`,
    `saved_model/variables/...`. Built in a temporary folder that is removed before
    returning (TensorFlow writes a SavedModel only to a folder). ModelError on failure."""
    import io
    import zipfile

    from .inference import load_model

    model = load_model(Path(model_path))
    with tempfile.TemporaryDirectory(prefix="mnist-savedmodel-") as folder:
        target = Path(folder) / "saved_model"
        try:
            model.export(str(target), format="tf_saved_model", verbose=False)
        except Exception as exc:
            raise ModelError(f"SavedModel export failed: {type(exc).__name__}: {exc}") from exc
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(target.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()
