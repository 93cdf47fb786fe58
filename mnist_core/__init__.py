"""MNIST Studio's machine learning core: data, models, training, evaluation, inference.

Importing the package is cheap: TensorFlow is only imported by the modules that need it
(presets, training, inference), so the CLI and the app start fast and `data`,
`preprocess`, `evaluation`, `runs` and `figures` work without touching Keras.
"""

__version__ = "0.1.0"
