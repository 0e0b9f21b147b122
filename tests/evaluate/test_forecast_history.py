"""A saved forecaster on new data: `evaluate` against a direct computation of the same windows,
the saved (never refitted) scaler, `predict` dated after the last stamp, and bad history refused
with one message and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import trainwise
from trainwise.cli import main
from trainwise.errors import DataError

LOOKBACK, HORIZON, PERIOD = 24, 3, 12


def series(n: int, seed: int = 0) -> pd.DataFrame:
    """A seasonal sine (period 12) with a trend and noise: last value is a poor forecast."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / PERIOD) + 0.004 * t + rng.normal(scale=0.3, size=n)
    dates = pd.date_range("2020-01-01", periods=n, freq="D")
    return pd.DataFrame({"when": dates.strftime("%Y-%m-%d"), "y": y})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A forecaster fitted on the first 400 days (a few seconds); days 400-599 are unseen."""
    out = tmp_path_factory.mktemp("forecaster") / "run"
    trainwise.fit(
        series(400),
        "y",
        timeseries={"lookback": LOOKBACK, "horizon": HORIZON},
        model={"hidden": [32]},
        epochs=15,
        progress=False,
        output={"dir": str(out), "report": False, "tensorboard": False},
    )
    return out


@pytest.fixture
def later() -> pd.DataFrame:
    return series(600).iloc[400:].reset_index(drop=True)


def direct_forecasts(run: Path, y: np.ndarray, origins: np.ndarray, refit: bool = False):
    """The model's forecasts of these windows, computed here by hand from the bundle's numbers
    (or with mean/std refitted on `y`, to show what evaluate must not do)."""
    bundle = json.loads((run / "model" / "bundle.json").read_text())
    state, target = bundle["preprocessor"]["state"], bundle["target"]
    mean, std = state["mean"][0], state["std"][0]
    t_mean, t_std = np.asarray(target["mean"]), np.asarray(target["std"])
    if refit:
        mean, std = y.mean(), y.std()
        t_mean, t_std = np.full(HORIZON, mean), np.full(HORIZON, std)
    inputs = np.stack([(y[o - LOOKBACK + 1 : o + 1] - mean) / std for o in origins])
    model = trainwise.load(run).model
    with torch.no_grad():
        out = model(torch.tensor(inputs[:, None, :], dtype=torch.float32)).double().numpy()
    return out * t_std + t_mean


def truth_of(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    return np.stack([y[o + 1 : o + 1 + HORIZON] for o in origins])


def test_evaluate_matches_a_direct_computation_and_beats_last_value(run: Path, later) -> None:
    scores = trainwise.load(run).evaluate(later)
    y = later["y"].to_numpy()
    origins = np.arange(LOOKBACK - 1, len(y) - HORIZON)  # every window the stretch holds
    truth = truth_of(y, origins)
    mae = np.abs(direct_forecasts(run, y, origins) - truth).mean()
    last_value = np.abs(y[origins][:, None] - truth).mean()
    seasonal = np.stack([y[o + 1 - PERIOD : o + 1 - PERIOD + HORIZON] for o in origins])
    assert scores["windows"]["scored"] == scores["n"] == len(origins) == 200 - LOOKBACK - 2
    assert scores["windows"]["first_target"] == later["when"][LOOKBACK]
    assert scores["mae"] == pytest.approx(mae, rel=1e-5)
    assert scores["baselines"]["last_value"]["mae"] == pytest.approx(last_value, rel=1e-9)
    assert scores["baselines"]["seasonal_naive"]["mae"] == pytest.approx(
        np.abs(seasonal - truth).mean(), rel=1e-9
    )
    # MASE is scaled by the training part's seasonal-naive error, saved with the model
    train = series(400)["y"].to_numpy()[:280]  # the 70% training part of the fit
    scale = np.abs(train[PERIOD:] - train[:-PERIOD]).mean()
    assert scores["mase"] == pytest.approx(mae / scale, rel=1e-5)
    assert scores["season"] == PERIOD
    assert scores["mae"] < 0.6 * scores["baselines"]["last_value"]["mae"]


def test_the_saved_scaler_is_used_never_refitted(run: Path, later) -> None:
    moved = later.assign(y=2 * later["y"] + 5)  # same shape, new level and spread
    scores = trainwise.load(run).evaluate(moved)
    y = moved["y"].to_numpy()
    origins = np.arange(LOOKBACK - 1, len(y) - HORIZON)
    truth = truth_of(y, origins)
    saved = np.abs(direct_forecasts(run, y, origins) - truth).mean()
    refitted = np.abs(direct_forecasts(run, y, origins, refit=True) - truth).mean()
    assert scores["mae"] == pytest.approx(saved, rel=1e-5)
    assert scores["mae"] != pytest.approx(refitted, rel=1e-3)  # what a refit would give


def test_history_before_the_scored_windows_does_not_change_their_scores(run: Path, later) -> None:
    """Were the scaler fitted on the new data, a year at another level in front would change
    every forecast; with the saved one, the same windows score exactly the same."""
    result = trainwise.load(run)
    start = later["when"][LOOKBACK]
    alone = result.evaluate(later, start=start)
    earlier = series(600).iloc[:400].assign(y=lambda f: 50 * f["y"] + 1000)
    with_past = result.evaluate(pd.concat([earlier, later]), start=start)
    assert with_past["windows"]["scored"] == alone["windows"]["scored"]
    assert with_past["mae"] == alone["mae"] and with_past["rmse"] == alone["rmse"]


def test_start_scores_only_the_later_windows(run: Path, later) -> None:
    result = trainwise.load(run)
    scores = result.evaluate(later, start=later["when"][100])
    assert scores["windows"]["first_target"] == later["when"][100]
    assert scores["windows"]["scored"] == 200 - 100 - HORIZON + 1
    assert scores["windows"]["not_scored"]["before_start"] == 100 - LOOKBACK
    with pytest.raises(DataError, match="no window starts"):
        result.evaluate(later, start="2031-01-01")


def test_missing_steps_are_filled_as_inputs_but_never_scored_as_truth(run: Path, later) -> None:
    gappy = later.drop(index=range(100, 110))
    scores = trainwise.load(run).evaluate(gappy)
    # a window is skipped when any of its HORIZON targets falls on one of the 10 missing days
    assert scores["windows"]["not_scored"]["targets_missing_in_data"] == 10 + HORIZON - 1
    assert any("10 missing time steps inserted" in n for n in scores["notes"])


def test_predict_forecasts_the_horizon_after_the_last_stamp(run: Path) -> None:
    full = series(600)
    history = full.iloc[400:550].sample(frac=1.0, random_state=0)  # any row order
    result = trainwise.load(run)
    forecast = result.predict_frame(history)
    assert list(forecast.columns) == ["when", "y"]
    expected = pd.date_range(full["when"][550], periods=HORIZON, freq="D")
    assert list(forecast["when"]) == list(expected)
    truth = full["y"].to_numpy()[550 : 550 + HORIZON]
    assert np.abs(forecast["y"].to_numpy() - truth).max() < 1.5
    assert result.predict(history).shape == (HORIZON,)
    backtest = result.forecast(history, windows=True)
    assert len(backtest) == 150 - LOOKBACK + 1
    assert list(backtest.columns) == ["when", "y[t+1]", "y[t+2]", "y[t+3]"]
    assert backtest.iloc[-1, 1:].to_numpy(float) == pytest.approx(forecast["y"].to_numpy())


# ---- the command line ---------------------------------------------------------------------
def cli(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_evaluate_prints_json_and_the_table_and_keeps_a_record(
    run: Path, later, tmp_path: Path, monkeypatch, capsys
) -> None:
    later.to_csv(tmp_path / "next.csv", index=False)
    code, out, err = cli(["evaluate", run, "--data", "next.csv"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    scores = json.loads(out)
    assert scores == trainwise.load(run).evaluate(tmp_path / "next.csv")
    assert "last_value" in err and "seasonal_naive" in err and "mase" in err
    records = list((run / "evaluations").glob("next-*.json"))
    assert records and json.loads(records[0].read_text())["metrics"] == scores


def test_cli_predict_writes_the_time_column_and_the_forecast(
    run: Path, later, tmp_path: Path, monkeypatch, capsys
) -> None:
    later.to_csv(tmp_path / "history.csv", index=False)
    args = ["predict", run, "--data", "history.csv", "--out", "forecast.csv"]
    code, _, err = cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "forecast.csv")
    assert list(forecast.columns) == ["when", "y"] and len(forecast) == HORIZON
    assert forecast["when"][0] == series(601)["when"][600]  # the day after the last stamp
    code, _, err = cli([*args[:-1], "windows.csv", "--windows"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "windows.csv")) == 200 - LOOKBACK + 1


def _short(f: pd.DataFrame) -> pd.DataFrame:
    return f.iloc[: LOOKBACK - 1]


def _off_grid(f: pd.DataFrame) -> pd.DataFrame:
    stamps = pd.to_datetime(f["when"])
    return f.assign(when=stamps.where(stamps.index < 50, stamps + pd.Timedelta(hours=12)))


def _trailing_gap(f: pd.DataFrame) -> pd.DataFrame:
    return f.drop(index=range(len(f) - 20, len(f) - 1))  # 19 of the last 24 days absent


BAD = {
    "shorter_than_lookback": (_short, ["too few", f"windows of {LOOKBACK} steps"]),
    "no_time_column": (lambda f: f.drop(columns="when"), ["no time column 'when'"]),
    "no_target_column": (lambda f: f.rename(columns={"y": "Y"}), ["no column 'y'"]),
    "stamps_off_the_daily_grid": (_off_grid, ["not on the model's step of 1 day", "resample"]),
    "last_window_mostly_gaps": (_trailing_gap, ["mostly gaps"]),
    "no_readable_dates": (lambda f: f.assign(when="soon"), ["does not hold dates"]),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_bad_history_exits_2_with_one_message(
    case: str, command: str, run: Path, later, tmp_path: Path, monkeypatch, capsys
) -> None:
    if command == "evaluate" and case == "last_window_mostly_gaps":
        pytest.skip("evaluate scores the windows it can; only a forecast needs the last window")
    make, fragments = BAD[case]
    make(later).to_csv(tmp_path / "bad.csv", index=False)
    args = [command, run, "--data", "bad.csv"] + (
        ["--out", "p.csv"] if command == "predict" else []
    )
    code, out, err = cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trainwise: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Fix:" in lines[0]
    assert not (tmp_path / "p.csv").exists()
