"""The hardening fixtures (conftest: odd_models, odd_uploads) at the mnist_core level: every
awkward model file is refused in one line, every awkward picture read right or refused.

The app (tests/app) and the CLI (test_cli.py) are then fed the very same files; the general
tests of inference live in test_inference.py."""

from __future__ import annotations

import pytest

from mnist_core.errors import InputError, ModelError
from mnist_core.images import load_image
from mnist_core.inference import Predictor, load_model, predict_image


@pytest.mark.parametrize(
    "kind, message",
    [
        ("corrupt", "is not a Keras model file (damaged or not a zip)"),
        ("not-keras", "cannot be loaded"),
        ("wrong-input", "takes input (None, 32, 32, 3), but a 28x28 digit model needs"),
        ("wrong-output", "outputs (None, 5), but a digit classifier needs (None, 10)"),
        ("lambda", "is refused for safety: it contains a Lambda layer"),
    ],
)
def test_odd_model_files_are_refused_in_one_line(odd_models, kind, message):
    with pytest.raises(ModelError) as info:
        load_model(odd_models[kind])
    assert message in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_awkward_pictures_are_read_right_or_refused(shipped_models_dir, odd_uploads):
    """The shipped model on every awkward upload: the right digit, no digit, or InputError."""
    predictor = Predictor(load_model(shipped_models_dir / "default" / "model.keras"))
    for name, content, expected in odd_uploads:
        if expected == "error":
            with pytest.raises(InputError):
                load_image(content)
            continue
        prediction = predict_image(predictor, load_image(content))
        assert prediction.digit == expected, name
