"""Evaluation batches bounded by the widest activation against batches bounded by the input.

For each model, one evaluation pass over its rows (as a validation pass each epoch makes), in
eval mode without gradients: first in batches of `eval_batch_size` rows alone (up to 4,096
rows, bounded only by the input's values), then through `raw_outputs`, which on a CPU also
bounds each batch by the model's widest activation. A few untimed training steps run before
each pass, as in a fit. Prints the rows per batch, the median milliseconds of interleaved
repeats, the page faults of one pass and the ratio.

Run: `.venv/bin/python -m benchmarks.eval_batches [--repeats R] [--threads T]`
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.common import ConvNet1D
from trainwise.data.prepared import TensorSplit
from trainwise.evaluate.batch_rows import activation_bound_rows, eval_batch_size
from trainwise.evaluate.predict import raw_outputs
from trainwise.models.cnn1d import CNN1D
from trainwise.models.cnn2d import CNN2D


def _split(rows: int, *shape: int) -> TensorSplit:
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(rows, *shape, generator=g)
    return TensorSplit(dense, torch.zeros(rows, 0, dtype=torch.int64), torch.zeros(rows))


def _cases() -> list[tuple[str, nn.Module, TensorSplit]]:
    mlp = nn.Sequential(
        nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 3)
    )
    return [
        ("MLP 20-256-128-3, 4,000 rows", mlp, _split(4000, 20)),
        ("benchmark 1-D CNN, 800 rows", ConvNet1D(), _split(800, 40)),
        (
            "default 1-D CNN (MNIST-1D), 800 rows",
            CNN1D(40, 10, blocks_per_stage=1),
            _split(800, 40),
        ),
        ("default image CNN, 28x28, 1,000 rows", CNN2D(1, 10, side=28), _split(1000, 1, 28, 28)),
    ]


def _by_input(model: nn.Module, split: TensorSplit) -> Callable[[], None]:
    size = eval_batch_size(split.input_shape)

    @torch.no_grad()
    def run() -> None:
        for inputs, _ in split.batches(size):
            model(*inputs)

    return run


def _bounded(model: nn.Module, split: TensorSplit) -> Callable[[], None]:
    def run() -> None:
        raw_outputs(model, split)

    return run


def _train_steps(model: nn.Module, split: TensorSplit, steps: int = 3) -> None:
    """A few training steps at batch 64, untimed: between two validation passes of a fit the
    heap holds what training allocated and freed, not the previous pass's memory."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-6)
    for inputs, _ in itertools.islice(split.batches(64), steps):
        opt.zero_grad(set_to_none=True)
        model(*inputs).square().mean().backward()
        opt.step()
    model.eval()


def _faults(fn: Callable[[], object]) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{'model':<40}{'rows/batch':>12}{'by input ms':>13}{'faults':>8}"
        f"{'bounded ms':>12}{'faults':>8}{'ratio':>7}"
    )
    for name, model, split in _cases():
        model.eval()
        variants = {"input": _by_input(model, split), "bounded": _bounded(model, split)}
        for fn in variants.values():
            fn()  # warm-up: first-call costs, and the probe of the widest activation
        times: dict[str, list[float]] = {key: [] for key in variants}
        for _ in range(args.repeats):
            for key, fn in variants.items():
                _train_steps(model, split)
                start = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - start) * 1e3)
        before, after = (statistics.median(times[key]) for key in variants)
        rows = (
            eval_batch_size(split.input_shape),
            activation_bound_rows(model, split.inputs(), split.input_shape, 4096),
        )
        print(
            f"{name:<40}{f'{rows[0]} -> {rows[1]}':>12}{before:>13.2f}"
            f"{_faults(variants['input']):>8}{after:>12.2f}{_faults(variants['bounded']):>8}"
            f"{after / before:>7.2f}"
        )
    print(f"({args.threads} threads; median of {args.repeats} interleaved repeats)")


if __name__ == "__main__":
    main()
