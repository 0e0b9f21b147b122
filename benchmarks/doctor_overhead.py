"""The training doctor's cost: seconds per epoch with `train.doctor` on vs off, in one process.

Two workloads: the 1-D CNN on MNIST-1D of `loop_overhead` (AdamW, batch 64, per-epoch
validation), and the default tabular MLP (256-128, batch norm, dropout) on a generated table of
20,000 rows x 30 features. The time is the process's CPU time over the training loop alone (first
`on_fit_start` to last `on_fit_end`, one thread), so neither data preparation and test scoring
nor other processes on a shared machine dilute or blur the ratio. Runs are
interleaved (off, on, off, on, ...) so drift in machine speed hits both alike; the median is
reported. The goal is a ratio <= 1.05.

Run: `.venv/bin/python -m benchmarks.doctor_overhead [--epochs N] [--repeats R]`
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

import trainwise
from benchmarks.common import ConvNet1D, mnist1d_arrays
from trainwise import Callback


class LoopTimer(Callback):
    """CPU seconds of this process over the training loop: on a shared machine, wall time
    mostly measures the neighbours (with one thread, CPU time is what the step costs)."""

    def on_fit_start(self, state) -> None:
        self.start = time.process_time()

    def on_fit_end(self, state) -> None:
        self.seconds = time.process_time() - self.start


def mnist1d_workload(epochs: int) -> Callable[[bool], float]:
    x, y, xt, yt = mnist1d_arrays()
    cols = [f"x{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=cols).assign(y=y)
    test = pd.DataFrame(xt, columns=cols).assign(y=yt)

    def run(doctor: bool) -> float:
        timer = LoopTimer()
        trainwise.fit(
            frame,
            "y",
            test=test,
            model=ConvNet1D(),
            epochs=epochs,
            batch_size=64,
            schedule={"name": "constant"},
            early_stopping={"enabled": False},
            clean={"outliers": "none", "scale": "none", "duplicates": False},
            doctor={"enabled": doctor},
            callbacks=[timer],
            progress=False,
            save=False,
        )
        return timer.seconds / epochs

    return run


def tabular_workload(epochs: int) -> Callable[[bool], float]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 30)).astype(np.float32)
    logits = x[:, :5].sum(axis=1) + np.sin(3 * x[:, 5]) + 0.5 * rng.normal(size=len(x))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(30)]).assign(y=logits > 0)

    def run(doctor: bool) -> float:
        timer = LoopTimer()
        trainwise.fit(
            frame,
            "y",
            epochs=epochs,
            early_stopping={"enabled": False},
            doctor={"enabled": doctor},
            callbacks=[timer],
            progress=False,
            save=False,
        )
        return timer.seconds / epochs

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)  # CPU time then equals the step's own cost (no spin-waiting)
    workloads = {
        "MNIST-1D, 1-D CNN": mnist1d_workload(args.epochs),
        "tabular MLP 256-128, 20k rows": tabular_workload(args.epochs),
    }
    print(f"\n{'workload':<34}{'off s/epoch':>12}{'on s/epoch':>12}{'ratio':>8}  (CPU s)")
    for name, run in workloads.items():
        run(False)  # warm-up: allocator, kernels, data caches
        off, on = [], []
        for _ in range(args.repeats):
            off.append(run(False))
            on.append(run(True))
        a, b = statistics.median(off), statistics.median(on)
        print(f"{name:<34}{a:>12.4f}{b:>12.4f}{b / a:>8.3f}", flush=True)
    print(
        f"(median of {args.repeats} interleaved runs of {args.epochs} epochs; "
        f"{torch.get_num_threads()} threads; CPU time of the training loop)"
    )


if __name__ == "__main__":
    main()
