"""`train.on_nan`: stop, skip or roll back when a training step turns the loss NaN.

The fault is injected by the user's own module (the fourth extension point): its forward
returns NaN on exactly one call in training mode, so the step at which the guard must react is
known in advance. Blobs 4 standard deviations apart train to near-perfect accuracy in a couple of
epochs, so a finite, useful model after the fault is a real expectation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import trainwise
from trainwise.data.prepared import TensorSplit
from trainwise.errors import TrainingFailed
from trainwise.train.callbacks import Callback
from trainwise.train.loop import fit as train_loop
from trainwise.train.numeric_faults import NanGuard
from trainwise.train.state import StepOutput, TrainState

BAD_CALL = 30  # the training forward call that returns NaN (1-based)
EPOCHS = 6
BATCH = 16
SETTINGS = {
    "save": False,
    "progress": False,
    "epochs": EPOCHS,
    "batch_size": BATCH,
    "lr": 1e-2,
    "schedule": {"name": "constant"},  # any change of lr comes from the guard
}


def blob_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(-2, 1, (n // 2, 2)), rng.normal(2, 1, (n // 2, 2))])
    label = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.where(label > 0, "yes", "no")})


class FaultyNet(nn.Module):
    """A small MLP whose `bad_call`-th training forward returns NaN (every one if None).

    With `nan_input=True` the NaN enters *before* a batch-norm layer instead of at the output.
    """

    def __init__(self, bad_call: int | None = BAD_CALL, nan_input: bool = False) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(2) if nan_input else nn.Identity()
        self.body = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        self.bad_call = bad_call
        self.nan_input = nan_input
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bad = False
        if self.training:
            self.calls += 1
            bad = self.bad_call is None or self.calls == self.bad_call
        if bad and self.nan_input:
            x = x * float("nan")
        out = self.body(self.norm(x))
        return out * float("nan") if bad and not self.nan_input else out


def faulty_net(**kwargs) -> FaultyNet:
    torch.manual_seed(0)  # the user's module is initialised outside trainwise's seeding
    return FaultyNet(**kwargs)


class EpochRecorder(Callback):
    """The step count and a copy of the weights at the end of every epoch."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, state, logs) -> None:
        self.steps.append(state.step)
        self.weights.append({k: v.clone() for k, v in state.model.state_dict().items()})


def all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(v.float()).all()) for v in model.state_dict().values())


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# through trainwise.fit


def test_stop_names_the_step_and_restores_the_best_finite_weights():
    net, recorder = faulty_net(), EpochRecorder()
    result = trainwise.fit(
        blob_frame(), "y", model=net, on_nan="stop", callbacks=[recorder], **SETTINGS
    )

    reason = result.metrics["stop_reason"]
    # state.step counts completed steps, so the 30th step is "step 30"; the epoch is 1-based
    steps_per_epoch = recorder.steps[0]
    bad_epoch = (BAD_CALL - 1) // steps_per_epoch + 1
    assert bad_epoch == 3, "the fixture should put the fault in the third epoch"
    assert "non-finite" in reason
    assert f"first at step {BAD_CALL} (epoch {bad_epoch})" in reason
    assert "lower train.lr" in reason  # the advice
    # the epoch is finished, then training stops
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert [h["nonfinite_steps"] for h in result.history] == [
        0,
        0,
        bad_epoch * steps_per_epoch - BAD_CALL + 1,  # NaN weights make every later step NaN
    ]
    assert net.calls == recorder.steps[-1] == bad_epoch * steps_per_epoch
    # early stopping put back the weights of the best epoch before the fault
    assert all_finite(result.model)
    vals = [h["val_loss"] for h in result.history]
    best = int(np.nanargmin(vals))
    assert best < bad_epoch - 1
    assert same_weights(result.model.state_dict(), recorder.weights[best])
    assert np.isfinite(result.predict_proba(blob_frame().head(20))).all()
    assert result.metrics["test"]["accuracy"] >= 0.9


def test_skip_drops_one_update_and_trains_on():
    net = faulty_net()
    result = trainwise.fit(blob_frame(), "y", model=net, on_nan="skip", **SETTINGS)

    assert result.metrics["stop_reason"] == "max_epochs"
    assert len(result.history) == EPOCHS
    assert sum(h["nonfinite_steps"] for h in result.history) == 1
    assert [h["nonfinite_steps"] for h in result.history][2] == 1  # the third epoch
    assert all(np.isfinite(h["loss"]) and np.isfinite(h["val_loss"]) for h in result.history)
    assert all_finite(result.model)
    assert result.metrics["test"]["accuracy"] >= 0.9


def test_rollback_goes_back_an_epoch_and_halves_the_learning_rate():
    net = faulty_net()
    result = trainwise.fit(blob_frame(), "y", model=net, on_nan="rollback", **SETTINGS)

    assert result.metrics["stop_reason"] == "max_epochs"
    history = result.history
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    lr = SETTINGS["lr"]
    # epochs 1-2 ran before the fault; epoch 3 was rolled back and re-run at half the rate
    assert [h["lr"] for h in history] == [lr, lr] + [lr / 2] * (EPOCHS - 2)
    assert all(h["nonfinite_steps"] == 0 for h in history)  # the bad epoch was undone
    assert all(np.isfinite(h["val_loss"]) for h in history)
    assert all_finite(result.model)
    assert result.metrics["test"]["accuracy"] >= 0.9


