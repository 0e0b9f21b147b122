"""New history for a saved forecaster: the rows put on the model's own time grid, or refused.

A forecaster trained on daily data reads windows of `lookback` consecutive days. New data (the
next year of the series, or the recent past to forecast from) must be read the same way: the
same columns, ordered by the same time column, on the same step, missing steps inserted and
filled as in training. What cannot be read that way is refused with a message naming the
problem, never guessed: a missing time or series column, time stamps off the model's step
(hourly rows for a daily model), a series with no numbers. The caller decides how much history
it needs (a forecast needs `lookback` steps; a scored window `lookback + horizon`).

Which values were really observed is kept beside the filled series, so a score is never taken
against an interpolated "truth" and a forecast is never anchored on an invented last value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.timeseries import parse_time
from trainwise.errors import DataError


@dataclass(frozen=True)
class History:
    """A series on the model's grid: values (T, n_series) with gaps filled, which target
    values were observed (T, n_targets), the time of each step, and what was done to it."""

    values: np.ndarray
    observed: np.ndarray
    stamps: pd.Index
    notes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.values)


def read_history(
    settings: dict[str, Any], frame: pd.DataFrame, min_steps: int, why: str
) -> History:
    """`frame` on the grid the model was trained on; at least `min_steps` steps (`why` says
    what they are for, e.g. "to forecast")."""
    time, series, targets = settings["time"], settings["series"], settings["targets"]
    _check_columns(frame, time, series, targets)
    values = frame[series].apply(pd.to_numeric, errors="coerce").astype(float)
    notes: list[str] = []
    grid = settings.get("grid")
    if time is None:  # not produced by prepare_timeseries today; rows taken as they come
        values = values.reset_index(drop=True)
    elif grid == "index" or (grid is None and settings.get("step") is None):
        key = pd.to_numeric(frame[time], errors="coerce")
        values = _by_stamp(values, key, time, notes)
    else:
        stamps = parse_time(frame[time])
        if stamps is None:
            first = frame[time].dropna().astype(str).head(1).tolist()
            raise DataError(
                f"the time column {time!r} does not hold dates/times"
                + (f" (first value {first[0]!r})" if first else ""),
                "dates or times such as 2020-01-31, as in the data the model was trained on",
                f"fix the values of {time!r} (at least 95% must read as dates)",
            )
        values = _by_stamp(values, pd.Series(pd.DatetimeIndex(stamps)), time, notes)
        if grid != "consecutive" and len(values) > 1:
            values = _on_grid(values, pd.Timedelta(settings["step"]), grid is None, notes)
    observed = values[targets].notna().to_numpy()
    filled = int(values.isna().sum().sum())
    empty = [str(c) for c in values.columns if values[c].isna().all()]
    if empty:
        raise DataError(
            f"column(s) {', '.join(map(repr, empty))} hold no numbers",
            "numbers in every series column the model reads",
            "pass the series' values (empty cells are filled from their neighbours, "
            "but a whole column cannot be)",
        )
    if filled:
        values = values.interpolate(limit_direction="both")
        notes.append(f"{filled} missing values filled by linear interpolation in time")
    if len(values) < min_steps:
        raise DataError(
            f"the data holds {len(values)} time steps, too few {why}",
            f"at least {min_steps} consecutive steps (the model reads windows of "
            f"{settings['lookback']} steps and forecasts {settings['horizon']})",
            f"pass a longer stretch of the series: at least {min_steps} rows ending where "
            "the forecasts should start",
        )
    return History(values.to_numpy(np.float64), observed, values.index, tuple(notes))


def future_stamps(history: History, settings: dict[str, Any], steps: int) -> pd.Index:
    """The times of the `steps` steps after the last one, on the model's grid."""
    last = history.stamps[-1]
    ahead = np.arange(1, steps + 1)
    if isinstance(history.stamps, pd.DatetimeIndex):
        if settings.get("grid") == "consecutive":  # calendar months, business days...
            recent = history.stamps[-min(len(history), 60) :]
            freq = pd.infer_freq(recent) if len(recent) >= 3 else None
            if freq is not None:
                return pd.date_range(last, periods=steps + 1, freq=freq)[1:]
        step = pd.Timedelta(settings["step"]).round("s")
        return pd.DatetimeIndex([last + int(k) * step for k in ahead])
    numbers = np.asarray(history.stamps, dtype=np.float64)
    diff = float(np.median(np.diff(numbers))) if len(numbers) > 1 else 1.0
    out = numbers[-1] + ahead * diff
    return pd.Index(out.astype(np.int64) if np.allclose(out, np.round(out)) else out)


