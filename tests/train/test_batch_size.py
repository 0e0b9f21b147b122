"""`train.batch_size: auto`: 64, larger for large tables, a number in the spec always kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import trainwise
from trainwise.train.batch_size import BASE_BATCH, MAX_BATCH, resolve_batch_size


@pytest.mark.parametrize(
    ("train_rows", "size"),
    [
        (10, 64),
        (32_767, 64),
        (32_768, 128),
        (65_535, 128),
        (65_536, 256),
        (131_072, 512),
        (10_000_000, MAX_BATCH),
    ],
)
def test_a_table_batch_doubles_while_an_epoch_keeps_256_steps(train_rows: int, size: int) -> None:
    chosen = resolve_batch_size("auto", "tabular", train_rows)
    assert chosen.size == size
    assert train_rows // chosen.size >= 256 or chosen.size == BASE_BATCH
    assert (f"{train_rows:,}" in chosen.reason) == (size > BASE_BATCH)


@pytest.mark.parametrize("kind", ["image", "sequence", "audio", "text", "timeseries"])
def test_other_kinds_keep_64_because_their_step_budget_counts_steps_of_64(kind: str) -> None:
    assert resolve_batch_size("auto", kind, 1_000_000).size == BASE_BATCH


def test_a_number_in_the_spec_is_kept() -> None:
    chosen = resolve_batch_size(32, "tabular", 1_000_000)
    assert (chosen.size, chosen.reason) == (32, "train.batch_size")


def _table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["y"] = (x[:, 0] + x[:, 1] > 0).astype(int)
    return frame


def test_a_large_table_trains_with_the_larger_batch_and_the_run_records_why(
    tmp_path: Path,
) -> None:
    frame = _table(50_000)  # 35,000 training rows
    run_dir = tmp_path / "run"
    result = trainwise.fit(frame, "y", epochs=1, progress=False, output={"dir": str(run_dir)})
    budget = result.summary["training_budget"]
    assert budget["batch_size"] == 128
    assert "35,000 training rows" in budget["batch_size_why"]
    assert result.metrics["test"]["accuracy"] > 0.9
    saved = yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))
    assert saved["train"]["batch_size"] == "auto"  # re-running re-decides for its own data
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "batches of 128" in report


def test_a_batch_size_named_for_a_large_table_is_used() -> None:
    frame = _table(50_000)
    result = trainwise.fit(frame, "y", epochs=1, batch_size=256, progress=False, save=False)
    budget = result.summary["training_budget"]
    assert (budget["batch_size"], budget["batch_size_why"]) == (256, "train.batch_size")
