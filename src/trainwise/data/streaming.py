"""The streaming path: files (images, audio) decoded from disk per batch, in worker processes.

`StreamingSplit` has the surface of `TensorSplit` (len, y, input_shape, inputs, batches, to), so
the loop, validation and prediction do not know which path they are on. Its batches are the
same as the in-memory path's for the same generator: one `randperm` per epoch drawn from the same
generator, the same batch boundaries, the same dropped single-row tail, and the same
`decode` function, so switching paths never changes a run.

Memory stays bounded by the batch size: only the paths (a `PathColumn`: two arrays, whatever
the number of rows) and the labels are held; a torch `DataLoader` over a batch sampler decodes
each batch in persistent worker processes, prefetching a few batches ahead, into pinned memory
when the batches go to a GPU. Freed heap memory is handed back to the OS before the workers are
forked, in the workers every few batches, and after each evaluation batch, so neither the
training process nor its workers grow with the number of files (`data/heap.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from math import prod
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from trainwise.data.heap import release_arrow_memory, trim_heap
from trainwise.data.path_column import PathColumn, path_values
from trainwise.data.prepared import TensorSplit, tensorise
from trainwise.data.target import TargetEncoder
from trainwise.data.transforms import Preprocessor
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec

PREFETCH = 4  # batches each worker decodes ahead
MAX_WORKERS = 8
# Batches a worker decodes between handing freed heap memory back to the OS. Decoding makes
# tens of MB of short-lived arrays per batch (an audio batch: ~35 MB of STFT temporaries);
# glibc keeps them on a heap that fragments, and a persistent worker's memory crept from 290
# to 470-840 MiB over 8 epochs of 2800 clips. Trimming every 4 batches held it at 335 MiB for
# ~15% more decoding time in the worker, which runs beside the training step.
TRIM_EVERY = 4


class Decoder(Preprocessor, Protocol):
    """A fitted preprocessor whose rows are decoded from files: one per data kind (images,
    audio). `decode` must treat each row alone (no statistics across the batch), so a row
    decodes the same in any batch, in any process, and `transform` must equal `decode` of the
    whole column (the in-memory path)."""

    column: str  # the column of values (paths, arrays) that `decode` reads

    @property
    def input_shape(self) -> tuple[int, ...]: ...

    def decode(self, values: list[Any]) -> np.ndarray:
        """A batch of values → float32 model input (len(values), *input_shape)."""
        ...


def decoded_bytes(pre: Decoder, rows: int) -> int:
    """Size of `rows` decoded rows as float32 tensors."""
    return rows * prod(pre.input_shape) * 4


def should_stream(spec: DataSpec, pre: Decoder, rows: int) -> bool:
    """`data.loading`, with `auto` streaming when the decoded splits exceed the memory limit."""
    if spec.loading != "auto":
        return spec.loading == "stream"
    return decoded_bytes(pre, rows) > spec.memory_limit_mb * 2**20


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(MAX_WORKERS, (cores or 1) - 1))


def decoded_split(
    pre: Decoder,
    target: TargetEncoder,
    rows: pd.DataFrame,
    stream: bool,
    workers: int | None,
) -> TensorSplit | StreamingSplit:
    """One split of rows read from files: decoded once into tensors, or streamed from disk."""
    if not stream:
        return tensorise(pre, target, rows)
    return StreamingSplit(
        path_values(rows[pre.column]),
        torch.from_numpy(target.encode(rows)),
        pre,
        default_workers() if workers is None else workers,
    )


image_split = decoded_split  # the name it had when only images streamed


class _Decode(Dataset):
    """Decodes a whole batch of indices at once (`__getitems__`), in a worker process.

    A file that cannot be read is returned as an error rather than raised: the DataLoader would
    re-raise it in the parent as a generic error, losing the file name and the fix.
    """

    def __init__(self, values: PathColumn | list[Any], pre: Decoder) -> None:
        self.values, self.pre = values, pre
        self.decoded = 0  # batches decoded by this copy (each worker has its own)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor | None, tuple | None]:
        try:
            dense = torch.from_numpy(self.pre.decode([self.values[i] for i in indices]))
        except DataError as err:
            return None, (err.what, err.expected, err.fix)
        self.decoded += 1
        if self.decoded % TRIM_EVERY == 0:
            trim_heap()
        return dense, None


def _take(values: PathColumn | list[Any], rows: list[int]) -> list[Any]:
    return values.take(rows) if isinstance(values, PathColumn) else [values[i] for i in rows]


class _EpochBatches(Sampler[list[int]]):
    """The current epoch's batches of indices; set before each pass over the loader."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _as_is(batch: Any) -> Any:
    return batch


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # workers decode; intra-op threads would only contend


