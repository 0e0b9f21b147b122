"""The activation probe's dead-unit share on the outputs of convolutions, whatever their layout."""

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


@pytest.mark.parametrize("dims", [1, 2])
def test_a_channel_never_positive_on_the_batch_is_dead(dims: int) -> None:
    torch.manual_seed(0)
    conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(3, 8, 3, padding=1)
    with torch.no_grad():
        conv.bias[:3] = -100.0  # three of eight channels can never turn positive
        conv.bias[3:] = 100.0  # the others always are
    model = nn.Sequential(conv, nn.ReLU())
    probe, state = ActivationProbe(), _state(model)
    probe.on_epoch_start(state)
    x = torch.randn(4, 3, *([10] * dims))
    model(x)
    with torch.no_grad():  # the same values with the channels innermost in memory
        out = conv(x)
        channels_last = out.movedim(1, -1).contiguous().movedim(-1, 1)
        assert channels_last.stride(1) == 1
    model[1](channels_last)
    probe.on_after_backward(state)
    shares = [row["share"] for row in probe.epoch_summary()]
    assert shares == [pytest.approx(3 / 8)] * 2
