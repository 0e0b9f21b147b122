"""Evaluation batches on a CPU are bounded by the model's widest activation, measured once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwise.data.prepared import TensorSplit
from trainwise.evaluate.batch_rows import (
    ACTIVATION_VALUES,
    FEWEST_ROWS,
    activation_bound_rows,
    widest_activation,
)
from trainwise.evaluate.predict import raw_outputs


def _split(n: int, features: int = 5) -> TensorSplit:
    dense = torch.randn(n, features, generator=torch.Generator().manual_seed(n))
    return TensorSplit(dense, torch.zeros(n, 0, dtype=torch.int64), torch.zeros(n))


def _mlp(width: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, width), nn.ReLU(), nn.Linear(width, 3)).eval()


class _Counting(nn.Module):
    """A user's module that records the rows of every call it gets."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = _mlp(width)
        self.calls: list[int] = []

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(dense))
        return self.body(dense)


class _Scribbling(nn.Module):
    """A module that overwrites its input, as a careless user's forward may."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _mlp(4096)

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        out = self.body(dense)
        dense.zero_()
        return out


def test_the_widest_activation_is_the_widest_leaf_output_per_row():
    assert widest_activation(_mlp(300), [torch.randn(2, 5)]) == 300
    conv = nn.Sequential(nn.Conv1d(1, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 40, 2))
    assert widest_activation(conv, [torch.randn(2, 1, 40)]) == 8 * 40


@pytest.mark.parametrize(
    ("width", "most", "rows"),
    [
        (300, 4096, ACTIVATION_VALUES // 300),  # a wide layer bounds the batch
        (16, 4096, 4096),  # a narrow model keeps the input's bound
        (300, 100, 100),  # never more than asked for
        (2**20, 4096, FEWEST_ROWS),  # never fewer than FEWEST_ROWS, however wide
        (2**20, 8, 8),  # unless fewer were asked for
    ],
)
def test_rows_per_batch_follow_the_widest_activation(width, most, rows):
    model = nn.Sequential(nn.Linear(5, width), nn.Linear(width, 1)).eval()
    assert activation_bound_rows(model, [torch.randn(3, 5)], (5,), most) == rows


def test_a_model_that_fails_the_probe_keeps_the_input_bound_and_evaluation_raises_its_error():
    model = _mlp(300)
    assert activation_bound_rows(model, [torch.randn(3, 7)], (7,), 4096) == 4096
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        raw_outputs(model, _split(10, features=7))


def test_bounded_batches_give_the_outputs_of_one_whole_batch():
    model, split = _mlp(1024), _split(3000)
    out = raw_outputs(model, split)
    with torch.no_grad():
        whole = model(split.dense)
    assert out.shape == (3000, 3)
    torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-6)


def test_the_model_is_probed_once_on_two_rows_then_evaluated_in_bounded_batches():
    model, split = _Counting(1024), _split(1000)
    raw_outputs(model, split)
    raw_outputs(model, split)
    rows = ACTIVATION_VALUES // 1024  # 256
    batches = [rows, rows, rows, 1000 - 3 * rows]
    assert model.calls == [2, *batches, *batches]


def test_the_probe_leaves_the_split_unchanged_when_the_model_writes_to_its_input():
    split = _split(50)
    before = split.dense.clone()
    raw_outputs(_Scribbling(), split)
    assert torch.equal(split.dense, before)


def test_a_compiled_module_is_not_probed_and_keeps_the_input_bound():
    model = _mlp(300)
    compiled = torch.compile(model, backend="eager")
    inputs = [torch.randn(3, 5)]
    assert activation_bound_rows(model, inputs, (5,), 4096) == ACTIVATION_VALUES // 300
    assert activation_bound_rows(compiled, inputs, (5,), 4096) == 4096
