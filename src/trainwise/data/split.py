"""Train / validation / test splits: seeded, stratified for classification, grouped on request.

A `group` column (a patient, a user, a session) never spans two splits, otherwise the model is
scored on people it has already seen. A class with a single row stays in the training split (the
others are stratified); stratification falls back to a plain shuffle, with a note, only when a
split is too small to hold every class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainwise.errors import DataError

SINGLE_ROW_NOTE = "classes with a single row are kept in the training split, unstratified"


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    notes: tuple[str, ...] = ()


def split_rows(
    frame: pd.DataFrame,
    fractions: tuple[float, float, float],
    seed: int,
    stratify_on: pd.Series | None = None,
    group_on: pd.Series | None = None,
) -> SplitIndices:
    """Positional indices of the three splits. A zero fraction gives an empty split."""
    n = len(frame)
    train_f, val_f, test_f = fractions
    all_rows = np.arange(n)
    notes: list[str] = []
    if group_on is not None:
        # rows without a group value form one group of their own
        groups = group_on.astype("string").fillna("<missing>").to_numpy(dtype=str)
        rest, test = _group_split(all_rows, groups, test_f, seed)
        rest_val = val_f / (train_f + val_f)
        sub_train, sub_val = _group_split(rest, groups[rest], rest_val, seed + 1)
        return SplitIndices(np.sort(sub_train), np.sort(sub_val), np.sort(test))
    labels = stratify_on.to_numpy() if stratify_on is not None else None
    rest, test, note = _split(all_rows, labels, test_f, seed)
    notes += [note] if note else []
    rest_labels = labels[rest] if labels is not None else None
    train, val, note = _split(rest, rest_labels, val_f / (train_f + val_f), seed + 1)
    notes += [note] if note and note not in notes else []
    return SplitIndices(np.sort(train), np.sort(val), np.sort(test), tuple(notes))


def _split(
    rows: np.ndarray, labels: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.model_selection import train_test_split  # imported on use: ~1 s, fit only

    if fraction <= 0:
        return rows, rows[:0], ""
    n_out = round(fraction * len(rows))
    if n_out < 1 or n_out >= len(rows):
        raise DataError(
            f"{len(rows)} rows are too few to split off a {fraction:.0%} share",
            "enough rows that every split gets at least one",
            "provide more rows, or set data.split fractions (e.g. data.split.test=0)",
        )
    if labels is not None:
        # A class with a single row cannot be in both parts: it stays on the training side
        # (the only place the model can learn it from) and the other classes are stratified,
        # rather than giving up stratification for every class because of one row.
        counts = pd.Series(labels).value_counts()
        single = np.isin(labels, counts.index[counts < 2].to_numpy())
        common = rows[~single]
        n_classes = int((counts >= 2).sum())
        if n_classes and n_out >= n_classes and len(common) - n_out >= n_classes:
            keep, out = train_test_split(
                common, test_size=n_out, random_state=seed, stratify=labels[~single]
            )
            if not single.any():
                return keep, out, ""
            return np.concatenate([keep, rows[single]]), out, SINGLE_ROW_NOTE
        note = "stratification skipped: a split is too small to hold every class"
    else:
        note = ""
    keep, out = train_test_split(rows, test_size=n_out, random_state=seed, shuffle=True)
    return keep, out, note


def _group_split(
    rows: np.ndarray, groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if fraction <= 0:
        return rows, rows[:0]
    if len(np.unique(groups)) < 3:
        raise DataError(
            f"the group column has only {len(np.unique(groups))} distinct value(s)",
            "at least 3 groups, so each split can get a whole group",
            "pick another data.split.group column or remove it",
        )
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, out = next(splitter.split(rows, groups=groups))
    return rows[keep], rows[out]
