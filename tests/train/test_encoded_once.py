"""Per-epoch JSON texts for checkpoints: each item encoded once, numbers a callback logged as
NumPy or tensor scalars written as plain numbers (as history.jsonl has them), and the texts
written into a checkpoint's state as the arrays they stand for."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trainwise.train.checkpoint import (
    EncodedOnce,
    PreEncoded,
    dumps_state,
    load_checkpoint,
    save_checkpoint,
)


def test_numpy_and_tensor_numbers_in_the_logs_are_written_as_plain_numbers():
    logs = {"epoch": 1, "loss": np.float32(0.5), "seconds": torch.tensor(2.0), "lr": 1e-3}
    (text,) = EncodedOnce().texts([logs])
    assert json.loads(text) == {"epoch": 1, "loss": 0.5, "seconds": 2.0, "lr": 1e-3}


def test_an_item_already_encoded_keeps_its_text_while_it_is_in_the_list():
    first, second = {"epoch": 1}, {"epoch": 2}
    encoded = EncodedOnce()
    encoded.texts([first])
    first["epoch"] = 99  # changed after it was encoded: the text is not taken again
    assert encoded.texts([first, second]) == ['{"epoch": 1}', '{"epoch": 2}']
    assert encoded.texts([second]) == ['{"epoch": 2}']
    assert encoded.texts([first]) == ['{"epoch": 99}']  # dropped, then back: encoded afresh


def test_a_value_json_cannot_hold_is_named():
    with pytest.raises(TypeError, match="object"):
        EncodedOnce().texts([{"x": object()}])


def test_pre_encoded_lists_are_written_as_the_arrays_they_stand_for():
    history = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": float("nan")}]
    state = {
        "history": EncodedOnce().encoded(history),
        "callbacks": {"doctor": {"epochs": PreEncoded([]), "note": "pre-encoded-0"}},
        "lr": 0.1,
    }
    loaded = json.loads(dumps_state(state))
    assert loaded["history"][0] == history[0] and np.isnan(loaded["history"][1]["loss"])
    assert loaded["callbacks"] == {"doctor": {"epochs": [], "note": "pre-encoded-0"}}
    assert loaded["lr"] == 0.1


def test_a_state_value_json_cannot_hold_is_still_refused():
    with pytest.raises(TypeError, match="object"):
        dumps_state({"x": object()})


def test_a_checkpoint_with_pre_encoded_lists_loads_them_as_lists(tmp_path):
    payload = {
        "history": EncodedOnce().encoded([{"epoch": 1}, {"epoch": 2}]),
        "model": {"w": torch.arange(3.0)},
        **{part: {} for part in ("optimizer", "rng", "position", "callbacks", "scheduler")},
    }
    loaded = load_checkpoint(save_checkpoint(tmp_path, 7, payload, keep=2))
    assert loaded["history"] == [{"epoch": 1}, {"epoch": 2}]
    assert torch.equal(loaded["model"]["w"], torch.arange(3.0))


def test_a_list_cut_back_and_grown_again_to_its_old_length_is_encoded_from_its_items():
    first, second, third = {"epoch": 1}, {"epoch": 2, "loss": 50.0}, {"epoch": 2, "loss": 0.8}
    encoded = EncodedOnce()
    assert encoded.texts([first, second]) == ['{"epoch": 1}', '{"epoch": 2, "loss": 50.0}']
    # a rollback to epoch 1, then a new epoch 2: the same length, a different last item
    assert encoded.texts([first, third]) == ['{"epoch": 1}', '{"epoch": 2, "loss": 0.8}']
    # an item replaced in the middle, the last one kept
    assert encoded.texts([second, third]) == [
        '{"epoch": 2, "loss": 50.0}',
        '{"epoch": 2, "loss": 0.8}',
    ]
