"""Time series → supervised forecasting windows, split in time order, scaled on the past only.

A series is not a bag of rows: a random split would train on tomorrow and test on yesterday.
Here the (regularised) series is cut in time order into train | validation | test parts by the
`data.split` fractions, and a window (the `lookback` values up to an origin t, and the `horizon`
values after it) belongs to the part that holds all of its target steps. Windows whose targets
straddle a boundary are dropped; the inputs of a validation or test window may reach back into
earlier parts, which is the past and known at forecast time. The per-series mean and deviation
are computed on the training part alone.

Each window is (n_series, lookback), so a 1-D CNN reads the series as channels and an MLP reads
the flattened window. Targets are `<series>[t+k]` for k = 1..horizon (a multi-output regression).

A saved forecaster reads new history (to forecast, or to be scored) through
data/timeseries_history.py, with the settings, grid and scaling saved here.
`TimeseriesPreprocessor.transform` (the generic row-wise path) gives each row the window
ending at it, padded with the first value where history is short.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwise.data.prepared import PreparedData, TensorSplit
from trainwise.data.schema import Column, Schema
from trainwise.data.target import TargetEncoder
from trainwise.data.transforms import Features
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec, TimeseriesSpec

MIN_ROWS = 20
MIN_TRAIN_WINDOWS = 16
DEFAULT_LOOKBACK = 32
MAX_SEASON_FOR_LOOKBACK = 32
YEAR, WEEK, DAY = pd.Timedelta(days=365.25), pd.Timedelta(days=7), pd.Timedelta(days=1)


# ---- recognising and resolving the columns ------------------------------------------------
def parse_time(series: pd.Series) -> pd.Series | None:
    """The column as timestamps when (almost) all of it parses as dates/times, else None."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    values = series.astype("string").str.strip()
    if values.notna().sum() == 0 or values.str.len().median() < 6:  # "12", "a" are not dates
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it has to guess the format
        sample = values.dropna().iloc[:50]  # cheap rejection of text columns in wide tables
        if pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() < 0.9:
            return None
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
        if parsed.notna().mean() < 0.95:
            parsed = pd.to_datetime(values, errors="coerce")
    return parsed if parsed.notna().mean() >= 0.95 else None


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def looks_like_timeseries(
    frame: pd.DataFrame, drop: list[str], target: str | list[str] | None
) -> bool:
    """Exactly one date/time column with distinct values, every other column numeric."""
    columns = [c for c in frame.columns if c not in drop]
    if len(frame) < MIN_ROWS or len(columns) < 2:
        return False
    times = [c for c in columns if not _numeric(frame[c]) and parse_time(frame[c]) is not None]
    if len(times) != 1 or frame[times[0]].nunique() < 0.9 * len(frame):
        return False
    others = [c for c in columns if c != times[0]]
    return all(_numeric(frame[c]) for c in others)


def resolve_columns(
    frame: pd.DataFrame,
    spec: TimeseriesSpec | None,
    target: str | list[str] | None,
    drop: list[str],
) -> tuple[str | None, list[str], list[str]]:
    """(time column, input series, target series); targets are always inputs too."""
    spec = spec or TimeseriesSpec()
    time = spec.time
    if time is None:
        found = [c for c in frame.columns if c not in drop and parse_time(frame[c]) is not None]
        if len(found) != 1:
            raise DataError(
                f"cannot tell the time column ({len(found)} columns hold dates/times)",
                "one column of dates/times in a time series table",
                "name it with data.timeseries.time=COLUMN",
            )
        time = str(found[0])
    named = [time, *(spec.series or []), *([target] if isinstance(target, str) else target or [])]
    absent = [c for c in named if c not in frame.columns]
    if absent:
        raise DataError(
            f"column(s) {', '.join(map(repr, absent))} not in the data",
            f"column names from: {', '.join(map(str, frame.columns[:40]))}",
            "check data.timeseries.time, data.timeseries.series and data.target",
        )
    series = (
        list(spec.series)
        if spec.series
        else [str(c) for c in frame.columns if c not in (time, *drop) and _numeric(frame[c])]
    )
    targets = [target] if isinstance(target, str) else list(target or series)
    series = [*targets, *[s for s in series if s not in targets]]  # targets first: channel j
    bad = [c for c in series if not _numeric(pd.to_numeric(frame[c], errors="coerce"))]
    if not series or bad:
        raise DataError(
            "a time series needs numeric series columns"
            + (f"; {', '.join(map(repr, bad))} are not numeric" if bad else ""),
            "one or more columns of numbers besides the time column",
            "list the series in data.timeseries.series (and the one to forecast in data.target)",
        )
    return time, series, targets


