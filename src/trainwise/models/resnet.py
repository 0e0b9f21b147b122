"""A ResNet for images: basic residual blocks (two 3×3 conv-BN with a skip connection).

Stages double the width and halve the resolution (strided first block, 1×1 projection on the
skip); each block's last batch-norm scale starts at zero so every block begins as the identity,
which lets deeper stacks train from the first step (Goyal et al., 2017). Global average pooling
and dropout lead to the head. Small images keep full resolution in the stem (CIFAR-style); large
ones get the ImageNet stem (7×7/2 conv and 3×3/2 max-pool).
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.cnn2d import he_init, stem, to_device_layout
from trainwise.models.layers import activation, stage_plan


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, act: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act = activation(act)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(out)) + self.skip(x))


class ResNet(nn.Module):
    """(batch, c, h, w) images → `out_features` outputs.

    >>> net = ResNet(in_channels=3, out_features=5, side=32)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 5])
    """

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        side: int = 32,
        channels: list[int] | tuple[int, ...] = (32, 64, 128),
        blocks_per_stage: int = 1,
        activation_name: str = "relu",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.stem = stem(in_channels, channels[0], activation_name, side)
        blocks = [
            BasicBlock(c_in, c_out, 2 if downsample else 1, activation_name)
            for c_in, c_out, downsample in stage_plan(channels, blocks_per_stage)
        ]
        self.stages = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(channels[-1], out_features)
        he_init(self)
        for block in blocks:
            nn.init.zeros_(block.bn2.weight)  # each block starts as the identity

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(to_device_layout(dense)))
        return self.head(self.drop(x.mean(dim=(2, 3))))
