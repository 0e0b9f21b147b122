"""Feature preprocessing fitted on the training split only, saved as JSON with the model.

`TabularPreprocessor.fit(train_frame)` learns every statistic (medians, IQR fences, scales,
category lists, text vocabularies) from the training rows; `transform` applies them to any rows,
including raw rows at prediction time in another process. The state is plain JSON, so loading a
model never executes code. Output is two arrays: dense float features, and integer codes for the
high-cardinality categoricals that the model embeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from trainwise.data.schema import Schema
from trainwise.errors import DataError
from trainwise.spec.model import CleanSpec

MISSING = "__missing__"
TEXT_MAX_FEATURES = 256
FLOAT32_MAX = 1e38


@dataclass(frozen=True)
class Features:
    """Model inputs for a set of rows: dense floats and categorical codes for embeddings.

    `dense` is (n, d) for tables and may carry more axes for other kinds: (n, c, h, w) images,
    (n, c, t) signals. `extra` holds further per-row inputs (e.g. token ids and their mask),
    passed to the model after `dense` and `codes` in this order.
    """

    dense: np.ndarray  # (n, ...) float32
    codes: np.ndarray  # (n, k) int64; 0 means unseen or rare
    extra: tuple[np.ndarray, ...] = ()


class Preprocessor(Protocol):
    """What every preprocessor offers: fit on training rows, transform any rows, save as JSON."""

    schema: Schema

    def fit(self, frame: pd.DataFrame) -> Preprocessor: ...

    def transform(self, frame: pd.DataFrame) -> Features: ...

    def describe(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    @property
    def embedding_cardinalities(self) -> list[int]: ...

    @property
    def feature_names(self) -> list[str]: ...


class TabularPreprocessor:
    """Impute, clip, scale, encode. Fitted state lives in `state_` (JSON-ready)."""

    def __init__(self, schema: Schema, clean: CleanSpec) -> None:
        self.schema = schema
        self.clean = clean
        self.state_: dict[str, Any] = {}
        self.report_: dict[str, Any] = {}

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        c, state, report = self.clean, {}, {}
        numeric: dict[str, Any] = {}
        names = self.schema.of_kind("numeric")
        matrix = numeric_matrix(frame, names)
        absent = np.isnan(matrix)
        fills = _fills(matrix, absent, c.impute)
        filled = np.where(absent, fills, matrix)
        # one call for all columns: NumPy computes each as it would alone, without the calls
        quartiles = np.percentile(filled, [25, 75], axis=0)
        for j, name in enumerate(names):
            entry: dict[str, Any] = {
                "fill": float(fills[j]),
                "indicator": bool(c.missing_indicator and absent[:, j].any()),
            }
            column = filled[:, j]
            q1, q3 = quartiles[:, j]
            iqr = q3 - q1
            if c.outliers != "none" and iqr > 0 and _more_than_two_values(column):
                low, high = q1 - c.outlier_iqr * iqr, q3 + c.outlier_iqr * iqr
                entry["fences"] = [float(low), float(high)]
                report[name] = int(((column < low) | (column > high)).sum())
                if c.outliers == "clip":  # np.clip, without its checks: 9x faster here
                    column = np.minimum(np.maximum(column, low), high)
            entry["center"], entry["scale"] = _scaling(column, c.scale)
            numeric[name] = entry
        state["numeric"] = numeric

        onehot, embed = {}, {}
        for name in [*self.schema.of_kind("categorical"), *self.schema.of_kind("boolean")]:
            observed = frame[name].astype("string").str.strip().dropna()
            fill = MISSING
            if c.impute_categorical == "most_frequent" and len(observed):
                fill = str(observed.value_counts().index[0])
            counts = as_category(frame[name], fill).value_counts()
            kept = [str(k) for k, v in counts.items() if v >= c.min_category_count]
            entry = {"categories": kept, "fill": fill}
            (onehot if len(kept) <= c.onehot_max else embed)[name] = entry
        state["onehot"], state["embed"] = onehot, embed

        text = {}
        for name in self.schema.of_kind("text"):
            # scikit-learn costs about a second to import: only tables with text pay for it
            from sklearn.feature_extraction.text import TfidfVectorizer

            docs = frame[name].fillna("").astype(str)
            vectorizer = TfidfVectorizer(
                max_features=TEXT_MAX_FEATURES, min_df=2, sublinear_tf=True
            )
            try:
                vectorizer.fit(docs)
            except ValueError:  # every word too rare: no vocabulary
                continue
            vocab = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
            text[name] = {"vocabulary": vocab, "idf": vectorizer.idf_.tolist()}
        state["text"] = text
        self.state_ = state
        self.report_ = {"outliers": {k: v for k, v in report.items() if v}}
        return self

    # ---- applying --------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame) -> Features:
        self._check_columns(frame)
        n = len(frame)
        blocks: list[np.ndarray] = []
        s = self.state_
        if s["numeric"]:
            blocks.append(self._numeric_features(frame, s["numeric"]))
        for name, e in s["onehot"].items():
            values = as_category(frame[name], e["fill"])
            index = category_codes(values, e["categories"])
            onehot = np.zeros((n, len(e["categories"])))
            known = index >= 0
            onehot[np.flatnonzero(known), index[known]] = 1.0
            blocks.append(onehot)
        for name, e in s["text"].items():
            from sklearn.feature_extraction.text import CountVectorizer

            counter = CountVectorizer(vocabulary=e["vocabulary"])
            tf = counter.transform(frame[name].fillna("").astype(str)).astype(np.float64)
            tf.data = 1.0 + np.log(tf.data)  # sublinear tf, as in fitting
            dense = tf.toarray() * np.asarray(e["idf"])
            norms = np.linalg.norm(dense, axis=1, keepdims=True)
            blocks.append(dense / np.where(norms == 0, 1.0, norms))
        dense = np.hstack(blocks) if blocks else np.zeros((n, 0))
        codes = np.zeros((n, len(s["embed"])), dtype=np.int64)
        for j, (name, e) in enumerate(s["embed"].items()):
            values = as_category(frame[name], e["fill"])
            codes[:, j] = category_codes(values, e["categories"]) + 1
        return Features(dense.astype(np.float32), codes)

    def _numeric_features(self, frame: pd.DataFrame, entries: dict[str, Any]) -> np.ndarray:
        """The numeric columns imputed, clipped and scaled, each followed by its outlier flag and
        its missing-value indicator where it has them. All columns at once: column by column,
        pandas' per-call cost made a 784-column table take 0.3 s per split."""
        x = numeric_matrix(frame, list(entries))  # changed in place from here on
        missing = np.isnan(x)
        fill, center, scale = (
            np.array([e[key] for e in entries.values()]) for key in ("fill", "center", "scale")
        )
        fences = [e.get("fences") for e in entries.values()]
        low = np.array([f[0] if f else -np.inf for f in fences])
        high = np.array([f[1] if f else np.inf for f in fences])
        np.copyto(x, np.broadcast_to(fill, x.shape), where=missing)
        flags = (x < low) | (x > high) if self.clean.outliers == "flag" else None
        if self.clean.outliers == "clip":
            np.minimum(np.maximum(x, low, out=x), high, out=x)
        x -= center
        x /= scale
        flagged = np.array([bool(f) and self.clean.outliers == "flag" for f in fences])
        indicated = np.array([bool(e["indicator"]) for e in entries.values()])
        # where each column goes: its scaled value, then its flag, then its indicator
        width = np.cumsum(1 + flagged + indicated)
        first = width - flagged - indicated - 1
        out = np.empty((len(frame), int(width[-1])))
        out[:, first] = x
        if flags is not None:
            out[:, first[flagged] + 1] = flags[:, flagged]
        out[:, width[indicated] - 1] = missing[:, indicated]
        return out

    @property
    def embedding_cardinalities(self) -> list[int]:
        """Number of codes per embedded column, index 0 (unseen) included."""
        return [len(e["categories"]) + 1 for e in self.state_["embed"].values()]

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        s = self.state_
        for name, e in s["numeric"].items():
            names.append(name)
            if e.get("fences") and self.clean.outliers == "flag":
                names.append(f"{name}__outlier")
            if e["indicator"]:
                names.append(f"{name}__missing")
        for name, e in s["onehot"].items():
            names += [f"{name}={cat}" for cat in e["categories"]]
        for name, e in s["text"].items():
            names += [f"{name}:{word}" for word in e["vocabulary"]]
        return names

    def describe(self) -> dict[str, Any]:
        """What cleaning did, for the data summary."""
        s = self.state_
        return {
            "missing_indicators": [n for n, e in s["numeric"].items() if e["indicator"]],
            "outliers_beyond_fences (train)": self.report_.get("outliers", {}),
            "onehot_columns": {n: len(e["categories"]) for n, e in s["onehot"].items()},
            "embedded_columns": {n: len(e["categories"]) for n, e in s["embed"].items()},
            "text_columns": {n: len(e["vocabulary"]) for n, e in s["text"].items()},
            "scaling": self.clean.scale,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "tabular",
            "clean": self.clean.model_dump(),
            "state": self.state_,
            "report": self.report_,
        }

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> TabularPreprocessor:
        pre = cls(schema, CleanSpec.model_validate(raw["clean"]))
        pre.state_, pre.report_ = raw["state"], raw.get("report", {})
        return pre

    def _check_columns(self, frame: pd.DataFrame) -> None:
        needed = self.schema.features
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise DataError(
                f"the data lacks column(s) the model needs: {', '.join(map(repr, absent))}",
                f"every feature used in training: {', '.join(needed)}",
                "add the missing columns (values may be empty; they are imputed)",
            )


