"""Reading a run's findings back (for `trainwise doctor RUN`), with clear errors on bad paths."""

from __future__ import annotations

import json
from pathlib import Path

from trainwise.diagnose.findings import Finding, read_findings
from trainwise.errors import RunError

FINDINGS = "findings.json"


def load_run_findings(run: str | Path) -> list[Finding]:
    """The findings saved in a run folder (finished, or `.partial` for a failed run)."""
    folder = Path(run)
    if not folder.is_dir() and Path(f"{run}.partial").is_dir():
        folder = Path(f"{run}.partial")
    if not folder.is_dir():
        raise RunError(
            f"{str(run)!r} is not a run folder",
            "a folder written by `trainwise fit` (e.g. runs/digits-20250101-120000)",
            "check the path; `ls runs/` lists the runs",
        )
    path = folder / FINDINGS
    if not path.is_file():
        raise RunError(
            f"{str(folder)!r} has no {FINDINGS}",
            "a run trained with the doctor on (train.doctor.enabled=true, the default)",
            "train again with the doctor on, or check the path",
        )
    try:
        return read_findings(path)
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise RunError(
            f"{str(path)!r} is damaged ({exc})",
            "the findings.json a run writes",
            "train the run again",
        ) from None
