"""Batched, seeded image augmentation on the device that holds the batch.

One affine warp per image carries the random resized crop, the rotation, the shift and the flip
(one `grid_sample` call for the whole batch); colour jitter and cutout are elementwise masks;
Mixup and CutMix mix each batch with a shuffled copy of itself and soften the targets.

Every random number comes from a generator seeded by (run seed, epoch, batch index), as in
`augment.py`: there is no state to save, a resumed run sees exactly the batches it would have
seen, and the global RNGs are never touched. (Kornia's augmentation modules draw from the global
torch RNG, so reproducing a batch with them would mean forking and reseeding that RNG every
step; this module needs nothing beyond torch and stays exact on CPU and GPU alike.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from trainwise.data.augment import step_generator
from trainwise.spec.model import AugmentSpec

ImageAugment = Callable[
    [tuple[torch.Tensor, ...], torch.Tensor, int, int],
    tuple[tuple[torch.Tensor, ...], torch.Tensor],
]
LUMA = (0.299, 0.587, 0.114)


def build_image_augment(
    spec: AugmentSpec,
    seed: int,
    task: str,
    n_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> ImageAugment | None:
    """The augmentation of image training batches, or None when every strength is zero."""
    mixing = task in {"binary", "multiclass"} and (spec.mixup > 0 or spec.cutmix > 0)
    if not spec.enabled or not (changes_pixels(spec) or mixing):
        return None

    def augment(
        inputs: tuple[torch.Tensor, ...], y: torch.Tensor, epoch: int, batch: int
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        x = inputs[0]
        gen = step_generator(x.device, seed, epoch, batch)
        x = warp_jitter_cutout(x, gen, spec, mean, std)
        if mixing:
            rng = np.random.default_rng([seed, epoch, batch])  # host-side scalars: no sync
            x, y = mix(x, y, gen, rng, spec, task, n_classes)
        return (x, *inputs[1:]), y

    return augment


def _warps(spec: AugmentSpec) -> bool:
    return spec.flip or spec.rotation > 0 or spec.crop_scale < 1 or spec.translate > 0


def changes_pixels(spec: AugmentSpec) -> bool:
    """Whether `warp_jitter_cutout` does anything: a warp, colour jitter or cutout is on."""
    return _warps(spec) or spec.color_jitter > 0 or spec.cutout > 0


def warp_jitter_cutout(
    x: torch.Tensor,
    gen: torch.Generator,
    spec: AugmentSpec,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """The per-image augmentations that `spec` switches on, in their fixed order (the order the
    random numbers are drawn in): the affine warp, colour jitter in the pixel statistics
    `mean`/`std`, then cutout. Image datasets and the image columns of a mixed table share it."""
    if _warps(spec):
        x = affine(x, gen, spec)
    if spec.color_jitter > 0:
        x = color_jitter(x, gen, spec.color_jitter, mean, std)
    if spec.cutout > 0:
        x = cutout(x, gen, spec.cutout)
    return x


def _uniform(
    n: int, low: float, high: float, gen: torch.Generator, x: torch.Tensor
) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=x.device, dtype=x.dtype)


def affine(x: torch.Tensor, gen: torch.Generator, spec: AugmentSpec) -> torch.Tensor:
    """Random resized crop (area ≥ crop_scale, aspect 3/4..4/3), rotation, shift and flip, as
    one sampling grid per image. Pixels from outside the image are 0: the training mean."""
    n = x.shape[0]
    area = _uniform(n, spec.crop_scale, 1.0, gen, x)
    log_ratio = _uniform(n, math.log(3 / 4), math.log(4 / 3), gen, x)
    if spec.crop_scale >= 1:
        log_ratio = torch.zeros_like(log_ratio)
    cw = (area * log_ratio.exp()).sqrt().clamp(max=1.0)  # crop width, as a fraction
    ch = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    tx = (1 - cw) * _uniform(n, -1, 1, gen, x) + 2 * spec.translate * _uniform(n, -1, 1, gen, x)
    ty = (1 - ch) * _uniform(n, -1, 1, gen, x) + 2 * spec.translate * _uniform(n, -1, 1, gen, x)
    angle = torch.deg2rad(_uniform(n, -spec.rotation, spec.rotation, gen, x))
    flip = torch.ones(n, device=x.device, dtype=x.dtype)
    if spec.flip:
        flip = torch.where(_uniform(n, 0, 1, gen, x) < 0.5, -1.0, 1.0).to(x.dtype)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [
            torch.stack([cw * cos * flip, -ch * sin, tx], dim=1),
            torch.stack([cw * sin * flip, ch * cos, ty], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(
    x: torch.Tensor,
    gen: torch.Generator,
    strength: float,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Brightness and contrast (and saturation in colour) scaled by up to 1 ± strength, applied
    to the pixel values (the standardisation is undone and redone around it)."""
    n, c = x.shape[:2]
    m = torch.as_tensor(mean, device=x.device, dtype=x.dtype).view(1, c, 1, 1)
    s = torch.as_tensor(std, device=x.device, dtype=x.dtype).view(1, c, 1, 1)
    pixels = x * s + m
    brightness = _uniform(n, 1 - strength, 1 + strength, gen, x).view(n, 1, 1, 1)
    contrast = _uniform(n, 1 - strength, 1 + strength, gen, x).view(n, 1, 1, 1)
    pixels = pixels * brightness
    level = pixels.mean(dim=(1, 2, 3), keepdim=True)
    pixels = (pixels - level) * contrast + level
    if c == 3:
        saturation = _uniform(n, 1 - strength, 1 + strength, gen, x).view(n, 1, 1, 1)
        luma = torch.as_tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        grey = (pixels * luma).sum(dim=1, keepdim=True)
        pixels = (pixels - grey) * saturation + grey
    return (pixels - m) / s


def cutout(x: torch.Tensor, gen: torch.Generator, fraction: float) -> torch.Tensor:
    """Blank one square (side = fraction of the short side) per image, centred anywhere."""
    n, _, h, w = x.shape
    side = max(1, round(fraction * min(h, w)))
    cy = (torch.rand(n, generator=gen, device=x.device) * h).long().view(n, 1, 1)
    cx = (torch.rand(n, generator=gen, device=x.device) * w).long().view(n, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - cy).abs() * 2 < side) & ((cols - cx).abs() * 2 < side)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def mix(
    x: torch.Tensor,
    y: torch.Tensor,
    gen: torch.Generator,
    rng: np.random.Generator,
    spec: AugmentSpec,
    task: str,
    n_classes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or CutMix with a shuffled copy of the batch; targets become class probabilities
    (multiclass; cross-entropy takes them as they are) or mixed 0/1 values (binary)."""
    use_cutmix = spec.cutmix > 0 and (spec.mixup <= 0 or rng.random() < 0.5)
    alpha = spec.cutmix if use_cutmix else spec.mixup
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
    if use_cutmix:
        h, w = x.shape[2:]
        cut_h, cut_w = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
        x = x.clone()
        x[:, :, top:bottom, left:right] = x[perm][:, :, top:bottom, left:right]
        lam = 1 - (bottom - top) * (right - left) / (h * w)  # the area actually pasted
    else:
        x = lam * x + (1 - lam) * x[perm]
    if task == "multiclass":
        y = F.one_hot(y.long(), n_classes).to(x.dtype)
    return x, lam * y + (1 - lam) * y[perm]