# ---- the regular series -------------------------------------------------------------------
def regularise(
    frame: pd.DataFrame, time: str | None, series: list[str]
) -> tuple[np.ndarray, pd.Timedelta | None, list[str], str | None]:
    """Values (T, n_series) in time order on a regular grid, the time step, notes, and the
    grid: "regular" (a fixed step), "consecutive" (varying steps taken one by one), "index" (a
    numeric time column) or None (no time column). A saved model reads new history the same way.

    Missing time steps (e.g. absent calendar days) are inserted when every gap is a whole
    number of steps, and all missing values are filled by linear interpolation in time.
    """
    notes: list[str] = []
    values = frame[series].apply(pd.to_numeric, errors="coerce").astype(float)
    holes = int(values.isna().sum().sum())
    step, layout = None, None
    if time is not None:
        stamps = parse_time(frame[time])
        layout = "index" if stamps is None else "regular"
        if stamps is None:  # a numeric time index: order by it
            order = np.argsort(
                pd.to_numeric(frame[time], errors="coerce").to_numpy(), kind="stable"
            )
            values = values.iloc[order].reset_index(drop=True)
        else:
            keep = stamps.notna().to_numpy()
            if not keep.all():
                notes.append(f"{int((~keep).sum())} rows without a readable time dropped")
            values = values[keep].set_axis(pd.DatetimeIndex(stamps[keep]))
            values = values.groupby(level=0).mean().sort_index()  # duplicate stamps averaged
            diffs = values.index.to_series().diff().dropna()
            if len(diffs):
                step = diffs.min()
                mean_step = (values.index[-1] - values.index[0]) / max(len(values) - 1, 1)
                whole = step > pd.Timedelta(0) and bool((diffs % step == pd.Timedelta(0)).all())
                if whole and mean_step / step < 1.5:
                    grid = pd.date_range(values.index[0], values.index[-1], freq=step)
                    inserted = len(grid) - len(values)
                    if inserted:
                        notes.append(f"{inserted} missing time steps inserted and interpolated")
                    values = values.reindex(grid)
                else:
                    step, layout = mean_step, "consecutive"
                    notes.append(
                        "time steps vary (e.g. calendar months): rows are treated as "
                        "consecutive steps"
                    )
    if values.isna().any().any():
        values = values.interpolate(limit_direction="both")
    if holes:
        notes.append(f"{holes} missing values filled by linear interpolation in time")
    array = values.to_numpy(dtype=np.float64)
    if not np.isfinite(array).all():
        raise DataError(
            "a series has no values at all",
            "numbers in every series column",
            "drop the empty column with data.drop",
        )
    return array, step, notes, layout


# ---- seasonality and window length ------------------------------------------------------
def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Sample autocorrelation at every lag (FFT; the usual biased estimator)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    return acf / acf[0] if acf[0] > 0 else np.zeros(n)


