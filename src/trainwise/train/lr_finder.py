"""The learning-rate range test (Smith, 2017; popularised by fastai's `lr_find`).

The LR grows exponentially from `start_lr` to `end_lr`, one mini-batch per value, while the
training loss is recorded. The loss first stays flat (LR too small to move the weights), then
falls, then blows up. A good LR lies on the falling part, safely before the blow-up.

The sweep trains the real model with the real optimizer and step, so the curve is the one the
run will see; the weights, the optimizer state and every random state are put back afterwards,
so a run with `train.lr: auto` trains exactly like one given the suggested LR by hand.

Suggestion rule: the LR of the smoothed loss minimum, divided by 10. We prefer it to the LR of
steepest descent because the minimum of a smoothed curve is stable, whereas the steepest point
is the argmax of a derivative, which amplifies the noise of small-batch losses and jumps by
decades between seeds. One decade below the minimum keeps a margin from the divergence that
follows it. The steepest point is still computed and recorded for the plot and the curious.

Host syncs: the sweep must read the loss to notice divergence, but reads it only every
`sync_every` steps (a handful of losses in one transfer).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from trainwise.train.callbacks import CallbackList
from trainwise.train.state import TrainState, capture_rng, restore_rng
from trainwise.train.step import train_step

Batches = Callable[[torch.Generator, int], Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]]


@dataclass(frozen=True)
class LRFinderResult:
    """The sweep: LR and loss per step, the smoothed curve and the suggested LR."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    minimum_lr: float  # LR at the smoothed loss minimum
    steepest_lr: float | None  # LR of steepest descent of the smoothed loss (None: too short)
    stopped: str  # why the sweep ended
    rule: str = "lr at the smoothed-loss minimum / 10"
    valley_lr: float | None = None  # halfway down the longest descent of the smoothed loss

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LRFinderResult:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def lr_range_test(
    state: TrainState,
    batches: Batches,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    smoothing: float = 0.9,
    diverge_factor: float = 4.0,
    sync_every: int = 8,
    seed: int = 0,
) -> LRFinderResult:
    """Sweep the LR exponentially over `steps` mini-batches and suggest one.

    `batches(generator, 0)` yields an epoch of training batches; it is restarted as often as
    the sweep needs. The sweep stops early when the smoothed loss exceeds `diverge_factor` times
    its minimum or a loss is not finite. Weights, optimizer state and random states are restored.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    steps = max(steps, 2)
    saved_model = copy.deepcopy(state.model.state_dict())
    saved_optimizer = copy.deepcopy(state.optimizer.state_dict())
    saved_rng = capture_rng(state.generator)
    sweep = replace(state, scheduler=None, schedule_per="epoch", epoch=0, step=0, history=[])
    generator = torch.Generator().manual_seed(seed)
    stream = _endless(batches, generator)
    quiet = CallbackList()
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    pending: list[torch.Tensor] = []
    average, best, stopped = 0.0, math.inf, f"reached end_lr={end_lr:g}"
    was_training = state.model.training
    state.model.train()
    try:
        for i in range(steps):
            lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
            for group in state.optimizer.param_groups:
                group["lr"] = lr
            lrs.append(lr)
            inputs, y = next(stream)
            pending.append(train_step(sweep, inputs, y, quiet).loss.float())
            if len(pending) < sync_every and i < steps - 1:
                continue
            values = torch.stack(pending).tolist()  # one host sync per `sync_every` steps
            pending = []
            diverged = None
            for value in values:
                if not math.isfinite(value):
                    diverged = f"loss became {value} at lr={lrs[len(losses)]:.3g}"
                    break
                losses.append(value)
                average = smoothing * average + (1 - smoothing) * value
                smooth = average / (1 - smoothing ** len(losses))  # bias-corrected EMA
                smoothed.append(smooth)
                best = min(best, smooth)
                if len(losses) > 3 and smooth > diverge_factor * best:
                    diverged = f"loss diverged at lr={lrs[len(losses) - 1]:.3g}"
                    break
            if diverged is not None:
                stopped = diverged
                break
    finally:
        state.model.load_state_dict(saved_model)
        state.optimizer.load_state_dict(saved_optimizer)
        restore_rng(saved_rng, state.generator)
        state.model.train(was_training)
    lrs = lrs[: len(losses)]
    return _suggest(lrs, losses, smoothed, stopped, start_lr)


def _suggest(
    lrs: list[float], losses: list[float], smoothed: list[float], stopped: str, start_lr: float
) -> LRFinderResult:
    if not smoothed:
        raise ValueError("the LR range test recorded no finite loss; the model diverges at once")
    low = int(min(range(len(smoothed)), key=smoothed.__getitem__))
    minimum_lr = lrs[low]
    steepest_lr = None
    skip = max(1, len(smoothed) // 10)  # the first points are mostly the EMA warming up
    if low - skip >= 2:
        logs = [math.log10(v) for v in lrs]
        slopes = [
            (smoothed[i + 1] - smoothed[i - 1]) / (logs[i + 1] - logs[i - 1])
            for i in range(skip, low)
        ]
        steepest_lr = lrs[skip + min(range(len(slopes)), key=slopes.__getitem__)]
    valley_lr = lrs[_valley(smoothed[: low + 1])]
    suggestion = max(minimum_lr / 10, start_lr)
    return LRFinderResult(
        lrs, losses, smoothed, suggestion, minimum_lr, steepest_lr, stopped, valley_lr=valley_lr
    )


def _valley(smoothed: list[float]) -> int:
    """Index halfway down the longest descending run of the curve (fastai's `valley`).

    The longest decreasing subsequence spans the falling part of the curve, from where the LR
    starts to move the weights to the loss minimum; its middle (in log-LR steps) is far from both
    the flat start and the blow-up."""
    n = len(smoothed)
    length = [1] * n
    best_end = 0
    for i in range(1, n):
        for j in range(i):
            if smoothed[i] < smoothed[j] and length[i] < length[j] + 1:
                length[i] = length[j] + 1
        if length[i] > length[best_end]:
            best_end = i
    start = best_end - length[best_end] + 1
    return start + (best_end - start) // 2


def _endless(
    batches: Batches, generator: torch.Generator
) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    while True:
        empty = True
        for batch in batches(generator, 0):
            empty = False
            yield batch
        if empty:
            raise ValueError("the training data yielded no batch")
