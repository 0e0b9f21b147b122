"""Task logic in one place: output width, loss, and decoding outputs into predictions.

The network always emits raw scores (logits, or standardised values for regression); the head
applies the numerically stable fused loss (`BCEWithLogits`, `CrossEntropy` on logits) in training
and the matching output activation (sigmoid, softmax) only when decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LOSSES_BY_TASK = {
    "binary": {"auto": "bce", "bce": "bce"},
    "multilabel": {"auto": "bce", "bce": "bce"},
    "multiclass": {"auto": "cross_entropy", "cross_entropy": "cross_entropy"},
    "regression": {"auto": "mse", "mse": "mse", "mae": "mae", "huber": "huber"},
}


@dataclass(frozen=True)
class Head:
    """How a task turns network outputs into a loss and into predictions."""

    task: str
    n_outputs: int
    loss_fn: nn.Module

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "binary":
            return self.loss_fn(output.squeeze(-1), y)
        return self.loss_fn(output, y)

    @torch.no_grad()
    def decode(self, output: torch.Tensor) -> torch.Tensor:
        """Probabilities (classification) or standardised predictions (regression)."""
        output = output.float()
        if self.task == "multiclass":
            return torch.softmax(output, dim=-1)
        if self.task in {"binary", "multilabel"}:
            return torch.sigmoid(output.squeeze(-1) if self.task == "binary" else output)
        return output


def head_for(
    task: str,
    n_classes: int,
    n_targets: int = 1,
    loss: str = "auto",
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> Head:
    """The head for a task; raises ValueError when the loss does not suit the task."""
    allowed = LOSSES_BY_TASK[task]
    if loss not in allowed:
        raise ValueError(f"loss {loss!r} does not suit task {task!r}; use one of {sorted(allowed)}")
    name = allowed[loss]
    if name == "cross_entropy":
        fn: nn.Module = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing)
        return Head(task, n_classes, fn)
    if name == "bce":
        pos_weight = None
        if task == "binary" and class_weights is not None:
            pos_weight = class_weights[1] / class_weights[0]
        width = 1 if task == "binary" else n_targets
        return Head(task, width, nn.BCEWithLogitsLoss(pos_weight=pos_weight))
    fn = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss()}[name]
    return Head(task, n_targets, fn)
