"""Checkpoint files written on a background thread, one checkpoint at a time.

Why: writing a checkpoint folder is serialising, hashing and waiting for the disk (three
`fsync` calls on the files, one on the folder), and the loop need not wait for any of it. For
an MLP with a 52 MB checkpoint the loop waited 13 ms a checkpoint instead of 115, and its epochs
took 590 ms instead of 657 (docs/benchmarks.md). A small checkpoint gains less: the 1-D CNN of
MNIST-1D waits 1.3 ms instead of 6.4, but on two cores its epochs run slower while the thread
writes, by about as much. The snapshot is still taken on the loop's thread
(`checkpoint.snapshot`: tensors copied, everything else in a fresh structure), so what is
written is the state at that step, whatever training does next.

At most one write is in flight: the next checkpoint waits for the previous one, so they land
in order and a failed write surfaces at the next checkpoint or at the end of the fit.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from trainwise.train.checkpoint import Snapshot, write_checkpoint


class CheckpointWriter:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[Path] | None = None

    def submit(self, folder: Path, snap: Snapshot, keep: int, protect: Iterable[str]) -> None:
        """Start writing `snap`, after the previous write has finished (its error raised)."""
        self.wait()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="trainwise-checkpoint")
        self._pending = self._executor.submit(write_checkpoint, folder, snap, keep, list(protect))

    def wait(self) -> Path | None:
        """Block until the write in flight is on disk; re-raise its error (a `RunError`)."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else None

    def close(self) -> None:
        """Wait for the last write and stop the thread; the writer can be used again."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None
