"""trainwise against hand-written loops on a small MLP, where per-step overhead weighs most.

A generated table of 20,000 rows x 20 features, 3 classes; the MLP 20-256-128-3 (ReLU), AdamW
(lr 1e-3, weight decay 1e-2, fused), batch 64, one thread (a 4.9 MFLOP step, where
`train.threads: auto` picks one), a validation pass per epoch, fp32. Two hand loops: one with a
single parameter group, one that keeps weight decay off biases as trainwise does (two groups).
trainwise runs with the doctor off and with its defaults. Seconds per epoch are the marginal
cost of an epoch (a long run minus a one-epoch run), median of interleaved repeats.

Run: `.venv/bin/python -m benchmarks.mlp_overhead [--epochs N] [--repeats R]`
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

import trainwise
from benchmarks.common import print_ratios, timed, train_by_hand

BATCH = 64
ROWS, FEATURES, CLASSES = 20_000, 20, 3


def table() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, FEATURES)).astype(np.float32)
    logits = x[:, :6] @ rng.standard_normal((6, CLASSES)) + 0.5 * np.sin(3 * x[:, 6:9])
    return x, logits.argmax(1).astype(np.int64)


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 3)
    )


def hand_loop(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, epochs: int, groups: int
) -> None:
    torch.manual_seed(0)
    model = mlp()
    params: list[dict] | list[nn.Parameter] = list(model.parameters())
    if groups == 2:
        params = [
            {"params": [p for p in model.parameters() if p.ndim > 1]},
            {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0},
        ]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, fused=True)
    train_by_hand(model, opt, x, y, xv, yv, epochs, BATCH)


def trainwise_run(frame: pd.DataFrame, val: pd.DataFrame, epochs: int, doctor: bool) -> None:
    torch.manual_seed(0)
    trainwise.fit(
        frame,
        target="y",
        validation=val,
        model=mlp(),
        epochs=epochs,
        batch_size=BATCH,
        lr=1e-3,
        weight_decay=1e-2,
        optimizer="adamw",
        precision="fp32",
        threads=1,
        schedule={"name": "constant"},
        early_stopping={"enabled": False},
        clean={"outliers": "none", "scale": "none", "duplicates": False},
        doctor={"enabled": doctor},
        evaluate={"test": False},
        save=False,
        progress=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x, y = table()
    n_val = ROWS // 5
    xv, yv, xtr, ytr = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    cols = [f"x{i}" for i in range(FEATURES)]
    train_df = pd.DataFrame(xtr, columns=cols).assign(y=ytr)
    val_df = pd.DataFrame(xv, columns=cols).assign(y=yv)
    torch.set_num_threads(1)
    variants: dict[str, Callable[[int], None]] = {
        "hand-written loop, one parameter group": lambda e: hand_loop(xtr, ytr, xv, yv, e, 1),
        "hand-written loop, two groups (as trainwise)": lambda e: hand_loop(xtr, ytr, xv, yv, e, 2),
        "trainwise, doctor off": lambda e: trainwise_run(train_df, val_df, e, False),
        "trainwise, defaults (doctor on)": lambda e: trainwise_run(train_df, val_df, e, True),
    }
    for fn in variants.values():  # warm-up: imports, first-call costs
        fn(1)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            _, short = timed(lambda fn=fn: fn(1))
            _, long = timed(lambda fn=fn: fn(args.epochs))
            times[name].append((long - short) / (args.epochs - 1))
    print_ratios(times, next(iter(times)), width=48)
    print(
        f"(marginal s/epoch of {args.epochs} over 1 epoch, median of {args.repeats}; "
        f"{ROWS - n_val} training rows; 1 thread)"
    )


if __name__ == "__main__":
    main()
