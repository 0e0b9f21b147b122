"""TrainState: everything whose value the rest of a run depends on, in one place.

The loop, the step and callbacks all read and advance this object; a checkpoint is its
`state_dict`. Keeping it small and explicit is what makes exact resume possible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from trainwise.train.adam_update import DirectAdamUpdate
from trainwise.train.step_losses import StepLosses

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
    autocast_dtype: torch.dtype | None = None  # mixed precision in the forward pass
    scaler: Any = None  # torch.amp.GradScaler for fp16; None otherwise
    epoch: int = 0
    step: int = 0
    step_loss: torch.Tensor | None = None  # this step's loss, for callbacks after backward
    stop_reason: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    # Position inside the current epoch, so a checkpoint taken mid-epoch resumes exactly:
    # the batch order is replayed from the generator state at the epoch's start.
    batch_in_epoch: int = 0
    epoch_rng: torch.Tensor | None = None
    step_losses: StepLosses | None = None
    first_nonfinite_step: int | None = None  # of the last finished epoch, if it had one
    _update: DirectAdamUpdate | None = field(default=None, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def zero_grad(self) -> None:
        """`optimizer.zero_grad(set_to_none=True)`, without its profiler range (10 of its 14 µs
        a step) where the optimizer does not define its own (DP-SGD's also clears per-sample
        gradients)."""
        if type(self.optimizer).zero_grad is not torch.optim.Optimizer.zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
            return
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p.grad = None

    def optimizer_step(self) -> None:
        """`optimizer.step()`; a fused Adam/AdamW's kernel is called directly, without the
        optimizer's per-step Python (`train/adam_update.py`), to the same bits."""
        if self._update is None or self._update.optimizer is not self.optimizer:
            self._update = DirectAdamUpdate(self.optimizer)
        self._update()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """Everything the rest of the run depends on (callbacks save their own)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": capture_rng(self.generator),
            "position": {
                "epoch": self.epoch,
                "step": self.step,
                "batch_in_epoch": self.batch_in_epoch,
                "epoch_rng": self.epoch_rng,
                "step_losses": (
                    self.step_losses.tensor()
                    if self.step_losses is not None and self.batch_in_epoch
                    else None
                ),
            },
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        state_in_parameter_layout(self.optimizer)
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"], self.generator)
        pos = state["position"]
        self.epoch, self.step = int(pos["epoch"]), int(pos["step"])
        self.batch_in_epoch = int(pos["batch_in_epoch"])
        self.epoch_rng = pos["epoch_rng"]
        done = pos.get("step_losses")  # this epoch's losses so far, for its mean and NaN count
        self.step_losses = (
            StepLosses(self.step - self.batch_in_epoch, done.to(self.device))
            if done is not None and self.batch_in_epoch
            else None
        )
        self.history = list(state["history"])

    def penalised_parameters(self) -> list[nn.Parameter]:
        """Weights that L1 applies to: matrices and kernels, not biases or norm scales."""
        return [p for p in self.model.parameters() if p.requires_grad and p.ndim > 1]


def state_in_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give optimizer state shaped like its parameter (Adam's moments) the parameter's memory
    layout.

    Why: a checkpoint holds contiguous tensors, while the built-in image CNNs keep their
    kernels channels-last. The fused Adam/AdamW kernels walk a parameter, its gradient and its
    moments as flat memory, so moments in another layout than their parameter were updated
    wrongly and silently after a resume (off by 0.18 after one step in a test).
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            held = optimizer.state.get(param, {})
            for key, value in held.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == param.shape
                    and value.stride() != param.stride()
                ):
                    held[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def capture_rng(generator: torch.Generator) -> dict[str, Any]:
    """Every random state a run draws from: Python, NumPy, torch (CPU, CUDA), batch order."""
    return {
        "python": list(_python_state_to_json(random.getstate())),
        "numpy": list(np.random.get_state(legacy=True)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "batches": generator.get_state(),
    }


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    random.setstate(_python_state_from_json(state["python"]))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["batches"])


def _python_state_to_json(state: tuple) -> tuple:
    version, internal, gauss = state
    return version, list(internal), gauss


def _python_state_from_json(state: list) -> tuple:
    version, internal, gauss = state
    return int(version), tuple(int(v) for v in internal), gauss
