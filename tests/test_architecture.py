from __future__ import annotations

import pytest

from tuner.training.architecture import layer_plan, plan_counts

COURSE = {"conv_layers": 2, "filters": 64, "kernel_size": 3, "pooling": "every", "dense_units": 128}


def test_course_model_has_243786_parameters() -> None:
    plan = layer_plan(COURSE, (28, 28, 1), 10)
    assert [(layer.kind, layer.output_shape, layer.params) for layer in plan] == [
        ("Conv2D", (26, 26, 64), 640),
        ("MaxPooling2D", (13, 13, 64), 0),
        ("Conv2D", (11, 11, 64), 36928),
        ("MaxPooling2D", (5, 5, 64), 0),
        ("Flatten", (1600,), 0),
        ("Dense", (128,), 204928),
        ("Dense", (10,), 1290),
    ]
    assert plan_counts(plan) == {"conv_layers": 2, "pool_layers": 2, "dense_layers": 1, "params": 243786}


def test_pooling_last_and_per_layer_filters() -> None:
    plan = layer_plan({"conv_layers": 2, "filters_1": 16, "filters_2": 32, "pooling": "last"}, (28, 28, 1), 10)
    assert [layer.kind for layer in plan] == ["Conv2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert plan[0].args["filters"] == 16 and plan[1].args["filters"] == 32


def test_plan_refuses_a_model_that_shrinks_the_image_to_nothing() -> None:
    with pytest.raises(ValueError, match="leaves no pixels"):
        layer_plan({"conv_layers": 3, "kernel_size": 7}, (28, 28, 1), 10)


@pytest.mark.parametrize(
    "config",
    [
        COURSE,
        {"conv_layers": 1, "filters": 32, "kernel_size": 5, "dense_units": 64, "dropout": 0.2},
        {"conv_layers": 0, "dense_units": 128},
        {"conv_layers": 3, "filters_1": 16, "filters_2": 32, "filters_3": 64, "padding": "same", "pooling": "last"},
        {"conv_layers": 1, "filters": 64, "batch_norm": True, "dense_units": 512, "lr_schedule": "cosine"},
    ],
)
def test_plan_matches_the_built_keras_model(config: dict) -> None:
    from tuner.training.model import build_model, model_counts

    model = build_model(config, (28, 28, 1), 10)
    plan = layer_plan(config, (28, 28, 1), 10)
    assert model_counts(model) == plan_counts(plan)
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == [layer.output_shape for layer in plan]