def detect_season(y: np.ndarray, step: pd.Timedelta | None) -> int:
    """The seasonal period in steps, or 1 when none is clear.

    A lag counts when the series correlates with itself one period back (>= 0.3) clearly more
    than half a period back (by 0.1): a smooth series is correlated at every short lag, a
    seasonal one peaks at its period. Calendar periods (day, week, year) that are a whole number
    of time steps are tried first, so noise cannot turn 365 into 364; then any lag.
    """
    n = len(y)
    acf = autocorrelation(y)
    calendar = []
    if step is not None and step > pd.Timedelta(0):
        for period in (DAY, WEEK, YEAR):
            s = period / step
            if s >= 2 and abs(s - round(s)) / s < 0.02 and 2 * round(s) + 1 <= n:
                calendar.append(round(s))
    for lags in (np.asarray(calendar, dtype=int), np.arange(2, max(2, (n - 1) // 2 + 1))):
        if len(lags) == 0:
            continue
        score = np.where(acf[lags] >= 0.3, acf[lags] - acf[lags // 2], -np.inf)
        if score.max() > 0.1:
            return int(lags[int(score.argmax())])
    return 1


def default_lookback(season: int, n_train: int, horizon: int) -> int:
    base = 2 * season if 2 <= season <= MAX_SEASON_FOR_LOOKBACK else DEFAULT_LOOKBACK
    return max(2, min(max(base, 2 * horizon), n_train // 4))


# ---- windows --------------------------------------------------------------------------------
def windows(scaled: np.ndarray, origins: np.ndarray, lookback: int) -> np.ndarray:
    """(n, n_series, lookback) inputs ending at each origin (origins >= lookback - 1)."""
    view = np.lib.stride_tricks.sliding_window_view(scaled, lookback, axis=0)
    return np.ascontiguousarray(view[origins - lookback + 1], dtype=np.float32)


def future(values: np.ndarray, origins: np.ndarray, columns: list[int], horizon: int) -> np.ndarray:
    """(n, n_targets * horizon) values after each origin, target-major."""
    steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    out = values[steps][:, :, columns]  # (n, horizon, k)
    return out.transpose(0, 2, 1).reshape(len(origins), -1)


def baselines(
    values: np.ndarray, origins: np.ndarray, columns: list[int], horizon: int, season: int
) -> dict[str, np.ndarray | None]:
    """The last-value and seasonal-naive forecasts of the same windows, in original units."""
    last = values[origins][:, columns]  # (n, k)
    last_value = np.repeat(last[:, :, None], horizon, axis=2).reshape(len(origins), -1)
    k = np.arange(1, horizon + 1)
    back = k - season * np.ceil(k / season).astype(int)  # the same season, one period back
    steps = origins[:, None] + back[None, :]
    seasonal = None
    if (steps >= 0).all():
        seasonal = values[steps][:, :, columns].transpose(0, 2, 1).reshape(len(origins), -1)
    return {"last_value": last_value, "seasonal_naive": seasonal}


@dataclass(frozen=True)
class ForecastReference:
    """What forecast metrics need beyond the model's output: the test windows' truth and
    baselines in original units, and MASE's scale (in-sample seasonal-naive MAE, training
    part), one per output column."""

    truth: np.ndarray
    baselines: dict[str, np.ndarray | None]
    mase_scale: np.ndarray
    season: int


# ---- the preprocessor ---------------------------------------------------------------------
class TimeseriesPreprocessor:
    """Scales the series with training-part statistics and cuts one window per row."""

    def __init__(self, schema: Schema, settings: dict[str, Any]) -> None:
        self.schema = schema
        self.state_ = dict(settings)

    def fit(self, values: np.ndarray) -> TimeseriesPreprocessor:
        """`values` is the training part, (T_train, n_series) in time order."""
        std = values.std(axis=0)
        self.state_["mean"] = values.mean(axis=0).tolist()
        self.state_["std"] = np.where(std > 1e-12, std, 1.0).tolist()
        return self

    def scale(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.state_["mean"])) / np.asarray(self.state_["std"])

    def transform(self, frame: pd.DataFrame) -> Features:
        """A frame of history → the window ending at each row (in the frame's row order)."""
        s = self.state_
        absent = [c for c in s["series"] if c not in frame.columns]
        if absent:
            raise DataError(
                f"the history lacks series column(s) {', '.join(map(repr, absent))}",
                f"the columns {', '.join(s['series'])} (and {s['time']!r} to order the rows)",
                "pass the history with the same columns as in training",
            )
        if len(frame) == 0:
            raise DataError("the history has no rows", "at least one row", "pass more rows")
        order = np.arange(len(frame))
        if s["time"] in frame.columns:
            stamps = parse_time(frame[s["time"]])
            key = stamps if stamps is not None else pd.to_numeric(frame[s["time"]], "coerce")
            order = np.argsort(key.to_numpy(), kind="stable")
        values = frame[s["series"]].apply(pd.to_numeric, errors="coerce").astype(float)
        values = values.iloc[order].reset_index(drop=True).interpolate(limit_direction="both")
        scaled = np.nan_to_num(self.scale(values.to_numpy(dtype=np.float64)))
        lookback = s["lookback"]
        padded = np.concatenate([np.repeat(scaled[:1], lookback - 1, axis=0), scaled])
        sorted_windows = windows(padded, np.arange(len(frame)) + lookback - 1, lookback)
        dense = np.empty_like(sorted_windows)
        dense[order] = sorted_windows
        return Features(dense, np.zeros((len(frame), 0), dtype=np.int64))

    def describe(self) -> dict[str, Any]:
        keys = ("time", "series", "targets", "lookback", "horizon", "season", "step")
        return {
            "timeseries": {k: self.state_[k] for k in keys},
            "scaling": "per series mean and standard deviation of the training part",
        }

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "timeseries", "state": self.state_}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> TimeseriesPreprocessor:
        return cls(schema, raw["state"])

    @property
    def embedding_cardinalities(self) -> list[int]:
        return []

    @property
    def feature_names(self) -> list[str]:
        return list(self.state_["series"])


# ---- the data stage for time series --------------------------------------------------------
def prepare_timeseries(spec: DataSpec, frames: Any) -> PreparedData:
    """Windows for train, validation and test in time order (see the module docstring)."""
    if frames.validation is not None or frames.test is not None:
        raise DataError(
            "separate validation/test files are not used for time series",
            "one table holding the whole series; it is split in time order",
            "concatenate the files and set data.split fractions instead",
        )
    ts = spec.timeseries
    time, series, targets = resolve_columns(frames.frame, ts, frames.target, spec.drop)
    values, step, notes, grid = regularise(frames.frame, time, series)
    n, horizon = len(values), ts.horizon
    split = spec.split
    total = split.train + split.validation + split.test
    end_train = round(n * split.train / total)
    end_val = end_train + round(n * split.validation / total)
    columns = [series.index(t) for t in targets]
    season = ts.season or detect_season(values[:end_train, columns[0]], step)
    lookback = ts.lookback or default_lookback(season, end_train, horizon)

    origins = np.arange(lookback - 1, n - horizon)
    first, last = origins + 1, origins + horizon
    parts = {
        "train": origins[last < end_train],
        "validation": origins[(first >= end_train) & (last < end_val)],
        "test": origins[first >= end_val],
    }
    if len(parts["train"]) < MIN_TRAIN_WINDOWS:
        raise DataError(
            f"the series has {n} steps: too short for {MIN_TRAIN_WINDOWS} training windows of "
            f"lookback {lookback} and horizon {horizon}",
            f"at least {MIN_TRAIN_WINDOWS} windows in the training part",
            "provide a longer series, or lower data.timeseries.lookback / horizon",
        )
    names = [f"{t}[t+{k}]" for t in targets for k in range(1, horizon + 1)]
    schema = Schema(
        (
            *([Column(time, "time", "the time index", 0, int(n))] if time else []),
            *(Column(c, "numeric", "a series", 0, 0) for c in series),
        ),
        tuple(names),
        "regression",
    )
    settings = {
        "time": time,
        "series": series,
        "targets": targets,
        "lookback": int(lookback),
        "horizon": int(horizon),
        "season": int(season),
        "step": str(step) if step is not None else None,
        "grid": grid,
    }
    pre = TimeseriesPreprocessor(schema, settings).fit(values[:end_train])
    scaled = pre.scale(values)
    # targets in the same units as their input channels, so the model can predict the change
    # from the last input value (models/forecast.py)
    target = TargetEncoder(schema)
    target.mean_ = np.repeat(np.asarray(pre.state_["mean"])[columns], horizon).tolist()
    target.std_ = np.repeat(np.asarray(pre.state_["std"])[columns], horizon).tolist()

    def tensors(origins_: np.ndarray) -> TensorSplit | None:
        if len(origins_) == 0:
            return None
        y = target.encode(pd.DataFrame(future(values, origins_, columns, horizon), columns=names))
        return TensorSplit(
            torch.from_numpy(windows(scaled, origins_, lookback)),
            torch.zeros((len(origins_), 0), dtype=torch.int64),
            torch.from_numpy(y),
        )

    train_split = tensors(parts["train"])
    assert train_split is not None  # checked above
    reference = None
    s = season if end_train > season else 1
    scale = np.abs(values[s:end_train] - values[: end_train - s]).mean(axis=0)[columns]
    # kept with the model: `trainwise evaluate` on new data scales MASE by the same
    pre.state_["mase_scale"] = [float(v) if v > 0 else None for v in scale]
    if len(parts["test"]):
        reference = ForecastReference(
            truth=future(values, parts["test"], columns, horizon),
            baselines=baselines(values, parts["test"], columns, horizon, season),
            mase_scale=np.repeat(np.where(scale > 0, scale, np.nan), horizon),
            season=int(season),
        )
    summary = {
        "dataset": frames.name,
        "rows_in": len(frames.frame),
        "kind": "timeseries",
        "task": "regression",
        "target": names,
        "splits": {k: len(v) for k, v in parts.items()},
        "split_steps": {
            "train": [0, end_train],
            "validation": [end_train, end_val],
            "test": [end_val, n],
        },
        "columns": {c.name: {"kind": c.kind, "reason": c.reason} for c in schema.columns},
        "dropped_columns": {c: "in data.drop" for c in spec.drop if c in frames.frame.columns},
        "cleaning": {"scaling": "per series, training part only"},
        "n_features": len(series),
        "notes": [*notes, f"windows: lookback {lookback}, horizon {horizon}, season {season}"],
        **pre.describe(),
    }
    return PreparedData(
        schema=schema,
        preprocessor=pre,
        target=target,
        train=train_split,
        validation=tensors(parts["validation"]),
        test=tensors(parts["test"]),
        test_rows=None,
        summary=summary,
        forecast=reference,
    )
