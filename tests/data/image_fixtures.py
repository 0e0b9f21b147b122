"""Small generated image folders and arrays of three classes a convolution tells apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def shapes_images(n_per_class: int, size: int = 12, colour: bool = False, seed: int = 0):
    """Images (n, h, w[, 3]) uint8 and labels c0, c1, c2: horizontal stripes, vertical stripes,
    or a bright square at a random place, over noise (what a convolution tells apart)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in range(3):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, (size, size)).astype(np.uint8)
            phase = int(rng.integers(2))
            if k == 0:
                img[phase::2, :] += 150
            elif k == 1:
                img[:, phase::2] += 150
            else:
                top, left = rng.integers(0, size - size // 3, 2)
                img[top : top + size // 3, left : left + size // 3] = 220
            if colour:
                img = np.stack([img, img // 2, 255 - img], axis=-1)
            images.append(img)
            labels.append(f"c{k}")
    return np.stack(images), np.asarray(labels)


def write_folder(
    root: Path, n_per_class: int = 20, size: int = 12, colour: bool = False, fmt: str = "png"
) -> Path:
    """A class-folder tree of image files; returns its root."""
    images, labels = shapes_images(n_per_class, size, colour)
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:05d}.{fmt}")
    return root
