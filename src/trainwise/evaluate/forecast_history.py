"""A saved forecaster on new data: scored beside the naive forecasts, or forecasting the future.

Both read the new series through the model's own settings (lookback, horizon, columns, step)
and scale it with the statistics of the run's training part: the scaler is never refitted, so
new data at a new level is seen as the model would see it in production.

Scoring (`trainwise evaluate`) takes every window of the new series whose inputs and targets it
holds, and reports the model and both baselines (last value, seasonal naive) on the *same*
windows, with MASE scaled by the training part's in-sample seasonal-naive MAE, exactly as `fit`
reports its test windows. So a window is scored only when it has a season of history before it
(else the seasonal-naive forecast does not exist for it); when no window has, the seasonal
baseline is left out with a note rather than shrinking the comparison to nothing. Windows whose
targets were missing in the data (inserted or interpolated) are not scored: a filled value is
not a truth.

Forecasting (`trainwise predict`) gives the `horizon` steps after the last time stamp, dated on
the model's grid; `windows=True` gives the forecast made at every step instead (a backtest).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwise.data.prepared import features_to_split
from trainwise.data.timeseries import TimeseriesPreprocessor, baselines, future, windows
from trainwise.data.timeseries_history import History, future_stamps, read_history
from trainwise.data.transforms import Features
from trainwise.errors import DataError
from trainwise.evaluate.forecast import BASELINES, forecast_metrics
from trainwise.evaluate.metrics import regression_metrics
from trainwise.evaluate.predict import Predictor, raw_outputs

MIN_OBSERVED_IN_WINDOW = 0.5  # a forecast from a window that is mostly filled in is refused


def is_forecaster(predictor: Predictor) -> bool:
    """Whether the model was trained on a time series (`data.kind=timeseries`)."""
    return isinstance(predictor.preprocessor, TimeseriesPreprocessor)


def score_history(predictor: Predictor, frame: pd.DataFrame, start: Any = None) -> dict[str, Any]:
    """The model's forecast metrics on every window of `frame`, beside both baselines.

    `start` (a time stamp): only windows whose first target is at or after it are scored; the
    rows before it serve as history. The result has the keys of `fit`'s test metrics plus
    `windows` (how many were scored, which period, and why others were not) and `notes`.
    """
    s = _settings(predictor)
    lookback, horizon, season = s["lookback"], s["horizon"], s["season"]
    history = read_history(s, frame, lookback + horizon, "to score one window")
    origins = np.arange(lookback - 1, len(history) - horizon)
    skipped: dict[str, int] = {}
    notes = list(history.notes)
    if start is not None:
        keep = history.stamps[origins + 1] >= _stamp(start, history)
        if not keep.any():
            raise DataError(
                f"no window starts at or after start={start!r}: the data ends at "
                f"{history.stamps[-1]}",
                f"data reaching at least {horizon} step(s) past start",
                "pass an earlier start, or data that covers the period to score",
            )
        skipped["before_start"] = int((~keep).sum())
        origins = origins[keep]
    steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    known = history.observed.all(axis=1)[steps].all(axis=1)
    if not known.all():
        skipped["targets_missing_in_data"] = int((~known).sum())
        origins = origins[known]
    if len(origins) == 0:
        raise DataError(
            "no window of the data has observed values at all its target steps",
            f"at least {lookback + horizon} consecutive steps with the target observed",
            "pass a stretch of the series without missing values",
        )
    with_season = origins >= season - 1  # the seasonal-naive forecast looks one season back
    if with_season.all():
        pass
    elif with_season.any():
        skipped["history_for_seasonal_naive"] = int((~with_season).sum())
        origins = origins[with_season]
        notes.append(
            f"the first windows serve as history only: the seasonal-naive forecast needs "
            f"{season} steps before a window; to score from an earlier date, include that "
            "much earlier history and pass start"
        )
    else:
        notes.append(
            f"seasonal-naive baseline left out: it needs {season} steps of history before a "
            f"window and the data has {len(history)}"
        )
    scores = _scores(predictor, s, history, origins)
    scores["windows"] = {
        "scored": len(origins),
        "first_target": _show_stamp(history.stamps[origins[0] + 1]),
        "last_target": _show_stamp(history.stamps[origins[-1] + horizon]),
        "not_scored": skipped,
    }
    scores["notes"] = notes
    return scores


def forecast_future(predictor: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """The `horizon` steps after the last time stamp: the time column and one column per
    forecast series, one row per step."""
    s = _settings(predictor)
    lookback, targets = s["lookback"], s["targets"]
    history = read_history(s, frame, lookback, "to forecast from")
    last = history.stamps[-1]
    recent = history.observed[-lookback:]
    if not recent[-1].all():
        missing = [t for t, seen in zip(targets, recent[-1], strict=True) if not seen]
        raise DataError(
            f"the last time step ({last}) has no value for {', '.join(map(repr, missing))}",
            "an observed value at the step the forecast starts from",
            "drop the trailing rows without values, or fill them in",
        )
    if recent.mean(axis=0).min() < MIN_OBSERVED_IN_WINDOW:
        raise DataError(
            f"the last {lookback} time steps are mostly gaps ({int(recent.sum(axis=0).min())} "
            "observed values): a forecast from them would rest on filled-in values",
            f"at least half of the last {lookback} steps observed",
            "pass the series with its recent values (missing steps are filled, but not most "
            "of the window)",
        )
    out = _outputs(predictor, _windows(s, history, np.array([len(history) - 1])))
    horizon = s["horizon"]
    table = pd.DataFrame({s["time"] or "step": future_stamps(history, s, horizon)})
    for j, target in enumerate(targets):
        table[target] = out[0, j * horizon : (j + 1) * horizon]
    table.attrs["notes"] = list(history.notes)
    return table


def forecast_windows(predictor: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """The forecast made at every step with a full window: the time of the window's last step,
    then `<series>[t+k]` for each forecast series and step ahead."""
    s = _settings(predictor)
    history = read_history(s, frame, s["lookback"], "to forecast from")
    origins = np.arange(s["lookback"] - 1, len(history))
    out = _outputs(predictor, _windows(s, history, origins))
    table = pd.DataFrame(out, columns=list(predictor.schema.target))
    table.insert(0, s["time"] or "step", history.stamps[origins])
    table.attrs["notes"] = list(history.notes)
    return table


def _scores(
    predictor: Predictor, s: dict[str, Any], history: History, origins: np.ndarray
) -> dict[str, Any]:
    """Metrics of the model and each baseline on these windows, in the series' own units."""
    horizon, season = s["horizon"], s["season"]
    columns = [s["series"].index(t) for t in s["targets"]]
    truth = future(history.values, origins, columns, horizon)
    pred = _outputs(predictor, _windows(s, history, origins))
    naive = baselines(history.values, origins, columns, horizon, season)
    scale = np.repeat(_mase_scale(s, history, columns), horizon)
    out: dict[str, Any] = regression_metrics(truth, pred)
    out |= forecast_metrics(truth, pred, scale)
    out["season"] = season
    out["baselines"] = {
        name: forecast_metrics(truth, naive[name], scale) if naive.get(name) is not None else None
        for name in BASELINES
    }
    return out


