"""The run folder: one readable, unique folder per run, complete or clearly marked as not.

A run writes into `<name>.partial/` and is renamed to `<name>/` only after the model and the
metrics are written, so a folder without the suffix is always a complete run. History lines are
appended live, one JSON object per epoch, for anyone watching.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from trainwise.errors import RunError
from trainwise.train.callbacks import Callback
from trainwise.train.checkpoint import json_default
from trainwise.train.state import TrainState

PARTIAL = ".partial"


class RunFolder:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.with_name(final.name + PARTIAL)

    @classmethod
    def create(cls, root: str, name: str, explicit: str | None = None) -> RunFolder:
        if explicit:
            final = Path(explicit)
            if final.exists() and any(final.iterdir()):
                raise RunError(
                    f"output folder {str(final)!r} already exists and is not empty",
                    "a new or empty folder, so no earlier run is overwritten",
                    "pick another --output, or remove the old folder",
                )
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            final = Path(root) / f"{name}-{stamp}"
            n = 2
            while final.exists() or final.with_name(final.name + PARTIAL).exists():
                final = Path(root) / f"{name}-{stamp}-{n}"
                n += 1
        folder = cls(final)
        try:
            if folder.path.exists():
                shutil.rmtree(folder.path)
            folder.path.mkdir(parents=True)
        except OSError as exc:
            raise RunError(
                f"cannot create the run folder {str(folder.path)!r} ({exc.strerror})",
                "a writable output location",
                "pass --output to a folder you can write, or fix the permissions",
            ) from None
        return folder

    @classmethod
    def reopen(cls, path: str | Path) -> RunFolder:
        """An interrupted run's folder, given with or without its `.partial` suffix."""
        given = Path(path)
        final = given.with_name(given.name.removesuffix(PARTIAL))
        folder = cls(final)
        if not folder.path.is_dir():
            done = final.is_dir() and (final / "metrics.json").is_file()
            raise RunError(
                f"{str(given)!r} is not an interrupted run"
                + (" (that run already finished)" if done else ""),
                f"the folder of a run that was stopped, named <name>{PARTIAL}",
                "start a new run without --resume" if done else "check the path",
            )
        if not (folder.path / "spec.yaml").is_file():
            raise RunError(
                f"{str(folder.path)!r} has no spec.yaml",
                "a run folder written by `trainwise fit`",
                "start the run again without --resume",
            )
        return folder

    def write_json(self, name: str, data: Any) -> None:
        self._write(name, json.dumps(data, indent=2, default=json_default) + "\n")

    def write_text(self, name: str, text: str) -> None:
        self._write(name, text)

    def finish(self) -> Path:
        """Mark the run complete by dropping the `.partial` suffix."""
        if self.final.exists():  # an explicit, empty output folder
            self.final.rmdir()
        os.replace(self.path, self.final)
        return self.final

    def _write(self, name: str, text: str) -> None:
        target = self.path / name
        tmp = target.with_name(target.name + ".tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:  # disk full, folder made read-only, quota
            tmp.unlink(missing_ok=True)
            raise RunError(
                f"cannot write {target} ({exc.strerror or exc})",
                "free space and write permission in the run folder",
                "free disk space or fix the permissions; checkpoints written so far are intact "
                f"and `trainwise fit --resume {self.path}` continues from them",
            ) from None


class HistoryWriter(Callback):
    """Appends each epoch's logs to history.jsonl as the run goes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_fit_start(self, state: TrainState) -> None:
        """Start from the state's history: empty for a new run, the checkpoint's on resume."""
        lines = "".join(json.dumps(h, default=json_default) + "\n" for h in state.history)
        self.path.write_text(lines, encoding="utf-8")

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if not state.history or state.history[-1] is not logs:  # rolled back: rewrite
            self.on_fit_start(state)
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(logs, default=json_default) + "\n")
