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
        for name in self.schema.of_kind("numeric"):
            values = to_numeric(frame[name])
            observed = values.dropna()
            fill = 0.0
            if c.impute == "median" and len(observed):
                fill = float(observed.median())
            elif c.impute == "mean" and len(observed):
                fill = float(observed.mean())
            entry: dict[str, Any] = {
                "fill": fill,
                "indicator": bool(c.missing_indicator and values.isna().any()),
            }
            filled = values.fillna(fill).to_numpy(dtype=np.float64)
            q1, q3 = np.percentile(filled, [25, 75])
            iqr = q3 - q1
            if c.outliers != "none" and iqr > 0 and len(np.unique(filled)) > 2:
                low, high = q1 - c.outlier_iqr * iqr, q3 + c.outlier_iqr * iqr
                entry["fences"] = [float(low), float(high)]
                report[name] = int(((filled < low) | (filled > high)).sum())
                if c.outliers == "clip":
                    filled = np.clip(filled, low, high)
            entry["center"], entry["scale"] = _scaling(filled, c.scale)
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
        for name, e in s["numeric"].items():
            values = to_numeric(frame[name])
            missing = values.isna().to_numpy()
            x = values.fillna(e["fill"]).to_numpy(dtype=np.float64)
            fences = e.get("fences")
            if fences and self.clean.outliers == "clip":
                x = np.clip(x, *fences)
            blocks.append(((x - e["center"]) / e["scale"])[:, None])
            if fences and self.clean.outliers == "flag":
                blocks.append(((x < fences[0]) | (x > fences[1])).astype(np.float64)[:, None])
            if e["indicator"]:
                blocks.append(missing.astype(np.float64)[:, None])
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
