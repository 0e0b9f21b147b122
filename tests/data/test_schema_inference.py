"""Column kinds and task inference, and the errors for targets and columns that cannot work."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainwise.data.schema import Schema, infer_kind, infer_schema, infer_task
from trainwise.errors import DataError

N = 60


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _kind(values, name: str = "col") -> str:
    return infer_kind(pd.Series(values, name=name))[0]


# --- column kinds ----------------------------------------------------------------------------


def test_monotonic_unique_integers_are_an_identifier() -> None:
    kind, reason = infer_kind(pd.Series(np.arange(100, 100 + N), name="row"))
    assert kind == "identifier"
    assert "distinct" in reason
    assert _kind(np.arange(N)[::-1], "n") == "identifier"


@pytest.mark.parametrize("name", ["user_id", "PassengerId", "id", "ID", "order-uuid", "index"])
def test_id_names_with_unique_shuffled_integers_are_identifiers(rng, name: str) -> None:
    assert _kind(rng.permutation(N) * 3 + 7, name) == "identifier"


def test_unique_shuffled_integers_without_an_id_name_are_numeric(rng) -> None:
    assert _kind(rng.permutation(N), "count") == "numeric"


def test_few_rows_of_unique_integers_are_numeric() -> None:
    # 20 rows or fewer: too few to tell a row id from a quantity
    assert _kind(np.arange(15), "user_id") == "numeric"


def test_id_named_column_with_repeats_is_numeric(rng) -> None:
    assert _kind(rng.integers(0, 10, N), "user_id") == "numeric"


def test_names_merely_ending_in_id_are_not_identifiers(rng) -> None:
    assert _kind(rng.permutation(N) * 13 + 100, "amount_paid") == "numeric"


def test_digit_string_ids_are_identifiers(rng) -> None:
    values = [f"{i:04d}" for i in rng.permutation(N)]
    assert _kind(values, "user_id") == "identifier"


def test_unique_codes_as_strings_are_identifiers(rng) -> None:
    values = [f"TKT-{i:05d}" for i in rng.permutation(N)]
    assert _kind(values, "ticket") == "identifier"


@pytest.mark.parametrize(
    "values",
    [[5] * N, ["a"] * N, [1.5] * (N - 3) + [np.nan] * 3, [np.nan] * 3 + ["x"] * 7],
)
def test_single_value_is_constant(values) -> None:
    kind, reason = infer_kind(pd.Series(values))
    assert kind == "constant"
    assert "single value" in reason


@pytest.mark.parametrize(
    "values",
    [
        ["yes", "no"] * 10,
        ["Y", "N", "N"] * 5,
        [" True", "false "] * 4,
        [True, False, True],
        ["t", "f", None, "t"],
    ],
)
def test_yes_no_values_are_boolean(values) -> None:
    assert _kind(values) == "boolean"


def test_zero_one_integers_are_numeric_not_boolean() -> None:
    assert _kind([0, 1, 1, 0] * 5) == "numeric"


def test_numbers_stored_as_text_are_numeric() -> None:
    kind, reason = infer_kind(pd.Series(["1.5", " 2", "3e2", "-4", "5.25", None] * 10))
    assert kind == "numeric"
    assert "text" in reason


def test_mostly_words_with_a_few_numbers_are_categorical() -> None:
    assert _kind(["red", "green", "blue", "1"] * 10) == "categorical"


def test_free_text_is_text(rng) -> None:
    words = ["good", "bad", "movie", "plot", "actor", "long", "boring", "great", "fun", "sad"]
    docs = [" ".join(rng.choice(words, size=8)) + f" review {i}" for i in range(N)]
    kind, reason = infer_kind(pd.Series(docs))
    assert kind == "text"
    assert "words" in reason


def test_low_cardinality_strings_are_categorical(rng) -> None:
    kind, reason = infer_kind(pd.Series(rng.choice(["red", "green", "blue"], N)))
    assert kind == "categorical"
    assert reason == "3 categories"


def test_continuous_floats_are_numeric(rng) -> None:
    assert _kind(rng.normal(size=N), "score_id") == "numeric"


# --- schema ----------------------------------------------------------------------------------


def _frame(rng: np.random.Generator, n: int = N) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": rng.permutation(n) + 1000,
            "age": rng.normal(40, 10, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "member": rng.choice(["yes", "no"], n),
            "const": 1,
            "label": rng.choice(["cat", "dog"], n),
        }
    )


def test_infer_schema_kinds_features_and_task(rng) -> None:
    schema = infer_schema(_frame(rng), "label")
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "user_id": "identifier",
        "age": "numeric",
        "color": "categorical",
        "member": "boolean",
        "const": "constant",
    }
    assert schema.features == ["age", "color", "member"]
    assert schema.task == "binary"
    assert schema.classes == ("cat", "dog")
    assert schema.target == ("label",)


def test_schema_counts_missing_and_unique(rng) -> None:
    frame = _frame(rng)
    frame.loc[:4, "age"] = np.nan
    schema = infer_schema(frame, "label")
    age = next(c for c in schema.columns if c.name == "age")
    assert age.missing == 5
    assert age.unique == N - 5


def test_drop_and_group_columns_are_excluded(rng) -> None:
    frame = _frame(rng)
    frame["site"] = rng.choice(list("abcdef"), N)
    schema = infer_schema(frame, "label", drop=["color"], group="site")
    names = [c.name for c in schema.columns]
    assert "color" not in names and "site" not in names and "label" not in names


def test_kinds_override_is_honoured(rng) -> None:
    frame = _frame(rng)
    frame["zip"] = rng.choice([10115, 20095, 80331], N)
    schema = infer_schema(
        frame, "label", kinds={"zip": "categorical", "user_id": "numeric", "age": "constant"}
    )
    columns = {c.name: c for c in schema.columns}
    assert columns["zip"].kind == "categorical"
    assert columns["zip"].reason == "set in data.kinds"
    assert columns["user_id"].kind == "numeric"
    assert columns["age"].kind == "constant"
    assert schema.features == ["user_id", "color", "member", "zip"]


def test_schema_json_round_trip(rng) -> None:
    frame = _frame(rng)
    frame["label"] = rng.integers(0, 3, N)
    schema = infer_schema(frame, "label")
    raw = json.loads(json.dumps(schema.to_json()))
    assert Schema.from_json(raw) == schema
    assert raw["classes"] == [0, 1, 2]


# --- task ------------------------------------------------------------------------------------


def test_float_target_is_regression(rng) -> None:
    frame = pd.DataFrame({"y": rng.normal(size=N)})
    assert infer_task(frame, ["y"], "auto") == ("regression", [])


def test_integer_target_with_few_values_is_multiclass(rng) -> None:
    frame = pd.DataFrame({"y": rng.choice([3, 1, 2, 7], N)})
    task, classes = infer_task(frame, ["y"], "auto")
    assert task == "multiclass"
    assert classes == [1, 2, 3, 7]


def test_integral_floats_with_few_values_are_classes() -> None:
    frame = pd.DataFrame({"y": [0.0, 1.0, 2.0, np.nan] * 10})
    assert infer_task(frame, ["y"], "auto") == ("multiclass", [0.0, 1.0, 2.0])


def test_integer_target_with_many_values_is_regression(rng) -> None:
    frame = pd.DataFrame({"y": rng.integers(0, 1000, 200)})
    assert infer_task(frame, ["y"], "auto")[0] == "regression"


def test_two_strings_are_binary_with_sorted_classes() -> None:
    frame = pd.DataFrame({"y": ["yes", "no", "no", "yes", None]})
    assert infer_task(frame, ["y"], "auto") == ("binary", ["no", "yes"])


def test_booleans_are_binary() -> None:
    frame = pd.DataFrame({"y": [True, False, True]})
    assert infer_task(frame, ["y"], "auto") == ("binary", [False, True])


def test_zero_one_integers_are_binary() -> None:
    frame = pd.DataFrame({"y": [0, 1, 1, 0]})
    assert infer_task(frame, ["y"], "auto") == ("binary", [0, 1])


def test_list_of_zero_one_columns_is_multilabel(rng) -> None:
    frame = pd.DataFrame(
        {"x": rng.normal(size=N), "a": rng.integers(0, 2, N), "b": rng.integers(0, 2, N)}
    )
    schema = infer_schema(frame, ["a", "b"])
    assert schema.task == "multilabel"
    assert schema.classes == ("a", "b")
    assert schema.features == ["x"]


def test_multilabel_columns_must_be_zero_one() -> None:
    frame = pd.DataFrame({"a": [0, 1, 2], "b": [0, 1, 1]})
    with pytest.raises(DataError, match="'a' holds values other than 0/1"):
        infer_task(frame, ["a", "b"], "auto")


def test_several_measured_targets_are_a_regression() -> None:
    # float targets in a list failed as "multilabel ... values other than 0/1"
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=N), "b": rng.normal(size=N) * 50})
    frame["z"] = rng.integers(0, 2, N)
    assert infer_task(frame, ["a", "b"], "auto") == ("regression", [])
    assert infer_task(frame, ["a", "z"], "auto") == ("regression", [])
    frame["c"] = ["x", "y"] * (N // 2)
    with pytest.raises(DataError, match=r"'c' holds .* set data\.task=regression"):
        infer_task(frame, ["a", "c"], "auto")


def test_explicit_task_wins_over_inference() -> None:
    frame = pd.DataFrame({"y": [1, 2, 3, 1, 2, 3]})
    assert infer_task(frame, ["y"], "regression") == ("regression", [])
    assert infer_task(frame, ["y"], "multiclass")[0] == "multiclass"


def test_numbers_as_text_regression_target_is_accepted() -> None:
    frame = pd.DataFrame({"y": ["1.5", "2", " 3.25"]})
    assert infer_task(frame, ["y"], "regression") == ("regression", [])


# --- errors ----------------------------------------------------------------------------------


def test_one_class_target_is_an_error() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "a", "a", None]})
    with pytest.raises(DataError, match="only one class") as info:
        infer_schema(frame, "y")
    assert "'a'" in str(info.value)


def test_missing_target_column_lists_the_columns(rng) -> None:
    with pytest.raises(DataError) as info:
        infer_schema(_frame(rng), "Label")
    message = str(info.value)
    assert "'Label'" in message
    for name in ["user_id", "age", "color", "member", "const", "label"]:
        assert name in message


def test_unknown_kinds_drop_and_group_columns_are_errors(rng) -> None:
    for kwargs, name in [
        ({"kinds": {"zipp": "categorical"}}, "zipp"),
        ({"drop": ["colour"]}, "colour"),
        ({"group": "site"}, "site"),
    ]:
        with pytest.raises(DataError, match=repr(name)):
            infer_schema(_frame(rng), "label", **kwargs)


def test_all_missing_feature_with_a_set_kind_is_an_error(rng) -> None:
    frame = _frame(rng)
    frame["empty"] = np.nan
    with pytest.raises(DataError, match="'empty' has no values") as info:
        infer_schema(frame, "label", kinds={"empty": "numeric"})
    assert "data.drop" in str(info.value)


def test_all_missing_feature_is_an_error(rng) -> None:
    frame = _frame(rng)
    frame["empty"] = np.nan
    with pytest.raises(DataError, match="'empty' has no values"):
        infer_schema(frame, "label")


def test_no_usable_features_is_an_error(rng) -> None:
    frame = pd.DataFrame({"id": np.arange(N), "c": 1, "y": rng.integers(0, 2, N)})
    with pytest.raises(DataError, match="no usable feature columns"):
        infer_schema(frame, "y")


def test_non_numeric_regression_target_is_an_error() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["1.5", "cheap", "2"]})
    with pytest.raises(DataError, match="non-numeric") as info:
        infer_schema(frame, "y", task="regression")
    assert "'cheap'" in str(info.value)


def test_target_without_values_is_an_error() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [None, None]})
    with pytest.raises(DataError, match="'y' has no values"):
        infer_task(frame, ["y"], "auto")


def test_binary_task_with_three_classes_is_an_error() -> None:
    frame = pd.DataFrame({"y": ["a", "b", "c"]})
    with pytest.raises(DataError, match="3 classes"):
        infer_task(frame, ["y"], "binary")


def test_unique_string_target_is_not_a_classification(rng) -> None:
    frame = pd.DataFrame({"y": [f"v{i}" for i in range(40)]})
    with pytest.raises(DataError, match="40 distinct values in 40 rows"):
        infer_task(frame, ["y"], "auto")


def test_counts_of_numeric_columns_match_pandas_for_every_storage():
    # columns of NumPy numbers without gaps are counted together on one sorted matrix; the
    # rest one by one: both must give pandas' own counts and the same kinds
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "f64": rng.normal(size=n),
            "f32": np.round(rng.normal(size=n), 1).astype(np.float32),
            "gaps": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 9, n)),
            "u8": rng.integers(0, 4, n).astype(np.uint8),
            "i16": rng.integers(-300, 300, n).astype(np.int16),
            "signed_zero": np.where(rng.random(n) < 0.5, 0.0, -0.0),
            "inf": np.where(rng.random(n) < 0.1, np.inf, rng.normal(size=n)),
            "big_ids": np.arange(n, dtype=np.int64) * 2**55 + 1,  # beyond float's exact range
            "row_id": np.arange(n) + 0.0,
            "nullable": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "y": rng.integers(0, 2, n),
        }
    )
    schema = infer_schema(frame, "y")
    for column in schema.columns:
        series = frame[column.name]
        assert column.unique == series.nunique(), column.name
        assert column.missing == series.isna().sum(), column.name
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds["signed_zero"] == "constant"
    assert kinds["big_ids"] == "identifier" and kinds["row_id"] == "identifier"
    assert kinds["f64"] == kinds["inf"] == kinds["gaps"] == "numeric"
