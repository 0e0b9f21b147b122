"""Interrupting a run in-process the way a SIGTERM does, for the exact-resume tests of every data
kind.

The signal handler only sets the stop reason; the loop then ends the step, the checkpointer saves
it and `fit` raises `Interrupted`. A callback that sets the same reason at a chosen step stops a
run at a known point without a subprocess or a signal.
"""

from __future__ import annotations

from typing import Any

import pytest

import trainwise
from trainwise.errors import Interrupted


class StopLikeSigterm(trainwise.Callback):
    """Stop during step `at` the way StopOnSignal does: the checkpointer then saves this step."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_after_backward(self, state) -> None:
        if state.step + 1 == self.at:  # state.step counts completed steps
            state.stop_reason = "interrupted by SIGTERM"


def fit_stopped_at(step: int, *args: Any, **kwargs: Any) -> Interrupted:
    """`trainwise.fit(*args, **kwargs)` stopped during `step`: the `Interrupted` it must raise,
    whose `run_folder` the run resumes from."""
    with pytest.raises(Interrupted) as caught:
        trainwise.fit(*args, callbacks=[StopLikeSigterm(step)], **kwargs)
    return caught.value
