"""Cost of the TensorBoard writer per epoch: the same training with and without it.

A model on MNIST-1D (4,000 rows, 40 features, batch 64: 63 steps per epoch) is trained by the
real loop; the variants are interleaved so drift of a shared machine hits both alike. Models:
`mlp` (hidden [256, 128] with batch norm, 10 parameter tensors) and `cnn1d` (the default
residual 1-D CNN of sequence data, 47 parameter tensors). Printed: median seconds per epoch of
each, their ratio, the writer's own epoch-end time (scalars, histograms, flush), and the
one-off cost of opening the writer (importing TensorBoard), which falls on the first epoch only.

    python -m benchmarks.tensorboard_overhead --epochs 10 --repeats 3 --model cnn1d
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
from trainwise.models.cnn1d import CNN1D
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


class TimedWriter(TensorBoardWriter):
    """The writer, with the time its epoch-end work takes."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir)
        self.times: list[float] = []

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        started = time.perf_counter()
        super().on_epoch_end(state, logs)
        self.times.append(time.perf_counter() - started)


def build(model: str) -> nn.Module:
    if model == "cnn1d":
        return CNN1D(length=40, out_features=10)
    return nn.Sequential(
        nn.Linear(40, 256), nn.BatchNorm1d(256), nn.ReLU(),
        nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def one_fit(
    x: torch.Tensor, y: torch.Tensor, epochs: int, log_dir: Path | None, model_name: str
) -> tuple[list[float], list[float]]:
    torch.manual_seed(0)
    model = build(model_name)
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
    writer = None
    if log_dir is not None:
        writer = TimedWriter(log_dir)
        callbacks.insert(0, writer)  # before the clock's epoch end: its work counts
    fit(state, batches, callbacks=callbacks)
    return clock.times, writer.times if writer is not None else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=["mlp", "cnn1d"], default="mlp")
    args = parser.parse_args()
    xs, ys, _, _ = mnist1d_arrays()
    x, y = torch.tensor(xs), torch.tensor(ys)
    started = time.perf_counter()
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401  the one-off import

    import_seconds = time.perf_counter() - started
    plain: list[float] = []
    logged: list[float] = []
    writing: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # first epochs warm up allocators
            plain += one_fit(x, y, args.epochs, None, args.model)[0][1:]
            epochs, writes = one_fit(x, y, args.epochs, Path(tmp) / f"r{r}", args.model)
            logged, writing = logged + epochs[1:], writing + writes[1:]
    a, b = statistics.median(plain), statistics.median(logged)
    print(f"model {args.model}, {torch.get_num_threads()} threads")
    print(f"{'variant':<28} {'s/epoch':>8} {'ratio':>6}")
    print(f"{'no TensorBoard':<28} {a:8.4f} {1.0:6.3f}")
    print(f"{'TensorBoard writer':<28} {b:8.4f} {b / a:6.3f}")
    print(f"overhead per epoch: {1000 * (b - a):.1f} ms ({100 * (b / a - 1):+.1f}%)")
    print(f"the writer's epoch-end work: {1000 * statistics.median(writing):.1f} ms per epoch")
    print(f"one-off: importing TensorBoard {import_seconds:.2f} s")


if __name__ == "__main__":
    main()
