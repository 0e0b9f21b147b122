"""K-fold cross-validation over the development rows (training + validation; the test split
stays apart, exactly the rows a normal run would test on).

Each fold is a complete run of the function passed in (the pipeline's `run`) on that fold's raw
training and validation rows, so every fitted statistic (imputation, scaling, encodings, the
target's scale) is fitted again inside the fold and nothing leaks from the held-out rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from trainwise.data.prepare import Frames
from trainwise.data.schema import infer_schema
from trainwise.data.split import split_rows
from trainwise.errors import DataError
from trainwise.evaluate.metrics import is_better
from trainwise.spec.io import parse_spec
from trainwise.spec.model import Spec

CLASSIFICATION = {"binary", "multiclass"}


@dataclass(frozen=True)
class Development:
    """The rows tuning and cross-validation may see, and what the data turned out to be."""

    frame: pd.DataFrame
    task: str
    target: str | list[str]
    kind: str
    test: pd.DataFrame | None = None  # the rows a run tests on (split off, or the test file)


@dataclass
class CVResult:
    """Per-fold validation metrics and their mean and (sample) standard deviation."""

    folds: list[dict[str, Any]] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        return {k: float(np.mean(v)) for k, v in self._columns().items()}

    @property
    def std(self) -> dict[str, float]:
        return {
            k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in self._columns().items()
        }

    def summary(self) -> dict[str, Any]:
        return {
            "folds": len(self.folds),
            "mean": self.mean,
            "std": self.std,
            "per_fold": self.folds,
            "best_epochs": self.best_epochs,
        }

    def _columns(self) -> dict[str, list[float]]:
        keys = [k for k, v in self.folds[0].items() if _is_number(v)] if self.folds else []
        return {k: [float(f[k]) for f in self.folds if _is_number(f.get(k))] for k in keys}


def development_rows(spec: Spec, frames: Frames) -> Development:
    """Training + validation rows after the same cleaning and test split a run would make."""
    targets = [frames.target] if isinstance(frames.target, str) else list(frames.target)
    frame = frames.frame.dropna(subset=targets).reset_index(drop=True)
    if spec.data.clean.duplicates:
        frame = frame.drop_duplicates(ignore_index=True)
    schema = infer_schema(
        frame, frames.target, frames.task, spec.data.kinds, spec.data.drop, spec.data.split.group
    )
    split = spec.data.split
    fractions = (
        split.train,
        0.0 if frames.validation is not None else split.validation,
        0.0 if frames.test is not None else split.test,
    )
    total = sum(fractions)
    indices = split_rows(  # the same call as the data stage's, so the same test rows
        frame,
        (fractions[0] / total, fractions[1] / total, fractions[2] / total),
        seed=split.seed if split.seed is not None else spec.train.seed,
        stratify_on=frame[targets[0]] if schema.task in CLASSIFICATION and split.stratify else None,
        group_on=frame[split.group] if split.group else None,
    )
    dev = frame.iloc[np.sort(np.r_[indices.train, indices.validation])].reset_index(drop=True)
    if frames.validation is not None:
        extra = frames.validation.dropna(subset=targets)
        dev = pd.concat([dev, extra], ignore_index=True)
    test = frames.test if frames.test is not None else frame.iloc[indices.test]
    test = test.reset_index(drop=True) if len(test) else None
    return Development(dev, schema.task, frames.target, frames.kind, test)


def fold_indices(
    dev: Development, k: int, how: str, group: str | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The K (train, validation) row positions; `how` as in `evaluate.cv_folds`."""
    n = len(dev.frame)
    targets = [dev.target] if isinstance(dev.target, str) else list(dev.target)
    if how == "auto":
        how = "grouped" if group else "stratified" if dev.task in CLASSIFICATION else "plain"
    rows = np.arange(n)
    if how == "grouped":
        if not group:
            raise DataError(
                "evaluate.cv_folds=grouped needs a group column",
                "data.split.group naming the column whose values must not span folds",
                "set data.split.group=COLUMN, or evaluate.cv_folds=auto",
            )
        groups = dev.frame[group].astype("string").fillna("<missing>").to_numpy(dtype=str)
        if len(np.unique(groups)) < k:
            raise DataError(
                f"{len(np.unique(groups))} groups cannot fill {k} folds",
                f"at least {k} distinct values in {group!r}",
                "lower evaluate.cv",
            )
        splits = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(rows, groups=groups)
    elif how == "time_series":
        splits = TimeSeriesSplit(n_splits=k).split(rows)
    elif how == "stratified":
        labels = dev.frame[targets[0]].to_numpy()
        smallest = pd.Series(labels).value_counts().min()
        if smallest < k:
            raise DataError(
                f"the rarest class has {smallest} development row(s), fewer than {k} folds",
                "at least K rows of every class for stratified K-fold",
                f"lower evaluate.cv to {max(2, smallest)} or set evaluate.cv_folds=plain",
            )
        splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(rows, labels)
    else:
        splits = KFold(n_splits=k, shuffle=True, random_state=seed).split(rows)
    if n < 2 * k:
        raise DataError(
            f"{n} development rows are too few for {k}-fold cross-validation",
            f"at least {2 * k} rows",
            "lower evaluate.cv or add rows",
        )
    return [(np.asarray(a), np.asarray(b)) for a, b in splits]


