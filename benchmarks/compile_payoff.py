"""What `train.compile` (the whole step compiled by TorchInductor) buys per epoch, and its cost.

Trains the same spec eagerly and compiled, each in a fresh process with an empty Inductor cache
(a cold compile, as a user's first run pays), and times every epoch with a callback. Prints the
median seconds of the epochs after the first (the steady state), the compile's one-off cost (the
compiled run's first epoch beyond its steady epochs, minus the same for the eager run), and the
epochs after which the compile has paid for itself. Timing epochs inside one run, rather than
subtracting a short run from a long one, keeps the compile's own run-to-run scatter (seconds)
out of the per-epoch figure. Two models: the small 1-D CNN of the framework comparison and
trainwise's default model for MNIST-1D; fp32 and automatic precision.

Run: `.venv/bin/python -m benchmarks.compile_payoff [--epochs N] [--only small]`
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

import trainwise
from benchmarks.common import ConvNet1D, mnist1d_arrays
from trainwise.train.callbacks import Callback


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y, xt, yt = mnist1d_arrays()

    def frame(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, columns=[f"x{i}" for i in range(a.shape[1])]).assign(y=b)

    return frame(x, y), frame(xt, yt)


MODELS: dict[str, dict[str, Any]] = {
    "small CNN 1-D (batch 64)": {"batch_size": 64, "lr": 1e-3},
    "default model for MNIST-1D": {"kind": "sequence"},
}


class EpochClock(Callback):
    """Seconds of each epoch, validation included."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_epoch_start(self, state: Any) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def child(name: str, precision: str, epochs: int, compile: bool) -> None:
    """One training run in this fresh process; prints its epochs' seconds as JSON."""
    warnings.filterwarnings("ignore")
    train, test = frames()
    options = dict(MODELS[name])
    if name.startswith("small"):
        options["model"] = ConvNet1D()
    clock = EpochClock()
    result = trainwise.fit(
        train,
        target="y",
        test=test,
        epochs=epochs,
        save=False,
        progress=False,
        early_stopping={"enabled": False},
        precision=precision,
        compile=compile,
        callbacks=[clock],
        **options,
    )
    compiled = result.metrics.get("compiled_steps", 0)
    print(json.dumps({"epochs": clock.seconds, "compiled_steps": compiled}))


def in_fresh_process(name: str, precision: str, epochs: int, compile: bool) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.compile_payoff", "--child", name, precision,
         str(epochs), str(int(compile))],
        capture_output=True, text=True, check=True,
        env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp()},  # no warm cache
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--child", nargs=4)
    parser.add_argument("--only", default="", help="models whose name contains this text")
    args = parser.parse_args()
    if args.child:
        name, precision, epochs, compile = args.child
        child(name, precision, int(epochs), compile == "1")
        return
    print(
        f"\n{'model':<30}{'precision':>10}{'eager s/ep':>12}{'compiled s/ep':>15}"
        f"{'ratio':>7}{'compile s':>11}{'pays after':>12}{'compiled steps':>16}"
    )
    for name in [m for m in MODELS if args.only in m]:
        for precision in ("fp32", "auto"):
            runs = {c: in_fresh_process(name, precision, args.epochs, c) for c in (False, True)}
            steady = {c: statistics.median(r["epochs"][1:]) for c, r in runs.items()}
            first = {c: r["epochs"][0] - steady[c] for c, r in runs.items()}
            once = first[True] - first[False]
            saving = steady[False] - steady[True]
            pays = f"{math.ceil(once / saving)} ep" if saving > 0 else "never"
            print(
                f"{name:<30}{precision:>10}{steady[False]:>12.4f}{steady[True]:>15.4f}"
                f"{steady[True] / steady[False]:>7.2f}{once:>11.1f}{pays:>12}"
                f"{runs[True]['compiled_steps']:>16}"
            )
    print(
        f"(s/ep: median of epochs 2..{args.epochs}, validation included; compile s: the compiled "
        "run's first epoch beyond a steady one, minus the eager run's. Every run in a fresh "
        "process with an empty Inductor cache, so each compile is cold; "
        f"{torch.get_num_threads()} threads available, train.threads=auto.)"
    )


if __name__ == "__main__":
    main()
