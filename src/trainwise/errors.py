"""Errors that reach the user.

Every mistake a user can make (a bad spec, a missing column, an unreadable file) is raised as a
`TrainwiseError` at the boundary where it is detected. The message always says three things:
what happened, what was expected, and how to fix it. The CLI prints it as one message and exits
with code 2; Python callers can catch the subclass that fits.
"""

from __future__ import annotations

from typing import ClassVar


class TrainwiseError(Exception):
    """A user-facing error: what went wrong, what was expected, how to fix it.

    >>> err = TrainwiseError("target column 'price' not found", "one of: a, b", "pass --target a")
    >>> print(err)
    target column 'price' not found. Expected: one of: a, b. Fix: pass --target a
    """

    def __init__(self, what: str, expected: str = "", fix: str = "") -> None:
        self.what = what
        self.expected = expected
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what.rstrip(".")]
        if self.expected:
            parts.append(f"Expected: {self.expected.rstrip('.')}")
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return ". ".join(parts)


class SpecError(TrainwiseError):
    """The run spec (YAML, keyword arguments or overrides) is invalid."""


class DataError(TrainwiseError):
    """The data cannot be read or does not fit the task."""


class ModelError(TrainwiseError):
    """A model cannot be built or does not fit the data's shapes."""


class TrainingFailed(TrainwiseError):
    """Training could not produce a usable model (e.g. the loss diverged to NaN)."""


class RunError(TrainwiseError):
    """A run folder or model bundle is missing, incomplete or damaged."""


class Interrupted(Exception):
    """Training stopped on SIGTERM or Ctrl-C after writing a checkpoint; the run can resume."""

    EXIT_CODES: ClassVar[dict[str, int]] = {"SIGTERM": 143, "SIGINT": 130}

    def __init__(self, signal_name: str, run_folder: str, how: str = "") -> None:
        self.signal_name = signal_name
        self.run_folder = run_folder
        self.exit_code = self.EXIT_CODES.get(signal_name, 130)
        how = how or f"trainwise fit --resume {run_folder}"
        super().__init__(
            f"training interrupted by {signal_name}; a checkpoint was written. Resume with: {how}"
        )


class UnfamiliarInputWarning(UserWarning):
    """Rows given to a trained model hold values it never saw in training (an unknown category,
    text in a number column): they are still predicted, as an unknown category or an imputed
    number, and the warning names the column so a typo or a unit change is noticed."""
