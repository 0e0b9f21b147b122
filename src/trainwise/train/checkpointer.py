"""The callback that writes checkpoints, and the one that turns signals into a clean stop.

SIGTERM (a scheduler preempting the job) or Ctrl-C finishes the current step, writes a
checkpoint and stops; a second Ctrl-C aborts at once. The process then exits with 143 or 130,
the conventional codes for those signals.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from trainwise.errors import RunError
from trainwise.train.callbacks import Callback
from trainwise.train.checkpoint import EncodedOnce, checkpoint_path, load_latest, snapshot
from trainwise.train.checkpoint_writer import CheckpointWriter
from trainwise.train.state import StepOutput, TrainState


class Checkpointer(Callback):
    """Checkpoints every `every_epochs` epochs (or `every_steps` steps), at the best epoch and
    when training stops early. Each is snapshotted at once and written by a `CheckpointWriter`
    in the background; the fit ends only when the last one is on disk."""

    def __init__(
        self,
        folder: Path,
        stateful: dict[str, Callback],
        every_epochs: int = 1,
        every_steps: int | None = None,
        keep: int = 2,
        is_best: Callable[[TrainState], bool] | None = None,
    ) -> None:
        self.folder = folder
        self.stateful = stateful
        self.every_epochs = every_epochs
        self.every_steps = every_steps
        self.keep = keep
        self.is_best = is_best
        self.best_name: str | None = None
        self.last_saved_step = -1
        self.writer = CheckpointWriter()
        self._history = EncodedOnce()  # the history's epochs as JSON text (`payload`)

    def payload(self, state: TrainState) -> dict[str, Any]:
        """The state to checkpoint. The history's epochs go as JSON text, each encoded once
        (`EncodedOnce`) and written as one array (`PreEncoded`): every checkpoint carries all
        epochs so far, and walking or encoding them again at each one made a long run's
        checkpoints grow slower with every epoch."""
        return state.state_dict() | {
            "history": self._history.encoded(state.history),
            "callbacks": {name: cb.state_dict() for name, cb in self.stateful.items()},
            "checkpointer": {"best_name": self.best_name},
        }

    def save(self, state: TrainState) -> Path:
        """Snapshot the state now and start writing it; returns the checkpoint's folder, which
        exists once the write is done (`writer.wait()`)."""
        snap = snapshot(state.step, self.payload(state))
        protect = [self.best_name] if self.best_name else []
        self.writer.submit(self.folder, snap, self.keep, protect)
        self.last_saved_step = state.step
        return checkpoint_path(self.folder, state.step)

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        due = self.every_steps is not None and state.step % self.every_steps == 0
        if due or state.stop_reason is not None:
            self.save(state)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        best = self.is_best(state) if self.is_best is not None else False
        due = state.epoch % self.every_epochs == 0 or state.stop_reason is not None
        if best or (due and state.step != self.last_saved_step):
            if best:  # recorded before saving, so the checkpoint names itself as the best
                self.best_name = checkpoint_path(self.folder, state.step).name
            self.save(state)

    def on_fit_end(self, state: TrainState) -> None:
        if sys.exc_info()[1] is None:
            self.writer.close()
            return
        # the fit is failing already: that error is the one to report, not a write's
        with contextlib.suppress(RunError):
            self.writer.close()

    def restore(self, state: TrainState, warn: Any = print) -> Path:
        """Load the newest valid checkpoint into the state and the stateful callbacks."""
        path, payload = load_latest(self.folder, warn)
        history = payload["history"]
        if isinstance(history, dict):  # per-epoch JSON text, as one version wrote it
            payload["history"] = [json.loads(text) for text in history["json"]]
        state.load_state_dict(payload)
        for name, cb in self.stateful.items():
            cb.load_state_dict(payload["callbacks"].get(name, {}))
        self.best_name = payload.get("checkpointer", {}).get("best_name")
        self.last_saved_step = state.step
        return path


class StopOnSignal(Callback):
    """First SIGTERM/SIGINT: stop after the current step (a checkpoint follows). Second: abort."""

    SIGNALS: ClassVar[dict[int, str]] = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def on_fit_start(self, state: TrainState) -> None:
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay with the caller
                return

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C aborts at once
        self.received = signum

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        if self.received is not None and state.stop_reason is None:
            state.stop_reason = f"interrupted by {self.SIGNALS[self.received]}"

    def on_fit_end(self, state: TrainState) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
