"""Batched, seeded augmentation of training batches, on the device that holds the batch.

Each step draws from its own generator seeded by (run seed, epoch, batch index): no state to
save, and a run resumed mid-epoch sees exactly the augmented batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainwise.data.text_augment import augment_tokens
from trainwise.spec.model import AugmentSpec

Augment = Callable[[tuple[torch.Tensor, ...], int, int], tuple[torch.Tensor, ...]]


def step_generator(device: torch.device, seed: int, epoch: int, batch: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch) * 1_000_033 + batch)
    return gen


def shift_and_noise(
    x: torch.Tensor, gen: torch.Generator, max_shift: int, noise: float
) -> torch.Tensor:
    """Shift each row of (batch, length) by up to ±max_shift steps (zero-filled: the scaled
    mean), then add Gaussian noise."""
    n, length = x.shape
    if max_shift > 0:
        shifts = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=gen, device=x.device)
        source = torch.arange(length, device=x.device).unsqueeze(0) - shifts
        valid = (source >= 0) & (source < length)
        x = torch.gather(x, 1, source.clamp(0, length - 1)) * valid
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return x


def build_augment(spec: AugmentSpec, kind: str, seed: int) -> Augment | None:
    """The augmentation for a data kind, or None when there is nothing to do."""
    if not spec.enabled:
        return None
    if kind == "sequence" and (spec.shift > 0 or spec.noise > 0):

        def augment_sequence(
            inputs: tuple[torch.Tensor, ...], epoch: int, batch: int
        ) -> tuple[torch.Tensor, ...]:
            dense = inputs[0]
            gen = step_generator(dense.device, seed, epoch, batch)
            max_shift = int(spec.shift * dense.shape[1])
            return (shift_and_noise(dense, gen, max_shift, spec.noise), *inputs[1:])

        return augment_sequence
    if kind in {"text", "mixed"} and (spec.token_dropout > 0 or spec.token_swap > 0):

        def augment_text(
            inputs: tuple[torch.Tensor, ...], epoch: int, batch: int
        ) -> tuple[torch.Tensor, ...]:
            gen = step_generator(inputs[0].device, seed, epoch, batch)
            return augment_tokens(inputs, gen, spec.token_dropout, spec.token_swap)

        return augment_text
    if kind == "tabular" and spec.tabular and spec.noise > 0:

        def augment_tabular(
            inputs: tuple[torch.Tensor, ...], epoch: int, batch: int
        ) -> tuple[torch.Tensor, ...]:
            dense = inputs[0]
            gen = step_generator(dense.device, seed, epoch, batch)
            noisy = dense + spec.noise * torch.randn(
                dense.shape, generator=gen, device=dense.device, dtype=dense.dtype
            )
            return (noisy, *inputs[1:])

        return augment_tabular
    return None
