"""Image augmentation: seeded per (epoch, batch), shape-preserving, each strength switchable."""

from __future__ import annotations

import torch

from trainwise.data.image_augment import build_image_augment
from trainwise.spec.model import AugmentSpec

OFF = dict(rotation=0, crop_scale=1, translate=0, color_jitter=0, cutout=0)


def _augment(task: str = "multiclass", **strengths):
    spec = AugmentSpec(**(OFF | strengths))
    return build_image_augment(spec, seed=7, task=task, n_classes=3, mean=[0.5], std=[0.25])


def _batch(n: int = 16):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=gen), torch.arange(n) % 3


def test_the_same_step_gives_the_same_batch_and_another_step_another():
    augment = _augment(rotation=15, crop_scale=0.8, translate=0.1, color_jitter=0.2, cutout=0.25)
    x, y = _batch()
    a, b = augment((x,), y, 2, 5), augment((x,), y, 2, 5)
    assert torch.equal(a[0][0], b[0][0]) and a[0][0].shape == x.shape
    assert not torch.equal(a[0][0], augment((x,), y, 2, 6)[0][0])
    assert not torch.equal(a[0][0], augment((x,), y, 3, 5)[0][0])
    assert torch.equal(a[1], y)  # targets untouched without mixing


def test_all_strengths_zero_or_disabled_means_no_augmentation():
    assert _augment() is None
    spec = AugmentSpec(enabled=False, flip=True)
    assert build_image_augment(spec, 0, "multiclass", 3, [0.0], [1.0]) is None


def test_flip_mirrors_some_images_exactly_and_leaves_the_rest():
    x, y = _batch(32)
    out = _augment(flip=True)((x,), y, 0, 0)[0][0]
    mirrored = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x, strict=True)]
    same = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True))
    assert 0 < sum(mirrored) < 32


def test_cutout_blanks_a_square_to_the_mean():
    x, y = _batch()
    out = _augment(cutout=0.5)((x,), y, 0, 0)[0][0]
    blanked = (out == 0).flatten(1).sum(dim=1)
    assert bool((blanked >= 4).all()) and bool((blanked <= 16).all())  # at most 4×4 of 8×8


def test_mixup_and_cutmix_soften_targets_into_probabilities():
    x, y = _batch()
    for strengths in ({"mixup": 0.4}, {"cutmix": 1.0}):
        (out,), soft = _augment(**strengths)((x,), y, 1, 1)
        assert soft.shape == (16, 3) and torch.allclose(soft.sum(dim=1), torch.ones(16))
        assert out.shape == x.shape
    _, binary = _augment("binary", mixup=0.4)((x,), (y % 2).float(), 1, 1)
    assert binary.shape == (16,) and bool(((binary >= 0) & (binary <= 1)).all())
    # regression has nothing to mix: with no other strength there is no augmentation
    assert _augment("regression", mixup=0.4) is None
