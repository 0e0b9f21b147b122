"""The mini-batch size when the spec leaves it to trainwise (`auto`).

A table's MLP does little arithmetic per row, so at 64 rows a training step is bound by the fixed
cost of each operation (dispatch, the optimizer's update, dropout's random numbers), not by the
matrix products: on two CPU cores an epoch of an 80,000-row table took 2.2 s at batch 64 and
0.85 s at batch 512 (docs/benchmarks.md). Small tables keep 64, for the many updates per epoch
and the regularising noise of small batches; a large table's batch doubles as long as an epoch
keeps at least `MIN_STEPS_PER_EPOCH` steps, up to `MAX_BATCH`. Other kinds of data keep 64: their
steps are dominated by arithmetic that a larger batch does not make cheaper per row, and their
step budget (train/budget.py) is counted in steps of that size.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_BATCH = 64
MAX_BATCH = 512
MIN_STEPS_PER_EPOCH = 256
GROWING_KINDS = {"tabular"}


@dataclass(frozen=True)
class BatchSize:
    """The resolved mini-batch size and why it was chosen."""

    size: int
    reason: str


def resolve_batch_size(value: int | str, kind: str, train_rows: int) -> BatchSize:
    """A concrete batch size for a run; a number the spec names is kept.

    >>> resolve_batch_size("auto", "tabular", 20_000).size
    64
    >>> resolve_batch_size("auto", "tabular", 64_000).size
    128
    >>> resolve_batch_size("auto", "tabular", 1_000_000).size
    512
    >>> resolve_batch_size("auto", "image", 64_000).size
    64
    """
    if value != "auto":
        return BatchSize(int(value), "train.batch_size")
    if kind not in GROWING_KINDS:
        return BatchSize(BASE_BATCH, f"the default for {kind} data")
    size = BASE_BATCH
    while size < MAX_BATCH and train_rows // (2 * size) >= MIN_STEPS_PER_EPOCH:
        size *= 2
    if size == BASE_BATCH:
        return BatchSize(size, "the default for tables under 32,768 training rows")
    return BatchSize(
        size,
        f"{train_rows:,} training rows: the largest batch (up to {MAX_BATCH}) that keeps "
        f"{MIN_STEPS_PER_EPOCH} or more steps per epoch",
    )
