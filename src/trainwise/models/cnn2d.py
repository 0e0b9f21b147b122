"""A plain 2-D CNN for images: stages of conv-norm-activation layers, pooling between stages.

The VGG-style baseline: each stage stacks `layers_per_stage` 3×3 convolutions (batch norm,
activation) at one width, then max-pooling halves the height and width; global average pooling
makes the head independent of the image size. Large images first pass a strided stem, so compute
stays modest whatever the input size.
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.layers import activation, stage_plan

LARGE_INPUT = 64  # a side above this gets a stride-4 stem (conv stride 2 + max-pool)


def conv_bn_act(c_in: int, c_out: int, act: str, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        activation(act),
    )


def stem(in_channels: int, width: int, act: str, side: int) -> nn.Module:
    """3×3 at full resolution for small images; a 7×7/2 conv and a 3×3/2 pool for large ones."""
    if side > LARGE_INPUT:
        return nn.Sequential(
            conv_bn_act(in_channels, width, act, stride=2, kernel=7),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
    return conv_bn_act(in_channels, width, act)


def stages(channels: list[int] | tuple[int, ...], layers_per_stage: int, act: str) -> nn.Sequential:
    """The body after the stem: per stage `layers_per_stage` 3×3 conv-norm-activation layers at
    one width, a 2×2 max-pool before every stage but the first."""
    blocks: list[nn.Module] = []
    for c_in, c_out, downsample in stage_plan(channels, layers_per_stage):
        if downsample:
            blocks.append(nn.MaxPool2d(2, ceil_mode=True))
        blocks.append(conv_bn_act(c_in, c_out, act))
    return nn.Sequential(*blocks)


def he_init(module: nn.Module) -> None:
    """He-normal convolutions (fan-out, as in ResNet), unit norm scales, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


def to_device_layout(x: torch.Tensor) -> torch.Tensor:
    """Channels-last (NHWC) on CUDA and on CPUs: cuDNN's convolutions (tensor cores) and
    oneDNN's are fastest in it. The default image CNN with its weights channels-last too (as
    `pipeline.run` makes them) took 0.83 of its NCHW training step and 0.70-0.76 of its NCHW
    evaluation pass on a 2-core CPU (docs/benchmarks.md). Other devices keep NCHW."""
    on = x.device.type in ("cuda", "cpu")
    return x.contiguous(memory_format=torch.channels_last) if on else x


class CNN2D(nn.Module):
    """(batch, c, h, w) images → `out_features` outputs.

    >>> net = CNN2D(in_channels=1, out_features=10, side=8)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        side: int = 32,
        channels: list[int] | tuple[int, ...] = (32, 64, 128),
        layers_per_stage: int = 2,
        activation_name: str = "relu",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.stem = stem(in_channels, channels[0], activation_name, side)
        self.features = stages(channels, layers_per_stage, activation_name)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(channels[-1], out_features)
        he_init(self)

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(to_device_layout(dense)))
        return self.head(self.drop(x.mean(dim=(2, 3))))


class CNN2DEncoder(nn.Module):
    """The same convolutional body without a head: (batch, c, h, w) → (batch, channels[-1]).

    An image column of a mixed table is encoded by it, and its pooled vector joins the other
    columns' encodings in the combiner (models/combiner.py).

    >>> enc = CNN2DEncoder(in_channels=3, side=16, channels=(8, 16))
    >>> enc(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        in_channels: int,
        side: int = 32,
        channels: list[int] | tuple[int, ...] = (32, 64, 128),
        layers_per_stage: int = 1,
        activation_name: str = "relu",
    ) -> None:
        super().__init__()
        self.stem = stem(in_channels, channels[0], activation_name, side)
        self.features = stages(channels, layers_per_stage, activation_name)
        self.out_features = int(channels[-1])
        he_init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(self.stem(to_device_layout(images))).mean(dim=(2, 3))
