"""The doctor's checkpointed state: its epoch summaries survive a round trip through a
checkpoint's JSON, from the current format and the earlier ones, and a rollback's dropped epochs
stay dropped."""

from __future__ import annotations

import json
import math

from trainwise.diagnose.doctor import Doctor
from trainwise.train.checkpoint import dumps_state


def _summary(epoch: int, loss: float) -> dict:
    return {"epoch": epoch, "loss": loss, "grad_norm": [0.1 * epoch, 0.2], "activations": []}


def _through_json(state: dict) -> dict:
    """As a checkpoint writes and reads it."""
    return json.loads(dumps_state(state))


def _saved_epochs(doctor: Doctor) -> list[dict]:
    return _through_json(doctor.state_dict())["epochs"]


def test_summaries_survive_a_round_trip():
    doctor = Doctor(log=None)
    doctor.epochs = [_summary(1, 0.9), _summary(2, 0.7)]
    first = _through_json(doctor.state_dict())
    doctor.epochs.append(_summary(3, float("nan")))
    second = _through_json(doctor.state_dict())
    restored = Doctor(log=None)
    restored.load_state_dict(second)
    assert restored.epochs[:2] == doctor.epochs[:2] and math.isnan(restored.epochs[2]["loss"])
    assert len(first["epochs"]) == 2 and len(second["epochs"]) == 3
    restored.epochs.append(_summary(4, 0.5))  # carries on after a resume
    assert [e["epoch"] for e in _saved_epochs(restored)] == [1, 2, 3, 4]


def test_a_state_handed_over_in_memory_loads():
    doctor = Doctor(log=None)
    doctor.epochs = [_summary(1, 0.9), _summary(2, 0.7)]
    restored = Doctor(log=None)
    restored.load_state_dict(doctor.state_dict())
    assert restored.epochs == doctor.epochs


def test_checkpoints_of_the_earlier_formats_load():
    nested = Doctor(log=None)  # the summaries as nested lists and dicts
    nested.load_state_dict({"findings": [], "epochs": [_summary(1, 0.9)], "changes": []})
    assert nested.epochs == [_summary(1, 0.9)]
    assert _saved_epochs(nested) == [_summary(1, 0.9)]
    texts = Doctor(log=None)  # one JSON text per summary
    texts.load_state_dict(
        {"findings": [], "epoch_summaries": [json.dumps(_summary(1, 0.9))], "changes": []}
    )
    assert texts.epochs == [_summary(1, 0.9)]
    texts.epochs.append(_summary(2, 0.7))
    assert _saved_epochs(texts) == [_summary(1, 0.9), _summary(2, 0.7)]


def test_epochs_a_rollback_dropped_are_not_saved_again():
    doctor = Doctor(log=None)
    doctor.epochs = [_summary(1, 0.9), _summary(2, 50.0), _summary(3, 80.0)]
    doctor.state_dict()
    doctor.epochs = doctor.epochs[:1]  # rolled back to the end of epoch 1
    doctor.epochs += [_summary(2, 0.8), _summary(3, 0.7)]
    assert [e["loss"] for e in _saved_epochs(doctor)] == [0.9, 0.8, 0.7]