def numeric_matrix(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """`to_numeric` of each named column, as one (rows, columns) float64 array in column order
    (each column contiguous, as the per-column statistics of `fit` read them). Columns held as
    NumPy numbers or booleans convert together; text and pandas' own types one by one."""
    dtypes = frame.dtypes
    plain = [isinstance(dtypes[name], np.dtype) and dtypes[name].kind in "biuf" for name in names]
    out = np.empty((len(frame), len(names)), order="F")
    if any(plain):
        columns = [name for name, fast in zip(names, plain, strict=True) if fast]
        out[:, np.flatnonzero(plain)] = frame[columns].to_numpy(dtype=np.float64)
    for j, fast in enumerate(plain):
        if not fast:
            out[:, j] = to_numeric(frame[names[j]]).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out[~(np.abs(out) < FLOAT32_MAX)] = np.nan  # as `to_numeric`: beyond float32 is missing
    return out


def to_numeric(series: pd.Series) -> pd.Series:
    """Numbers as float64; text that is not a number becomes missing."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
    else:
        values = pd.to_numeric(series.astype("string").str.strip(), errors="coerce").astype(float)
    # beyond float32's range (inf, 1e39) a value cannot reach the network: treat it as missing
    return values.where(values.abs() < FLOAT32_MAX)


def category_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position in `categories`, -1 for one training never kept (unseen or rare)."""
    return pd.Index(categories).get_indexer(values)


def as_category(series: pd.Series, fill: str) -> pd.Series:
    """Categories as stripped strings, so 3, 3.0, "3" and " 3" are one category at every stage
    (pandas stores integer codes as floats once a value is missing)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.astype(float)
        observed = values.dropna()
        exact = len(observed) and bool(observed.abs().max() < 2**53)  # ints a float holds exactly
        if exact and bool((observed % 1 == 0).all()):
            series = values.astype("Int64")
    return series.astype("string").str.strip().fillna(fill).astype(str)


def _fills(matrix: np.ndarray, absent: np.ndarray, impute: str) -> np.ndarray:
    """Each column's fill for missing values: the median or mean of its values, 0 where it has
    none or `impute` asks for neither."""
    fills = np.zeros(matrix.shape[1])
    if impute not in ("median", "mean"):
        return fills
    per_column: Any = range(matrix.shape[1])
    if impute == "median":  # columns without gaps in one call
        whole = ~absent.any(axis=0)
        fills[whole] = np.median(matrix[:, whole], axis=0)
        per_column = np.flatnonzero(~whole)
    for j in per_column:
        observed = matrix[~absent[:, j], j]
        if len(observed):
            fills[j] = np.median(observed) if impute == "median" else observed.mean()
    return fills


def _more_than_two_values(x: np.ndarray) -> bool:
    """`len(np.unique(x)) > 2` for an array without NaN, in two passes instead of a sort."""
    others = x[x != x[0]] if len(x) else x
    return bool(len(others)) and bool((others != others[0]).any())


def _scaling(x: np.ndarray, how: str) -> tuple[float, float]:
    with np.errstate(over="ignore", invalid="ignore"):
        center, scale = _center_and_scale(x, how)
    if not (np.isfinite(center) and np.isfinite(scale)):
        return 0.0, 1.0
    return center, scale if scale > 1e-12 else 1.0


def _center_and_scale(x: np.ndarray, how: str) -> tuple[float, float]:
    if how == "standard":
        center, scale = float(x.mean()), float(x.std())
    elif how == "minmax":
        center, scale = float(x.min()), float(x.max() - x.min())
    elif how == "robust":
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        center, scale = float(med), float(q3 - q1)
    else:
        center, scale = 0.0, 1.0
    return center, scale
