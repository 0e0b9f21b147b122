"""The checks every streamed data kind must pass against its in-memory twin.

A `StreamingSplit` stands in for a `TensorSplit` of the same rows: for the same seed it must give
the same batches in the same order, bit for bit, and leave the generator where the in-memory path
leaves it, so a run (and a resumed run) cannot tell which path its data took.
"""

from __future__ import annotations

import torch

from trainwise.data.prepared import TensorSplit
from trainwise.data.streaming import StreamingSplit


def assert_same_shuffled_batches(
    memory: TensorSplit, stream: StreamingSplit, batch_size: int, n_batches: int
) -> None:
    """Two epochs of shuffled batches (the persistent loader serves the second too): equal
    inputs and targets, `n_batches` of them (the single-row tail dropped on both paths), and the
    generators advanced alike."""
    assert isinstance(memory, TensorSplit) and isinstance(stream, StreamingSplit)
    for epoch in range(2):
        g1, g2 = torch.Generator().manual_seed(epoch), torch.Generator().manual_seed(epoch)
        a, b = list(memory.batches(batch_size, g1)), list(stream.batches(batch_size, g2))
        assert len(a) == len(b) == n_batches
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            assert torch.equal(xa[0], xb[0]) and torch.equal(ya, yb)
        assert torch.equal(g1.get_state(), g2.get_state())


def assert_same_ordered_rows(memory: TensorSplit, stream: StreamingSplit, batch_size: int) -> None:
    """Unshuffled (evaluation) batches of the stream, joined, are the in-memory inputs."""
    ordered = torch.cat([x[0] for x, _ in stream.batches(batch_size)])
    assert torch.equal(ordered, memory.dense)
