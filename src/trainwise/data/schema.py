"""What each column is, and what the task is.

Inference is deliberately conservative and always overridable (`data.kinds`, `data.task`): a
column that is unique on every row (a name, a ticket number, a row id) cannot generalise and is
dropped; a column with one value carries nothing; free text gets a bag-of-words encoding; the rest
are numbers or categories. Every decision is recorded with its reason in the data summary.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trainwise.errors import DataError

ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index|idx)$|^(id|index)$", re.I)
CAMEL_ID_NAME = re.compile(r"[a-z](Id|ID|Key)$")  # PassengerId, userID; not "paid" or "valid"
BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f"}
MAX_CLASSES_FROM_INTEGERS = 20


@dataclass(frozen=True)
class Column:
    """One input column and what we decided about it."""

    name: str
    kind: str  # numeric | categorical | boolean | text | identifier | constant | image
    reason: str
    missing: int
    unique: int

    @property
    def used(self) -> bool:
        return self.kind in {"numeric", "categorical", "boolean", "text", "array", "image"}


@dataclass(frozen=True)
class Schema:
    """Columns, target and task: everything needed to read raw rows the way training did."""

    columns: tuple[Column, ...]
    target: tuple[str, ...]
    task: str
    classes: tuple[Any, ...] = ()  # class values (or label names for multilabel)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns if c.used]

    def of_kind(self, kind: str) -> list[str]:
        return [c.name for c in self.columns if c.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [asdict(c) for c in self.columns],
            "target": list(self.target),
            "task": self.task,
            "classes": [_json_scalar(c) for c in self.classes],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Schema:
        return cls(
            columns=tuple(Column(**c) for c in raw["columns"]),
            target=tuple(raw["target"]),
            task=raw["task"],
            classes=tuple(raw["classes"]),
            notes=tuple(raw.get("notes", ())),
        )


def infer_schema(
    frame: pd.DataFrame,
    target: str | list[str],
    task: str = "auto",
    kinds: dict[str, str] | None = None,
    drop: list[str] | None = None,
    group: str | None = None,
) -> Schema:
    """Decide each column's kind and the task from a (training) frame."""
    targets = [target] if isinstance(target, str) else list(target)
    missing = [
        t
        for t in [*targets, *(drop or []), *(kinds or {}), *([group] if group else [])]
        if t not in frame.columns
    ]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not in the data",
            f"column names from: {', '.join(map(str, frame.columns[:40]))}",
            "check the spelling (names are case-sensitive) of data.target, data.drop, "
            "data.kinds and data.split.group",
        )
    kinds = kinds or {}
    excluded = {*targets, *(drop or [])} | ({group} if group else set())
    numbers = _number_counts(frame, [c for c in frame.columns if c not in excluded])
    columns = []
    for name in frame.columns:
        if name in excluded:
            continue
        series = frame[name]
        if name in numbers:
            n_missing, (n_unique, whole) = 0, numbers[name]
        else:
            n_missing, n_unique = int(series.isna().sum()), _unique_count(series)
        if n_missing == len(series) and kinds.get(name) not in {"identifier", "constant"}:
            raise DataError(
                f"feature column {name!r} has no values at all (every row is missing)",
                "each feature to have at least some values",
                f"drop it with data.drop=[{name}] or fix the file",
            )
        if name in kinds:
            kind, reason = kinds[name], "set in data.kinds"
        elif name in numbers:  # whole numbers, or floats that numpy says are whole or not
            kind, reason = _number_kind(series, len(series), n_unique, whole)
        else:
            kind, reason = infer_kind(series)
        columns.append(Column(name, kind, reason, n_missing, n_unique))
    if not any(c.used for c in columns):
        raise DataError(
            "no usable feature columns remain",
            "at least one numeric, categorical, boolean or text column besides the target",
            "check data.drop and data.kinds; columns dropped: "
            + ", ".join(f"{c.name} ({c.reason})" for c in columns),
        )
    task, classes = infer_task(frame, targets, task)
    return Schema(tuple(columns), tuple(targets), task, tuple(classes))


