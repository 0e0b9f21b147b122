"""What `train.compile` (torch.compile, TorchInductor) buys per epoch, and what it costs once.

Trains the same spec with and without compilation for a short and a long run and prints the
marginal seconds per epoch (long minus short, per extra epoch: start-up and the compile itself
cancel out), the one-off cost (the short run's extra seconds), and the epochs after which the
compile has paid for itself. Two models: the small 1-D CNN of the framework comparison and
trainwise's default model for MNIST-1D; fp32 and automatic precision.

Run: `.venv/bin/python -m benchmarks.compile_payoff [--epochs N]`
"""

from __future__ import annotations

import argparse
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

import trainwise
from benchmarks.common import ConvNet1D, mnist1d_arrays, timed


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y, xt, yt = mnist1d_arrays()

    def frame(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, columns=[f"x{i}" for i in range(a.shape[1])]).assign(y=b)

    return frame(x, y), frame(xt, yt)


def run(train: pd.DataFrame, test: pd.DataFrame, epochs: int, **options: Any) -> float:
    torch._dynamo.reset()  # every run pays its own compile, as a fresh process would
    torch._inductor.config.fx_graph_cache = False  # a cold compile, not one from the disk cache
    result = trainwise.fit(
        train,
        target="y",
        test=test,
        epochs=epochs,
        save=False,
        progress=False,
        early_stopping={"enabled": False},
        doctor={"enabled": False},
        **options,
    )
    return float(result.metrics["test"]["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    train, test = frames()
    short, long = 2, args.epochs
    models: dict[str, dict[str, Any]] = {
        "small CNN 1-D (batch 64)": {"model": ConvNet1D, "batch_size": 64, "lr": 1e-3},
        "default model for MNIST-1D": {},
    }
    print(
        f"\n{'model':<30}{'precision':>10}{'eager s/ep':>12}{'compiled s/ep':>15}"
        f"{'ratio':>7}{'compile s':>11}{'pays after':>12}"
    )
    for name, options in models.items():
        for precision in ("fp32", "auto"):

            def go(epochs: int, compile: bool, options=options, precision=precision) -> float:
                opts = dict(options)
                if "model" in opts:
                    opts["model"] = opts["model"]()
                return run(train, test, epochs, precision=precision, compile=compile, **opts)

            go(1, False)  # one-off costs outside the timings
            t = {}
            for compile in (False, True):
                _, t[compile, short] = timed(lambda c=compile: go(short, c))
                _, t[compile, long] = timed(lambda c=compile: go(long, c))
            eager = (t[False, long] - t[False, short]) / (long - short)
            compiled = (t[True, long] - t[True, short]) / (long - short)
            once = t[True, short] - t[False, short] - short * (compiled - eager)
            saving = eager - compiled
            pays = f"{math.ceil(once / saving)} ep" if saving > 0 else "never"
            print(
                f"{name:<30}{precision:>10}{eager:>12.4f}{compiled:>15.4f}"
                f"{compiled / eager:>7.2f}{once:>11.1f}{pays:>12}"
            )
    print(
        f"(s/ep: a {long}-epoch run minus a {short}-epoch run, per extra epoch; compile s: the "
        f"compiled {short}-epoch run's extra time beyond its epochs, a cold compile (Inductor's "
        "on-disk cache off; with it warm, a repeat compiles in a fraction of that); "
        f"{torch.get_num_threads()} threads available, train.threads=auto.)"
    )


if __name__ == "__main__":
    main()
