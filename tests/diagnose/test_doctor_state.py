"""The doctor's checkpointed state: its epoch summaries survive a round trip through JSON, from
the current checkpoint format and the earlier one, and a rollback's dropped epochs stay dropped."""

from __future__ import annotations

import json
import math

from trainwise.diagnose.doctor import Doctor


def _summary(epoch: int, loss: float) -> dict:
    return {"epoch": epoch, "loss": loss, "grad_norm": [0.1 * epoch, 0.2], "activations": []}


def _through_json(state: dict) -> dict:
    return json.loads(json.dumps(state))


def test_summaries_survive_a_round_trip():
    doctor = Doctor(log=None)
    doctor.epochs = [_summary(1, 0.9), _summary(2, 0.7)]
    first = _through_json(doctor.state_dict())
    doctor.epochs.append(_summary(3, float("nan")))
    second = _through_json(doctor.state_dict())
    restored = Doctor(log=None)
    restored.load_state_dict(second)
    assert restored.epochs[:2] == doctor.epochs[:2] and math.isnan(restored.epochs[2]["loss"])
    assert len(first["epoch_summaries"]) == 2 and len(second["epoch_summaries"]) == 3
    restored.epochs.append(_summary(4, 0.5))  # carries on after a resume
    assert [json.loads(t)["epoch"] for t in restored.state_dict()["epoch_summaries"]] == [
        1,
        2,
        3,
        4,
    ]


def test_a_checkpoint_of_the_earlier_format_loads():
    doctor = Doctor(log=None)
    doctor.load_state_dict({"findings": [], "epochs": [_summary(1, 0.9)], "changes": []})
    assert doctor.epochs == [_summary(1, 0.9)]
    assert json.loads(doctor.state_dict()["epoch_summaries"][0]) == _summary(1, 0.9)


def test_epochs_a_rollback_dropped_are_not_saved_again():
    doctor = Doctor(log=None)
    doctor.epochs = [_summary(1, 0.9), _summary(2, 50.0), _summary(3, 80.0)]
    doctor.state_dict()
    doctor.epochs = doctor.epochs[:1]  # rolled back to the end of epoch 1
    doctor.epochs += [_summary(2, 0.8), _summary(3, 0.7)]
    saved = [json.loads(t) for t in doctor.state_dict()["epoch_summaries"]]
    assert [e["loss"] for e in saved] == [0.9, 0.8, 0.7]
