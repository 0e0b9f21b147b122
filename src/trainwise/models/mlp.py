"""The multilayer perceptron for tabular data, with embeddings for high-cardinality categoricals.

Each hidden block is Linear → Norm → Activation → Dropout. Categorical codes are embedded
(index 0 is the shared "unseen or rare" row) and concatenated with the dense features, the
entity-embedding approach that beats one-hot encoding once a column has many categories.
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.layers import activation, init_linear, norm_layer


def embedding_width(cardinality: int) -> int:
    """A width that grows sub-linearly with the number of categories (fastai's rule of thumb)."""
    return int(min(64, round(1.6 * cardinality**0.56)))


class MLP(nn.Module):
    """Dense features (and optional categorical codes) → `out_features` outputs.

    >>> net = MLP(n_dense=4, out_features=3, hidden=[8])
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_dense: int,
        out_features: int,
        hidden: list[int] | tuple[int, ...] = (256, 128),
        activation_name: str = "relu",
        norm: str = "batch",
        dropout: float = 0.1,
        init: str = "auto",
        cardinalities: list[int] | tuple[int, ...] = (),
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, embedding_dim or embedding_width(card)) for card in cardinalities
        )
        width = n_dense + sum(e.embedding_dim for e in self.embeddings)
        blocks: list[nn.Module] = []
        for size in hidden:
            linear = nn.Linear(width, size)
            init_linear(linear, init, activation_name)
            blocks += [linear, norm_layer(norm, size), activation(activation_name)]
            if dropout > 0:
                blocks.append(
                    nn.AlphaDropout(dropout) if activation_name == "selu" else nn.Dropout(dropout)
                )
            width = size
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, out_features)

    def forward(self, dense: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        dense = dense.flatten(1)  # (n, c, t) windows read as one vector; a no-op for tables
        if self.embeddings and codes is not None:
            embedded = [emb(codes[:, j]) for j, emb in enumerate(self.embeddings)]
            dense = torch.cat([dense, *embedded], dim=1)
        return self.head(self.body(dense))
