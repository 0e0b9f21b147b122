"""Each epoch's seconds: what they count, what they leave out, and where they are written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import trainwise
from resume_helpers import fit_stopped_at
from trainwise.train.epoch_clock import typical_epoch_seconds

EPOCHS = 3
ROWS, BATCH = 64, 16  # 4 steps per epoch
STEP_SLEEP = 0.03  # a step that takes at least this long
END_SLEEP = 1.0  # epoch-end work of a later callback, which an epoch's time leaves out


class SlowSteps(trainwise.Callback):
    """Every step takes at least STEP_SLEEP longer; every epoch's end END_SLEEP longer."""

    def on_batch_end(self, state, out) -> None:
        time.sleep(STEP_SLEEP)

    def on_epoch_end(self, state, logs) -> None:
        time.sleep(END_SLEEP)


def _arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_an_epoch_counts_its_steps_and_leaves_out_other_callbacks_epoch_end_work():
    result = trainwise.fit(
        _arrays(),
        validation=_arrays(),
        epochs=EPOCHS,
        batch_size=BATCH,
        hidden=[8],
        callbacks=[SlowSteps()],
        save=False,
        progress=False,
    )
    seconds = result.metrics["epoch_seconds"]
    assert len(seconds) == EPOCHS
    steps = ROWS // BATCH
    assert all(steps * STEP_SLEEP <= s < END_SLEEP for s in seconds), seconds


def test_the_run_folder_records_the_epochs_and_a_resumed_run_only_the_whole_ones_it_ran(
    tmp_path: Path,
):
    out = tmp_path / "run"
    settings = {"epochs": EPOCHS, "batch_size": BATCH, "hidden": [8], "progress": False}
    stopped = fit_stopped_at(6, _arrays(), output={"dir": str(out)}, **settings)  # in epoch 2
    resumed = trainwise.fit(_arrays(), resume=stopped.run_folder)
    metrics = json.loads((out / "metrics.json").read_text())
    # epoch 2 ran in two processes: only epoch 3 was timed whole in the resumed one
    assert len(metrics["epoch_seconds"]) == 1
    assert metrics["epoch_seconds"] == resumed.metrics["epoch_seconds"]
    history = (out / "history.jsonl").read_text()
    assert "seconds" not in history  # the history stays what an uninterrupted run writes


def test_the_typical_epoch_is_the_median_so_a_slow_first_epoch_does_not_skew_it():
    assert typical_epoch_seconds([3.0, 1.0, 1.2, 0.9]) == pytest.approx(1.1)
    assert typical_epoch_seconds([]) is None
