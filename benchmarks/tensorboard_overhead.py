"""Cost of the TensorBoard writer per epoch: the same training with and without it.

An MLP on MNIST-1D (4,000 rows, 40 features, hidden [256, 128], batch 64: 63 steps per epoch)
is trained by the real loop; the variants are interleaved so drift of a shared machine hits
both alike. Printed: median seconds per epoch of each, their ratio, and the one-off cost of
opening the writer (importing TensorBoard), which falls on the first epoch only.

    python -m benchmarks.tensorboard_overhead --epochs 10 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import mnist1d_arrays
from trainwise.report.tensorboard import TensorBoardWriter
from trainwise.train.callbacks import Callback
from trainwise.train.loop import fit
from trainwise.train.state import TrainState


class EpochClock(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_epoch_start(self, state: TrainState) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        self.times.append(time.perf_counter() - self._start)


def one_fit(x: torch.Tensor, y: torch.Tensor, epochs: int, log_dir: Path | None) -> list[float]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(40, 256), nn.BatchNorm1d(256), nn.ReLU(),
        nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    state = TrainState(
        model=model,
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3),
        loss_fn=nn.CrossEntropyLoss(),
        max_epochs=epochs,
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
    )

    def batches(gen: torch.Generator, start: int):
        order = torch.randperm(len(y), generator=gen)
        for i in range(start * 64, len(y), 64):
            idx = order[i : i + 64]
            yield (x[idx],), y[idx]

    clock = EpochClock()
    callbacks: list[Callback] = [clock]
    if log_dir is not None:
        callbacks.append(TensorBoardWriter(log_dir))  # after the clock: its epoch-end work counts
        callbacks.reverse()
    fit(state, batches, callbacks=callbacks)
    return clock.times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    xs, ys, _, _ = mnist1d_arrays()
    x, y = torch.tensor(xs), torch.tensor(ys)
    started = time.perf_counter()
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401  the one-off import

    import_seconds = time.perf_counter() - started
    plain: list[float] = []
    logged: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            plain += one_fit(x, y, args.epochs, None)[1:]  # first epochs warm up allocators
            logged += one_fit(x, y, args.epochs, Path(tmp) / f"r{r}")[1:]
    a, b = statistics.median(plain), statistics.median(logged)
    print(f"{'variant':<28} {'s/epoch':>8} {'ratio':>6}")
    print(f"{'no TensorBoard':<28} {a:8.4f} {1.0:6.3f}")
    print(f"{'TensorBoard writer':<28} {b:8.4f} {b / a:6.3f}")
    print(f"overhead per epoch: {1000 * (b - a):.1f} ms ({100 * (b / a - 1):+.1f}%)")
    print(f"one-off: importing TensorBoard {import_seconds:.2f} s")


if __name__ == "__main__":
    main()
