"""Seconds per epoch of a table as its rows grow, at batch 64 and at `train.batch_size: auto`.

Two claims are checked in one process: time per epoch grows linearly with the rows (the
microseconds per training row stay flat from the smallest table to the largest), and the `auto`
batch size (train/batch_size.py) makes a large table's epochs several times cheaper than batch
64. Each setting is fitted twice, for 1 and for `--epochs` epochs, with early stopping off; the
difference divided by the extra epochs is the marginal cost of an epoch (training plus
validation), free of data preparation and test scoring, which are printed on their own.

Run: `.venv/bin/python -m benchmarks.table_rows [--rows N ...] [--epochs E]`
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch
from sklearn.datasets import make_classification

import trainwise
from benchmarks.common import timed


def table(rows: int) -> pd.DataFrame:
    x, y = make_classification(
        rows, 20, n_informative=12, n_redundant=4, flip_y=0.02, random_state=0
    )
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(20)]).assign(y=y)


def fit(frame: pd.DataFrame, batch: str, epochs: int) -> trainwise.Result:
    return trainwise.fit(
        frame,
        "y",
        batch_size=batch if batch == "auto" else int(batch),
        epochs=epochs,
        early_stopping={"enabled": False},
        save=False,
        progress=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 80_000, 320_000])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    print(
        f"\n{'rows':>9}{'train rows':>12}{'batch':>7}{'s/epoch':>9}{'µs/row':>8}"
        f"{'rest, s':>9}{'vs 64':>7}"
    )
    fit(table(2_000), "auto", 1)  # the process's one-off costs (imports, kernel selection)
    for rows in args.rows:
        frame = table(rows)
        per_epoch_at_64 = None
        for batch in ("64", "auto"):
            _, once = timed(lambda f=frame, b=batch: fit(f, b, 1))
            result, seconds = timed(lambda f=frame, b=batch: fit(f, b, args.epochs))
            budget = result.summary["training_budget"]
            train_rows = result.summary["splits"]["train"]
            epoch = (seconds - once) / (args.epochs - 1)
            per_epoch_at_64 = per_epoch_at_64 or epoch
            print(
                f"{rows:>9,}{train_rows:>12,}{budget['batch_size']:>7}{epoch:>9.3f}"
                f"{epoch / train_rows * 1e6:>8.1f}{once - epoch:>9.2f}"
                f"{per_epoch_at_64 / epoch:>7.2f}"
            )
    print(
        f"(20 features, default MLP and AdamW, fp32, {torch.get_num_threads()} threads; "
        "s/epoch = marginal cost of an epoch incl. validation; rest = preparation, model "
        "build and test scoring; vs 64 = speed-up over batch 64)"
    )


if __name__ == "__main__":
    main()
