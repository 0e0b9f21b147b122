"""Forecasting as change from the last observed value (a residual on persistence).

A network fed absolute levels must learn persistence ("tomorrow is like today") and cannot
extrapolate beyond the levels it saw in training: a series with a trend drifts out of range
by test time. Subtracting each window's last value from its inputs, and adding the target's last
value back to the outputs, makes persistence the zero function and the network learn only the
change, at any level (the idea behind RevIN-style instance normalisation, in its simplest form).

Inputs are (n, channels, lookback) windows whose first `n_targets` channels are the target
series, in the same scaled units as the targets; outputs are target-major (`horizon` steps of
the first target, then of the next).
"""

from __future__ import annotations

import torch
from torch import nn


class LastValueResidual(nn.Module):
    """Wraps a network so it predicts the change from each target's last value.

    >>> net = LastValueResidual(nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), 1, 2)
    >>> nn.init.zeros_(net.inner[1].weight); nn.init.zeros_(net.inner[1].bias)  # doctest: +ELLIPSIS
    Parameter...
    >>> net(torch.tensor([[[1.0, 2.0, 5.0], [0.0, 0.0, 1.0]]])).tolist()
    [[5.0, 5.0]]
    """

    def __init__(self, inner: nn.Module, n_targets: int, horizon: int) -> None:
        super().__init__()
        self.inner, self.n_targets, self.horizon = inner, n_targets, horizon

    def forward(self, dense: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        last = dense[:, :, -1:]
        out = self.inner(dense - last)
        return out + last[:, : self.n_targets, 0].repeat_interleave(self.horizon, dim=1)
