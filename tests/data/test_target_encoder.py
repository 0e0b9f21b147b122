"""TargetEncoder: class codes in sorted-class order, standardised regression targets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainwise.data.schema import Column, Schema, infer_schema
from trainwise.data.target import TargetEncoder
from trainwise.errors import DataError


def _schema(task: str, classes: tuple = (), target: tuple[str, ...] = ("y",)) -> Schema:
    return Schema((Column("x", "numeric", "test", 0, 0),), target, task, classes)


def test_class_codes_follow_sorted_classes() -> None:
    frame = pd.DataFrame({"x": np.arange(9.0), "y": ["dog", "cat", "emu"] * 3})
    schema = infer_schema(frame, "y")
    assert schema.classes == ("cat", "dog", "emu")
    enc = TargetEncoder(schema).fit(frame)
    codes = enc.encode(frame)
    assert codes.dtype == np.int64
    assert codes.tolist() == [1, 0, 2] * 3
    np.testing.assert_array_equal(enc.truth(frame), codes)


def test_integer_classes_sorted_numerically() -> None:
    frame = pd.DataFrame({"x": np.arange(8.0), "y": [10, 9, 2, 10, 9, 2, 2, 2]})
    schema = infer_schema(frame, "y")
    assert schema.classes == (2, 9, 10)
    assert TargetEncoder(schema).encode(frame).tolist() == [2, 1, 0, 2, 1, 0, 0, 0]


def test_binary_targets_are_float_zero_one() -> None:
    schema = _schema("binary", ("no", "yes"))
    y = TargetEncoder(schema).encode(pd.DataFrame({"y": ["yes", "no", "yes"]}))
    assert y.dtype == np.float32
    assert y.tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("value", ["1", " 1", "1.0", 1.0, np.int64(1), np.float32(1.0)])
def test_text_and_float_forms_match_integer_class(value) -> None:
    enc = TargetEncoder(_schema("multiclass", (0, 1, 2)))
    assert enc.codes(pd.Series([value, 2, "0"], dtype=object)).tolist() == [1, 2, 0]


def test_boolean_classes_match() -> None:
    enc = TargetEncoder(_schema("binary", (False, True)))
    assert enc.codes(pd.Series([True, False, np.True_])).tolist() == [1, 0, 1]


def test_unseen_class_is_a_data_error() -> None:
    enc = TargetEncoder(_schema("multiclass", ("a", "b", "c")))
    with pytest.raises(DataError) as info:
        enc.encode(pd.DataFrame({"y": ["a", "d", "b", "e"]}))
    message = str(info.value)
    assert "never saw" in message
    assert "d, e" in message
    assert "a, b, c" in message


def test_regression_standardised_with_train_statistics_and_inverted_exactly() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"y": rng.normal(250_000.0, 40_000.0, 300)})
    enc = TargetEncoder(_schema("regression")).fit(train)
    assert enc.mean_ == pytest.approx([train["y"].mean()])
    assert enc.std_ == pytest.approx([train["y"].std(ddof=0)])
    z = enc.encode(train)
    assert z.dtype == np.float32
    assert z.shape == (300, 1)
    assert float(z.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(z.std()) == pytest.approx(1.0, abs=1e-5)
    # other rows use the training statistics
    other = pd.DataFrame({"y": [enc.mean_[0], enc.mean_[0] + 2 * enc.std_[0]]})
    np.testing.assert_allclose(enc.encode(other)[:, 0], [0.0, 2.0], atol=1e-6)
    # decoding inverts exactly (in float64)
    raw = enc.truth(train)
    z64 = (raw - enc.mean_) / enc.std_
    np.testing.assert_allclose(enc.decode_regression(z64), raw, rtol=1e-12)


def test_regression_constant_target_has_unit_scale() -> None:
    enc = TargetEncoder(_schema("regression")).fit(pd.DataFrame({"y": [5.0] * 4}))
    assert enc.std_ == [1.0]
    assert enc.encode(pd.DataFrame({"y": [6.0]})).tolist() == [[1.0]]


def test_regression_numbers_as_text() -> None:
    enc = TargetEncoder(_schema("regression")).fit(pd.DataFrame({"y": ["1", "3"]}))
    assert enc.mean_ == [2.0] and enc.std_ == [1.0]


def test_regression_non_numeric_value_is_a_data_error() -> None:
    enc = TargetEncoder(_schema("regression")).fit(pd.DataFrame({"y": [1.0, 3.0]}))
    with pytest.raises(DataError, match="non-numeric") as info:
        enc.encode(pd.DataFrame({"y": ["2", "lots"]}))
    assert "'lots'" in str(info.value)


def test_state_round_trip() -> None:
    train = pd.DataFrame({"y": [1.0, 2.0, 4.0, 9.0]})
    schema = _schema("regression")
    enc = TargetEncoder(schema).fit(train)
    restored = TargetEncoder.from_state(schema, json.loads(json.dumps(enc.state_dict())))
    np.testing.assert_array_equal(restored.encode(train), enc.encode(train))


def test_multilabel_is_a_float_matrix() -> None:
    schema = _schema("multilabel", ("a", "b"), target=("a", "b"))
    frame = pd.DataFrame({"a": [0, 1], "b": [1, 1]})
    enc = TargetEncoder(schema).fit(frame)
    y = enc.encode(frame)
    assert y.dtype == np.float32
    assert y.tolist() == [[0.0, 1.0], [1.0, 1.0]]
    assert enc.truth(frame).dtype == np.int64
