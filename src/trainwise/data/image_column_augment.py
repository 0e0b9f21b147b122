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
from trainwise.data.image_augment import changes_pixels, warp_jitter_cutout
from trainwise.spec.model import AugmentSpec

COLUMN_SEED_OFFSET = 7_919  # a prime: column k draws from seed + k * offset


def with_image_columns(
    augment: Augment | None, spec: AugmentSpec, preprocessor: Any, seed: int
) -> Augment | None:
    """`augment` (the token augmentation, or None) followed by the image columns' augmentation;
    `augment` unchanged when the preprocessor has no image columns or nothing is switched on."""
    images = getattr(preprocessor, "images", None) or []
    if not spec.enabled or not images or not changes_pixels(spec):
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
            out[first + k] = warp_jitter_cutout(x, gen, spec, mean, std)
        return tuple(out)

    return augment_images
