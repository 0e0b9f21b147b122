"""Behaviour of the run spec: YAML round trips, overrides, keyword arguments and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainwise.errors import SpecError
from trainwise.spec import Spec, apply_overrides, dump_yaml, load_spec, parse_spec, spec_from_kwargs


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _spec_error(call, *args, **kwargs) -> str:
    with pytest.raises(SpecError) as info:
        call(*args, **kwargs)
    return str(info.value)


# --- YAML round trips ------------------------------------------------------------------------


def test_defaults_round_trip_through_yaml_file(tmp_path: Path) -> None:
    spec = Spec()
    path = _write(tmp_path, dump_yaml(spec))
    loaded = load_spec(path)
    assert loaded == spec
    # every section and every default is written out, not just the non-defaults
    raw = yaml.safe_load(path.read_text())
    assert list(raw) == ["data", "model", "train", "evaluate", "output", "tune"]
    assert raw["train"]["lr"] == pytest.approx(1e-3)
    assert raw["train"]["early_stopping"]["patience"] == 20
    assert raw["data"]["split"] == {
        "train": 0.7,
        "validation": 0.2,
        "test": 0.1,
        "stratify": True,
        "group": None,
        "seed": None,
    }


def test_non_default_spec_round_trips(tmp_path: Path) -> None:
    spec = spec_from_kwargs(
        data={
            "source": "table.csv",
            "target": ["a", "b"],
            "drop": ["name"],
            "kinds": {"zip": "categorical"},
            "split": {"train": 0.6, "validation": 0.2, "test": 0.2, "group": "user"},
        },
        lr=3e-4,
        hidden=[128, 64],
        min_lr=1e-20,
        clip_norm=1.5,
    )
    loaded = load_spec(_write(tmp_path, dump_yaml(spec)))
    assert loaded == spec
    assert loaded.train.schedule.min_lr == 1e-20
    assert loaded.data.target == ["a", "b"]


def test_empty_file_is_the_default_spec(tmp_path: Path) -> None:
    assert load_spec(_write(tmp_path, "")) == Spec()
    assert load_spec(_write(tmp_path, "# only a comment\n", "c.yaml")) == Spec()


def test_partial_file_keeps_other_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "train:\n  lr: 0.01\n  early_stopping:\n    patience: 3\n")
    spec = load_spec(path)
    assert spec.train.lr == 0.01
    assert spec.train.early_stopping.patience == 3
    assert spec.train.early_stopping.monitor == "val_loss"
    assert spec.model == Spec().model


# --- dotted overrides ------------------------------------------------------------------------


def test_overrides_parse_numbers_lists_booleans_and_null(tmp_path: Path) -> None:
    path = _write(tmp_path, "train:\n  lr: 0.01\noutput:\n  dir: somewhere\n")
    spec = load_spec(
        path,
        [
            "train.lr=3e-4",
            "model.hidden=[128,64]",
            "train.early_stopping.patience=5",
            "train.nesterov=true",
            "train.early_stopping.enabled=false",
            "output.dir=null",
            "train.clip_norm=2",
            "data.drop=[a, b]",
            "data.kinds={zip: categorical}",
        ],
    )
    assert spec.train.lr == pytest.approx(3e-4)
    assert isinstance(spec.train.lr, float)
    assert spec.model.hidden == [128, 64]
    assert spec.train.early_stopping.patience == 5
    assert spec.train.nesterov is True
    assert spec.train.early_stopping.enabled is False
    assert spec.output.dir is None
    assert spec.train.clip_norm == 2.0
    assert spec.data.drop == ["a", "b"]
    assert spec.data.kinds == {"zip": "categorical"}


@pytest.mark.parametrize("text", ["1e-3", "1E-3", "1.0e-3", "0.001", ".001"])
def test_override_scientific_notation_is_a_number(text: str) -> None:
    spec = parse_spec(apply_overrides({}, [f"train.lr={text}"]))
    assert spec.train.lr == pytest.approx(1e-3)


def test_override_empty_value_is_null() -> None:
    raw = apply_overrides({"output": {"dir": "x"}}, ["output.dir="])
    assert raw == {"output": {"dir": None}}


def test_override_keeps_strings_that_are_not_numbers() -> None:
    spec = parse_spec(apply_overrides({}, ["data.source=data/train.v2.csv", "data.target=price"]))
    assert spec.data.source == "data/train.v2.csv"
    assert spec.data.target == "price"


def test_overrides_do_not_modify_the_input() -> None:
    raw = {"train": {"lr": 0.1, "early_stopping": {"patience": 2}}}
    apply_overrides(raw, ["train.lr=0.5", "train.early_stopping.patience=9"])
    assert raw == {"train": {"lr": 0.1, "early_stopping": {"patience": 2}}}


@pytest.mark.parametrize("item", ["train.lr", "=3", "train..lr=3", ".lr=3", "train.=1"])
def test_malformed_override_is_a_spec_error(item: str) -> None:
    message = _spec_error(apply_overrides, {}, [item])
    assert "key.path=value" in message
    assert repr(item) in message


def test_override_into_a_value_is_a_spec_error() -> None:
    message = _spec_error(apply_overrides, {"train": {"lr": 0.1}}, ["train.lr.x=3"])
    assert "'lr'" in message and "not a section" in message


def test_misspelt_override_suggests_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    message = _spec_error(load_spec, path, ["train.early_stoping.patience=5"])
    assert "'train.early_stoping'" in message
    assert "did you mean 'train.early_stopping'?" in message


# --- keyword arguments -----------------------------------------------------------------------


def test_flat_kwargs_land_in_their_sections() -> None:
    spec = spec_from_kwargs(lr=3e-4, hidden=[32], target="y", epochs=7, dropout=0.0)
    assert spec.train.lr == pytest.approx(3e-4)
    assert spec.model.hidden == [32]
    assert spec.data.target == "y"
    assert spec.train.epochs == 7
    assert spec.model.dropout == 0.0
    assert spec.train.batch_size == Spec().train.batch_size


def test_section_dicts_merge_with_flat_kwargs_and_base() -> None:
    spec = spec_from_kwargs(
        {"train": {"epochs": 3, "early_stopping": {"monitor": "val_accuracy"}}},
        train={"early_stopping": {"patience": 4}},
        model=Spec().model.model_copy(update={"hidden": [8]}),
        lr=0.5,
    )
    assert spec.train.epochs == 3
    assert spec.train.early_stopping.monitor == "val_accuracy"
    assert spec.train.early_stopping.patience == 4
    assert spec.model.hidden == [8]
    assert spec.train.lr == 0.5


def test_double_underscore_kwargs_name_a_path() -> None:
    spec = spec_from_kwargs(train__early_stopping__patience=5, train__schedule__patience=1)
    assert spec.train.early_stopping.patience == 5
    assert spec.train.schedule.patience == 1


def test_nested_section_by_its_own_name() -> None:
    spec = spec_from_kwargs(early_stopping={"patience": 5}, schedule={"name": "cosine"})
    assert spec.train.early_stopping.patience == 5
    assert spec.train.schedule.name == "cosine"
    assert spec.train.early_stopping.monitor == "val_loss"


def test_nested_section_keyword_merges_with_base() -> None:
    spec = spec_from_kwargs(
        {"train": {"early_stopping": {"monitor": "val_accuracy"}}},
        early_stopping={"patience": 5},
    )
    assert spec.train.early_stopping.patience == 5
    assert spec.train.early_stopping.monitor == "val_accuracy"


def test_ambiguous_flat_key_names_every_path() -> None:
    message = _spec_error(spec_from_kwargs, patience=5)
    assert "'patience' is ambiguous" in message
    assert "train.early_stopping.patience" in message
    assert "train.schedule.patience" in message


def test_section_given_as_a_scalar_is_a_spec_error() -> None:
    message = _spec_error(spec_from_kwargs, train=5)
    assert "section 'train'" in message


def test_unknown_flat_keyword_suggests_the_closest() -> None:
    message = _spec_error(spec_from_kwargs, lrr=0.1)
    assert "unknown keyword 'lrr'" in message
    assert "did you mean 'lr'?" in message


# --- misspelt keys at every level ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "suggestion"),
    [
        ({"trian": {}}, "trian", "train"),
        ({"train": {"lrr": 0.1}}, "train.lrr", "train.lr"),
        ({"model": {"hiden": [3]}}, "model.hiden", "model.hidden"),
        (
            {"train": {"early_stopping": {"patiance": 3}}},
            "train.early_stopping.patiance",
            "train.early_stopping.patience",
        ),
        ({"train": {"schedule": {"nam": "cosine"}}}, "train.schedule.nam", "train.schedule.name"),
        ({"data": {"split": {"stratif": False}}}, "data.split.stratif", "data.split.stratify"),
        ({"data": {"clean": {"onehot_mx": 3}}}, "data.clean.onehot_mx", "data.clean.onehot_max"),
        ({"output": {"dirr": "x"}}, "output.dirr", "output.dir"),
    ],
)
def test_misspelt_key_names_full_field_and_suggests(
    tmp_path: Path, raw: dict, field: str, suggestion: str
) -> None:
    path = _write(tmp_path, yaml.safe_dump(raw))
    message = _spec_error(load_spec, path)
    assert f"unknown field {field!r}" in message
    assert f"did you mean {suggestion!r}?" in message


def test_unknown_key_without_a_close_match_says_remove_it() -> None:
    message = _spec_error(parse_spec, {"train": {"zzzzzz": 1}})
    assert "'train.zzzzzz'" in message
    assert "remove it" in message
    assert "did you mean" not in message
    # lists the allowed fields of that section
    assert "lr" in message and "batch_size" in message


# --- bad values ------------------------------------------------------------------------------


def test_bad_literal_lists_allowed_values_and_suggests() -> None:
    message = _spec_error(parse_spec, {"model": {"activation": "rellu"}})
    assert "'model.activation'" in message and "'rellu'" in message
    for option in ["relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid", "selu"]:
        assert option in message
    assert "did you mean 'relu'?" in message


def test_bad_literal_in_a_nested_section_lists_allowed_values() -> None:
    message = _spec_error(parse_spec, {"train": {"schedule": {"name": "cosin"}}})
    assert "'train.schedule.name'" in message
    for option in ["constant", "step", "exponential", "cosine", "onecycle", "plateau"]:
        assert option in message
    assert "did you mean 'cosine'?" in message


def test_bad_column_kind_lists_allowed_kinds() -> None:
    message = _spec_error(parse_spec, {"data": {"kinds": {"zip": "categorcal"}}})
    assert "'data.kinds.zip'" in message
    assert "did you mean 'categorical'?" in message
    for option in ["numeric", "categorical", "boolean", "text", "identifier", "constant"]:
        assert option in message


@pytest.mark.parametrize(
    "split",
    [
        {"train": 0.5},
        {"train": 0.7, "validation": 0.2, "test": 0.2},
        {"train": 0.6, "validation": 0.1, "test": 0.1},
    ],
)
def test_split_fractions_must_sum_to_one(split: dict) -> None:
    message = _spec_error(spec_from_kwargs, data={"split": split})
    assert "'data.split'" in message
    assert "must sum to 1" in message


def test_split_fractions_that_sum_to_one_are_accepted() -> None:
    spec = spec_from_kwargs(data={"split": {"train": 0.8, "validation": 0.2, "test": 0.0}})
    assert spec.data.split.test == 0.0


@pytest.mark.parametrize("lr", [-1e-3, 0.0])
def test_non_positive_lr_is_rejected(lr: float) -> None:
    message = _spec_error(spec_from_kwargs, lr=lr)
    assert "'train.lr'" in message
    assert repr(lr) in message
    assert "greater than 0" in message


def test_non_positive_hidden_width_is_rejected() -> None:
    message = _spec_error(spec_from_kwargs, hidden=[64, 0])
    assert "positive" in message and "[64, 0]" in message


def test_non_positive_hidden_width_names_the_field() -> None:
    message = _spec_error(spec_from_kwargs, hidden=[64, 0])
    assert "spec field 'model.hidden'" in message


def test_assignment_is_validated() -> None:
    spec = Spec()
    with pytest.raises(ValueError):
        spec.train.lr = -1.0
    assert spec.train.lr == 1e-3


def test_error_counts_further_problems() -> None:
    message = _spec_error(parse_spec, {"train": {"lr": -1, "epochs": 0}})
    assert "1 more problem" in message


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_non_mapping_yaml_is_a_spec_error(tmp_path: Path, text: str) -> None:
    message = _spec_error(load_spec, _write(tmp_path, text))
    assert "not a mapping" in message
    assert "spec.yaml" in message


def test_invalid_yaml_syntax_is_a_spec_error(tmp_path: Path) -> None:
    message = _spec_error(load_spec, _write(tmp_path, "train:\n  lr: [0.1\n  epochs: 3\n"))
    assert "not valid YAML" in message
    assert "spec.yaml" in message


def test_invalid_yaml_names_the_problem_and_its_line(tmp_path: Path) -> None:
    # the message's fix says "at the position given": the position must be in it
    message = _spec_error(load_spec, _write(tmp_path, "data:\n  target: y\n   source: x\n"))
    assert "mapping values are not allowed here at line 3, column 10" in message
    message = _spec_error(load_spec, _write(tmp_path, "train: [epochs: 3\n"))
    assert "line 2" in message and "flow sequence started at line 1, column 8" in message


def test_missing_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    message = _spec_error(load_spec, tmp_path / "nope.yaml")
    assert "does not exist" in message
    assert "nope.yaml" in message


def test_yaml_never_executes_code(tmp_path: Path) -> None:
    marker = tmp_path / "hacked"
    text = (
        f'train: !!python/object/apply:os.system ["touch {marker}"]\n'
        'model: !!python/object/apply:os.system ["echo hacked"]\n'
    )
    message = _spec_error(load_spec, _write(tmp_path, text))
    assert "not valid YAML" in message
    assert not marker.exists()


def test_python_object_tags_are_refused_at_top_level(tmp_path: Path) -> None:
    marker = tmp_path / "hacked2"
    path = _write(tmp_path, f'!!python/object/apply:os.system ["touch {marker}"]\n')
    _spec_error(load_spec, path)
    assert not marker.exists()
