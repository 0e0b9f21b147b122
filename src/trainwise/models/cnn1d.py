"""A residual 1-D CNN for fixed-length sequences and signals (e.g. MNIST-1D, sensor windows).

Stem convolution, then stages of two residual blocks (Conv-BN-ReLU-Conv-BN plus a skip), each
stage after the first halving the length and widening the channels; global average and max
pooling make the head independent of the input length and tolerant to shifts. The layers run
on a one-row channels-last layout (`models.rows_1d`), which shortens a training step on a CPU
by about a sixth against the (batch, channels, length) layout, with the same parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.layers import activation, stage_plan
from trainwise.models.rows_1d import RowBatchNorm1d, RowConv1d, as_rows


class ResidualBlock1D(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, act: str, dropout: float) -> None:
        super().__init__()
        self.conv1 = RowConv1d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = RowBatchNorm1d(c_out)
        self.conv2 = RowConv1d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = RowBatchNorm1d(c_out)
        self.act = activation(act)
        # whole channels of a row, as in SpatialDropout: neighbouring positions of a channel are
        # correlated, so dropping single values regularises little, and one draw per channel
        # instead of per value takes the dropout mask off the step's profile
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(
                RowConv1d(c_in, c_out, 1, stride=stride, bias=False), RowBatchNorm1d(c_out)
            )
        nn.init.zeros_(self.bn2.weight)  # each block starts as the identity: stable deep training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(self.drop(out)))
        return self.act(out + self.skip(x))


class CNN1D(nn.Module):
    """(batch, length) or (batch, channels × length) features → `out_features` outputs.

    >>> net = CNN1D(length=40, out_features=10)
    >>> net(torch.zeros(2, 40)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        length: int,
        out_features: int,
        in_channels: int = 1,
        channels: list[int] | tuple[int, ...] = (32, 64, 128),
        blocks_per_stage: int = 2,
        activation_name: str = "relu",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.in_channels, self.length = in_channels, length
        self.stem = nn.Sequential(
            RowConv1d(in_channels, channels[0], 5, padding=2, bias=False),
            RowBatchNorm1d(channels[0]),
            activation(activation_name),
        )
        self.stages = nn.Sequential(
            *(
                ResidualBlock1D(c_in, c_out, 2 if downsample else 1, activation_name, dropout)
                for c_in, c_out, downsample in stage_plan(channels, blocks_per_stage)
            )
        )
        self.head = nn.Linear(2 * channels[-1], out_features)
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, dense: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        x = as_rows(dense.reshape(dense.shape[0], self.in_channels, self.length))
        x = self.stages(self.stem(x))
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)
