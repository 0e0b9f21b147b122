"""The `auto` training budget: epochs and schedule chosen from the data kind and size."""

from __future__ import annotations

import pytest
import torch

from trainwise.spec.model import ScheduleSpec, TrainSpec
from trainwise.train.budget import MAX_EPOCHS, MIN_EPOCHS, apply_budget, resolve_budget
from trainwise.train.runtime import BF16_MIN_FLOPS, cpu_has_native_bf16, resolve_precision


def test_tables_keep_a_generous_cap_and_the_plateau_schedule() -> None:
    budget = resolve_budget(TrainSpec(), "tabular", 7)
    assert (budget.epochs, budget.schedule) == (200, "plateau")


@pytest.mark.parametrize(
    ("steps_per_epoch", "epochs"),
    [(50, 40), (7, MAX_EPOCHS), (500, MIN_EPOCHS), (100, 20), (30, 67)],
)
def test_sequences_get_a_step_budget_annealed_by_cosine(steps_per_epoch: int, epochs: int) -> None:
    budget = resolve_budget(TrainSpec(), "sequence", steps_per_epoch)
    assert (budget.epochs, budget.schedule) == (epochs, "cosine")


def test_values_named_in_the_spec_win() -> None:
    spec = TrainSpec(epochs=7, schedule=ScheduleSpec(name="onecycle"))
    budget = resolve_budget(spec, "sequence", 50)
    assert (budget.epochs, budget.schedule) == (7, "onecycle")
    applied = apply_budget(TrainSpec(), resolve_budget(TrainSpec(), "sequence", 50))
    assert (applied.epochs, applied.schedule.name) == (40, "cosine")


def test_auto_precision_on_the_cpu_is_bf16_only_for_large_steps_on_native_bf16() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, None) is None
    assert resolve_precision("auto", cpu, BF16_MIN_FLOPS / 10) is None
    expected = torch.bfloat16 if cpu_has_native_bf16() else None
    assert resolve_precision("auto", cpu, BF16_MIN_FLOPS * 2) is expected
    assert resolve_precision("fp32", cpu, BF16_MIN_FLOPS * 2) is None
    assert resolve_precision("bf16", cpu, 1.0) is torch.bfloat16


def test_audio_gets_the_step_budget_and_time_series_early_stopping() -> None:
    assert resolve_budget(TrainSpec(), "audio", 7).schedule == "cosine"
    assert resolve_budget(TrainSpec(), "audio", 7).epochs == 100
    assert resolve_budget(TrainSpec(), "timeseries", 40).schedule == "plateau"
