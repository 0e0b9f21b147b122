"""Time to accuracy on MNIST-1D with default settings (no model named: the sequence kind's
residual 1-D CNN, its augmentation, the step budget with a cosine anneal, automatic precision).

Each run writes its run folder (into a temporary folder) as `trainwise fit` does by default:
checkpoints, TensorBoard event files, the report. Prints, per variant: the whole run's seconds
(data preparation, the final test pass and the run folder included), the epoch and seconds at
which validation accuracy first reached 0.98 and 0.985, and the test accuracy. The fp32 variant
shows what automatic precision buys on this machine, the library one what computing small 1-D
convolutions as matrix products (`train.conv1d: auto`) does.

Run: `.venv/bin/python -m benchmarks.mnist1d_time_to_accuracy [--seeds 0 1 2]`
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import torch

import trainwise
from trainwise.train.callbacks import Callback

GOALS = (0.98, 0.985)
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("defaults", {}),
    ("defaults, fp32", {"precision": "fp32"}),
    ("library conv1d", {"conv1d": "library"}),
)


class Clock(Callback):
    """Wall-clock seconds since the run started, at the end of each epoch."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.seconds: list[float] = []

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def first_reaching(history: list[dict[str, float]], seconds: list[float], goal: float) -> str:
    for row, at in zip(history, seconds, strict=False):
        if row.get("val_accuracy", 0.0) >= goal:
            return f"{int(row['epoch'])} / {at:.1f} s"
    return "never"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    print(
        f"{'variant':<22}{'seed':>5}{'whole run s':>13}"
        + "".join(f"{'val>=' + str(g) + ' (ep / s)':>24}" for g in GOALS)
        + f"{'test acc':>10}"
    )
    for seed in args.seeds:
        for name, options in VARIANTS:
            started = time.perf_counter()
            clock = Clock(started)
            with tempfile.TemporaryDirectory() as folder:
                result = trainwise.fit(
                    "mnist1d",
                    seed=seed,
                    progress=False,
                    output={"dir": f"{folder}/run"},
                    callbacks=[clock],
                    **options,
                )
                whole = time.perf_counter() - started
            marks = "".join(
                f"{first_reaching(result.history, clock.seconds, g):>24}" for g in GOALS
            )
            acc = result.metrics["test"]["accuracy"]
            print(f"{name:<22}{seed:>5}{whole:>13.1f}{marks}{acc:>10.4f}")
    print(f"({torch.get_num_threads()} threads; {result.metrics['epochs']} epochs per run)")


if __name__ == "__main__":
    main()
