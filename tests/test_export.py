"""mnist_core.export: the SavedModel zipped in memory for a download (export_run itself is
tested through the CLI, tests/test_cli.py)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from mnist_core.errors import ModelError
from mnist_core.export import saved_model_zip


def test_the_zip_is_a_savedmodel_that_predicts_as_the_keras_file(models_env, mnist, tmp_path):
    import keras
    import tensorflow as tf

    model_path = models_env / "default" / "model.keras"
    data = saved_model_zip(model_path)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "saved_model/saved_model.pb" in names
        assert any(n.startswith("saved_model/variables/") for n in names)
        archive.extractall(tmp_path)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    x = mnist.x_test[:16].astype(np.float32)[..., None] / 255.0
    served = loaded.signatures["serve"](tf.constant(x))
    [out] = served.values()
    expected = keras.models.load_model(model_path).predict(x, verbose=0)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def test_a_damaged_model_file_is_one_error(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        saved_model_zip(bad)
