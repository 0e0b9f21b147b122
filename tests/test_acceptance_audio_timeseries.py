"""Acceptance: audio and time series with defaults on real data (slow: `pytest -m slow`).

- fsdd (spoken digits, 600 clips): test accuracy >= 0.90.
- Melbourne daily minimum temperatures, 1-day horizon: test MAE below both the last-value and
  the seasonal-naive forecasts of the same windows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CANDIDATES = [
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets",
    Path("/work/shared/datasets"),
]


def dataset(name: str) -> Path:
    for root in CANDIDATES:
        if (root / name).exists():
            return root / name
    pytest.skip(f"{name} not found in the shared datasets folder ({CANDIDATES[-1]})")


def test_fsdd_with_defaults(tmp_path: Path, run_cli) -> None:
    source = dataset("fsdd")
    started = time.perf_counter()
    proc = run_cli("fit", "--data", source, "output.dir=run", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    print(
        f"fsdd: test accuracy {metrics['test']['accuracy']:.4f} "
        f"in {time.perf_counter() - started:.0f} s"
    )
    assert metrics["test"]["accuracy"] >= 0.90, metrics["test"]


def test_daily_temperatures_beat_both_baselines(tmp_path: Path, run_cli) -> None:
    source = dataset("daily_min_temperatures.csv")
    proc = run_cli("fit", "--data", source, "output.dir=run", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "seasonal_naive" in proc.stdout  # reported side by side on the console
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    model = test["mae"]
    last = test["baselines"]["last_value"]["mae"]
    seasonal = test["baselines"]["seasonal_naive"]["mae"]
    print(
        f"daily temperatures MAE: model {model:.3f}, last value {last:.3f}, "
        f"seasonal naive {seasonal:.3f} (season {test['season']})"
    )
    assert test["season"] == 365
    assert model < last and model < seasonal, test
