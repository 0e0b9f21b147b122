"""Batched, seeded augmentation of token sequences: token dropout and random swaps.

Both act on the (ids, mask) pairs of a batch on its own device, with the per-step generator of
`data.augment` (seeded by run seed, epoch and batch), so a resumed run sees the same batches.
Only real tokens are touched; padding and the mask never change.
"""

from __future__ import annotations

import torch

from trainwise.data.text import UNK_ID


def token_dropout(
    ids: torch.Tensor, mask: torch.Tensor, p: float, gen: torch.Generator
) -> torch.Tensor:
    """Each real token becomes the unknown token with probability p (word-dropout)."""
    hit = (torch.rand(ids.shape, generator=gen, device=ids.device) < p) & mask
    return torch.where(hit, torch.full_like(ids, UNK_ID), ids)


def random_swap(
    ids: torch.Tensor, mask: torch.Tensor, p: float, gen: torch.Generator
) -> torch.Tensor:
    """Each real token trades places with its right neighbour with probability p (EDA's
    random swap, kept local so the sentence still reads). Overlapping swaps are thinned so
    every token moves at most once."""
    n, length = ids.shape
    can = mask[:, 1:] & mask[:, :-1]  # both tokens real
    swap = (torch.rand((n, length - 1), generator=gen, device=ids.device) < p) & can
    swap[:, 1:] &= ~swap[:, :-1]  # no chains: i↔i+1 and i+1↔i+2 never both
    steps = torch.arange(length, device=ids.device).expand(n, length)
    right = torch.zeros_like(mask)
    left = torch.zeros_like(mask)
    right[:, :-1] = swap  # position i takes i+1
    left[:, 1:] = swap  # position i+1 takes i
    source = steps + right.long() - left.long()
    return torch.gather(ids, 1, source)


def token_pairs(inputs: tuple[torch.Tensor, ...]) -> list[int]:
    """Positions of token-id tensors: an integer tensor followed by a boolean mask."""
    return [
        i
        for i in range(len(inputs) - 1)
        if inputs[i + 1].dtype == torch.bool and not inputs[i].is_floating_point()
    ]


def augment_tokens(
    inputs: tuple[torch.Tensor, ...], gen: torch.Generator, dropout: float, swap: float
) -> tuple[torch.Tensor, ...]:
    out = list(inputs)
    for i in token_pairs(inputs):
        ids, mask = out[i], out[i + 1]
        if swap > 0:
            ids = random_swap(ids, mask, swap, gen)
        if dropout > 0:
            ids = token_dropout(ids, mask, dropout, gen)
        out[i] = ids
    return tuple(out)
