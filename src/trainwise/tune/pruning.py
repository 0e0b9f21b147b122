"""The bridge from a training run to its Optuna trial: intermediate scores, pruning, deadline.

It reads the epoch logs the loop already synced once per epoch, so it adds no device sync. It
only sets `state.stop_reason`, like early stopping; the trial raises `optuna.TrialPruned` after
the run returns, so the pipeline's own clean-up runs as usual.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import optuna

from trainwise.train.callbacks import Callback

if TYPE_CHECKING:
    from trainwise.train.state import TrainState

TIME_BUDGET = "time budget reached"


class TrialReporter(Callback):
    """Reports `monitor` (e.g. `val_accuracy`) after each epoch at step `offset + epoch`; stops
    the run when the pruner says the trial is hopeless or when the wall-clock `deadline`
    (`time.time()` seconds) passes.

    >>> reporter = TrialReporter(trial=None, monitor="val_accuracy")  # doctest: +SKIP
    """

    def __init__(
        self,
        trial: optuna.Trial | None,
        monitor: str,
        deadline: float | None = None,
        offset: int = 0,
        prune: bool = True,
    ) -> None:
        self.trial = trial
        self.monitor = monitor
        self.deadline = deadline
        self.offset = offset
        self.prune = prune
        self.pruned = False
        self.out_of_time = False

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self.deadline is not None and time.time() >= self.deadline:
            self.out_of_time = True
            state.stop_reason = TIME_BUDGET
            return
        value = logs.get(self.monitor)
        if self.trial is None or value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), self.offset + state.epoch)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            state.stop_reason = f"pruned by the tuner at epoch {state.epoch}"
