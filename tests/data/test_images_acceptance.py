"""Acceptance: scikit-learn's digits as a folder of 8×8 grey PNGs, trained with defaults.

The issue's check: `trainwise fit --data <folder>` with no other setting reaches a test accuracy
of at least 0.98. Slow (about a minute of CPU on 2 cores), so marked `slow`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits


@pytest.mark.slow
def test_digits_png_folder_reaches_098_test_accuracy_with_defaults(tmp_path, run_cli):
    digits = load_digits()
    root = tmp_path / "digits"
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image * 255 / 16).round().astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{i:04d}.png")
    out = run_cli(
        "fit", "--data", root, "--output", tmp_path / "run", "--quiet", cwd=tmp_path, timeout=900
    )
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    summary = json.loads((tmp_path / "run" / "data_summary.json").read_text())
    assert summary["kind"] == "image" and summary["loading"] == "memory"
    assert metrics["test"]["accuracy"] >= 0.98, metrics["test"]
