"""Run folders for the report tests, and the doctor's files they may hold.

`findings.json` and `gradients.json` are written by the training doctor; these fixtures follow
that contract so the report's sections for them are exercised here too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HOSTILE = '<script>alert("x")</script>&'  # a column name no page may execute or mangle

FINDINGS: dict[str, Any] = {
    "findings": [
        {
            "rule": "overfitting",
            "severity": "warning",
            "what": "validation loss rose for 5 epochs while training loss fell",
            "evidence": {"best_epoch": 2, "val_loss": [0.41, 0.43, 0.47], "gap": 0.12},
            "fix": "raise model.dropout or lower train.epochs",
            "epoch": 4,
            "step": None,
            "layer": None,
            "applied": None,
        },
        {
            "rule": "dead_relu",
            "severity": "error",
            "what": f"layer {HOSTILE} outputs zero for 97% of rows",
            "evidence": {"dead_fraction": 0.97, "layer": HOSTILE},
            "fix": "lower train.lr or use model.activation=leaky_relu",
            "epoch": 2,
            "step": 40,
            "layer": "body.0",
            "applied": "none",
        },
        {
            "rule": "lr_ok",
            "severity": "info",
            "what": "the learning rate looks healthy",
            "evidence": {},
            "fix": "",
            "epoch": None,
            "step": None,
            "layer": None,
            "applied": None,
        },
    ]
}


def gradients(epochs: int = 3) -> dict[str, Any]:
    layers = ["body.0.weight", "body.1.weight", "head.weight"]
    rng = np.random.default_rng(0)
    return {
        "layers": layers,
        "epochs": list(range(1, epochs + 1)),
        "grad_norm": rng.uniform(0.01, 1.0, (epochs, len(layers))).tolist(),
        "update_ratio": rng.uniform(1e-4, 1e-2, (epochs, len(layers))).tolist(),
    }


def write_doctor_files(run: Path) -> None:
    (run / "findings.json").write_text(json.dumps(FINDINGS), encoding="utf-8")
    (run / "gradients.json").write_text(json.dumps(gradients()), encoding="utf-8")


def hostile_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A binary table whose column and class names need escaping in HTML."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({HOSTILE: rng.normal(size=n), "b & c": rng.normal(size=n)})
    frame["label"] = np.where(frame[HOSTILE] + frame["b & c"] > 0, "<yes>", "no")
    return frame
