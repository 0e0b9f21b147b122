"""trainwise's training loop against a hand-written PyTorch loop, in the same process.

Same model (a 1-D CNN), same MNIST-1D rows, same optimizer (AdamW, lr 1e-3), batch size,
epochs and per-epoch validation; fp32. Prints seconds per epoch and the ratio
trainwise / hand-written (the goal is <= 1.05), then the cost of each optional feature.

Run: `.venv/bin/python -m benchmarks.loop_overhead [--epochs N] [--repeats R]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import numpy as np
import pandas as pd
import torch
from torch import nn

import trainwise
from benchmarks.common import ConvNet1D, mnist1d_arrays, timed

BATCH = 64


def hand_loop(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, epochs: int, seed: int
) -> tuple[nn.Module, list[float]]:
    """The loop an expert writes by hand: tensors in memory, index gathers, one sync/epoch."""
    torch.manual_seed(seed)
    model = ConvNet1D()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xvt, yvt = torch.from_numpy(xv), torch.from_numpy(yv)
    gen = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(epochs):
        model.train()
        total = torch.zeros(())
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), BATCH):
            idx = order[start : start + BATCH]
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        model.eval()
        with torch.no_grad():
            logits = model(xvt)
            val_loss = loss_fn(logits, yvt)
            acc = (logits.argmax(1) == yvt).float().mean()
        _ = total.item() + val_loss.item()
        accs.append(float(acc))
    return model, accs


def trainwise_run(
    frame: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    epochs: int,
    seed: int,
    **options: object,
) -> trainwise.Result:
    return trainwise.fit(
        frame,
        target="y",
        validation=val,
        test=test,
        model=ConvNet1D(),
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
    base = statistics.median(times["hand-written loop"])
    print(f"\n{'variant':<40}{'s/epoch':>10}{'ratio':>8}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<40}{med:>10.4f}{med / base:>8.3f}")
    print(
        f"(median of {args.repeats} runs of {e} epochs; {torch.get_num_threads()} threads; "
        "trainwise times include data preparation and test evaluation)"
    )


if __name__ == "__main__":
    main()
