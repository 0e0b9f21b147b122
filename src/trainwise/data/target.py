"""The target, encoded for training and decoded for people.

Classification targets become class codes 0..K-1 in the order of the sorted class values;
regression targets are standardised with the training split's mean and standard deviation (so one
learning rate suits targets in dollars or in millimetres) and turned back into original units for
every metric and prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.schema import Schema
from trainwise.errors import DataError


class TargetEncoder:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.mean_: list[float] = []
        self.std_: list[float] = []

    def fit(self, frame: pd.DataFrame) -> TargetEncoder:
        if self.schema.task == "regression":
            y = self._numeric(frame)
            self.mean_ = y.mean(axis=0).tolist()
            self.std_ = np.where(y.std(axis=0) > 1e-12, y.std(axis=0), 1.0).tolist()
        return self

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Training targets: int64 codes (multiclass), float32 otherwise."""
        task = self.schema.task
        if task == "regression":
            return ((self._numeric(frame) - self.mean_) / self.std_).astype(np.float32)
        if task == "multilabel":
            return frame[list(self.schema.target)].to_numpy(dtype=np.float32)
        codes = self.codes(frame[self.schema.target[0]])
        return codes.astype(np.float32) if task == "binary" else codes

    def codes(self, values: pd.Series) -> np.ndarray:
        classes = list(self.schema.classes)
        lookup = {_key(c): i for i, c in enumerate(classes)}
        # key each distinct value once, not each row: targets have few classes and many rows
        _, first, inverse = np.unique(
            values.astype(str).to_numpy(), return_index=True, return_inverse=True
        )
        keys = [_key(v) for v in values.iloc[first].tolist()]
        unknown = sorted({k for k in keys if k not in lookup})
        if unknown:
            raise DataError(
                f"target {self.schema.target[0]!r} holds class(es) the model never saw: "
                f"{', '.join(unknown[:5])}",
                f"classes from training: {', '.join(map(str, classes))}",
                "remove those rows or retrain with them",
            )
        return np.asarray([lookup[k] for k in keys], dtype=np.int64)[inverse]

    def decode_regression(self, z: np.ndarray) -> np.ndarray:
        return z * np.asarray(self.std_) + np.asarray(self.mean_)

    def truth(self, frame: pd.DataFrame) -> np.ndarray:
        """Targets in the form metrics take: class codes, 0/1 matrix or original units."""
        task = self.schema.task
        if task == "regression":
            return self._numeric(frame)
        if task == "multilabel":
            return frame[list(self.schema.target)].to_numpy(dtype=np.int64)
        return self.codes(frame[self.schema.target[0]])

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> TargetEncoder:
        enc = cls(schema)
        enc.mean_, enc.std_ = list(raw["mean"]), list(raw["std"])
        return enc

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        cols = list(self.schema.target)
        values = frame[cols].apply(lambda s: pd.to_numeric(s, errors="coerce"))
        if values.isna().any().any():
            bad = frame.loc[values.isna().any(axis=1), cols[0]].astype(str).unique()[:3].tolist()
            raise DataError(
                f"regression target {cols[0]!r} holds non-numeric values such as {bad}",
                "numbers for a regression target",
                "fix or drop those rows, or set data.task to binary/multiclass",
            )
        return values.to_numpy(dtype=np.float64)


def _key(value: Any) -> str:
    """One key for 1, 1.0, '1' and ' 1' so classes survive a round trip through CSV."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    text = str(value).strip()
    try:
        f = float(text)
    except ValueError:
        return text
    return str(int(f)) if f.is_integer() else repr(f)
