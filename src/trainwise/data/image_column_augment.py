"""Augmentation of the image columns of a mixed table's training batches.

The image columns are the last model inputs (data/mixed.py). Each gets the same warp, colour
jitter and cutout as an image dataset (data/image_augment.py, `data.augment` fields), in its own
column's pixel statistics. Mixup and CutMix are left out: they would mix one column of a row
with another row's numbers and categories, whose targets they do not soften.

Random numbers come from a generator per (run seed, epoch, batch), as everywhere else, offset per
column so the columns and the token augmentation draw independent streams; a resumed run sees
exactly the batches it would have seen.
"""

from __future__ import annotations

from typing import Any

import torch

from trainwise.data.augment import Augment, step_generator
from trainwise.data.image_augment import affine, color_jitter, cutout
from trainwise.spec.model import AugmentSpec

COLUMN_SEED_OFFSET = 7_919  # a prime: column k draws from seed + k * offset


def with_image_columns(
    augment: Augment | None, spec: AugmentSpec, preprocessor: Any, seed: int
) -> Augment | None:
    """`augment` (the token augmentation, or None) followed by the image columns' augmentation;
    `augment` unchanged when the preprocessor has no image columns or nothing is switched on."""
    images = getattr(preprocessor, "images", None) or []
    geometric = spec.flip or spec.rotation > 0 or spec.crop_scale < 1 or spec.translate > 0
    if not spec.enabled or not images or not (geometric or spec.color_jitter or spec.cutout):
        return augment
    stats = [(p.state_["mean"], p.state_["std"]) for p in images]

    def augment_images(
        inputs: tuple[torch.Tensor, ...], epoch: int, batch: int
    ) -> tuple[torch.Tensor, ...]:
        if augment is not None:
            inputs = augment(inputs, epoch, batch)
        first = len(inputs) - len(stats)
        out = list(inputs)
        for k, (mean, std) in enumerate(stats):
            x = out[first + k]
            gen = step_generator(x.device, seed + (k + 1) * COLUMN_SEED_OFFSET, epoch, batch)
            if geometric:
                x = affine(x, gen, spec)
            if spec.color_jitter > 0:
                x = color_jitter(x, gen, spec.color_jitter, mean, std)
            if spec.cutout > 0:
                x = cutout(x, gen, spec.cutout)
            out[first + k] = x
        return tuple(out)

    return augment_images
