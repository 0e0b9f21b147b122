"""Per-epoch JSON texts for checkpoints: each item encoded once, numbers a callback logged as
NumPy or tensor scalars written as plain numbers (as history.jsonl has them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trainwise.train.checkpoint import EncodedOnce


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
