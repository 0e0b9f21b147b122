"""A generated mixed table: an image-path column, a number, a category and a label that needs
both the picture and the number.

Each 16×16 grey picture shows a bright square in its left or its right half over noise; the
label is "yes" when exactly one of (square on the left, x > 0) holds (an exclusive or). A model
that ignores the picture, or the number, is at chance (0.5); only one that reads both can be
right. The colour column is noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SIZE = 16


def square_picture(left: bool, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    img = rng.integers(0, 60, (size, size)).astype(np.uint8)
    side = size // 3
    top = int(rng.integers(0, size - side))
    half = size // 2
    col = int(rng.integers(0, half - side)) if left else int(rng.integers(half, size - side))
    img[top : top + side, col : col + side] = 220
    return img


def write_mixed_table(
    root: Path, n: int = 600, seed: int = 0, name: str = "table.csv", folder: str = "img"
) -> pd.DataFrame:
    """Write `n` PNGs under root/folder and root/name (paths relative to root); return the
    table as written."""
    rng = np.random.default_rng(seed)
    (root / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        left = bool(rng.integers(2))
        path = f"{folder}/{i:04d}.png"
        Image.fromarray(square_picture(left, rng)).save(root / path)
        x = float(rng.normal())
        rows.append(
            {
                "photo": path,
                "x": x,
                "colour": str(rng.choice(["red", "green", "blue"])),
                "label": "yes" if left != (x > 0) else "no",
            }
        )
    frame = pd.DataFrame(rows)
    frame.to_csv(root / name, index=False)
    return frame
