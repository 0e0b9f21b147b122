"""Masked pooling of per-step outputs (batch, length, width) into one vector per row.

Padding must never change a prediction: every pooling here ignores the steps whose mask is
False. Rows are guaranteed at least one real step by the preprocessors.
"""

from __future__ import annotations

import torch

POOLINGS = ("mean", "max")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    lowest = torch.finfo(x.dtype).min
    return x.masked_fill(~mask.unsqueeze(-1), lowest).amax(dim=1)


def pool(x: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "max":
        return masked_max(x, mask)
    return masked_mean(x, mask)