@pytest.mark.parametrize("validation", [True, False], ids=["with-validation", "no-early-stop"])
def test_nan_from_the_first_step_with_nothing_to_fall_back_on_fails(validation: bool):
    extra = {} if validation else {"early_stopping": {"enabled": False}}
    with pytest.raises(TrainingFailed) as caught:
        trainwise.fit(
            blob_frame(), "y", model=faulty_net(bad_call=None), on_nan="stop", **SETTINGS, **extra
        )
    message = str(caught.value)
    assert "non-finite weights" in message
    assert "first at step 1 (epoch 1)" in message
    assert "on_nan=rollback" in caught.value.fix


@pytest.mark.parametrize("mode", ["stop", "skip", "rollback"])
def test_healthy_runs_count_no_nonfinite_steps(mode: str):
    result = trainwise.fit(
        blob_frame(), "y", model=faulty_net(bad_call=-1), on_nan=mode, **SETTINGS
    )
    assert result.metrics["stop_reason"] == "max_epochs"
    assert len(result.history) == EPOCHS
    assert [h["nonfinite_steps"] for h in result.history] == [0] * EPOCHS
    assert [h["lr"] for h in result.history] == [SETTINGS["lr"]] * EPOCHS


def test_skip_never_returns_a_model_with_nonfinite_buffers():
    frame = blob_frame()
    try:
        result = trainwise.fit(
            frame,
            "y",
            model=faulty_net(nan_input=True),
            on_nan="skip",
            early_stopping={"enabled": False},
            **SETTINGS,
        )
    except TrainingFailed:
        return  # refusing the model is an acceptable answer too
    assert all_finite(result.model)
    assert np.isfinite(result.predict_proba(frame.head(20))).all()


def test_rollback_history_file_matches_the_returned_history(tmp_path: Path):
    out = tmp_path / "run"
    settings = SETTINGS | {"save": True, "output": {"dir": str(out)}}
    result = trainwise.fit(blob_frame(), "y", model=faulty_net(), on_nan="rollback", **settings)
    loaded = trainwise.load(out, model=FaultyNet())
    assert [h["epoch"] for h in loaded.history] == list(range(1, EPOCHS + 1))
    assert loaded.history == result.history


# ---------------------------------------------------------------------------------------------
# the guard inside the loop, where its own state is visible


class StepWeights(Callback):
    def __init__(self) -> None:
        self.after: dict[int, dict[str, torch.Tensor]] = {}

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        self.after[state.step] = {k: v.clone() for k, v in state.model.state_dict().items()}


def _train_with_guard(mode: str) -> tuple[NanGuard, TrainState, StepWeights, list[str]]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(160, 2, generator=gen)
    y = (x.sum(dim=1) > 0).float().unsqueeze(1)
    data = TensorSplit(x, torch.zeros(160, 0, dtype=torch.long), y)
    net = faulty_net()
    state = TrainState(
        model=net,
        optimizer=torch.optim.AdamW(net.parameters(), lr=1e-2),
        loss_fn=nn.functional.binary_cross_entropy_with_logits,
        max_epochs=4,
        batch_size=BATCH,
        generator=torch.Generator().manual_seed(0),
    )
    messages: list[str] = []
    guard, weights = NanGuard(mode, log=messages.append), StepWeights()
    train_loop(state, lambda g, start: data.batches(BATCH, g, start), callbacks=[guard, weights])
    return guard, state, weights, messages


def test_guard_in_skip_mode_counts_the_skip_and_leaves_the_weights_untouched():
    guard, state, weights, _ = _train_with_guard("skip")
    assert state.stop_reason == "max_epochs"
    assert guard.skipped == 1
    assert guard.state_dict()["skipped"] == 1
    assert guard.events == ["1 steps skipped in epoch 3"]  # 10 steps per epoch: step 30
    assert same_weights(weights.after[BAD_CALL], weights.after[BAD_CALL - 1])
    assert not same_weights(weights.after[BAD_CALL + 1], weights.after[BAD_CALL])
    assert all_finite(state.model)
    assert [h["nonfinite_steps"] for h in state.history] == [0, 0, 1, 0]


def test_guard_in_rollback_mode_records_the_event_and_the_new_rate():
    guard, state, _, messages = _train_with_guard("rollback")
    assert state.stop_reason == "max_epochs"
    assert guard.rollbacks == 1
    assert len(guard.events) == 1
    assert "first at step 30 (epoch 3)" in guard.events[0]
    assert "rolled back to epoch 2" in guard.events[0]
    assert messages == [f"warning: {guard.events[0]}"]
    assert state.lr == pytest.approx(5e-3)
    assert [h["lr"] for h in state.history] == [1e-2, 1e-2, 5e-3, 5e-3]
    assert all_finite(state.model)
    # the guard's counters travel with checkpoints
    twin = NanGuard("rollback")
    twin.load_state_dict(guard.state_dict())
    assert (twin.rollbacks, twin.events) == (1, guard.events)


def test_guard_in_stop_mode_stops_after_the_epoch():
    guard, state, _, _ = _train_with_guard("stop")
    assert state.stop_reason is not None
    assert state.stop_reason.startswith("non-finite loss (NaN/Inf) first at step 30 (epoch 3)")
    assert len(state.history) == 3
    assert guard.skipped == 0 and guard.rollbacks == 0
