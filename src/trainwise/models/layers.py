"""Activations, normalisation and weight initialisation, resolved by name.

Initialisation is matched to the activation by default because a mismatch is the classic cause of
vanishing or exploding signals in deep stacks: He (Kaiming) for the ReLU family, LeCun-normal for
SELU (self-normalising networks need it), Xavier (Glorot) for tanh and sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "selu": nn.SELU,
}

DEFAULT_INIT = {
    "relu": "he",
    "leaky_relu": "he",
    "gelu": "he",
    "silu": "he",
    "selu": "lecun",
    "tanh": "xavier",
    "sigmoid": "xavier",
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def stage_plan(
    channels: list[int] | tuple[int, ...], per_stage: int
) -> list[tuple[int, int, bool]]:
    """The blocks of a staged convolutional body, as (c_in, c_out, downsample) each.

    CNN1D, CNN2D and ResNet share this layout: every stage holds `per_stage` blocks at its width
    in `channels`, and the first block of every stage after the first takes the previous stage's
    width and halves the resolution (a stride of 2, or a pool before it: the family decides).

    >>> stage_plan((8, 16), 2)
    [(8, 8, False), (8, 8, False), (8, 16, True), (16, 16, False)]
    """
    plan = []
    c_prev = channels[0]
    for i, c in enumerate(channels):
        for j in range(per_stage):
            plan.append((c_prev, c, i > 0 and j == 0))
            c_prev = c
    return plan


def norm_layer(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


@torch.no_grad()
def init_linear(layer: nn.Linear, scheme: str, activation_name: str) -> None:
    """Initialise one linear layer's weight by `scheme`; biases start at zero."""
    if scheme == "auto":
        scheme = DEFAULT_INIT[activation_name]
    nonlinearity = "leaky_relu" if activation_name == "leaky_relu" else "relu"
    if scheme in {"he", "kaiming"}:
        nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
    elif scheme in {"xavier", "glorot"}:
        gain = nn.init.calculate_gain("tanh" if activation_name == "tanh" else "sigmoid")
        nn.init.xavier_uniform_(layer.weight, gain=gain if activation_name == "tanh" else 1.0)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(layer.weight)
    elif scheme == "lecun":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
    else:  # "torch": PyTorch's own default, already applied
        return
    if layer.bias is not None:
        layer.bias.zero_()
