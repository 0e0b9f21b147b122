"""One network for text, sequences of varying length and mixed tables (Ludwig-style).

Each input kind gets its own encoder: numbers pass through (already scaled), categories get
embeddings, each text column gets a token embedding and a sequence encoder (RNN, Transformer or
pooled embeddings), a sequence of numeric steps gets a linear stem and the same encoder, each
image column gets a small convolutional encoder (the cnn2d body, pooled to one vector). The
encodings are concatenated and an MLP (the combiner) maps them to the outputs.

Inputs arrive as `model(dense, codes?, ids_1, mask_1, ..., ids_k, mask_k, image_1, ...,
image_m)` for mixed tables, with `codes` present only when there are embedded categoricals and
each image (batch, c, h, w), and as `model(steps, mask)` for a sequence of numeric steps
(`steps` is (batch, length, channels)).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainwise.models.cnn2d import CNN2DEncoder
from trainwise.models.embedding_bag import EmbeddingBagEncoder
from trainwise.models.mlp import embedding_width
from trainwise.models.rnn import RNNEncoder
from trainwise.models.transformer import TransformerEncoderNet

FAMILIES = ("rnn", "transformer", "embedding_bag")


def token_width(family: str, params: dict[str, Any]) -> int:
    """Width of the token (or step) representation each family's encoder reads."""
    if family == "transformer":
        return int(params["d_model"])
    if family == "rnn":
        return int(params["embedding_dim"])
    return int(params["dim"])


def build_encoder(
    family: str, params: dict[str, Any], max_length: int, dropout: float
) -> nn.Module:
    if family == "rnn":
        return RNNEncoder(
            params["embedding_dim"],
            hidden=params["hidden"],
            layers=params["layers"],
            cell=params["cell"],
            bidirectional=params["bidirectional"],
            pooling=params["pooling"],
            dropout=dropout,
        )
    if family == "transformer":
        return TransformerEncoderNet(
            max_length,
            d_model=params["d_model"],
            heads=params["heads"],
            layers=params["layers"],
            ff=params["ff"],
            pooling=params["pooling"],
            dropout=dropout,
        )
    return EmbeddingBagEncoder(params["dim"])


class CombinedNet(nn.Module):
    """Encoders per input kind → concatenate → MLP → `out_features` outputs.

    >>> net = CombinedNet("embedding_bag", {"dim": 8}, out_features=2, vocab_sizes=[50],
    ...                   max_lengths=[6])
    >>> ids = torch.ones(3, 6, dtype=torch.long)
    >>> net(torch.zeros(3, 0), ids, torch.ones(3, 6, dtype=torch.bool)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        family: str,
        encoder: dict[str, Any],
        out_features: int,
        n_dense: int = 0,
        cardinalities: list[int] | tuple[int, ...] = (),
        vocab_sizes: list[int] | tuple[int, ...] = (),
        max_lengths: list[int] | tuple[int, ...] = (),
        seq_channels: int = 0,
        hidden: list[int] | tuple[int, ...] = (),
        dropout: float = 0.1,
        embedding_dim: int | None = None,
        image_shapes: list[list[int]] | tuple[tuple[int, int, int], ...] = (),
        image_channels: list[int] | tuple[int, ...] = (32, 64, 128),
        image_blocks: int = 1,
        image_activation: str = "relu",
    ) -> None:
        super().__init__()
        width = token_width(family, encoder)
        self.seq_channels = seq_channels
        self.n_dense = 0 if seq_channels else n_dense
        self.category_embeddings = nn.ModuleList(
            nn.Embedding(card, embedding_dim or embedding_width(card)) for card in cardinalities
        )
        self.token_embeddings = nn.ModuleList(
            nn.Embedding(v, width, padding_idx=0) for v in vocab_sizes
        )
        self.stem = nn.Linear(seq_channels, width) if seq_channels else None
        n_sequences = len(vocab_sizes) + (1 if seq_channels else 0)
        lengths = list(max_lengths) or [1] * n_sequences
        self.encoders = nn.ModuleList(
            build_encoder(family, encoder, lengths[i], dropout) for i in range(n_sequences)
        )
        self.image_encoders = nn.ModuleList(
            CNN2DEncoder(c, max(h, w), image_channels, image_blocks, image_activation)
            for c, h, w in image_shapes
        )
        combined = (
            self.n_dense
            + sum(e.embedding_dim for e in self.category_embeddings)
            + sum(e.out_features for e in self.encoders)
            + sum(e.out_features for e in self.image_encoders)
        )
        blocks: list[nn.Module] = []
        for size in hidden:
            blocks += [nn.Linear(combined, size), nn.LayerNorm(size), nn.GELU()]
            blocks.append(nn.Dropout(dropout))
            combined = size
        self.combiner = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(combined, out_features)
        for emb in self.token_embeddings:
            nn.init.normal_(emb.weight, std=width**-0.5)
            with torch.no_grad():
                emb.weight[0].zero_()

    def forward(self, dense: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        if self.stem is not None:  # dense holds the steps, rest[0] their mask
            parts.append(self.encoders[0](self.stem(dense), rest[0]))
        elif self.n_dense:
            parts.append(dense.reshape(dense.shape[0], -1))
        if self.category_embeddings:
            codes, rest = rest[0], rest[1:]
            parts += [emb(codes[:, j]) for j, emb in enumerate(self.category_embeddings)]
        for k, (emb, enc) in enumerate(zip(self.token_embeddings, self.encoders, strict=False)):
            ids, mask = rest[2 * k], rest[2 * k + 1]
            parts.append(enc(emb(ids), mask))
        if self.image_encoders:  # the last inputs, one (batch, c, h, w) tensor per column
            images = rest[len(rest) - len(self.image_encoders) :]
            parts += [enc(x) for enc, x in zip(self.image_encoders, images, strict=True)]
        return self.head(self.combiner(self.drop(torch.cat(parts, dim=1))))
