"""`trainwise doctor RUN` in a subprocess: prints a finished run's findings; a bad RUN is one
error line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def write_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    frame["y"] = np.where(frame["a"] > 0, "yes", "no")
    frame["leak"] = np.where(frame["y"] == "yes", 1, 0)
    frame.to_csv(path, index=False)
    return path


def test_doctor_prints_the_findings_of_a_run(tmp_path: Path, run_cli):
    data = write_csv(tmp_path / "d.csv")
    fit = run_cli(
        "fit",
        "--data",
        data,
        "--target",
        "y",
        "--output",
        tmp_path / "run",
        "--quiet",
        "train.epochs=3",
        "model.hidden=[8]",
        cwd=tmp_path,
    )
    assert fit.returncode == 0, fit.stderr
    assert "doctor: warning [target_leakage]" in fit.stdout  # shown as it appears
    proc = run_cli("doctor", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING [target_leakage]" in proc.stdout and "'leak'" in proc.stdout
    assert "fix: drop it" in proc.stdout
    raw = run_cli("doctor", tmp_path / "run", "--json", cwd=tmp_path)
    findings = json.loads(raw.stdout)["findings"]
    assert any(f["rule"] == "target_leakage" for f in findings)
    assert findings == json.loads((tmp_path / "run" / "findings.json").read_text())["findings"]


def test_doctor_on_a_bad_path_exits_2_with_one_message(tmp_path: Path, run_cli):
    proc = run_cli("doctor", tmp_path / "nowhere", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("trainwise: error:")
    assert "not a run folder" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run_cli("doctor", tmp_path / "empty", cwd=tmp_path)
    assert proc.returncode == 2 and "has no findings.json" in proc.stderr
