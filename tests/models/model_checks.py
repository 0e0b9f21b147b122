"""What every model built from a saved config must do, checked the same way for each family."""

from __future__ import annotations

from typing import Any

import torch

from trainwise.models.build import build_model


def assert_trains_and_rebuilds(
    config: dict[str, Any], inputs: tuple[torch.Tensor, ...], out_shape: tuple[int, ...]
) -> torch.nn.Module:
    """The model of `config` gives `out_shape` on `inputs` and a gradient to every parameter, and
    a second one built from the same config with its weights loaded gives the same outputs: the
    JSON config and the weights are all a saved model needs. Returns the first model."""
    net = build_model(config)
    out = net(*inputs)
    assert out.shape == out_shape
    out.square().sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    again = build_model(config)
    again.load_state_dict(net.state_dict())
    net.eval(), again.eval()
    assert torch.equal(net(*inputs), again(*inputs))
    return net
