"""Data findings before training: leakage between splits, a feature that gives the target away,
heavy class imbalance, constant and unscaled features; and none on clean data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from trainwise.data.prepare import load_frames, prepare
from trainwise.diagnose.data_checks import data_findings
from trainwise.spec.model import DataSpec


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    frame["y"] = np.where(frame["a"] + 0.5 * rng.normal(size=n) > 0, "yes", "no")
    return frame


def findings(frame: pd.DataFrame, class_weight: str = "none", **data: object):
    spec = DataSpec(target="y", **data)
    frames = load_frames(spec, frame)
    return data_findings(prepare(spec, frames, 0), frames.frame, class_weight)


def by_rule(found, rule):
    return [f for f in found if f.rule == rule]


def test_clean_data_has_no_findings():
    assert findings(table()) == []


def test_rows_shared_between_splits_are_leakage():
    frame = table()
    leaky = pd.concat([frame, frame.iloc[:100]], ignore_index=True)  # 100 rows twice
    (f,) = [f for f in by_rule(findings(leaky, clean={"duplicates": False}), "duplicate_rows")][:1]
    assert f.severity == "warning" and f.evidence["shared_rows"] > 0
    # the default cleaning drops them before the split: nothing to report
    assert by_rule(findings(leaky), "duplicate_rows") == []


def test_distinct_records_with_equal_inputs_are_information_not_leakage():
    # passengers of the same class, sex and port differ only in their dropped names: after the
    # default deduplication they are distinct records, not copies the model has memorised
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "name": [f"passenger {i}" for i in range(n)],  # distinct text: dropped as an id
            "pclass": rng.integers(1, 4, n),
            "sex": rng.choice(["m", "f"], n),
            "port": rng.choice(["C", "Q", "S"], n),
        }
    )
    frame["y"] = np.where((frame["sex"] == "f") ^ (rng.random(n) < 0.2), "yes", "no")
    found = findings(frame)
    assert by_rule(found, "duplicate_rows") == []
    infos = by_rule(found, "identical_inputs")
    assert {f.evidence["split"] for f in infos} == {"validation", "test"}
    assert all(f.severity == "info" and f.evidence["shared_rows"] > 0 for f in infos)


def test_a_given_validation_file_with_training_rows_is_leakage():
    frame = table()
    spec = DataSpec(target="y")
    frames = load_frames(spec, frame.iloc[50:], validation=frame.iloc[:60])  # 10 rows in both
    found = data_findings(prepare(spec, frames, 0), frames.frame)
    (f,) = by_rule(found, "duplicate_rows")
    # rows 50-59 are in both; the training table's own test split takes some of them
    assert f.severity == "warning" and 5 <= f.evidence["shared_rows"] <= 10
    assert "validation file" in f.fix


def test_a_feature_that_predicts_the_target_alone_is_target_leakage():
    frame = table()
    frame["outcome_code"] = np.where(frame["y"] == "yes", 1.0, 0.0) + 0.01 * np.arange(300) / 300
    (f,) = by_rule(findings(frame), "target_leakage")
    assert f.severity == "warning" and f.evidence["column"] == "outcome_code"
    assert "outcome_code" in f.what and "data.drop" in f.fix


def test_a_leaky_category_and_a_leaky_regression_feature():
    frame = table()
    frame["status"] = np.where(frame["y"] == "yes", "closed-won", "closed-lost")
    assert [f.evidence["column"] for f in by_rule(findings(frame), "target_leakage")] == ["status"]
    reg = table().drop(columns="y")
    reg["y"] = 3 * reg["a"] + reg["b"]
    reg["y_copy"] = reg["y"] * 2.0 + 1.0
    found = by_rule(findings(reg), "target_leakage")
    assert [f.evidence["column"] for f in found] == ["y_copy"]


def test_heavy_class_imbalance_warns_unless_weighted():
    rng = np.random.default_rng(1)
    frame = table(600)
    frame["y"] = np.where(rng.random(600) < 0.04, "rare", "common")
    (f,) = by_rule(findings(frame), "class_imbalance")
    assert f.severity == "warning" and f.evidence["ratio"] >= 10
    (g,) = by_rule(findings(frame, class_weight="balanced"), "class_imbalance")
    assert g.severity == "info"


def test_constant_feature_is_named():
    frame = table()
    frame["always_7"] = 7
    (f,) = by_rule(findings(frame), "constant_feature")
    assert f.evidence["columns"] == ["always_7"] and f.severity == "info"


@pytest.mark.parametrize("scale, expected", [("none", 1), ("standard", 0)])
def test_unscaled_features_warn_only_when_left_unscaled(scale, expected):
    frame = table()
    frame["income"] = frame["b"] * 20_000 + 50_000
    found = by_rule(findings(frame, clean={"scale": scale}), "unscaled_feature")
    assert len(found) == expected
    if found:
        assert "income" in found[0].evidence["inputs"]


def test_distinct_texts_are_not_rows_shared_between_splits():
    # a text table's token ids are model inputs beyond `dense` and `codes`: distinct messages
    # of one class must not hash alike (they did: every row of a class looked shared)
    rng = np.random.default_rng(0)
    words = ["free", "win", "call", "now", "hello", "lunch", "later", "prize", "meet", "home"]
    texts = [" ".join(rng.choice(words, size=6)) + f" {i}" for i in range(200)]
    frame = pd.DataFrame({"msg": texts, "y": np.where(rng.random(200) < 0.5, "spam", "ham")})
    assert by_rule(findings(frame), "duplicate_rows") == []
    twice = pd.concat([frame, frame.iloc[:60]], ignore_index=True)  # real copies are still seen
    assert by_rule(findings(twice, clean={"duplicates": False}), "duplicate_rows")


def test_infinite_regression_targets_do_not_hide_a_leaky_feature() -> None:
    # ±inf targets (set missing for training) made every score NaN: no finding, and warnings
    reg = table().drop(columns="y")
    reg["y"] = 3 * reg["a"] + reg["b"]
    reg["y_copy"] = reg["y"] * 2.0 + 1.0
    reg.loc[:4, "y"] = np.inf
    reg.loc[5:7, "y_copy"] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        found = by_rule(findings(reg), "target_leakage")
    assert [f.evidence["column"] for f in found] == ["y_copy"]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_leak_among_many_numeric_columns_is_found_wherever_it_sits(task):
    # numeric columns are checked in blocks of 64: the leaks sit in the second and third
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame(rng.normal(size=(n, 150)), columns=[f"x{i}" for i in range(150)])
    frame["y"] = rng.integers(0, 3, n).astype(str) if task == "multiclass" else rng.normal(size=n)
    code = frame["y"].astype("category").cat.codes if task == "multiclass" else frame["y"]
    frame["x70"] = code * 10.0 + rng.normal(size=n) * 0.01  # near copies, ties broken apart
    gaps = rng.random(n) < (0.1 if task == "regression" else 0.0)  # R² is over the other rows
    frame["x140"] = np.where(gaps, np.nan, code * -3.0 + rng.normal(size=n) * 0.001)
    found = by_rule(findings(frame), "target_leakage")
    assert [f.evidence["column"] for f in found] == ["x70", "x140"]


def test_quantile_keys_bin_ranks_as_pandas_ranks_them():
    from trainwise.data.schema import distinct_counts
    from trainwise.diagnose.data_checks import BINS, _quantile_keys

    rng = np.random.default_rng(5)
    columns = [
        rng.normal(size=200),
        np.round(rng.normal(size=200), 1),  # ties
        np.where(rng.random(200) < 0.3, np.nan, rng.integers(0, 50, 200)),  # gaps and ties
    ]
    values = np.stack(columns)
    keys = _quantile_keys(values)
    counts = distinct_counts(values)
    for column, row, count in zip(columns, keys, counts, strict=True):
        series = pd.Series(column)
        assert count == series.nunique()
        ranks = series.rank(method="first").to_numpy()
        expected = np.floor((ranks - 1) / np.nanmax(ranks) * BINS)
        assert row.tolist() == np.where(np.isnan(expected), BINS, expected).astype(int).tolist()
