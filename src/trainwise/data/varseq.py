"""Sequences of varying length: one column whose values are arrays (steps × channels).

Each row's array is standardised per channel with statistics over every training step, padded
with zeros (the scaled mean) to a common length and paired with a mask of its real steps, so
recurrent and attention encoders never read the padding. Rows longer than the longest training
row are cut at the end. Missing (NaN) steps become the training mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.schema import Schema
from trainwise.data.transforms import Features
from trainwise.errors import DataError

MAX_STEPS = 1024


def as_steps(value: Any, column: str) -> np.ndarray:
    """One row's value as a float (steps, channels) array."""
    try:
        steps = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"column {column!r} holds a value that is not an array of numbers ({value!r:.60})",
            "a list or array of numbers (steps) or of equal-length lists (steps × channels)",
            "convert every row to a numeric array",
        ) from None
    if steps.ndim == 0:
        steps = steps.reshape(1, 1)
    return steps.reshape(len(steps), -1)


class VarSequencePreprocessor:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.column = schema.of_kind("array")[0]
        self.state_: dict[str, Any] = {}

    def _rows(self, frame: pd.DataFrame) -> list[np.ndarray]:
        if self.column not in frame.columns:
            raise DataError(
                f"the data lacks the sequence column {self.column!r}",
                "the column of arrays used in training",
                "pass rows with the same columns as in training",
            )
        return [
            as_steps(v if v is not None else [], self.column) for v in frame[self.column].tolist()
        ]

    def fit(self, frame: pd.DataFrame) -> VarSequencePreprocessor:
        rows = [r for r in self._rows(frame) if len(r)]
        channels = {r.shape[1] for r in rows}
        if len(channels) != 1:
            raise DataError(
                f"sequences in {self.column!r} have different numbers of channels "
                f"({sorted(channels)[:5]})",
                "the same number of values per step in every row",
                "make every step a number, or a list of the same length",
            )
        steps = np.concatenate(rows)
        mean, std = np.nanmean(steps, axis=0), np.nanstd(steps, axis=0)
        self.state_ = {
            "column": self.column,
            "channels": int(steps.shape[1]),
            "max_length": int(min(MAX_STEPS, max(len(r) for r in rows))),
            "mean": np.nan_to_num(mean).tolist(),
            "std": np.where(std > 1e-12, np.nan_to_num(std, nan=1.0), 1.0).tolist(),
        }
        return self

    def transform(self, frame: pd.DataFrame) -> Features:
        s = self.state_
        n, length, c = len(frame), s["max_length"], s["channels"]
        dense = np.zeros((n, length, c), dtype=np.float32)
        mask = np.zeros((n, length), dtype=bool)
        mean, std = np.asarray(s["mean"]), np.asarray(s["std"])
        for i, steps in enumerate(self._rows(frame)):  # once per row, at preprocessing time
            if steps.shape[1] != c and len(steps):
                raise DataError(
                    f"row {i} of {self.column!r} has {steps.shape[1]} values per step",
                    f"{c} values per step, as in training",
                    "pass sequences shaped like the training ones",
                )
            steps = steps[:length]
            dense[i, : len(steps)] = np.nan_to_num((steps - mean) / std)
            mask[i, : len(steps)] = True
        mask[~mask.any(axis=1), 0] = True  # an empty sequence reads as one mean step
        return Features(dense, np.zeros((n, 0), dtype=np.int64), (mask,))

    @property
    def model_inputs(self) -> dict[str, Any]:
        return {"seq_channels": self.state_["channels"], "max_lengths": [self.state_["max_length"]]}

    def describe(self) -> dict[str, Any]:
        s = self.state_
        return {
            "sequence_column": s["column"],
            "channels": s["channels"],
            "padded_length": s["max_length"],
            "scaling": "per channel, over every training step",
        }

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "varseq", "state": self.state_}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> VarSequencePreprocessor:
        pre = cls(schema)
        pre.state_ = raw["state"]
        return pre

    @property
    def embedding_cardinalities(self) -> list[int]:
        return []

    @property
    def feature_names(self) -> list[str]:
        return [self.column]
