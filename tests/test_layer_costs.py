"""mnist_core.layer_costs: shapes, parameters and multiply-adds worked out by hand agree with
the Keras model the same spec builds (shapes and count_params) and with arithmetic."""

from __future__ import annotations

import pytest

from mnist_core import specs
from mnist_core.errors import SpecError
from mnist_core.layer_costs import trace

CASES = {
    "strided same-padded conv and pools with strides": [
        {"type": "Conv2D", "filters": 5, "kernel_size": 3, "strides": 2, "padding": "same"},
        {"type": "MaxPooling2D", "pool_size": 3, "strides": 1},
        {"type": "AveragePooling2D", "pool_size": [2, 3], "padding": "same"},
        {"type": "BatchNormalization"},
        {"type": "GlobalAveragePooling2D"},
    ],
    "non-square kernel, no bias, batch norm on numbers": [
        {"type": "Conv2D", "filters": 7, "kernel_size": [5, 3], "use_bias": False},
        {"type": "GlobalMaxPooling2D"},
        {"type": "Dense", "units": 9, "activation": "gelu"},
        {"type": "BatchNormalization", "momentum": 0.5},
        {"type": "Activation", "activation": "tanh"},
    ],
    "maps left at the end": [{"type": "Conv2D", "filters": 3, "kernel_size": 28}],
}


@pytest.mark.parametrize("layers", CASES.values(), ids=CASES.keys())
def test_shapes_and_parameters_agree_with_keras(layers):
    spec = specs.check({"layers": layers})
    model = specs.build_model(spec)
    costs = spec.costs()
    assert [c.shape for c in costs] == [tuple(layer.output.shape[1:]) for layer in model.layers[1:]]
    assert [c.params for c in costs] == [layer.count_params() for layer in model.layers[1:]]
    assert [c.kind for c in costs] == [type(layer).__name__ for layer in model.layers[1:]]


def test_multiply_adds_are_the_dense_and_conv_products():
    costs = trace(
        [
            {"type": "Conv2D", "filters": 4, "kernel_size": 3},  # 26x26x4, 3*3*1*4 per pixel
            {"type": "Flatten"},
            {"type": "Dense", "units": 10},
        ]
    )
    assert [c.madds for c in costs] == [26 * 26 * 9 * 4, 0, 26 * 26 * 4 * 10]
    assert [c.name for c in costs] == ["layer 1", "layer 2", "layer 3"]


def test_what_the_project_adds_is_marked():
    costs = specs.check({"layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3}]}).costs()
    assert [(c.kind, c.added) for c in costs] == [
        ("Conv2D", False),
        ("Flatten", True),
        ("Dense", True),
    ]
    assert costs[-1].name == "added Dense" and costs[-1].activation == "softmax"


def test_a_layer_that_cannot_take_its_input_names_itself():
    with pytest.raises(
        SpecError, match=r"^Layer 3 \(MaxPooling2D\): the 2×2 pool is larger than the 1×1 map"
    ):
        trace(
            [
                {"type": "Conv2D", "filters": 2, "kernel_size": 28},
                {"type": "Activation", "activation": "relu"},
                {"type": "MaxPooling2D", "pool_size": 2},
            ]
        )
