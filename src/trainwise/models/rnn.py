"""Recurrent encoders (LSTM or GRU; stacked; optionally bidirectional) for token or step
sequences with padding.

Sequences are right-padded. The forward direction never reads a step after a row's end, so its
outputs at real steps are exact. The backward direction reads each row reversed *within its own
length* (an index gather), so it too starts at the row's last real step and never sees padding.
This gives the result of packed sequences without `pack_padded_sequence`, whose lengths must
live on the CPU (a host sync every step on a GPU).
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.pooling import pool

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `length` steps in place; padding stays where it is."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    source = torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)
    return torch.gather(x, 1, source.unsqueeze(-1).expand_as(x))


class RNNEncoder(nn.Module):
    """(batch, length, d_in) and a mask → (batch, out_features) by masked pooling.

    >>> enc = RNNEncoder(8, hidden=16)
    >>> enc(torch.zeros(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)).shape
    torch.Size([2, 32])
    """

    def __init__(
        self,
        d_in: int,
        hidden: int = 128,
        layers: int = 1,
        cell: str = "gru",
        bidirectional: bool = True,
        pooling: str = "max",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        rnn = CELLS[cell]
        directions = 2 if bidirectional else 1
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        width = d_in
        for _ in range(layers):
            self.forward_layers.append(rnn(width, hidden, batch_first=True))
            if bidirectional:
                self.backward_layers.append(rnn(width, hidden, batch_first=True))
            width = hidden * directions
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.pooling = pooling
        self.out_features = width

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).clamp(min=1)
        out = fwd = bwd = x
        for i, layer in enumerate(self.forward_layers):
            inp = out if i == 0 else self.drop(out)
            fwd = layer(inp)[0]
            if self.backward_layers:
                back_in = reverse_within_length(inp, lengths)
                bwd = reverse_within_length(self.backward_layers[i](back_in)[0], lengths)
                out = torch.cat([fwd, bwd], dim=-1)
            else:
                out = fwd
        if self.pooling == "last":
            last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, fwd.shape[-1])
            pooled = torch.gather(fwd, 1, last).squeeze(1)
            if self.backward_layers:  # the backward direction ends at step 0
                pooled = torch.cat([pooled, bwd[:, 0]], dim=-1)
            return pooled
        return pool(out, mask, self.pooling)
