"""Values in rows given to a trained tabular model that training never saw.

A prediction file with `Sex=unknown`, an `Embarked` port added later, or `Age=abc` is still
predicted: an unseen category is encoded as unknown and text in a number column is imputed, as
in training. But such rows are where a typo, a renamed code or a changed unit hides, and
silently scoring them is the failure users find months later. So prediction and evaluation name
each such column with a count and examples (scikit-learn's `OneHotEncoder(handle_unknown="warn")`
does the same for categories).
"""

from __future__ import annotations

import pandas as pd

from trainwise.data.transforms import MISSING, TabularPreprocessor, as_category, to_numeric

EXAMPLES = 3


def unfamiliar_values(pre: TabularPreprocessor, frame: pd.DataFrame) -> list[str]:
    """One plain-words line per column of `frame` holding values the fitted `pre` never saw."""
    state, lines = pre.state_, []
    for name, entry in state["numeric"].items():
        if name not in frame.columns:
            continue  # a missing column is the preprocessor's error, with its own message
        given = frame[name]
        if pd.api.types.is_numeric_dtype(given) or pd.api.types.is_bool_dtype(given):
            # numbers hold no text (and are not turned into strings), but may overflow float32
            bad, what = given.notna() & to_numeric(given).isna(), "a number beyond float32's range"
        else:
            present = given.notna() & (given.astype("string").str.strip() != "")
            bad, what = present & to_numeric(given).isna(), "something that is not a number"
        if bad.any():
            lines.append(
                f"column {name!r}: {_rows(int(bad.sum()), len(frame))} "
                f"{'holds' if bad.sum() == 1 else 'hold'} {what} "
                f"({_examples(given[bad])}): imputed with {entry['fill']:.4g}, as a missing value"
            )
    for name, entry in {**state["onehot"], **state["embed"]}.items():
        if name not in frame.columns:
            continue
        values = as_category(frame[name], entry["fill"])
        known = set(entry["categories"]) | {entry["fill"], MISSING}
        bad = ~values.isin(known)
        if bad.any():
            lines.append(
                f"column {name!r}: {_rows(int(bad.sum()), len(frame))} "
                f"{'holds' if bad.sum() == 1 else 'hold'} a category not seen in training "
                f"({_examples(values[bad])}): encoded as an unknown category"
            )
    return lines


def _rows(count: int, total: int) -> str:
    return f"{count} of {total} row{'s' if total != 1 else ''}"


def _examples(values: pd.Series) -> str:
    distinct = pd.unique(values.astype(str))
    shown = ", ".join(repr(v) for v in distinct[:EXAMPLES])
    return shown + (f" and {len(distinct) - EXAMPLES} more" if len(distinct) > EXAMPLES else "")
