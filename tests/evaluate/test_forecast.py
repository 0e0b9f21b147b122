"""Forecast metrics against hand-computed answers, and the console table."""

from __future__ import annotations

import numpy as np
import pytest

from trainwise.evaluate.forecast import baseline_table, forecast_metrics


def test_known_answers() -> None:
    truth = np.array([[2.0, 4.0], [4.0, 8.0]])
    pred = np.array([[3.0, 4.0], [4.0, 6.0]])
    m = forecast_metrics(truth, pred, np.array([1.0, 2.0]))
    assert m["mae"] == pytest.approx(0.75)
    assert m["rmse"] == pytest.approx((np.sqrt(0.5) + np.sqrt(2.0)) / 2)
    assert m["mape"] == pytest.approx(100 * (0.5 + 0 + 0 + 0.25) / 4)
    assert m["mase"] == pytest.approx((0.5 / 1.0 + 1.0 / 2.0) / 2)


def test_zero_targets_are_skipped_by_mape_and_bad_output_is_none() -> None:
    m = forecast_metrics(np.array([0.0, 2.0]), np.array([1.0, 3.0]), np.array([1.0]))
    assert m["mape"] == pytest.approx(50.0) and m["mape_zero_targets_skipped"] == 1
    assert forecast_metrics(np.zeros(2), np.zeros(2), np.array([1.0]))["mape"] is None
    assert forecast_metrics(np.ones(2), np.array([np.nan, 1.0]), np.array([1.0]))["mae"] is None
    assert forecast_metrics(np.ones(2), np.ones(2), np.array([np.nan]))["mase"] is None


def test_table_shows_model_and_baselines() -> None:
    row = {"mae": 1.0, "rmse": 2.0, "mape": None, "mase": 0.5}
    text = baseline_table(
        {**row, "season": 7, "baselines": {"last_value": row, "seasonal_naive": None}}
    )
    assert "model" in text and "last_value" in text and "seasonal_naive" not in text
