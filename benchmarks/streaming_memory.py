"""Peak memory of one training epoch on an image folder of N and 10·N images.

Each run is a fresh process (peak RSS only grows within a process): `fit` on a generated folder
of 32×32 colour PNGs for one epoch, with the streaming path (decoded per batch in a worker) and
the in-memory path for contrast. On the streaming path memory should stay flat as the folder
grows 10×; on the in-memory path it grows with the decoded tensors (N·3·32·32·4 bytes).

Run: `.venv/bin/python -m benchmarks.streaming_memory [--n 2000]`
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.memory_runs import child_epoch, measure, print_growth

SIDE = 32


def write_folder(root: Path, n: int, seed: int = 0) -> Path:
    """`n` noisy 32×32 colour images in 4 class folders (a bright bar whose angle is the class)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = i % 4
        img = rng.integers(0, 80, (SIDE, SIDE, 3), dtype=np.uint8)
        if label % 2:
            img[:, 10 + label : 16 + label] += 150
        else:
            img[10 + label : 16 + label, :] += 150
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:06d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="images in the small folder")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "LOADING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_epoch(*args.child, channels=[8, 16])
        return
    sizes = (args.n, 10 * args.n)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {n: write_folder(Path(tmp) / f"n{n}", n) for n in sizes}
        rows = measure("benchmarks.streaming_memory", folders)
    decoded = {n: n * 3 * SIDE * SIDE * 4 / 2**20 for n in sizes}
    print("| images | loading | decoded MiB | peak RSS MiB | worker peak MiB | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']} | {r['loading']} | {decoded[r['n']]:.0f} | {r['peak_mib']} "
            f"| {r['worker_peak_mib']} | {r['seconds']} |"
        )
    print_growth(rows, *sizes)


if __name__ == "__main__":
    main()
