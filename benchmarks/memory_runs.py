"""Shared by the streaming-memory benchmarks: one epoch per fresh process, and its peak memory.

A fresh process per measurement, because a process's high-water mark never falls: two runs in
one process would report the larger of the two.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def child_epoch(folder: str, loading: str, channels: list[int]) -> None:
    """One epoch in this process; prints peak RSS of this process and of its workers (MiB)."""
    import trainwise

    start = time.perf_counter()
    result = trainwise.fit(
        folder,
        loading=loading,
        workers=1,
        epochs=1,
        channels=channels,
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


def measure(module: str, folders: dict[int, Path]) -> list[dict[str, Any]]:
    """Each folder (keyed by its size) on the streaming and the in-memory path, each in a fresh
    `python -m module --child FOLDER LOADING` process."""
    rows = []
    for n, folder in folders.items():
        for loading in ("stream", "memory"):
            out = subprocess.run(
                [sys.executable, "-m", module, "--child", str(folder), loading],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append({"n": n, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def print_growth(rows: list[dict[str, Any]], small: int, large: int) -> None:
    """Peak RSS of the large folder over the small one, per loading path."""
    at = {(r["n"], r["loading"]): r["peak_mib"] for r in rows}
    for loading in ("stream", "memory"):
        ratio = at[large, loading] / at[small, loading]
        print(f"{loading}: peak RSS at {large // small}x / at 1x = {ratio:.2f}")
