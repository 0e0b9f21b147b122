"""Evaluations of a finished run on new data, kept beside the run.

`trainwise evaluate` of a forecaster writes `evaluations/<data>-<time>.json` into the run
folder: which data, when, which windows, and the metrics with their baselines. A run is
usually judged again as new data arrives (the next year of the series); keeping each result
with the model makes that record part of the run, not a console scroll-back. The run's own files
are never touched; a folder that cannot be written costs the record only (the caller warns).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

EVALUATIONS = "evaluations"


def record_evaluation(run: str | Path, data: str | Path, metrics: dict[str, Any]) -> Path:
    """Write the record; returns its path. Raises OSError when the folder is not writable."""
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(data).stem) or "data"
    folder = Path(run) / EVALUATIONS
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"{stem}-{stamp}.json", 2
    while path.exists():
        path, n = folder / f"{stem}-{stamp}-{n}.json", n + 1
    record = {
        "data": str(data),
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "metrics": metrics,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
