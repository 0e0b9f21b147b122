"""Sequence augmentation: seeded per step, shifts bounded by `shift`, `auto` resolved per kind."""

from __future__ import annotations

import pytest
import torch

from trainwise.data.augment import build_augment, shift_fraction
from trainwise.spec.model import AugmentSpec


def _max_shift_seen(spec: AugmentSpec, length: int) -> int:
    """The largest shift the augmentation applied to rows holding one spike each."""
    augment = build_augment(spec, "sequence", seed=3)
    assert augment is not None
    rows = torch.zeros(512, length)
    rows[:, length // 2] = 1.0
    out = augment((rows,), 0, 0)[0]
    return int((out.argmax(dim=1) - length // 2).abs().max())


def test_auto_shift_is_narrower_for_sequences_than_for_audio() -> None:
    spec = AugmentSpec()
    assert spec.shift == "auto"
    assert shift_fraction(spec, "sequence") == pytest.approx(0.05)
    assert shift_fraction(spec, "audio") == pytest.approx(0.1)
    assert shift_fraction(AugmentSpec(shift=0.2), "sequence") == pytest.approx(0.2)


@pytest.mark.parametrize(("shift", "expected"), [("auto", 2), (0.1, 4), (0.25, 10)])
def test_sequence_rows_shift_by_up_to_the_fraction_of_their_length(shift, expected) -> None:
    spec = AugmentSpec(shift=shift, noise=0.0)
    assert _max_shift_seen(spec, 40) == expected


def test_sequence_augment_is_reproducible_per_step_and_off_when_asked() -> None:
    augment = build_augment(AugmentSpec(), "sequence", seed=1)
    rows = torch.randn(16, 40)
    first, again = augment((rows,), 2, 5)[0], augment((rows,), 2, 5)[0]
    assert torch.equal(first, again)
    assert not torch.equal(first, augment((rows,), 2, 6)[0])
    assert build_augment(AugmentSpec(shift=0, noise=0), "sequence", seed=1) is None
    assert build_augment(AugmentSpec(enabled=False), "sequence", seed=1) is None
