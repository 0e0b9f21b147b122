"""What to do when the loss or the gradients turn NaN or infinite (`train.on_nan`).

- `stop` (default): finish the epoch, stop, and say at which step it first happened; early
  stopping then restores the best finite weights. Costs nothing per step: the loop keeps every
  step's loss and reads the first non-finite one at the end of the epoch.
- `skip`: check the gradient norm every step (one host sync per step) and drop the update of any
  step whose gradients are not finite; stop after many in a row.
- `rollback`: at the end of an epoch that saw a non-finite loss, go back to the state at the end
  of the last good epoch (kept in memory) and halve the learning rate; at most three times.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from trainwise.train.callbacks import Callback
from trainwise.train.state import TrainState

MAX_ROLLBACKS = 3
MAX_CONSECUTIVE_SKIPS = 25
ADVICE = "lower train.lr, set train.clip_norm=1.0, or check the data for extreme values"


class NanGuard(Callback):
    def __init__(self, mode: str = "stop", log: Any = print) -> None:
        self.mode = mode
        self.log = log
        self.first_bad_step: int | None = None  # the first since the fit began (or a rollback)
        self.skipped = 0
        self.consecutive_skips = 0
        self.rollbacks = 0
        self._good: dict[str, Any] | None = None
        self._buffers: list[torch.Tensor] = []  # skip mode: running statistics before the step
        self._saved: list[torch.Tensor] = []
        self.events: list[str] = []

    def on_fit_start(self, state: TrainState) -> None:
        self.first_bad_step = None
        if self.mode == "rollback":
            self._good = copy.deepcopy(state.state_dict())
        if self.mode == "skip":
            self._buffers = [b for b in state.model.buffers() if b.is_floating_point()]
            self._saved = [b.detach().clone() for b in self._buffers]

    def needs_eager_step(self, state: TrainState) -> bool:
        return self.mode == "skip"  # it inspects every step's gradients

    def on_after_backward(self, state: TrainState) -> None:
        if self.mode != "skip":
            return
        grads = [p.grad for p in state.model.parameters() if p.grad is not None]
        norms = torch._foreach_norm(grads)
        if bool(torch.isfinite(torch.stack(norms)).all()):  # the documented per-step sync
            self.consecutive_skips = 0
            if self._buffers:
                torch._foreach_copy_(self._saved, self._buffers)
            return
        for p in state.model.parameters():
            p.grad = None  # optimizers skip parameters without gradients
        if self._buffers:  # the forward pass already fed the bad batch to batch-norm statistics
            torch._foreach_copy_(self._buffers, self._saved)
        self.skipped += 1
        self.consecutive_skips += 1
        if self.consecutive_skips >= MAX_CONSECUTIVE_SKIPS:
            state.stop_reason = (
                f"{MAX_CONSECUTIVE_SKIPS} steps in a row had non-finite gradients "
                f"(up to step {state.step}); {ADVICE}"
            )

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if not logs.get("nonfinite_steps"):
            if self.mode == "rollback":
                self._good = copy.deepcopy(state.state_dict())
            return
        if self.first_bad_step is None:
            self.first_bad_step = state.first_nonfinite_step
        where = f"first at step {self.first_bad_step} (epoch {state.epoch})"
        layers = _nonfinite_parameters(state)
        evidence = f"; non-finite weights in {', '.join(layers[:3])}" if layers else ""
        if self.mode == "rollback" and self._good is not None and self.rollbacks < MAX_ROLLBACKS:
            self.rollbacks += 1
            lowered = [group["lr"] * 0.5 for group in state.optimizer.param_groups]
            base = getattr(state.scheduler, "base_lrs", None)
            state.load_state_dict(copy.deepcopy(self._good))
            _set_lr(state, lowered, [lr * 0.5 for lr in base] if base else None)
            self.first_bad_step = None
            message = (
                f"non-finite loss {where}{evidence}: rolled back to epoch {state.epoch} "
                f"and halved the learning rate to {state.lr:.3g}"
            )
            self.events.append(message)
            self.log(f"warning: {message}")
            return
        if self.mode == "skip":
            self.events.append(f"{logs['nonfinite_steps']} steps skipped in epoch {state.epoch}")
            return
        tried = (
            f" after {self.rollbacks} rollbacks with lower learning rates" if self.rollbacks else ""
        )
        state.stop_reason = f"non-finite loss (NaN/Inf) {where}{evidence}{tried}; {ADVICE}"

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "rollbacks": self.rollbacks, "events": self.events}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = state.get("skipped", 0)
        self.rollbacks = state.get("rollbacks", 0)
        self.events = list(state.get("events", []))


def _nonfinite_parameters(state: TrainState) -> list[str]:
    """Parameter names (in forward order) whose values are no longer finite."""
    return [name for name, p in state.model.named_parameters() if not bool(torch.isfinite(p).all())]


def _set_lr(state: TrainState, lrs: list[float], base_lrs: list[float] | None) -> None:
    """Lower the LR for good: in the optimizer and in the schedule that recomputes it."""
    for group, lr in zip(state.optimizer.param_groups, lrs, strict=True):
        group["lr"] = lr
        if "initial_lr" in group:
            group["initial_lr"] = lr
    if base_lrs is not None:
        state.scheduler.base_lrs = base_lrs
