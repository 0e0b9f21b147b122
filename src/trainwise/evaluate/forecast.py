"""Forecast metrics, and the model scored side by side with the naive forecasts it must beat.

A forecasting model is only worth having when it beats the trivial forecasts on the same
windows: the last value (persistence) and the seasonal-naive forecast (the value one season
back). MASE scales the MAE by the in-sample MAE of the seasonal-naive forecast on the training
part (Hyndman & Koehler, 2006), so MASE < 1 means better than that naive method did in training.
MAPE skips targets that are exactly zero (it is undefined there) and says how many it skipped.

>>> import numpy as np
>>> m = forecast_metrics(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]), np.array([0.5]))
>>> m["mae"], m["mase"], m["mape"]
(0.25, 0.5, 25.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainwise.data.prepared import TensorSplit
from trainwise.evaluate.metrics import _float, regression_metrics
from trainwise.evaluate.predict import Predictor, raw_outputs

BASELINES = ("last_value", "seasonal_naive")


def forecast_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, mase_scale: np.ndarray
) -> dict[str, Any]:
    """MAE, RMSE, MAPE (%), MASE for (n, outputs) forecasts; None where undefined."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)
    if not np.isfinite(y_pred).all():
        return {"mae": None, "rmse": None, "mape": None, "mase": None, "n": len(y_true)}
    err = np.abs(y_pred - y_true)
    nonzero = y_true != 0
    mape = _float(100 * np.mean(err[nonzero] / np.abs(y_true[nonzero]))) if nonzero.any() else None
    scale = np.broadcast_to(np.asarray(mase_scale, dtype=np.float64), (y_true.shape[1],))
    mase = _float(np.mean(err.mean(axis=0) / scale)) if np.isfinite(scale).all() else None
    out = {
        "mae": _float(err.mean()),
        "rmse": _float(np.mean(np.sqrt((err**2).mean(axis=0)))),
        "mape": mape,
        "mase": mase,
        "n": len(y_true),
    }
    if (~nonzero).any():
        out["mape_zero_targets_skipped"] = int((~nonzero).sum())
    return out


def forecast_scores(predictor: Predictor, split: TensorSplit, reference: Any) -> dict[str, Any]:
    """The model's test metrics (regression set + forecast set) and each baseline's, on the
    same windows, in the series' own units."""
    decoded = predictor.head.decode(raw_outputs(predictor.model, split)).cpu().double().numpy()
    pred = predictor.target.decode_regression(decoded)
    truth = reference.truth
    out: dict[str, Any] = regression_metrics(truth, pred)
    out |= forecast_metrics(truth, pred, reference.mase_scale)
    out["season"] = reference.season
    out["baselines"] = {
        name: forecast_metrics(truth, reference.baselines[name], reference.mase_scale)
        if reference.baselines.get(name) is not None
        else None
        for name in BASELINES
    }
    return out


def baseline_table(test: dict[str, Any], title: str = "test forecast") -> str:
    """The model and the baselines side by side, for the console."""
    rows = [("model", test), *((k, v) for k, v in test["baselines"].items() if v is not None)]

    def cell(value: Any) -> str:
        return f"{value:10.4f}" if isinstance(value, float) else f"{'-':>10}"

    prefix = f"{title} (season {test['season']}):"
    width = max(len(prefix) + 2, 30)
    lines = [prefix.ljust(width) + "".join(f"{m:>10}" for m in ("mae", "rmse", "mape%", "mase"))]
    for name, m in rows:
        values = "".join(cell(m.get(k)) for k in ("mae", "rmse", "mape", "mase"))
        lines.append(f"  {name}".ljust(width) + values)
    return "\n".join(lines)
