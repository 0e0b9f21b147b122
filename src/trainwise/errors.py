"""Errors that reach the user.

Every mistake a user can make (a bad spec, a missing column, an unreadable file) is raised as a
`TrainwiseError` at the boundary where it is detected. The message always says three things:
what happened, what was expected, and how to fix it. The CLI prints it as one message and exits
with code 2; Python callers can catch the subclass that fits.
"""

from __future__ import annotations


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


class RunError(TrainwiseError):
    """A run folder or model bundle is missing, incomplete or damaged."""
