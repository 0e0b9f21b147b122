"""The loss of every step of the current epoch, kept on the device and read once at its end.

Why a record instead of running sums: keeping a step's loss costs no tensor operation (the
detached loss is only held), while a running sum with a finiteness check costs five or more
small operations per step, which on a CPU is a measurable share of a small model's step. The
epoch's mean over finite steps, the number of non-finite steps and the first non-finite step
all come from one transfer at the end of the epoch. Every `CHUNK` steps the held scalars are
stacked into one tensor, so a long epoch holds a few tensors, not thousands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

CHUNK = 256


@dataclass(frozen=True)
class EpochLoss:
    """What an epoch's step losses say, read on the host."""

    mean: float  # over the finite steps; NaN when none was finite
    nonfinite: int  # steps whose loss was NaN or infinite
    first_nonfinite_step: int | None  # global step number (1-based, as `state.step` counts)


class StepLosses:
    def __init__(self, first_step: int, done: torch.Tensor | None = None) -> None:
        """`first_step`: the global step count before this epoch's first step. `done`: the
        losses of the steps already taken in this epoch (a run resumed mid-epoch)."""
        self.first_step = first_step
        self._chunks: list[torch.Tensor] = [done.float()] if done is not None else []
        self._pending: list[torch.Tensor] = []

    def append(self, loss: torch.Tensor) -> None:
        self._pending.append(loss)
        if len(self._pending) >= CHUNK:
            self._chunks.append(torch.stack(self._pending).float())
            self._pending = []

    def tensor(self) -> torch.Tensor:
        """All losses so far, one per step, as a 1-D tensor (for a checkpoint)."""
        if self._pending:
            self._chunks.append(torch.stack(self._pending).float())
            self._pending = []
        if not self._chunks:
            return torch.zeros(0)
        if len(self._chunks) > 1:
            self._chunks = [torch.cat(self._chunks)]
        return self._chunks[0]

    def read(self) -> EpochLoss:
        """The epoch's one host sync."""
        values = self.tensor().tolist()
        finite = [v for v in values if math.isfinite(v)]
        first = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        return EpochLoss(
            mean=math.fsum(finite) / len(finite) if finite else float("nan"),
            nonfinite=len(values) - len(finite),
            first_nonfinite_step=None if first is None else self.first_step + first + 1,
        )
