"""Token dropout and random swap: only real tokens change, seeded, and only in training."""

from __future__ import annotations

import torch

from trainwise.data.augment import build_augment
from trainwise.data.text import UNK_ID
from trainwise.data.text_augment import random_swap, token_dropout
from trainwise.spec.model import AugmentSpec


def batch(n: int = 64, length: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.randint(1, length + 1, (n,), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    ids = torch.randint(2, 500, (n, length), generator=torch.Generator().manual_seed(2)) * mask
    return ids, mask


def test_token_dropout_hits_about_p_of_real_tokens_and_never_padding():
    ids, mask = batch()
    out = token_dropout(ids, mask, 0.2, torch.Generator().manual_seed(0))
    changed = out != ids
    assert not changed[~mask].any()
    assert (out[changed] == UNK_ID).all()
    rate = changed.sum() / mask.sum()
    assert 0.12 < rate < 0.28


def test_random_swap_moves_tokens_between_neighbours_within_each_row():
    ids, mask = batch()
    out = random_swap(ids, mask, 0.3, torch.Generator().manual_seed(0))
    assert (out != ids).any()
    assert torch.equal(out[~mask], ids[~mask])  # padding untouched
    assert torch.equal(out.sort(dim=1).values, ids.sort(dim=1).values)  # same tokens per row
    moved = (out != ids).nonzero()
    for r, c in moved.tolist():  # each moved token came from a neighbour
        neighbours = [ids[r, c - 1] if c > 0 else None, ids[r, c + 1] if c + 1 < 20 else None]
        assert any(v is not None and v == out[r, c] for v in neighbours)


def test_text_augment_is_seeded_per_epoch_and_step_and_switchable():
    ids, mask = batch()
    inputs = (torch.zeros(64, 0), ids, mask)
    spec = AugmentSpec(token_dropout=0.1, token_swap=0.1)
    augment = build_augment(spec, "text", seed=0)
    assert augment is not None
    a, b, c = augment(inputs, 3, 5), augment(inputs, 3, 5), augment(inputs, 3, 6)
    assert torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])
    assert torch.equal(a[2], mask)
    assert build_augment(spec.model_copy(update={"enabled": False}), "text", 0) is None
    off = spec.model_copy(update={"token_dropout": 0.0, "token_swap": 0.0})
    assert build_augment(off, "text", 0) is None


def test_mixed_inputs_leave_categorical_codes_alone():
    ids, mask = batch()
    codes = torch.randint(0, 5, (64, 2))
    inputs = (torch.zeros(64, 3), codes, ids, mask)
    out = build_augment(AugmentSpec(token_dropout=0.5), "mixed", 0)(inputs, 0, 0)
    assert torch.equal(out[1], codes) and not torch.equal(out[2], ids)
