"""Train / validation / test splits: sizes, seeds, stratification and groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwise.data.split import SplitIndices, split_rows
from trainwise.errors import DataError


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype=float)})


def _check_partition(idx: SplitIndices, n: int) -> None:
    joined = np.concatenate([idx.train, idx.validation, idx.test])
    assert sorted(joined.tolist()) == list(range(n)), "every row in exactly one split"
    for part in (idx.train, idx.validation, idx.test):
        assert np.all(np.diff(part) > 0), "indices are sorted and unique"


@pytest.mark.parametrize(
    ("n", "fractions", "sizes"),
    [
        (1000, (0.7, 0.2, 0.1), (700, 200, 100)),
        (1000, (0.6, 0.2, 0.2), (600, 200, 200)),
        (200, (0.8, 0.1, 0.1), (160, 20, 20)),
        (150, (0.7, 0.2, 0.1), (105, 30, 15)),
    ],
)
def test_sizes_match_fractions(n: int, fractions, sizes) -> None:
    idx = split_rows(_frame(n), fractions, seed=0)
    assert (len(idx.train), len(idx.validation), len(idx.test)) == sizes
    _check_partition(idx, n)


def test_same_seed_same_split_other_seed_other_split() -> None:
    frame = _frame(500)
    a = split_rows(frame, (0.7, 0.2, 0.1), seed=3)
    b = split_rows(frame, (0.7, 0.2, 0.1), seed=3)
    c = split_rows(frame, (0.7, 0.2, 0.1), seed=4)
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)
    assert not np.array_equal(a.validation, c.validation)


def test_split_is_shuffled_not_positional() -> None:
    idx = split_rows(_frame(1000), (0.7, 0.2, 0.1), seed=0)
    # a positional cut would put rows 900..999 in test
    assert idx.test.min() < 500 < idx.test.max()


def test_stratified_proportions_are_preserved() -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100)
    rng.shuffle(labels)
    frame = pd.DataFrame({"y": labels})
    idx = split_rows(frame, (0.7, 0.2, 0.1), seed=1, stratify_on=frame["y"])
    _check_partition(idx, 1000)
    expected = {"a": 0.6, "b": 0.3, "c": 0.1}
    for part in (idx.train, idx.validation, idx.test):
        counts = pd.Series(labels[part]).value_counts()
        for label, share in expected.items():
            assert abs(counts[label] - share * len(part)) <= 1, (label, len(part), counts)
    assert idx.notes == ()


def test_a_class_of_one_row_trains_and_the_others_stay_stratified() -> None:
    # one row of class c used to switch stratification off for every class, and the row could
    # land in the test split, where no model trained without it can get it right
    labels = np.array(["a"] * 60 + ["b"] * 30 + ["c"] + ["d"] * 2)
    frame = pd.DataFrame({"y": labels})
    for seed in range(5):
        idx = split_rows(frame, (0.7, 0.2, 0.1), seed=seed, stratify_on=frame["y"])
        _check_partition(idx, len(labels))
        assert "c" in set(labels[idx.train]) and "d" in set(labels[idx.train])
        test = pd.Series(labels[idx.test]).value_counts()
        assert test["a"] == 6 and test["b"] == 3  # proportions kept
        assert idx.notes == (
            "classes with a single row are kept in the training split, unstratified",
        )


def test_a_split_too_small_for_every_class_skips_stratification_with_a_note() -> None:
    labels = np.array([c for c in "abcdefghij" for _ in range(3)])
    frame = pd.DataFrame({"y": labels})
    idx = split_rows(frame, (0.7, 0.2, 0.1), seed=0, stratify_on=frame["y"])
    _check_partition(idx, 30)
    assert len(idx.notes) == 1 and "stratification skipped" in idx.notes[0]


def test_group_never_spans_two_splits() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 50, 2000)
    assert len(np.unique(groups)) == 50
    frame = pd.DataFrame({"g": groups, "x": rng.normal(size=2000)})
    idx = split_rows(frame, (0.7, 0.2, 0.1), seed=5, group_on=frame["g"])
    _check_partition(idx, 2000)
    sets = [set(groups[p].tolist()) for p in (idx.train, idx.validation, idx.test)]
    assert sets[0].isdisjoint(sets[1])
    assert sets[0].isdisjoint(sets[2])
    assert sets[1].isdisjoint(sets[2])
    assert all(sets), "every split gets some groups"
    # about the asked share of groups goes to each split
    assert len(sets[2]) == 5
    assert 8 <= len(sets[1]) <= 12
    # and deterministic for the seed
    again = split_rows(frame, (0.7, 0.2, 0.1), seed=5, group_on=frame["g"])
    np.testing.assert_array_equal(idx.test, again.test)


def test_grouped_split_with_zero_test_fraction() -> None:
    groups = np.repeat(np.arange(50), 4)
    frame = pd.DataFrame({"g": groups})
    idx = split_rows(frame, (0.8, 0.2, 0.0), seed=0, group_on=frame["g"])
    assert len(idx.test) == 0
    _check_partition(idx, 200)
    assert set(groups[idx.train]).isdisjoint(groups[idx.validation])


def test_too_few_groups_is_an_error() -> None:
    frame = pd.DataFrame({"g": [1, 2] * 50})
    with pytest.raises(DataError, match="only 2 distinct"):
        split_rows(frame, (0.7, 0.2, 0.1), seed=0, group_on=frame["g"])


def test_zero_test_fraction_gives_empty_test() -> None:
    idx = split_rows(_frame(100), (0.8, 0.2, 0.0), seed=0)
    assert len(idx.test) == 0
    assert idx.test.dtype == idx.train.dtype
    assert (len(idx.train), len(idx.validation)) == (80, 20)
    _check_partition(idx, 100)


def test_zero_validation_and_test_keeps_every_row_for_training() -> None:
    idx = split_rows(_frame(30), (1.0, 0.0, 0.0), seed=0)
    assert idx.train.tolist() == list(range(30))
    assert len(idx.validation) == len(idx.test) == 0


def test_too_few_rows_to_split_is_an_error() -> None:
    with pytest.raises(DataError, match="too few to split"):
        split_rows(_frame(3), (0.7, 0.2, 0.1), seed=0)