def fold_spec(spec: Spec, dev: Development) -> Spec:
    """The spec of one fold's run: the fold's rows are passed in as training and validation
    data, nothing is split off, saved or tested; the data's kind, target and task are fixed to
    what the full data showed (a small fold must not infer another task)."""
    raw = spec.model_dump(mode="json")
    raw["data"].update(
        validation=None,
        test=None,
        kind=dev.kind,
        target=dev.target,
        task=dev.task,
        split={**raw["data"]["split"], "train": 0.8, "validation": 0.2, "test": 0.0},
    )
    raw["evaluate"] = {**raw["evaluate"], "test": False, "cv": None}
    raw["output"] = {**raw["output"], "save": False, "progress": False}
    return parse_spec(raw)


def cross_validate(
    run_fn: Callable[..., Any],
    spec: Spec,
    dev: Development,
    callbacks: Callable[[int], Sequence[Any]] = lambda fold: (),
    after_fold: Callable[[int, CVResult], None] = lambda fold, result: None,
) -> CVResult:
    """Run `run_fn(spec, frame=, validation=, callbacks=, log=)` on each fold; `callbacks(i)`
    gives fold i's training callbacks, `after_fold` may stop early by raising."""
    k = spec.evaluate.cv or 5
    seed = spec.data.split.seed if spec.data.split.seed is not None else spec.train.seed
    folds = fold_indices(dev, k, spec.evaluate.cv_folds, spec.data.split.group, seed)
    one = fold_spec(spec, dev)
    result = CVResult()
    for i, (train, val) in enumerate(folds):
        run = run_fn(
            one,
            frame=dev.frame.iloc[train].reset_index(drop=True),
            validation=dev.frame.iloc[val].reset_index(drop=True),
            callbacks=list(callbacks(i)),
            log=_silent,
        )
        result.folds.append(
            {k: v for k, v in run.metrics.get("validation", {}).items() if _is_number(v)}
        )
        result.best_epochs.append(best_epoch(run.history, spec.train.early_stopping.monitor))
        after_fold(i, result)
    return result


def best_epoch(history: list[dict[str, Any]], monitor: str) -> int:
    """The epoch (1-based) whose weights the run kept: the best `monitor` (val_loss: lowest)."""
    best, where = None, len(history)
    for i, logs in enumerate(history):
        value = logs.get(monitor)
        if value is not None and is_better(monitor, value, best):
            best, where = value, i + 1
    return max(1, where)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _silent(*_: Any, **__: Any) -> None:
    return None
