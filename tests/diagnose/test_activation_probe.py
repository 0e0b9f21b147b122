"""The activation probe's dead-unit share: a channel is dead when no value of it, at any sample
and position, is positive on the probed batch, whatever the memory layout of the output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwise.diagnose.probes import ActivationProbe
from trainwise.train.state import TrainState


def _state(model: nn.Module) -> TrainState:
    return TrainState(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=nn.functional.mse_loss,
        max_epochs=1,
        batch_size=4,
        generator=torch.Generator(),
    )


def _activations(dims: int) -> torch.Tensor:
    """(4, 8, 6[, 6]) values, all negative except one value in each of channels 3 to 7, at a
    different sample and position each: three of eight channels are dead."""
    x = -torch.rand(4, 8, *([6] * dims)) - 0.1
    for channel in range(3, 8):
        where = (channel % 4, channel, *([channel % 6] * dims))
        x[where] = 1.0
    return x


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_a_channel_never_positive_on_the_batch_is_dead(dims: int, channels_last: bool) -> None:
    torch.manual_seed(0)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(2, 2), relu)  # a weighted layer, so the model can train
    probe = ActivationProbe()
    probe.on_epoch_start(_state(model))
    x = _activations(dims)
    if channels_last:  # the same values with the channels innermost in memory
        x = x.movedim(1, -1).contiguous().movedim(-1, 1)
        assert x.stride(1) == 1
    relu(x)
    (row,) = probe.epoch_summary()
    assert row["kind"] == "relu" and row["share"] == pytest.approx(3 / 8)
