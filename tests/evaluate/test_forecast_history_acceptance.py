"""Acceptance (slow): a forecaster of Melbourne's daily minimum temperatures fitted on
1981-1988, then evaluated in a new process on 1989-1990, which it never saw.

It must beat both naive forecasts of the same windows. With only 1989-1990 given, the first
year serves as history (the seasonal-naive forecast needs 365 days before a window); with 1988
in front and start=1989-01-01, all 730 days are scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

SOURCE = Path("/work/shared/datasets/daily_min_temperatures.csv")


def test_fit_before_1989_evaluate_1989_and_1990(tmp_path: Path, run_cli) -> None:
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} not found (the shared datasets folder is absent)")
    frame = pd.read_csv(SOURCE)
    year = pd.to_datetime(frame["Date"]).dt.year
    frame[year < 1989].to_csv(tmp_path / "train.csv", index=False)
    frame[year >= 1989].to_csv(tmp_path / "later.csv", index=False)
    frame[year >= 1988].to_csv(tmp_path / "with_1988.csv", index=False)
    fit = run_cli(
        "fit", "--data", "train.csv", "--quiet", "train.epochs=12", "output.report=false",
        "output.tensorboard=false", "output.dir=run", cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr

    later = run_cli("evaluate", "run", "--data", "later.csv", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    assert "seasonal_naive" in later.stderr  # the table, beside the JSON on stdout
    scores = json.loads(later.stdout)
    assert scores["windows"]["first_target"] == "1990-01-01" and scores["windows"]["scored"] == 365

    both = run_cli(
        "evaluate", "run", "--data", "with_1988.csv", "--start", "1989-01-01", cwd=tmp_path
    )
    assert both.returncode == 0, both.stderr
    scores = json.loads(both.stdout)
    w, base = scores["windows"], scores["baselines"]
    print(
        f"1989-1990 MAE: model {scores['mae']:.3f}, last value {base['last_value']['mae']:.3f}, "
        f"seasonal naive {base['seasonal_naive']['mae']:.3f}; MASE {scores['mase']:.3f}"
    )
    assert (w["first_target"], w["last_target"], w["scored"]) == ("1989-01-01", "1990-12-31", 730)
    assert scores["mae"] < base["last_value"]["mae"] < base["seasonal_naive"]["mae"]
    assert len(list((tmp_path / "run" / "evaluations").glob("*.json"))) == 2

    forecast = run_cli("predict", "run", "--data", "later.csv", "--out", "f.csv", cwd=tmp_path)
    assert forecast.returncode == 0, forecast.stderr
    assert pd.read_csv(tmp_path / "f.csv").to_dict("list")["Date"] == ["1991-01-01"]
