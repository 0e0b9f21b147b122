"""Rows given to a trained table model with values training never saw are still predicted, and
each such column is named in a warning: text in a number column, an unseen category."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import trainwise
from conftest import TINY, binary_frame
from trainwise.errors import UnfamiliarInputWarning


@pytest.fixture(scope="module")
def result() -> trainwise.Result:
    return trainwise.fit(binary_frame(), "y", epochs=2, save=False, **TINY)


def test_familiar_and_missing_values_raise_no_warning(result: trainwise.Result) -> None:
    rows = binary_frame(20, seed=1).drop(columns="y")
    rows.loc[0, "a"], rows.loc[1, "c"] = np.nan, None
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnfamiliarInputWarning)
        assert len(result.predict(rows)) == 20


def test_unseen_categories_and_non_numbers_are_named(result: trainwise.Result) -> None:
    rows = binary_frame(20, seed=1).drop(columns="y")
    rows["b"] = rows["b"].astype(object)
    rows.loc[[0, 1, 2], "b"] = ["n/a", "1,5", "n/a"]
    rows.loc[3:7, "c"] = ["x1", "x2", "x3", "x4", "x4"]
    with pytest.warns(UnfamiliarInputWarning) as caught:
        labels = result.predict(rows)
    assert len(labels) == 20
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    number, category = messages
    assert number.startswith("column 'b': 3 of 20 rows") and "'n/a', '1,5'" in number
    assert "not a number" in number and "imputed" in number
    assert (
        category.startswith("column 'c': 5 of 20 rows")
        and "'x1', 'x2', 'x3' and 1 more" in category
    )


def test_evaluation_warns_as_prediction_does(result: trainwise.Result) -> None:
    rows = binary_frame(20, seed=2)
    rows.loc[0, "c"] = "q"
    with pytest.warns(UnfamiliarInputWarning, match="column 'c': 1 of 20 rows holds"):
        metrics = result.evaluate(rows)
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_numbers_beyond_float32_are_named(result: trainwise.Result) -> None:
    rows = binary_frame(20, seed=3).drop(columns="y")
    rows.loc[[0, 1], "a"] = [np.inf, 1e39]
    beyond = "column 'a': 2 of 20 rows hold a number beyond"
    with pytest.warns(UnfamiliarInputWarning, match=beyond):
        assert len(result.predict(rows)) == 20
