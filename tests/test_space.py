from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tuner.errors import CnnTuneError
from tuner.space import builtin_spaces, load_space, parse_space
from tuner.training.architecture import layer_plan, plan_counts


def write(tmp_path: Path, data: dict | str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


BASE = {
    "dataset": "mnist",
    "params": {"conv_layers": 1, "filters": {"choice": [16, 32]}, "epochs": 5},
    "constraints": ["conv_layers == 1", "pool_layers == 1", "epochs <= 20"],
    "stop": {"metric": "accuracy", "threshold": 0.998},
}


def test_builtin_spaces_load_and_keep_their_own_constraints() -> None:
    assert {"exercise3", "course-cnn"} <= set(builtin_spaces())
    for name in builtin_spaces():
        space = load_space(name)
        for config in space.architectures():
            counts = plan_counts(layer_plan(config, (28, 28, 1), 10))
            assert all(rule.holds(counts[rule.quantity]) for rule in space.constraints if rule.quantity != "epochs")


def test_exercise3_declares_the_exercise() -> None:
    space = load_space("exercise3")
    assert space.dataset == "mnist"
    assert {str(c) for c in space.constraints} == {"conv_layers == 1", "pool_layers == 1", "epochs <= 20"}
    assert space.stop is not None and space.stop.metric == "accuracy" and space.stop.threshold == 0.998
    assert space.stop.message == "Reached 99.8% accuracy so cancelling training!"
    assert space.objective.name == "epochs_to_threshold"
    assert {p.name for p in space.searched} == {
        "filters",
        "kernel_size",
        "dense_units",
        "dropout",
        "learning_rate",
        "batch_size",
        "lr_schedule",
        "schedule_epochs",
        "batch_norm",
    }
    assert space.param("learning_rate").log
    assert str(space.param("schedule_epochs").when) == "lr_schedule != 'constant'"


def test_every_parameter_kind_parses(tmp_path: Path) -> None:
    data = dict(
        BASE,
        params={
            "conv_layers": {"int": [1, 3]},
            "filters": {"choice": [16, 32, 64], "per_layer": True},
            "dense_units": {"int": [64, 256], "step": 64},
            "dropout": {"float": [0.0, 0.5]},
            "learning_rate": {"float": [1e-4, 1e-2], "log": True},
            "kernel_size": {"choice": [3, 5], "when": "conv_layers <= 2"},
            "epochs": 10,
        },
        constraints=["conv_layers <= 3"],
    )
    space = load_space(write(tmp_path, data))
    kinds = {p.name: p.kind for p in space.params}
    assert kinds == {
        "conv_layers": "int",
        "filters_1": "choice",
        "filters_2": "choice",
        "filters_3": "choice",
        "dense_units": "int",
        "dropout": "float",
        "learning_rate": "float",
        "kernel_size": "choice",
        "epochs": "fixed",
    }
    assert space.param("filters_1").when is None
    assert str(space.param("filters_3").when) == "conv_layers >= 3"
    assert space.param("dense_units").values() == [64, 128, 192, 256]
    assert space.param("dropout").values() is None
    config = space.resolve(
        {
            "conv_layers": 2,
            "filters_1": 16,
            "filters_2": 64,
            "filters_3": 32,
            "dense_units": 64,
            "dropout": 0.1,
            "learning_rate": 1e-3,
            "kernel_size": 3,
        }
    )
    assert "filters_3" not in config and config["filters_2"] == 64 and config["kernel_size"] == 3
    config = space.resolve(
        {
            "conv_layers": 3,
            "filters_1": 16,
            "filters_2": 16,
            "filters_3": 32,
            "dense_units": 64,
            "dropout": 0.1,
            "learning_rate": 1e-3,
        }
    )
    assert config["filters_3"] == 32 and "kernel_size" not in config


def test_two_conv_layers_under_exercise_rules_are_refused(tmp_path: Path) -> None:
    data = dict(BASE, params={"conv_layers": {"choice": [1, 2]}, "filters": 32, "epochs": 5})
    path = write(tmp_path, data)
    with pytest.raises(
        CnnTuneError, match=r"space\.yaml: constraints: rule `conv_layers == 1` is broken.*conv_layers=2"
    ):
        load_space(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"params": {"filters": {"int": [64, 16]}}}, r"params\.filters: `low <= high` must hold, got low=64, high=16"),
        ({"params": {"learning_rate": {"float": [0.0, 0.1], "log": True}}}, r"log range must stay above 0"),
        ({"params": {"filters": {"choice": []}}}, r"`choice` must be a non-empty list"),
        ({"params": {"filterz": 32}}, r"unknown hyperparameter `filterz`; did you mean `filters`\?"),
        ({"params": {"dropout": 1.5}}, r"params\.dropout: must be below 1"),
        ({"params": {"pooling": "sometimes"}}, r"params\.pooling: must be one of every, last, none"),
        ({"params": {"epochs": 30}}, r"rule `epochs <= 20` is broken: params\.epochs can be 30"),
        ({"params": {"filters": [16, 32]}}, r"a list is ambiguous; write `\{choice"),
        ({"params": {"kernel_size": {"choice": [3], "when": "depth >= 2"}}}, r"`when` refers to `depth`"),
        ({"stop": {"metric": "f1", "threshold": 0.9}}, r"stop\.metric: the model does not report 'f1'"),
        ({"stop": {"metric": "accuracy", "threshold": 99.8}}, r"accuracy threshold lies in \(0, 1\]"),
        ({"objective": "speed"}, r"unknown objective 'speed'; choose from"),
        ({"constraints": ["convs <= 1"]}, r"unknown quantity `convs`"),
        ({"constraints": ["params <= 1000"]}, r"rule `params <= 1000` is broken"),
        ({"datset": "mnist"}, r"unknown key `datset`; did you mean `dataset`\?"),
        ({"search": {"start": [{"filter": 32}]}}, r"search\.start\[0\]: `filter` is not a parameter .* `filters`\?"),
        ({"search": {"start": [{"filters": 48}]}}, r"search\.start\[0\]\.filters: 48 is outside params\.filters"),
        ({"search": {"start": [{"conv_layers": 2}]}}, r"search\.start\[0\]\.conv_layers: 2 is outside"),
        ({"search": {"start": {"filters": 32}}}, r"search\.start: give a list of configurations"),
        ({"search": {"begin": []}}, r"search: the allowed keys are trials and start"),
        ({"params": {"conv_layers": 3, "kernel_size": 9}, "constraints": []}, r"cannot be built on 28x28x1 images"),
    ],
)
def test_bad_spaces_name_file_key_and_rule(tmp_path: Path, change: dict, message: str) -> None:
    data = {**BASE, **{k: v for k, v in change.items() if k != "params"}}
    if "params" in change:
        data["params"] = {**BASE["params"], **change["params"]}
    with pytest.raises(CnnTuneError, match=message) as info:
        load_space(write(tmp_path, data))
    assert str(tmp_path / "space.yaml") in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset: mnist\nparams: {filters: [16, 32\n")
    with pytest.raises(CnnTuneError, match=r"space\.yaml: YAML syntax error at line \d+"):
        load_space(path)


def test_space_files_are_never_executed(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset: !!python/object/apply:os.system ['echo pwned']\nparams: {filters: 32}\n")
    with pytest.raises(CnnTuneError, match="YAML"):
        load_space(path)


def test_unknown_space_suggests_builtin() -> None:
    with pytest.raises(CnnTuneError, match=r"space 'exercise' is neither .* did you mean 'exercise3'\?"):
        load_space("exercise")


def test_max_epochs_clips_every_epoch_value() -> None:
    space = load_space("course-cnn").with_max_epochs(7)
    assert space.param("epochs").choices == (5, 7)
    assert load_space("exercise3").with_max_epochs(3).max_epochs() == 3


def test_parse_space_without_stop_defaults_to_val_accuracy() -> None:
    space = parse_space({"dataset": "mnist", "params": {"filters": 8}}, source="inline")
    assert space.objective.name == "val_accuracy" and space.stop is None


def test_start_configurations_keep_searched_values_and_follow_set_and_max_epochs(tmp_path: Path) -> None:
    data = {
        **BASE,
        "params": {**BASE["params"], "kernel_size": {"choice": [3, 5]}, "epochs": {"choice": [5, 10]}},
        "search": {"start": [{"conv_layers": 1, "filters": 32, "epochs": 10}, {"filters": 16, "kernel_size": 5}]},
    }
    space = load_space(write(tmp_path, data))
    # conv_layers is fixed: only searched parameters are kept; the sampler fills in the rest.
    assert space.start == ({"filters": 32, "epochs": 10}, {"filters": 16, "kernel_size": 5})
    assert space.to_dict()["search"]["start"] == [{"filters": 32, "epochs": 10}, {"filters": 16, "kernel_size": 5}]
    # --set wins over a start entry; entries left empty or repeated are dropped.
    assert space.with_values({"filters": 16}).start == ({"epochs": 10}, {"kernel_size": 5})
    assert space.with_values({"filters": 16, "kernel_size": 5}).start == ({"epochs": 10},)
    assert space.with_max_epochs(7).start == ({"filters": 32, "epochs": 7}, {"filters": 16, "kernel_size": 5})
    assert space.without_start().start == ()


def test_exercise3_starts_from_a_cheap_configuration_then_the_courses_reference_answer() -> None:
    cheap, reference = load_space("exercise3").start
    course = {"filters": 32, "kernel_size": 3, "dense_units": 128, "dropout": 0.0, "learning_rate": 0.001}
    assert reference == {**course, "batch_size": 32, "lr_schedule": "constant", "batch_norm": False}
    assert cheap["batch_size"] == 128 and cheap["dropout"] == 0.0 and cheap["batch_norm"] is True
    assert cheap["lr_schedule"] == "cosine" and cheap["schedule_epochs"] == 3  # reports/exercise3-start.md
