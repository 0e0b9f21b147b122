"""TrainState: everything whose value the rest of a run depends on, in one place.

The loop, the step and callbacks all read and advance this object; a checkpoint is its
`state_dict`. Keeping it small and explicit is what makes exact resume possible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class StepOutput:
    """What one training step produced. `loss` stays a tensor: reading it would sync the device."""

    loss: torch.Tensor
    output: torch.Tensor
    target: torch.Tensor


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: LossFn
    max_epochs: int
    batch_size: int
    generator: torch.Generator
    scheduler: Any = None
    schedule_per: str = "epoch"  # "step", "epoch" or "plateau"
    l1: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None
    epoch: int = 0
    step: int = 0
    stop_reason: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def penalised_parameters(self) -> list[nn.Parameter]:
        """Weights that L1 applies to: matrices and kernels, not biases or norm scales."""
        return [p for p in self.model.parameters() if p.requires_grad and p.ndim > 1]
