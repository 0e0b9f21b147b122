"""Batched prediction: outputs written into one tensor equal the per-batch concatenation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwise.data.prepared import TensorSplit
from trainwise.evaluate.predict import raw_outputs


def _split(n: int, features: int = 5) -> TensorSplit:
    g = torch.Generator().manual_seed(n)
    dense = torch.randn(n, features, generator=g)
    return TensorSplit(dense, torch.zeros(n, 0, dtype=torch.int64), torch.zeros(n))


def _concatenated(model: nn.Module, split: TensorSplit, size: int) -> torch.Tensor:
    """What raw_outputs returned before: a list of batch outputs, then one torch.cat."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(*x) for x, _ in split.batches(size)]).float()


class _Net(nn.Module):
    def __init__(self, outputs: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.5), nn.Linear(16, outputs))
        self.to(dtype)
        self.dtype = dtype

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        return self.body(dense.to(self.dtype))


@pytest.mark.parametrize(
    ("n", "size", "outputs", "dtype"),
    [
        (10, 3, 4, torch.float32),
        (7, 100, 1, torch.float32),
        (9, 4, 3, torch.bfloat16),
        (5, 1, 2, torch.float64),
    ],
)
def test_preallocated_outputs_equal_the_concatenation(n, size, outputs, dtype):
    model, split = _Net(outputs, dtype), _split(n)
    model.train()  # raw_outputs evaluates in eval mode and restores the mode
    out = raw_outputs(model, split, batch_size=size)
    assert model.training
    expected = _concatenated(model, split, size)
    assert out.dtype == torch.float32 and out.shape == (n, outputs)
    assert torch.equal(out, expected)


def test_an_empty_split_is_an_error_as_before():
    with pytest.raises(RuntimeError):
        raw_outputs(_Net(2), _split(0))
