"""MNIST Studio's machine learning core: data, models, training, evaluation, inference.

Importing the package is cheap: TensorFlow is only imported by the modules that need it
(presets, training, inference), so the CLI and the app start fast and `data`,
`preprocess`, `evaluation`, `runs` and `figures` work without touching Keras.
"""

import os

__version__ = "0.1.0"

# TensorFlow's C++ INFO and WARNING lines (CPU features, converter passes) would fill a
# server's terminal; errors still show. A value set by the user wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
