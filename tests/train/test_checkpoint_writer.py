"""Checkpoints written in the background (`Checkpointer` + `CheckpointWriter`).

A checkpoint must hold the state of the step it was taken at, even though training changes the
weights while it is written; every checkpoint must be on disk when the fit returns; and a write
that fails must fail the fit, unless the fit is failing already for a reason of its own.
Real training loops on a small MLP, real files; nothing of ours is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from trainwise.data.prepared import TensorSplit
from trainwise.errors import RunError
from trainwise.train.callbacks import Callback
from trainwise.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    load_latest,
    save_checkpoint,
)
from trainwise.train.checkpointer import Checkpointer
from trainwise.train.loop import fit as train_loop
from trainwise.train.state import TrainState

BATCH = 16


def _state(epochs: int = 3) -> TrainState:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    return TrainState(
        model=net,
        optimizer=torch.optim.AdamW(net.parameters(), lr=1e-2),
        loss_fn=nn.functional.binary_cross_entropy_with_logits,
        max_epochs=epochs,
        batch_size=BATCH,
        generator=torch.Generator().manual_seed(0),
    )


def _data() -> TensorSplit:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(160, 2, generator=gen)
    y = (x.sum(dim=1) > 0).float().unsqueeze(1)
    return TensorSplit(x, torch.zeros(160, 0, dtype=torch.long), y)


def _train(state: TrainState, callbacks: list[Callback]) -> None:
    data = _data()
    train_loop(state, lambda g, start: data.batches(BATCH, g, start), callbacks=callbacks)


class FitEnd(Callback):
    """Records that its `on_fit_end` ran; optionally fails the fit at the end of an epoch."""

    def __init__(self, fail_at_epoch: int | None = None) -> None:
        self.ended = False
        self.fail_at_epoch = fail_at_epoch

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if state.epoch == self.fail_at_epoch:
            raise ValueError("the fit's own failure")

    def on_fit_end(self, state: TrainState) -> None:
        self.ended = True


def test_a_checkpoint_holds_the_weights_of_its_step_while_training_goes_on(tmp_path: Path):
    state = _state()
    checkpointer = Checkpointer(tmp_path, {})
    at_save = {k: v.clone() for k, v in state.model.state_dict().items()}
    path = checkpointer.save(state)
    with torch.no_grad():  # what the next steps do while the file is being written
        for p in state.model.parameters():
            p.add_(1.0)
    checkpointer.writer.close()
    saved = load_checkpoint(path)["model"]
    assert set(saved) == set(at_save)
    for name, tensor in at_save.items():
        assert torch.equal(saved[name], tensor), name


def test_every_checkpoint_is_on_disk_when_the_fit_returns(tmp_path: Path):
    state = _state(epochs=4)
    _train(state, [Checkpointer(tmp_path, {}, keep=10)])
    found = list_checkpoints(tmp_path)
    assert len(found) == 4  # one per epoch
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    path, payload = load_latest(tmp_path)
    assert path == found[0]
    assert payload["position"]["step"] == state.step
    for name, tensor in state.model.state_dict().items():
        assert torch.equal(payload["model"][name], tensor), name


def test_a_failed_write_fails_the_fit_and_the_other_callbacks_still_end(tmp_path: Path):
    blocked = tmp_path / "checkpoints"
    blocked.write_text("a file where the checkpoint folder should be")
    after = FitEnd()
    # one epoch: its write fails in the background and is reported at the end of the fit
    with pytest.raises(RunError, match="cannot write checkpoint"):
        _train(_state(epochs=1), [Checkpointer(blocked, {}), after])
    assert after.ended


def test_when_the_fit_fails_its_own_error_is_raised_not_the_write_error(tmp_path: Path):
    blocked = tmp_path / "checkpoints"
    blocked.write_text("a file where the checkpoint folder should be")
    # epoch 1's checkpoint is in flight (and failing) when the fit fails at the same epoch end
    with pytest.raises(ValueError, match="the fit's own failure"):
        _train(_state(), [Checkpointer(blocked, {}), FitEnd(fail_at_epoch=1)])


@pytest.mark.parametrize("form", ["arrays", "texts", "lists"])
def test_the_history_comes_back_from_each_checkpoint_format(tmp_path: Path, form: str):
    """Arrays spliced in (this version), one JSON text per epoch, or plain lists (earlier
    versions): a resumed run gets the same history from each."""
    state = _state(epochs=2)
    checkpointer = Checkpointer(tmp_path, {})
    _train(state, [checkpointer])
    history = [dict(h) for h in state.history]
    payload = checkpointer.payload(state)
    if form == "texts":
        payload["history"] = {"json": [json.dumps(h) for h in history]}
    elif form == "lists":
        payload["history"] = history
    save_checkpoint(tmp_path, state.step + 1, payload, keep=10)
    resumed = _state(epochs=2)
    Checkpointer(tmp_path, {}).restore(resumed)
    assert resumed.history == history and len(history) == 2