def infer_kind(series: pd.Series) -> tuple[str, str]:
    """The kind of one column, with the reason in words."""
    values = series.dropna()
    n = len(values)
    if n and isinstance(values.iloc[0], list | tuple | np.ndarray):
        return "array", "arrays of numbers (a sequence per row)"
    unique = values.nunique()
    if unique <= 1:
        return "constant", "a single value: carries no information"
    if pd.api.types.is_bool_dtype(values):
        return "boolean", "true/false values"
    if unique == 2 and set(values.astype(str).str.lower().str.strip()) <= BOOL_WORDS:
        return "boolean", "two yes/no-like values"
    if pd.api.types.is_numeric_dtype(values):
        return _number_kind(values, n, unique, _whole(values))
    text = values.astype(str)
    as_numbers = pd.to_numeric(text.str.strip(), errors="coerce")
    if as_numbers.notna().mean() >= 0.98:
        zero_padded = text.str.match(r"^0\d").mean() > 0.5
        if unique == n and n > 20 and (_id_name(series.name) or zero_padded):
            return "identifier", "a distinct code on every row (an id)"
        return "numeric", "numbers stored as text"
    ratio = unique / max(n, 1)
    words = text.str.split().str.len().mean()
    if words >= 3 and ratio > 0.3:
        return "text", f"free text ({words:.1f} words on average)"
    if ratio > 0.5 and n > 20:
        return (
            "identifier",
            f"{ratio:.0%} of values are distinct (an id or code; cannot generalise)",
        )
    return "categorical", f"{unique} categories"


def _number_kind(values: pd.Series, n: int, unique: int, whole: bool) -> tuple[str, str]:
    """The kind of a column's `n` numbers (its missing values left out), `unique` of them
    distinct."""
    if unique <= 1:
        return "constant", "a single value: carries no information"
    if whole and unique == n and n > 20 and (_id_name(values.name) or _is_monotonic(values)):
        return "identifier", "a distinct integer on every row (a row id)"
    return "numeric", "numbers"


def _whole(values: pd.Series) -> bool:
    """Whether every value is a whole number (an integer dtype, or floats without fractions)."""
    if pd.api.types.is_integer_dtype(values):
        return True
    with np.errstate(invalid="ignore"):  # ±inf: no remainder, not whole
        return bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))


def distinct_counts(rows: np.ndarray) -> np.ndarray:
    """Distinct values in each row of a matrix of numbers, NaN left out (pandas' `nunique`)."""
    ordered = np.sort(rows, axis=1)  # NaN last
    present = ~np.isnan(ordered) if ordered.dtype.kind == "f" else np.ones(ordered.shape, bool)
    changes = (ordered[:, 1:] != ordered[:, :-1]) & present[:, 1:]
    return present[:, 0] + changes.sum(axis=1)


def _number_counts(frame: pd.DataFrame, names: list[str]) -> dict[str, tuple[int, bool]]:
    """Distinct values, and whether all are whole numbers, of each column of NumPy integers or
    floats without a missing value, found 256 columns at a time on one sorted matrix: pandas'
    per-column `nunique` and `isna` took 0.5 ms a column (0.2 s for a table of 784 pixels).
    Other columns are left out."""
    if not len(frame):
        return {}
    wanted = set(names)
    chosen: dict[np.dtype, list[str]] = {}
    for name, dtype in frame.dtypes.items():
        if name in wanted and isinstance(dtype, np.dtype) and dtype.kind in "iuf":
            chosen.setdefault(dtype, []).append(name)
    counts: dict[str, tuple[int, bool]] = {}
    for group in chosen.values():  # one dtype a group: no value changes on the way
        for start in range(0, len(group), 256):
            block = group[start : start + 256]
            values = frame[block].to_numpy().T
            if values.dtype.kind == "f":  # a column with missing values is counted by pandas
                complete = ~np.isnan(values).any(axis=1)
                block = [c for c, keep in zip(block, complete, strict=True) if keep]
                values = values[complete]
            distinct = distinct_counts(values)
            if values.dtype.kind == "f":
                with np.errstate(invalid="ignore"):  # ±inf: no remainder, not whole
                    whole = (np.mod(values, 1) == 0).all(axis=1).tolist()
            else:
                whole = [True] * len(block)
            counts |= dict(zip(block, zip(distinct.tolist(), whole, strict=True), strict=True))
    return counts


