"""Shared fixtures: the local MNIST mirror when there is one, and a tiny trained model.

Tests never train a real network: the tiny model below trains for one epoch on 1,000
images (a few seconds) and is shared by every test of the session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MIRROR = ROOT.parent / "shared" / "data" / "mnist"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Use the local mirror beside the checkout when there is one (saves a download); a clone
# without it fetches MNIST by itself, which tests/test_data.py proves separately.
if "MNIST_DATA_DIR" not in os.environ and SHARED_MIRROR.is_dir():
    os.environ["MNIST_DATA_DIR"] = str(SHARED_MIRROR)


@pytest.fixture(scope="session")
def mnist():
    from mnist_core.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory, mnist):
    """A models directory holding one quickly trained run called "default"."""
    from mnist_core.training import TrainConfig, train

    models = tmp_path_factory.mktemp("models")
    train(TrainConfig("seed-mlp-dropout", epochs=1, train_limit=1000, test_limit=500, val_fraction=0.1),
          models_dir=models, data=mnist, run_id="default")
    return models


@pytest.fixture
def models_env(tiny_models_dir, monkeypatch):
    """Point MNIST_MODELS_DIR at the tiny models directory for the duration of a test."""
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tiny_models_dir))
    return tiny_models_dir
