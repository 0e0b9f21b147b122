"""The per-step loss record: the epoch's mean, NaN count and first NaN step from one read."""

from __future__ import annotations

import math

import torch

from trainwise.train.step_losses import CHUNK, StepLosses


def _record(values: list[float], first_step: int = 0) -> StepLosses:
    losses = StepLosses(first_step)
    for v in values:
        losses.append(torch.tensor(v))
    return losses


def test_mean_skips_nonfinite_steps_and_counts_them():
    read = _record([1.0, float("nan"), 3.0, float("inf")], first_step=10).read()
    assert read.mean == 2.0
    assert read.nonfinite == 2
    assert read.first_nonfinite_step == 12  # the second step of an epoch starting after step 10


def test_a_healthy_epoch_has_no_first_nonfinite_step():
    read = _record([0.5, 0.25]).read()
    assert (read.mean, read.nonfinite, read.first_nonfinite_step) == (0.375, 0, None)


def test_an_epoch_with_no_finite_step_has_a_nan_mean():
    read = _record([float("nan")] * 3).read()
    assert math.isnan(read.mean) and read.nonfinite == 3 and read.first_nonfinite_step == 1


def test_long_epochs_are_kept_in_chunks_with_every_step_in_order():
    values = [float(i) for i in range(2 * CHUNK + 7)]
    values[CHUNK + 3] = float("nan")
    losses = _record(values)
    assert len(losses._chunks) == 2  # the held scalars were stacked as they came
    assert torch.equal(losses.tensor()[: CHUNK + 3], torch.arange(CHUNK + 3, dtype=torch.float32))
    read = losses.read()
    assert read.first_nonfinite_step == CHUNK + 4
    assert read.nonfinite == 1


def test_a_resumed_epoch_carries_the_losses_taken_before_the_checkpoint():
    before = _record([1.0, float("nan")], first_step=4)
    resumed = StepLosses(4, before.tensor())
    resumed.append(torch.tensor(3.0))
    read = resumed.read()
    assert (read.mean, read.nonfinite, read.first_nonfinite_step) == (2.0, 1, 6)
