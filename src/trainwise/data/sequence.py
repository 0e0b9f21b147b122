"""Preprocessing for fixed-length sequences: the columns are the time steps of one signal.

Per-column scaling, right for tables, would distort a signal's shape (each time step stretched
differently) and break the translation symmetry a convolution relies on; a sequence is instead
standardised with one mean and one standard deviation over all training values. Missing values
become the training mean (0 after scaling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.schema import Schema
from trainwise.data.transforms import Features, to_numeric
from trainwise.errors import DataError


class SequencePreprocessor:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.columns = list(schema.features)
        self.state_: dict[str, Any] = {}

    def fit(self, frame: pd.DataFrame) -> SequencePreprocessor:
        values = self._values(frame)
        observed = values[np.isfinite(values)]
        std = float(observed.std()) if observed.size else 1.0
        self.state_ = {
            "columns": self.columns,
            "mean": float(observed.mean()) if observed.size else 0.0,
            "std": std if std > 1e-12 else 1.0,
        }
        return self

    def transform(self, frame: pd.DataFrame) -> Features:
        values = (self._values(frame) - self.state_["mean"]) / self.state_["std"]
        values = np.where(np.isfinite(values), values, 0.0).astype(np.float32)
        return Features(values, np.zeros((len(frame), 0), dtype=np.int64))

    def describe(self) -> dict[str, Any]:
        return {
            "sequence_length": len(self.columns),
            "scaling": "one mean and standard deviation over all time steps (train)",
        }

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "sequence", "state": self.state_}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> SequencePreprocessor:
        pre = cls(schema)
        pre.state_ = raw["state"]
        pre.columns = list(pre.state_["columns"])
        return pre

    @property
    def embedding_cardinalities(self) -> list[int]:
        return []

    @property
    def feature_names(self) -> list[str]:
        return list(self.columns)

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            raise DataError(
                f"the data lacks time-step column(s) the model needs: {', '.join(absent[:5])}",
                f"all {len(self.columns)} columns of the sequence",
                "pass rows with the same columns as in training",
            )
        return np.column_stack([to_numeric(frame[c]).to_numpy() for c in self.columns])
