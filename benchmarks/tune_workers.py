"""Wall time of one study of N equal trials run by 1 and by 2 local worker processes.

Each trial trains the same small MLP for a fixed number of epochs (no early stopping, no
pruning), so the trials cost the same and the ratio measures the parallel speed-up of
`trainwise tune --workers 2` over one worker, SQLite storage included. Trials last a few
seconds each: a whole command also pays fixed costs (starting the worker processes, the study's
results and report, about 8 s here), which trials of half a second would leave as most of the
wall time. Run:

    PYTHONPATH=src python -m benchmarks.tune_workers [--trials 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def workdir(root: Path, trials: int) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12000, 8))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
    frame["y"] = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    frame.to_csv(root / "data.csv", index=False)
    spec = {
        "data": {"source": "data.csv", "target": "y"},
        "model": {"hidden": [64, 32]},
        "train": {"epochs": 30, "early_stopping": {"enabled": False}},
        "tune": {
            "space": {"train.lr": "loguniform(1e-3, 1e-2)"},
            "trials": trials,
            "strategy": "random",
            "pruner": "none",
        },
    }
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root


def timed(root: Path, workers: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "trainwise.cli", "tune", "spec.yaml", "--quiet",
         "--workers", str(workers), "--study", f"w{workers}"],
        cwd=root, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = workdir(Path(tmp), args.trials)
        one = timed(root, 1)
        two = timed(root, 2)
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    print(f"{args.trials} trials, 1 worker : {one:6.1f} s")
    print(f"{args.trials} trials, 2 workers: {two:6.1f} s")
    print(f"speed-up: {one / two:.2f}x (2.0x is perfect)")


if __name__ == "__main__":
    main()
