"""The data stage end to end on generated frames and built-in datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from trainwise.data.prepare import Frames, frame_from_arrays, load_frames, prepare
from trainwise.errors import DataError
from trainwise.spec.model import CleanSpec, DataSpec, SplitSpec


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "c": rng.choice(["a", "b", "c"], n),
            "y": np.where(x + rng.normal(scale=0.5, size=n) > 0, "pos", "neg"),
        }
    )


def _prepare(frame: pd.DataFrame, seed: int = 0, validation=None, test=None, **spec):
    data = DataSpec(target="y", **spec)
    return prepare(data, load_frames(data, frame, validation, test), seed)


def test_prepared_tensors_have_the_expected_shapes() -> None:
    prepared = _prepare(_frame(200))
    assert prepared.schema.task == "binary"
    assert (len(prepared.train), len(prepared.validation), len(prepared.test)) == (140, 40, 20)
    assert prepared.train.dense.dtype == torch.float32
    assert prepared.train.y.dtype == torch.float32
    assert prepared.n_features == 4  # x and a one-hot of three categories
    assert set(prepared.train.y.unique().tolist()) == {0.0, 1.0}
    assert len(prepared.test_rows) == 20
    summary = prepared.summary
    assert summary["rows_in"] == 200
    assert summary["splits"] == {"train": 140, "validation": 40, "test": 20}
    assert summary["task"] == "binary"
    assert summary["columns"]["c"]["kind"] == "categorical"


def test_preprocessing_is_fitted_on_train_rows_only() -> None:
    frame = _frame(300)
    prepared = _prepare(frame, clean=CleanSpec(outliers="none"))
    dense = prepared.train.dense[:, 0].double()
    assert float(dense.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(dense.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    assert float(prepared.validation.dense[:, 0].double().mean()) != pytest.approx(0.0, abs=1e-6)


def test_same_seed_same_split_different_seed_different_split() -> None:
    frame = _frame(200)
    a, b, c = _prepare(frame, seed=1), _prepare(frame, seed=1), _prepare(frame, seed=2)
    assert a.test_rows.equals(b.test_rows)
    assert not a.test_rows.equals(c.test_rows)
    # split.seed wins over the run seed
    d = _prepare(frame, seed=2, split=SplitSpec(seed=1))
    assert a.test_rows.equals(d.test_rows)


def _with_duplicates_and_missing_targets() -> pd.DataFrame:
    frame = _frame(100)
    frame = pd.concat([frame, frame.iloc[10:25]], ignore_index=True)  # 15 duplicates
    frame.loc[[0, 1, 2], "y"] = None  # 3 rows without a target (not among the duplicates)
    return frame


def test_duplicates_and_missing_targets_are_dropped_before_the_split() -> None:
    prepared = _prepare(_with_duplicates_and_missing_targets())
    assert prepared.summary["rows_in"] == 115
    assert sum(prepared.summary["splits"].values()) == 97
    rows = pd.concat(
        [prepared.test_rows, _frame(100).iloc[3:]], ignore_index=True
    ).drop_duplicates()
    assert len(rows) == 97, "test rows are original rows, none duplicated"


def test_no_duplicate_row_sits_in_two_splits() -> None:
    frame = _frame(60)
    frame = pd.concat([frame] * 5, ignore_index=True)  # every row five times
    prepared = _prepare(frame)
    assert sum(prepared.summary["splits"].values()) == 60


def test_duplicates_are_kept_when_asked() -> None:
    frame = pd.concat([_frame(100), _frame(100).iloc[:20]], ignore_index=True)
    prepared = _prepare(frame, clean=CleanSpec(duplicates=False))
    assert sum(prepared.summary["splits"].values()) == 120


def test_duplicate_count_is_reported() -> None:
    prepared = _prepare(_with_duplicates_and_missing_targets())
    assert prepared.summary["cleaning"]["duplicate_rows_dropped"] == 15


def test_missing_target_count_is_reported() -> None:
    prepared = _prepare(_with_duplicates_and_missing_targets())
    assert prepared.summary["cleaning"]["rows_without_target_dropped (training data)"] == 3


def test_summary_cleaning_reports_imputation_and_encodings() -> None:
    frame = _frame(200)
    frame.loc[::10, "x"] = np.nan
    cleaning = _prepare(frame).summary["cleaning"]
    assert cleaning["missing_indicators"] == ["x"]
    assert cleaning["missing_values_imputed (train)"]["x"] > 0
    assert cleaning["onehot_columns"] == {"c": 3}
    assert cleaning["scaling"] == "standard"


def test_explicit_validation_and_test_frames_are_used_as_given() -> None:
    frame, val, test = _frame(120, 0), _frame(30, 1), _frame(25, 2)
    prepared = _prepare(frame, validation=val, test=test)
    assert len(prepared.train) == 120, "every row of the main frame trains"
    assert len(prepared.validation) == 30
    assert len(prepared.test) == 25
    pd.testing.assert_frame_equal(prepared.test_rows, test)
    expected = prepared.tensors(val)
    torch.testing.assert_close(prepared.validation.dense, expected.dense)
    torch.testing.assert_close(prepared.validation.y, expected.y)


def test_explicit_test_frame_only_splits_validation_from_the_rest() -> None:
    prepared = _prepare(_frame(180), test=_frame(25, 2))
    # 0.7 : 0.2 renormalised over 180 rows
    assert (len(prepared.train), len(prepared.validation)) == (140, 40)
    assert len(prepared.test) == 25


def test_explicit_test_frame_drops_rows_without_target() -> None:
    test = _frame(25, 2)
    test.loc[[0, 5], "y"] = None
    prepared = _prepare(_frame(100), test=test)
    assert len(prepared.test) == 23


def test_explicit_test_frame_without_target_column_is_an_error() -> None:
    with pytest.raises(DataError, match="'y' not found in the test data"):
        _prepare(_frame(100), test=_frame(20).drop(columns="y"))


def test_test_class_unseen_in_training_is_an_error() -> None:
    test = _frame(20, 2)
    test.loc[0, "y"] = "maybe"
    with pytest.raises(DataError, match="maybe"):
        _prepare(_frame(100), test=test)


def test_no_target_rows_is_an_error() -> None:
    frame = _frame(20)
    frame["y"] = None
    with pytest.raises(DataError, match="no rows with a target"):
        _prepare(frame)


def test_stratified_split_keeps_class_shares() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=500), "y": rng.choice([0, 1], 500, p=[0.8, 0.2])})
    prepared = _prepare(frame)
    overall = frame["y"].mean()
    for split in (prepared.train, prepared.validation, prepared.test):
        assert float(split.y.mean()) == pytest.approx(overall, abs=0.011)


def test_group_column_never_spans_two_splits() -> None:
    rng = np.random.default_rng(0)
    frame = _frame(600)
    frame["user"] = rng.integers(0, 50, 600)
    prepared = _prepare(frame, split=SplitSpec(group="user"))
    assert "user" not in prepared.schema.features
    test_users = set(prepared.test_rows["user"])
    assert test_users
    # none of the test users' rows are among the train / validation rows
    assert len(prepared.train) + len(prepared.validation) == int(
        (~frame["user"].isin(test_users)).sum()
    )


def test_imbalance_note() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "y": [1] * 20 + [0] * 380})
    notes = _prepare(frame).summary["notes"]
    assert any("imbalanced" in n for n in notes)


# --- load_frames -----------------------------------------------------------------------------


def test_iris_builtin() -> None:
    spec = DataSpec(source="iris")
    frames = load_frames(spec)
    assert isinstance(frames, Frames)
    assert (frames.name, frames.target, frames.task) == ("iris", "target", "multiclass")
    assert frames.test is None
    prepared = prepare(spec, frames, seed=0)
    assert prepared.schema.task == "multiclass"
    assert prepared.schema.classes == (0, 1, 2)
    assert prepared.n_features == 4
    # iris holds one exact duplicate row (rows 101 and 142), dropped before the split
    assert (len(prepared.train), len(prepared.validation), len(prepared.test)) == (104, 30, 15)
    assert prepared.train.y.dtype == torch.int64


def test_iris_builtin_stratified_without_deduplication() -> None:
    spec = DataSpec(source="iris", clean=CleanSpec(duplicates=False))
    prepared = prepare(spec, load_frames(spec), seed=0)
    assert (len(prepared.train), len(prepared.validation), len(prepared.test)) == (105, 30, 15)
    # stratified: 35 / 10 / 5 of each of the three classes
    assert torch.bincount(prepared.train.y).tolist() == [35, 35, 35]
    assert torch.bincount(prepared.validation.y).tolist() == [10, 10, 10]
    assert torch.bincount(prepared.test.y).tolist() == [5, 5, 5]


def test_mnist1d_uses_its_predefined_test_split() -> None:
    spec = DataSpec(source="mnist1d")
    frames = load_frames(spec)
    assert frames.test is not None and len(frames.test) == 1000
    assert len(frames.frame) == 4000
    prepared = prepare(spec, frames, seed=0)
    assert len(prepared.test) == 1000
    assert len(prepared.train) + len(prepared.validation) == 4000
    assert prepared.summary["splits"]["test"] == 1000
    pd.testing.assert_frame_equal(prepared.test_rows, frames.test)
    assert prepared.n_features == 40


def test_builtin_target_can_be_overridden() -> None:
    frames = load_frames(DataSpec(source="iris", target="petal length (cm)", task="regression"))
    assert (frames.target, frames.task) == ("petal length (cm)", "regression")


def test_builtin_task_applies_only_to_its_own_target() -> None:
    spec = DataSpec(source="iris", target="petal length (cm)")
    prepared = prepare(spec, load_frames(spec), seed=0)
    assert prepared.schema.task == "regression"


def test_no_data_is_an_error() -> None:
    with pytest.raises(DataError, match="no data given"):
        load_frames(DataSpec(target="y"))


def test_no_target_names_the_columns() -> None:
    with pytest.raises(DataError, match="no target column") as info:
        load_frames(DataSpec(), _frame(10))
    assert "x, c, y" in str(info.value)


def test_file_source(tmp_path) -> None:
    path = tmp_path / "my table.csv"
    _frame(50).to_csv(path, index=False)
    frames = load_frames(DataSpec(source=str(path), target="y"))
    assert frames.name == "my-table"
    assert len(frames.frame) == 50


def test_frame_from_arrays() -> None:
    frame = frame_from_arrays(np.zeros((4, 2)), np.array([[0, 1]] * 4))
    assert list(frame.columns) == ["x0", "x1", "target0", "target1"]
    with pytest.raises(DataError, match="3 rows but y has 2"):
        frame_from_arrays(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(DataError, match="2-D"):
        frame_from_arrays(np.zeros(3))
