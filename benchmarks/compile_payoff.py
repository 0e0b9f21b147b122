"""What `train.compile` (torch.compile, TorchInductor) buys per epoch, and what it costs once.

Trains the same spec with and without compilation for a short and a long run and prints the
marginal seconds per epoch (long minus short, per extra epoch: start-up and the compile itself
cancel out), the one-off cost (the short run's extra seconds), and the epochs after which the
compile has paid for itself. Two models: the small 1-D CNN of the framework comparison and
trainwise's default model for MNIST-1D; fp32 and automatic precision.

Every run is a fresh process, so each pays its own compile as a user's run would.

Run: `.venv/bin/python -m benchmarks.compile_payoff [--epochs N] [--only small]`
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
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


MODELS: dict[str, dict[str, Any]] = {
    "small CNN 1-D (batch 64)": {"batch_size": 64, "lr": 1e-3},
    "default model for MNIST-1D": {"kind": "sequence"},
}


def child(name: str, precision: str, epochs: int, compile: bool) -> None:
    """One training run in this fresh process; prints its seconds (imports and data excluded)."""
    warnings.filterwarnings("ignore")
    train, test = frames()
    options = dict(MODELS[name])
    if name.startswith("small"):
        options["model"] = ConvNet1D()
    _, seconds = timed(
        lambda: trainwise.fit(
            train,
            target="y",
            test=test,
            epochs=epochs,
            save=False,
            progress=False,
            early_stopping={"enabled": False},
            doctor={"enabled": False},
            precision=precision,
            compile=compile,
            **options,
        )
    )
    print(seconds)


def in_fresh_process(name: str, precision: str, epochs: int, compile: bool) -> float:
    """Seconds of one run in a new interpreter: a cold compile, as a user's first run pays."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.compile_payoff", "--child", name, precision,
         str(epochs), str(int(compile))],
        capture_output=True, text=True, check=True,
        env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp()},  # no warm cache
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--child", nargs=4)
    parser.add_argument("--only", default="", help="models whose name contains this text")
    args = parser.parse_args()
    if args.child:
        name, precision, epochs, compile = args.child
        child(name, precision, int(epochs), compile == "1")
        return
    short, long = 2, args.epochs
    print(
        f"\n{'model':<30}{'precision':>10}{'eager s/ep':>12}{'compiled s/ep':>15}"
        f"{'ratio':>7}{'compile s':>11}{'pays after':>12}"
    )
    for name in [m for m in MODELS if args.only in m]:
        for precision in ("fp32", "auto"):
            t = {
                (c, e): in_fresh_process(name, precision, e, c)
                for c in (False, True)
                for e in (short, long)
            }
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
        f"compiled {short}-epoch run's extra time beyond its epochs. Every run in a fresh "
        "process with an empty Inductor cache, so each compile is cold; "
        f"{torch.get_num_threads()} threads available, train.threads=auto.)"
    )


if __name__ == "__main__":
    main()
