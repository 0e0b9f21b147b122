"""Peak memory of one training epoch on an image folder of N and 10·N images.

Each run is a fresh process (peak RSS only grows within a process): `fit` on a generated folder
of 32×32 colour PNGs for one epoch, with the streaming path (decoded per batch in a worker) and
the in-memory path for contrast. On the streaming path memory should stay flat as the folder
grows 10×; on the in-memory path it grows with the decoded tensors (N·3·32·32·4 bytes).

Run: `.venv/bin/python -m benchmarks.streaming_memory [--n 2000]`
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

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


def child(folder: str, loading: str) -> None:
    """One epoch in this process; prints peak RSS of this process and of its workers (MiB)."""
    import trainwise

    start = time.perf_counter()
    result = trainwise.fit(
        folder,
        loading=loading,
        workers=1,
        epochs=1,
        channels=[8, 16],
        save=False,
        progress=False,
    )
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "peak_mib": round(own, 1),
                "worker_peak_mib": round(workers, 1),
                "seconds": round(seconds, 1),
                "loading": result.summary["loading"],
                "test_accuracy": result.metrics["test"]["accuracy"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="images in the small folder")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "LOADING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.n, 10 * args.n):
            folder = write_folder(Path(tmp) / f"n{n}", n)
            for loading in ("stream", "memory"):
                command = [sys.executable, "-m", "benchmarks.streaming_memory"]
                out = subprocess.run(
                    [*command, "--child", str(folder), loading],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append({"images": n, **json.loads(out.stdout.strip().splitlines()[-1])})
    decoded = {n: n * 3 * SIDE * SIDE * 4 / 2**20 for n in (args.n, 10 * args.n)}
    print("| images | loading | decoded MiB | peak RSS MiB | worker peak MiB | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['images']} | {r['loading']} | {decoded[r['images']]:.0f} | {r['peak_mib']} "
            f"| {r['worker_peak_mib']} | {r['seconds']} |"
        )
    small = {r["loading"]: r["peak_mib"] for r in rows if r["images"] == args.n}
    large = {r["loading"]: r["peak_mib"] for r in rows if r["images"] == 10 * args.n}
    for loading in ("stream", "memory"):
        print(f"{loading}: peak RSS at 10x / at 1x = {large[loading] / small[loading]:.2f}")


if __name__ == "__main__":
    main()
