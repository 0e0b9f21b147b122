"""trainwise's training loop against a hand-written PyTorch loop, in the same process.

Same model (a 1-D CNN), same MNIST-1D rows, same optimizer (AdamW, lr 1e-3), batch size,
epochs and per-epoch validation; fp32. Prints seconds per epoch and the ratio
trainwise / hand-written (the goal is <= 1.05), then the cost of each optional feature.

Run: `.venv/bin/python -m benchmarks.loop_overhead [--epochs N] [--repeats R]`
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

import trainwise
from benchmarks.common import ConvNet1D, mnist1d_arrays, print_ratios, timed, train_by_hand

BATCH = 64


def hand_loop(
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    epochs: int,
    seed: int,
    net: Callable[[], nn.Module] = ConvNet1D,
) -> tuple[nn.Module, list[float]]:
    """The benchmark CNN (or `net()`) trained by `train_by_hand` with AdamW, one parameter
    group."""
    torch.manual_seed(seed)
    model = net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    return model, train_by_hand(model, opt, x, y, xv, yv, epochs, BATCH, seed)


def trainwise_run(
    frame: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    epochs: int,
    seed: int,
    net: Callable[[], nn.Module] = ConvNet1D,
    **options: object,
) -> trainwise.Result:
    return trainwise.fit(
        frame,
        target="y",
        validation=val,
        test=test,
        model=net(),
        epochs=epochs,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adamw",
        seed=seed,
        schedule={"name": "constant"},
        early_stopping={"enabled": False},
        clean={
            "outliers": "none",
            "scale": "none",
            "duplicates": False,
            "missing_indicator": False,
        },
        progress=options.pop("progress", False),
        **options,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    x, y, xt, yt = mnist1d_arrays()
    n_val = len(x) // 5
    xv, yv, xtr, ytr = x[:n_val], y[:n_val], x[n_val:], y[n_val:]

    def frame(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, columns=[f"x{i}" for i in range(a.shape[1])]).assign(y=b)

    train_df, val_df, test_df = frame(xtr, ytr), frame(xv, yv), frame(xt, yt)
    e = args.epochs
    variants = {
        "hand-written loop": lambda: hand_loop(xtr, ytr, xv, yv, e, 0),
        "trainwise (no run folder)": lambda: trainwise_run(
            train_df, val_df, test_df, e, 0, save=False
        ),
        "trainwise + run folder, checkpoints": lambda: trainwise_run(
            train_df, val_df, test_df, e, 0, output={"dir": tempfile.mkdtemp() + "/run"}
        ),
        "trainwise + progress display": lambda: trainwise_run(
            train_df, val_df, test_df, e, 0, save=False, progress=True
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):  # interleaved, so drift in machine speed hits all alike
        for name, fn in variants.items():
            _, seconds = timed(fn)
            times[name].append(seconds / e)
    print_ratios(times, "hand-written loop")
    print(
        f"(median of {args.repeats} runs of {e} epochs; {torch.get_num_threads()} threads; "
        "trainwise times include data preparation and test evaluation)"
    )


if __name__ == "__main__":
    main()
