"""Seconds per training step on one thread versus every thread, fp32 versus bf16, across step
sizes.

The evidence behind `train.threads: auto` (train/threads.py) and `train.precision: auto` on
CPUs (train/runtime.py): for each model and batch size it counts the forward FLOPs of a step,
times full training steps (forward, loss, backward, fused AdamW) on 1 thread and on all of the
process's threads, in fp32 and under bf16 autocast, interleaved, and prints the fastest setting
beside the one trainwise would choose.

Run: `.venv/bin/python -m benchmarks.threads [--steps N] [--repeats R]`
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.common import ConvNet1D
from trainwise.train.runtime import resolve_precision
from trainwise.train.threads import choose_threads, step_flops


def mlp(inputs: int, width: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), nn.BatchNorm1d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def cnn2d(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.BatchNorm2d(2 * channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * channels, 10),
    )


# name, model, one batch of inputs
CASES: list[tuple[str, Callable[[], nn.Module], Callable[[], torch.Tensor]]] = [
    ("MLP 30-128-128, batch 64", lambda: mlp(30, 128, 2), lambda: torch.randn(64, 30)),
    ("MLP 30-512-512, batch 256", lambda: mlp(30, 512, 2), lambda: torch.randn(256, 30)),
    ("MLP 100-1024x3, batch 256", lambda: mlp(100, 1024, 3), lambda: torch.randn(256, 100)),
    ("CNN 1-D 32 ch, batch 64", lambda: ConvNet1D(), lambda: torch.randn(64, 40)),
    ("CNN 1-D 32 ch, batch 256", lambda: ConvNet1D(), lambda: torch.randn(256, 40)),
    ("CNN 1-D 128 ch, batch 64", lambda: ConvNet1D(channels=128), lambda: torch.randn(64, 40)),
    ("CNN 2-D 16 ch 8x8, batch 64", lambda: cnn2d(16), lambda: torch.randn(64, 1, 8, 8)),
    ("CNN 2-D 32 ch 28x28, batch 64", lambda: cnn2d(32), lambda: torch.randn(64, 1, 28, 28)),
    ("CNN 2-D 64 ch 32x32, batch 128", lambda: cnn2d(64), lambda: torch.randn(128, 1, 32, 32)),
]


def seconds_per_step(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, n: int, bf16: bool
) -> float:
    y = torch.randint(0, 10, (len(x),))
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(n):
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cores = torch.get_num_threads()
    settings = [(1, False), (cores, False), (1, True), (cores, True)]
    label = {s: f"{s[0]}t {'bf16' if s[1] else 'fp32'}" for s in settings}
    print(
        f"\n{'model, batch':<32}{'MFLOP':>8}"
        + "".join(f"{label[s] + ' ms':>12}" for s in settings)
        + f"{'fastest':>11}{'auto':>11}{'auto/best':>10}"
    )
    ratios = []
    for name, make, batch in CASES:
        torch.manual_seed(0)
        model, x = make(), batch()
        opt = torch.optim.AdamW(model.parameters(), fused=True)
        flops = step_flops(torch.device("cpu"), model, (x,))
        chosen = choose_threads("auto", torch.device("cpu"), flops)
        bf16 = resolve_precision("auto", torch.device("cpu"), flops) is not None
        times: dict[tuple[int, bool], list[float]] = {s: [] for s in settings}
        for threads, half in settings:  # warm-up: kernel selection, allocator
            torch.set_num_threads(threads)
            seconds_per_step(model, opt, x, 5, half)
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits all alike
            for threads, half in settings:
                torch.set_num_threads(threads)
                times[threads, half].append(seconds_per_step(model, opt, x, args.steps, half))
        torch.set_num_threads(cores)
        med = {s: statistics.median(t) for s, t in times.items()}
        best = min(med, key=med.__getitem__)
        auto = (chosen.threads, bf16)
        ratios.append(med[auto] / med[best])
        print(
            f"{name:<32}{(chosen.forward_flops or 0) / 1e6:>8.1f}"
            + "".join(f"{med[s] * 1e3:>12.2f}" for s in settings)
            + f"{label[best]:>11}{label[auto]:>11}{med[auto] / med[best]:>10.2f}"
        )
    print(
        f"(ms per training step; auto: the threads and precision trainwise chooses; auto/best: "
        f"its time over the fastest setting's, median {statistics.median(ratios):.2f}, worst "
        f"{max(ratios):.2f}. Median of {args.repeats} interleaved repeats of {args.steps} steps.)"
    )


if __name__ == "__main__":
    main()
