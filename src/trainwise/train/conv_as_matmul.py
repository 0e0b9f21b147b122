"""1-D convolutions written as matrix products, for a graph Inductor compiles on a CPU.

Why: Inductor leaves convolutions to oneDNN as opaque library calls, and for the narrow 1-D
convolutions of small sequence models those calls cost far more than their arithmetic (about a
millisecond for a backward pass of 4 MFLOP). Written as "pad, take the K strided slices, stack
them, multiply by the kernel", the same convolution is a gather Inductor fuses with its
neighbours plus one matrix product, forward and backward. Inside a compiled training step this
took the benchmark CNN from 3.25 to 1.44 ms a step (docs/benchmarks.md). The result is the same
convolution up to float rounding.

Only `nn.Conv1d` modules of the plain kind are rewritten (groups 1, dilation 1, zero padding
given as a number); anything else is left to the library call. Modules, not `F.conv1d` calls,
are rewritten because the compiler traces an attribute swap but not a function-override mode
around every tensor method.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn


def conv1d_as_matmul(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int, padding: int
) -> torch.Tensor:
    """`F.conv1d(x, weight, bias, stride, padding)` for (N, C, L) inputs, as one matrix product."""
    out_channels, in_channels, kernel = weight.shape
    length = x.shape[-1] + 2 * padding
    out_length = (length - kernel) // stride + 1
    padded = F.pad(x, (padding, padding)) if padding else x
    span = stride * (out_length - 1) + 1
    columns = torch.cat([padded[..., k : k + span : stride] for k in range(kernel)], dim=-2)
    # columns: (N, K*C, L_out) with row k*C + c; the kernel reordered to match
    flat = weight.permute(0, 2, 1).reshape(out_channels, kernel * in_channels)
    out = torch.matmul(flat, columns)
    return out if bias is None else out + bias[:, None]


def plain_conv1d(module: nn.Module, kinds: tuple[type[nn.Module], ...] = (nn.Conv1d,)) -> bool:
    """Whether a matrix-product convolution computes this module's: one of these exact classes
    (a subclass may change the forward pass), groups 1, dilation 1, zero padding as a number."""
    return (
        type(module) in kinds
        and module.groups == 1
        and module.dilation == (1,)
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


@contextmanager
def convs_as_matmul(convs: list[nn.Conv1d]) -> Iterator[None]:
    """While inside, these (plain) 1-D convolution modules compute as matrix products.

    Set per instance and removed on leaving, so the model is unchanged for everything else:
    eager steps, evaluation, saving.
    """
    for conv in convs:
        stride, padding = conv.stride[0], int(conv.padding[0])
        conv._conv_forward = partial(_matmul_forward, stride=stride, padding=padding)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for conv in convs:
            del conv._conv_forward


def _matmul_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int, padding: int
) -> torch.Tensor:
    if x.ndim == 2:  # an unbatched (C, L) input
        return conv1d_as_matmul(x[None], weight, bias, stride, padding)[0]
    return conv1d_as_matmul(x, weight, bias, stride, padding)
