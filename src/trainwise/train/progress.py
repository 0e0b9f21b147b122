"""Live progress: one line per run that shows epoch, loss, validation metric and time left.

Updated once per epoch from the logs the loop already synced, so it adds no device syncs.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from trainwise.train.callbacks import Callback
from trainwise.train.state import TrainState


class ProgressDisplay(Callback):
    def __init__(self, watch: str = "val_loss", console: Console | None = None) -> None:
        self.watch = watch
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = 0

    def on_fit_start(self, state: TrainState) -> None:
        self._progress = Progress(
            TextColumn("[bold]epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("", total=state.max_epochs, completed=state.epoch)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self._progress is None:
            return
        shown = [f"loss {logs['loss']:.4f}"]
        for key in ("val_loss", self.watch):
            if key in logs and f"{key}" not in " ".join(shown):
                shown.append(f"{key} {logs[key]:.4f}")
        self._progress.update(self._task, completed=state.epoch, description="  ".join(shown))

    def on_fit_end(self, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=state.epoch, completed=state.epoch)
            self._progress.stop()
            self._progress = None
