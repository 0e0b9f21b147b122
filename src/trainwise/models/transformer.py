"""A Transformer encoder for token or step sequences with padding.

Pre-norm layers (LayerNorm before attention and feed-forward: stable without warm-up at the
depths we use), learned positional embeddings, a key-padding mask so no position attends to
padding, and masked mean/max pooling or a learned [CLS] token.
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.pooling import pool


class TransformerEncoderNet(nn.Module):
    """(batch, length, d_model) and a mask → (batch, d_model).

    >>> enc = TransformerEncoderNet(max_length=5, d_model=16, heads=2, layers=1, ff=32)
    >>> enc(torch.zeros(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        max_length: int,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        ff: int = 256,
        pooling: str = "mean",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        extra = 1 if pooling == "cls" else 0
        self.position = nn.Parameter(torch.randn(max_length + extra, d_model) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02) if extra else None
        layer = nn.TransformerEncoderLayer(
            d_model, heads, ff, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # nested tensors would skip padded positions in eval mode only: keep one code path
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.out_features = d_model

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
            mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        x = self.drop(x + self.position[: x.shape[1]])
        h = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        if self.cls is not None:
            return h[:, 0]
        return pool(h, mask, self.pooling)