def _mase_scale(s: dict[str, Any], history: History, columns: list[int]) -> np.ndarray:
    """The training part's in-sample seasonal-naive MAE per target, saved with the model (a
    run saved before it was kept: the same quantity on the new data, noted as such)."""
    saved = s.get("mase_scale")
    if saved is not None:
        return np.array([np.nan if v is None else v for v in saved], dtype=np.float64)
    season = s["season"] if len(history) > s["season"] else 1
    values = history.values[:, columns]
    scale = np.abs(values[season:] - values[:-season]).mean(axis=0)
    return np.where(scale > 0, scale, np.nan)


def _windows(s: dict[str, Any], history: History, origins: np.ndarray) -> np.ndarray:
    """Model inputs, scaled with the training part's statistics (never refitted)."""
    mean, std = np.asarray(s["mean"]), np.asarray(s["std"])
    return windows((history.values - mean) / std, origins, s["lookback"])


def _outputs(predictor: Predictor, dense: np.ndarray) -> np.ndarray:
    """Forecasts (n, n_targets * horizon) in the series' own units, target-major."""
    device = next(predictor.model.parameters()).device
    codes = np.zeros((len(dense), 0), dtype=np.int64)
    split = features_to_split(Features(dense, codes), torch.zeros(len(dense))).to(device)
    decoded = predictor.head.decode(raw_outputs(predictor.model, split))
    return predictor.target.decode_regression(decoded.cpu().double().numpy())


def _settings(predictor: Predictor) -> dict[str, Any]:
    if not is_forecaster(predictor):
        raise DataError(
            "this run is not a time-series forecaster",
            "a run trained with data.kind=timeseries",
            "use predict / evaluate without the time-series options",
        )
    return predictor.preprocessor.state_  # type: ignore[attr-defined]


def _stamp(start: Any, history: History) -> Any:
    """`start` in the units of the time column (a date, or a number for a numeric index)."""
    try:
        if isinstance(history.stamps, pd.DatetimeIndex):
            stamp = pd.Timestamp(start)
            tz = history.stamps.tz
            if tz is not None and stamp.tz is None:
                stamp = stamp.tz_localize(tz)
            return stamp
        return float(start)
    except (TypeError, ValueError):
        raise DataError(
            f"start={start!r} is not a time",
            "a date/time such as 1989-01-01 (or a number for a numeric time column)",
            "pass start in the format of the time column",
        ) from None


def _show_stamp(stamp: Any) -> str:
    """A time as a user writes it: the date alone at midnight."""
    if isinstance(stamp, pd.Timestamp):
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    return str(stamp)