@dataclass(eq=False)
class StreamingSplit:
    """Paths and labels of one split; rows decoded per batch. See the module docstring."""

    values: PathColumn | list[Any]  # a list when some value is not a path (an array, a gap)
    y: torch.Tensor
    pre: Decoder
    workers: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _loader: DataLoader | None = field(default=None, repr=False)
    _sampler: _EpochBatches | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.pre.input_shape

    def inputs(self, index: torch.Tensor | slice | None = None) -> tuple[torch.Tensor, ...]:
        """Decodes the selected rows in this process (small selections: shape checks)."""
        if isinstance(index, torch.Tensor):
            rows = index.cpu().reshape(-1).tolist()
        else:
            rows = list(range(len(self))[slice(None) if index is None else index])
        dense = self.pre.decode(_take(self.values, rows))
        return (torch.from_numpy(dense).to(self.device),)

    def to(self, device: torch.device) -> StreamingSplit:
        return StreamingSplit(self.values, self.y.to(device), self.pre, self.workers, device)

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, start_batch: int = 0
    ) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        """The batches `TensorSplit.batches` would give for the same arguments."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else None
        stop = n - 1 if generator is not None and n % batch_size == 1 and n > 1 else n
        starts = range(start_batch * batch_size, stop, batch_size)
        if order is None:
            index = [list(range(s, min(s + batch_size, stop))) for s in starts]
        else:
            index = [order[s : min(s + batch_size, stop)].tolist() for s in starts]
        loader, sampler = self._loader_and_sampler()
        sampler.batches = index
        non_blocking = self.device.type == "cuda"
        every = 1 if generator is None else TRIM_EVERY
        for i, (rows, (dense, error)) in enumerate(zip(index, loader, strict=True), 1):
            if error is not None:
                raise DataError(*error)
            y = self.y[torch.as_tensor(rows, device=self.y.device)]
            yield (dense.to(self.device, non_blocking=non_blocking),), y
            if i % every == 0:
                # each step frees its activations (an evaluation batch's are larger) onto a
                # heap that fragments with the number of batches: the resident memory rose by
                # 34 MiB over an epoch of 14000 images (23 over 1400); trimmed, by 22 (16)
                trim_heap()

    def _loader_and_sampler(self) -> tuple[DataLoader, _EpochBatches]:
        """One DataLoader per split, kept for the run: persistent workers skip the start-up
        cost (a fork and a copy of the preprocessor) at every epoch."""
        if self._loader is None or self._sampler is None:
            self._sampler = _EpochBatches()
            workers = self.workers
            if workers:
                # workers are forked and start with this process's resident memory: hand back
                # what reading and splitting the file list freed (it grows with the rows)
                release_arrow_memory()
                trim_heap()
            self._loader = DataLoader(
                _Decode(self.values, self.pre),
                batch_sampler=self._sampler,
                collate_fn=_as_is,
                num_workers=workers,
                pin_memory=self.device.type == "cuda",
                prefetch_factor=PREFETCH if workers else None,
                persistent_workers=workers > 0,
                worker_init_fn=_one_thread if workers else None,
                # its own generator: the loader draws a worker seed at every pass, which would
                # otherwise advance the global RNG and change dropout against the in-memory path
                generator=torch.Generator().manual_seed(0),
            )
        return self._loader, self._sampler
