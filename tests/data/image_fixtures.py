"""Small generated image folders: a class is a bright square in one corner of a noisy image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def shapes_images(n_per_class: int, size: int = 12, colour: bool = False, seed: int = 0):
    """Images (n, h, w[, 3]) uint8 and labels: class k has a bright square in corner k."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    half = size // 2
    for k in range(3):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, (size, size)).astype(np.uint8)
            top, left = [(0, 0), (0, half), (half, 0)][k]
            img[top : top + half, left : left + half] = 200
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
