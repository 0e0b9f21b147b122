"""Early stopping on a validation metric, with the best weights put back at the end.

The best weights are kept as a copy on the training device (no host round trip per improvement);
for the models this stage trains that copy is small next to the optimizer state.
"""

from __future__ import annotations

from typing import Any

import torch

from trainwise.train.callbacks import Callback
from trainwise.train.state import TrainState


class EarlyStopping(Callback):
    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 20,
        min_delta: float = 0.0,
        greater_is_better: bool = False,
        restore_best: bool = True,
    ) -> None:
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.greater_is_better = greater_is_better
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self._best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None or value != value:  # absent or NaN: never an improvement
            self.wait += 1
        elif self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), state.epoch, 0
            if self.restore_best:
                self._best_weights = {
                    k: v.detach().clone() for k, v in state.model.state_dict().items()
                }
        else:
            self.wait += 1
        if self.wait >= self.patience:
            state.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch})"
                if self.best is not None
                else f"early stopping: {self.monitor} was never finite"
            )

    def on_fit_end(self, state: TrainState) -> None:
        if self.restore_best and self._best_weights is not None:
            state.model.load_state_dict(self._best_weights)

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.greater_is_better:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def state_dict(self) -> dict[str, Any]:
        """Includes the best weights: a resumed run must restore the same best epoch."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_weights": self._best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        weights = state.get("best_weights")
        if weights is not None:
            device = next(iter(weights.values())).device if weights else None
            self._best_weights = {k: v.to(device) for k, v in weights.items()}