def _numbers(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def infer_task(frame: pd.DataFrame, targets: list[str], task: str) -> tuple[str, list[Any]]:
    """The task and (for classification) the sorted class values."""
    if len(targets) > 1 and task == "regression":
        for name in targets:
            infer_task(frame, [name], "regression")  # each must be numeric
        return "regression", []
    if len(targets) > 1 or task == "multilabel":
        not_binary = [n for n in targets if not set(frame[n].dropna().unique().tolist()) <= {0, 1}]
        if (
            not_binary
            and task == "auto"
            and all(_numbers(frame[n]) for n in targets)
            and all(infer_task(frame, [n], "auto")[0] == "regression" for n in not_binary)
        ):
            # several numeric targets, those not 0/1 measurements (regression on their own):
            # one regression output per target, the task meant (this failed as "multilabel")
            return infer_task(frame, targets, "regression")
        if not_binary:
            # name a column that blocks both readings: text before numbers
            name = ([n for n in not_binary if not _numbers(frame[n])] or not_binary)[0]
            raise DataError(
                f"multilabel target column {name!r} holds values other than 0/1",
                "one 0/1 column per label, or numbers in every target column for regression",
                "encode each label as its own 0/1 column and list them in data.target, or set "
                "data.task=regression for several numeric targets",
            )
        return "multilabel", list(targets)
    y = frame[targets[0]].dropna()
    if len(y) == 0:
        raise DataError(
            f"target column {targets[0]!r} has no values",
            "a target value on (most) rows",
            "pick another column with data.target",
        )
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if task == "regression":
        if not numeric:
            as_numbers = pd.to_numeric(y.astype(str).str.strip(), errors="coerce")
            bad = y[as_numbers.isna()].astype(str).unique()[:3].tolist()
            if len(bad):
                raise DataError(
                    f"regression target {targets[0]!r} holds non-numeric values such as {bad}",
                    "numbers for a regression target",
                    "fix or drop those rows, or set data.task to binary/multiclass",
                )
        return "regression", []
    classes = sorted(y.unique().tolist(), key=lambda v: (str(type(v)), v))
    if task == "auto":
        integral = numeric and bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
        if numeric and not (integral and len(classes) <= MAX_CLASSES_FROM_INTEGERS):
            return "regression", []
        task = "binary" if len(classes) == 2 else "multiclass"
    if len(classes) < 2:
        raise DataError(
            f"target {targets[0]!r} has only one class ({classes[0]!r})",
            "at least two classes to learn to tell apart",
            "check the file holds rows of every class, or pick another target",
        )
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"data.task is binary but target {targets[0]!r} has {len(classes)} classes",
            "exactly two classes",
            "set data.task to multiclass (or auto)",
        )
    if len(classes) > 0.5 * len(y) and len(y) > 20:
        raise DataError(
            f"target {targets[0]!r} has {len(classes)} distinct values in {len(y)} rows",
            "a classification target with repeated classes",
            "set data.task=regression if it is a quantity, or pick another target",
        )
    return task, classes


def _unique_count(series: pd.Series) -> int:
    try:
        return int(series.nunique(dropna=True))
    except TypeError:  # arrays per row are not hashable
        return int(series.dropna().map(lambda v: tuple(np.ravel(v).tolist())).nunique())


def _id_name(name: object) -> bool:
    return bool(ID_NAME.search(str(name)) or CAMEL_ID_NAME.search(str(name)))


def _is_monotonic(values: pd.Series) -> bool:
    return bool(values.is_monotonic_increasing or values.is_monotonic_decreasing)


def _json_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
