"""Time series: recognising the table, windows in time order without leaks, scaling on the past
only, season detection, baselines, and fit → save → predict from history in a new process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainwise.data.prepare import load_frames, prepare
from trainwise.data.timeseries import baselines, detect_season, future, windows
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec, TimeseriesSpec


def seasonal_frame(n: int = 400, period: int = 12, seed: int = 0, freq: str = "D") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / period) + 0.002 * t + rng.normal(scale=0.3, size=n)
    dates = pd.date_range("2020-01-01", periods=n, freq=freq).strftime("%Y-%m-%d %H:%M")
    return pd.DataFrame({"when": dates, "y": y, "x": rng.normal(size=n)})


def test_a_dated_numeric_table_is_a_time_series() -> None:
    frames = load_frames(DataSpec(), seasonal_frame())
    assert frames.kind == "timeseries" and frames.target == ["y", "x"]
    frames = load_frames(DataSpec(target="y"), seasonal_frame())
    assert frames.kind == "timeseries" and frames.target == "y"
    tabular = seasonal_frame().assign(city=lambda f: np.where(f["x"] > 0, "a", "b"))
    assert load_frames(DataSpec(target="y"), tabular).kind in {"auto", "tabular"}


def test_windows_respect_time_order_and_scaling_sees_only_the_past() -> None:
    frame = seasonal_frame(n=300)
    spec = DataSpec(target="y", timeseries=TimeseriesSpec(lookback=10, horizon=3))
    data = prepare(spec, load_frames(spec, frame), seed=0)
    steps = data.summary["split_steps"]
    end_train, end_val = steps["train"][1], steps["validation"][1]
    assert (end_train, end_val) == (210, 270)
    # scaling statistics are those of the training part alone
    assert data.preprocessor.state_["mean"][0] == pytest.approx(frame["y"][:end_train].mean())
    # changing the future leaves training inputs, targets and scaling untouched
    later = frame.copy()
    later.loc[end_train:, "y"] += 100.0
    again = prepare(spec, load_frames(spec, later), seed=0)
    assert np.array_equal(again.train.dense.numpy(), data.train.dense.numpy())
    assert np.array_equal(again.train.y.numpy(), data.train.y.numpy())
    # every window's targets lie inside its own part; none straddles a boundary
    n_train = end_train - 10 - 3 + 1
    assert data.summary["splits"] == {"train": n_train, "validation": 60 - 2, "test": 30 - 2}
    assert data.train.dense.shape == (n_train, 2, 10) and data.train.y.shape == (n_train, 3)
    assert list(data.schema.target) == ["y[t+1]", "y[t+2]", "y[t+3]"]


def test_window_and_baseline_arithmetic() -> None:
    values = np.arange(20, dtype=float)[:, None]
    origins = np.array([9, 12])
    assert windows(values, origins, 4)[:, 0].tolist() == [[6, 7, 8, 9], [9, 10, 11, 12]]
    assert future(values, origins, [0], 2).tolist() == [[10, 11], [13, 14]]
    b = baselines(values, origins, [0], 2, season=5)
    assert b["last_value"].tolist() == [[9, 9], [12, 12]]
    assert b["seasonal_naive"].tolist() == [[5, 6], [8, 9]]  # one season back
    assert baselines(values, np.array([2]), [0], 1, season=5)["seasonal_naive"] is None


def test_season_detection() -> None:
    rng = np.random.default_rng(0)
    days = np.arange(3 * 365)
    yearly = np.sin(2 * np.pi * days / 365.25) + 0.3 * rng.normal(size=days.size)
    assert detect_season(yearly, pd.Timedelta(days=1)) == 365
    hours = np.arange(24 * 30)
    daily = np.sin(2 * np.pi * hours / 24) + 0.2 * rng.normal(size=hours.size)
    assert detect_season(daily, pd.Timedelta(hours=1)) == 24
    walk = np.cumsum(rng.normal(size=1000))
    assert detect_season(walk, pd.Timedelta(days=1)) == 1
    assert detect_season(np.tile([0.0, 1.0, 3.0, 1.0, 0.0, -2.0], 50), None) == 6


def test_gaps_in_the_calendar_are_filled() -> None:
    frame = seasonal_frame(n=200).drop(index=[50, 51, 120]).reset_index(drop=True)
    frame.loc[10, "y"] = np.nan
    spec = DataSpec(target="y")
    data = prepare(spec, load_frames(spec, frame), seed=0)
    notes = " ".join(data.summary["notes"])
    assert "3 missing time steps inserted" in notes and "1 missing values" in notes


def test_too_short_a_series_is_refused() -> None:
    spec = DataSpec(target="y", timeseries=TimeseriesSpec(lookback=30))
    with pytest.raises(DataError, match="too short"):
        prepare(spec, load_frames(spec, seasonal_frame(n=40)), seed=0)


def test_fit_beats_baselines_and_predicts_from_history(tmp_path: Path, run_cli) -> None:
    seasonal_frame(n=600, period=12).to_csv(tmp_path / "series.csv", index=False)
    result = run_cli(
        "fit",
        "--data",
        "series.csv",
        "--target",
        "y",
        "--quiet",
        "train.epochs=40",
        "output.dir=run",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "last_value" in result.stdout and "seasonal_naive" in result.stdout
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert test["season"] == 12
    assert test["mae"] < test["baselines"]["last_value"]["mae"]
    assert test["mase"] is not None and test["mase"] < 1.5
    history = pd.read_csv(tmp_path / "series.csv").iloc[:500]
    history.sample(frac=1.0, random_state=0).to_csv(tmp_path / "history.csv", index=False)
    out = run_cli("predict", "run", "--data", "history.csv", "--out", "pred.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    # one row per step of the horizon (1 here), dated the step after the last time stamp
    series = pd.read_csv(tmp_path / "series.csv")
    assert pd.to_datetime(pred["when"]).tolist() == [pd.Timestamp(series["when"][500])]
    assert abs(pred["y"][0] - series["y"][500]) < 1.5
