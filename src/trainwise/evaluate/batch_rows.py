"""How many rows an evaluation batch holds: bounded by the input values and, on a CPU, by the
widest activation the model makes.

Why the activations: on a CPU every tensor over glibc's mmap threshold is mapped fresh when it
is allocated and unmapped when freed, and each 4 KiB page of it costs a page fault (about 2.5 µs
here) the first time it is written. An evaluation batch whose activations run to megabytes pays
that on every layer of every batch: the tabular MLP's 4,096-row batches (256 hidden units, 4 MiB
per layer) took 61 ms per 20,000 rows with 11,700 page faults, against 26 ms and none in batches
of 1,024 rows; inside fits, an image CNN's validation passes took 0.55 of their time in batches
of 16 rows (docs/benchmarks.md). Batches whose widest activation stays near 2**18 values (1 MiB)
reuse the same heap memory from batch to batch and stay in cache. GPUs keep large batches: their
caching allocator reuses memory and they need the rows to fill the device.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import torch
from torch import nn

EVAL_BATCH = 4096
EVAL_ELEMENTS = 2**19  # input values per evaluation batch (2 MiB of float32): bounds activations
# values of the widest activation per batch on a CPU (1 MiB of float32): measured fastest above
ACTIVATION_VALUES = 2**18
# a floor: the default image CNN on 1,000 28x28 images took 779 ms in batches of 8 rows, 695 in
# batches of 16, 735 in 32 and 1,035 in 64
FEWEST_ROWS = 16
PROBE_ROWS = 2

# widest activation per row, per model and input row shape: an architecture's widths do not
# change while it trains, so the probe runs once per model, not once per validation
_widest: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], int | None]] = (
    weakref.WeakKeyDictionary()
)


def eval_batch_size(row_shape: tuple[int, ...], most: int = EVAL_BATCH) -> int:
    """Rows per evaluation batch from the input alone: `most` for tables, fewer for large rows
    such as images."""
    per_row = max(1, math.prod(row_shape))
    return max(1, min(most, EVAL_ELEMENTS // per_row))


def activation_bound_rows(
    model: nn.Module, inputs: Sequence[torch.Tensor], row_shape: tuple[int, ...], most: int
) -> int:
    """`most`, or fewer rows when the model's widest activation per row times `most` exceeds
    `ACTIVATION_VALUES` on a CPU. `inputs` are the split's inputs (at least one row): the
    model is called once, on copies of their first rows, the first time it is seen with this
    row shape."""
    if not inputs or inputs[0].device.type != "cpu":
        return most
    if getattr(model, "_orig_mod", None) is not None:
        # a `torch.compile`d module: hooks and a two-row pass would each cost a recompile
        return most
    known = _widest.setdefault(model, {})
    if row_shape not in known:
        known[row_shape] = widest_activation(model, [t[:PROBE_ROWS].clone() for t in inputs])
    widest = known[row_shape]
    if not widest:
        return most
    return max(min(most, FEWEST_ROWS), min(most, ACTIVATION_VALUES // widest))


@torch.no_grad()
def widest_activation(model: nn.Module, inputs: Sequence[torch.Tensor]) -> int | None:
    """Values per row of the largest tensor any leaf module returns, from one pass of `inputs`
    in the model's current mode, or None when that pass fails (the real pass then reports the
    error) or no leaf module returned a tensor."""
    rows = int(inputs[0].shape[0])
    if rows == 0:
        return None
    largest = 0

    def note(_module: nn.Module, _args: object, output: object) -> None:
        nonlocal largest
        outputs = output if isinstance(output, tuple | list) else (output,)
        for tensor in outputs:
            if isinstance(tensor, torch.Tensor):
                largest = max(largest, tensor.numel())

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(note) for m in leaves]
    try:
        model(*inputs)
    except Exception:  # a probe only: the evaluation pass itself raises it properly
        return None
    finally:
        for handle in handles:
            handle.remove()
    return -(-largest // rows) or None