def _check_columns(frame: pd.DataFrame, time: str | None, series: list[str], targets: list[str]):
    if time is not None and time not in frame.columns:
        raise DataError(
            f"the data has no time column {time!r}",
            f"the columns {', '.join(map(repr, [time, *series]))}, as in training",
            f"add the {time!r} column: it orders the rows and dates the forecasts",
        )
    absent = [c for c in series if c not in frame.columns]
    if absent:
        role = "the series the model forecasts" if set(absent) & set(targets) else "input series"
        raise DataError(
            f"the data has no column {', '.join(map(repr, absent))} ({role})",
            f"the columns {', '.join(map(repr, [c for c in (time, *series) if c]))}, "
            "as in training",
            f"add {', '.join(map(repr, absent))} with its values over the same time stamps",
        )


def _by_stamp(values: pd.DataFrame, key: pd.Series, time: str, notes: list[str]) -> pd.DataFrame:
    """Rows in time order; rows without a readable time dropped, duplicate stamps averaged."""
    keep = key.notna().to_numpy()
    if not keep.any():
        raise DataError(
            f"no row has a readable time in column {time!r}",
            "dates, times or numbers ordering the rows",
            f"fix the values of {time!r}",
        )
    if not keep.all():
        notes.append(f"{int((~keep).sum())} rows without a readable time dropped")
    values = values[keep].set_axis(pd.Index(key[keep].to_numpy()))
    before = len(values)
    values = values.groupby(level=0).mean().sort_index()
    if len(values) < before:
        notes.append(f"{before - len(values)} rows with a repeated time stamp averaged")
    return values


def _on_grid(
    values: pd.DataFrame, step: pd.Timedelta, lenient: bool, notes: list[str]
) -> pd.DataFrame:
    """Rows on the step grid, missing steps inserted (as NaN, filled later).

    Refused: a gap that is not a whole number of steps, e.g. hourly rows for a daily model.
    `lenient` (a run saved before the grid was recorded): such data is taken as consecutive."""
    index = pd.DatetimeIndex(values.index)
    diffs = index.to_series().diff().dropna()
    off = diffs[diffs % step != pd.Timedelta(0)]
    if len(off):
        if lenient:
            notes.append("time steps vary: rows are treated as consecutive steps")
            return values
        at = off.index[0]
        before = index[index.get_loc(at) - 1]
        raise DataError(
            f"the time stamps are not on the model's step of {_show(step)}: {before} is "
            f"followed by {at} ({_show(off.iloc[0])} later)",
            f"one row per {_show(step)} as in training (missing steps are allowed and filled)",
            f"resample the series to one row per {_show(step)} (e.g. pandas "
            f"frame.resample({_offset(step)!r}, on=TIME).mean()) before passing it",
        )
    full = pd.date_range(index[0], index[-1], freq=step)
    if len(full) > len(index):
        notes.append(f"{len(full) - len(index)} missing time steps inserted and interpolated")
    return values.reindex(full)


def _show(delta: pd.Timedelta) -> str:
    text = str(delta)
    return text.removesuffix(" 00:00:00").replace("1 days", "1 day")


def _offset(delta: pd.Timedelta) -> str:
    try:
        return pd.tseries.frequencies.to_offset(delta).freqstr
    except ValueError:
        return str(delta)
