"""Wall-clock seconds of each epoch: its training steps and its validation pass.

Why: seconds per epoch is how a training system's speed is compared with a hand-written loop or
another framework. Timing `fit` from outside counts data preparation, the test pass and the run
folder's files too, so a run records its epochs itself (`metrics.json`'s `epoch_seconds`). The
times stay out of the history: a resumed run reproduces `history.jsonl` byte for byte, and a
clock cannot.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

from trainwise.train.callbacks import Callback

if TYPE_CHECKING:
    from trainwise.train.state import TrainState


class EpochClock(Callback):
    """Times each epoch from its start to its logs: the steps, the epoch's one host sync (which
    waits for an accelerator's queue) and validation. Put it first in the callback list, so that
    the epoch-end work of the others (checkpoints, TensorBoard, the doctor) stays out. An epoch
    resumed part-way through is not timed: it ran in two processes."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._started: float | None = None

    def on_epoch_start(self, state: TrainState) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self._started is not None:
            self.seconds.append(round(time.perf_counter() - self._started, 4))
        self._started = None


def typical_epoch_seconds(seconds: list[float]) -> float | None:
    """The median epoch: the first one also pays one-off costs (kernels chosen and warmed up,
    memory first allocated), which a mean would spread over a short run."""
    return statistics.median(seconds) if seconds else None
