"""Data findings, before any training: leakage between splits, a feature that gives the target
away, class imbalance, constant and unscaled features.

They read the prepared tensors (what the model will actually see) and, for target leakage, the
raw rows (a leaky categorical is one column there, several one-hot columns after encoding).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from trainwise.data.prepared import PreparedData, TensorSplit
from trainwise.data.schema import distinct_counts
from trainwise.diagnose.findings import Finding

LEAK_SCORE = 0.99  # a single feature predicts held-out targets this well (accuracy or R²)
IMBALANCE_RATIO = 10.0
UNSCALED = 10.0  # a model input with a standard deviation or mean beyond this
MAX_ROWS = 20_000  # rows the leakage check looks at (a sample of larger tables)
BINS = 32
COLUMN_BLOCK = 64  # numeric columns binned together (a block of 20,000 rows: about 10 MB)
HASH_CHUNK = 4096


def data_findings(
    data: PreparedData, raw: pd.DataFrame | None = None, class_weight: str = "none"
) -> list[Finding]:
    """All data findings of one prepared dataset (`raw`: the rows before the split)."""
    out = duplicates_across_splits(data)
    if raw is not None and data.summary.get("kind", "tabular") == "tabular":
        out += target_leakage(raw, data)
    out += class_imbalance(data, class_weight)
    out += constant_features(data)
    out += unscaled_features(data)
    return out


def _row_hashes(split: TensorSplit) -> np.ndarray:
    """One 64-bit hash per row of inputs and target: exact (integer arithmetic on the float
    bits), chunked so a large image set never needs more than a few MB at once.

    Every model input counts, `extra` included: a text table's token ids live there, and with
    only `dense`, `codes` and `y` hashed every text row of a class would look like every other.
    """
    n = len(split)
    inputs = (split.dense, split.codes, *split.extra, split.y)
    parts = [t.reshape(n, -1) for t in inputs]
    gen = torch.Generator().manual_seed(0)
    weights = [torch.randint(-(2**62), 2**62, (p.shape[1],), generator=gen) for p in parts]
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, HASH_CHUNK):
        h = torch.zeros(min(HASH_CHUNK, n - start), dtype=torch.long)
        for part, w in zip(parts, weights, strict=True):
            chunk = part[start : start + HASH_CHUNK].cpu()
            if chunk.is_floating_point():
                chunk = chunk.float().view(torch.int32)
            h = h * 1_000_003 + (chunk.long() * w).sum(dim=1)
        out[start : start + len(h)] = h.numpy()
    return out


def duplicates_across_splits(data: PreparedData) -> list[Finding]:
    """Held-out rows whose model inputs (and target) equal a training row's.

    Two cases with different meanings. Where duplicates were dropped before trainwise cut the
    split, every shared row is a distinct record the features cannot tell apart (two passengers
    of the same class, sex, age and fare): the model has not memorised it, it simply must give
    both the same answer, so this is information, not leakage. Otherwise (duplicates kept, or
    the split given as its own file) the same record may sit on both sides, which inflates the
    held-out scores: a warning.
    """
    if not isinstance(data.train, TensorSplit):
        return []  # streamed from disk: the rows are not in memory to compare
    train = _row_hashes(data.train)
    deduplicated = "duplicate_rows_dropped" in data.summary.get("cleaning", {})
    given = set(data.summary.get("splits_given", []))
    out = []
    for name, split in (("validation", data.validation), ("test", data.test)):
        if not isinstance(split, TensorSplit) or not len(split):
            continue
        shared = int(np.isin(_row_hashes(split), train).sum())
        if not shared:
            continue
        share = shared / len(split)
        evidence = {"split": name, "shared_rows": shared, "share": share}
        if deduplicated and name not in given:
            out.append(
                Finding(
                    "identical_inputs",
                    "info",
                    f"{shared} of the {len(split)} {name} rows ({share:.1%}) are distinct records "
                    "whose model inputs equal a training row's: the features cannot tell them "
                    "apart, so the model gives them the same answer",
                    evidence,
                    "nothing to do unless a dropped column (a name, an id) should be a feature",
                )
            )
            continue
        out.append(
            Finding(
                "duplicate_rows",
                "warning" if share >= 0.01 or shared >= 5 else "info",
                f"{shared} of the {len(split)} {name} rows ({share:.1%}) also appear in the "
                f"training split: {name} scores are inflated by rows the model has memorised",
                evidence,
                "drop duplicates before splitting (data.clean.duplicates=true), or split by an "
                "entity column (data.split.group)"
                if name not in given
                else f"remove the {name} file's rows that also appear in the training data",
            )
        )
    return out


def target_leakage(raw: pd.DataFrame, data: PreparedData) -> list[Finding]:
    """A feature that alone predicts held-out targets almost perfectly: fitted on one random
    half of the rows (a lookup per value or per quantile bin), scored on the other half."""
    schema = data.schema
    if len(schema.target) != 1 or schema.task not in {"binary", "multiclass", "regression"}:
        return []
    target = schema.target[0]
    frame = raw[raw[target].notna()]
    if len(frame) > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, random_state=0)
    if len(frame) < 40:
        return []
    half = np.random.default_rng(0).permutation(len(frame)) < len(frame) // 2
    classification = schema.task != "regression"
    y = frame[target]
    if not classification:  # ±inf targets were set missing for training: leave them out here
        y = pd.to_numeric(y, errors="coerce").astype(float)
        finite = np.isfinite(y.to_numpy())
        frame, y = frame[finite], y[finite]
        if len(frame) < 40:
            return []
        half = half[finite]
    else:
        y = y.astype(str)
    # the answers once, not per column: factorizing text targets is most of a column's cost
    answers = pd.factorize(y)[0] if classification else y.to_numpy(float)
    features = [c for c in schema.features if c in frame.columns]
    scores = _leakage_scores(frame, features, answers, half, classification)
    out = []
    for column in features:
        score, baseline = scores[column]
        if score >= LEAK_SCORE and (not classification or baseline < LEAK_SCORE):
            metric = "accuracy" if classification else "R²"
            out.append(
                Finding(
                    "target_leakage",
                    "warning",
                    f"column {column!r} alone predicts the target with {metric} {score:.3f} on "
                    "held-out rows: it probably leaks the answer (computed from the target, or "
                    "only known after it)",
                    {"column": column, metric: score, "baseline": baseline},
                    f"drop it (data.drop=[{column}]) unless it is truly known at prediction time",
                )
            )
    return out


def _leakage_scores(
    frame: pd.DataFrame,
    features: list[str],
    answers: np.ndarray,
    half: np.ndarray,
    classification: bool,
) -> dict[str, tuple[float, float]]:
    """Each feature's held-out score, and the baseline's (the majority class, or R² 0).

    Numbers with more than `BINS` values are looked up by quantile bin, `COLUMN_BLOCK` columns
    at a time as one matrix: a few NumPy calls a block, where pandas calls per column took
    0.5 ms a column (0.7 s for 3,200 rows of 784 pixels). Other columns are looked up by value."""
    scores: dict[str, tuple[float, float]] = {}
    for block in _blocks([c for c in features if frame[c].dtype.kind in "iuf"]):
        values = _column_rows(frame[block])
        binned = distinct_counts(values) > BINS
        if binned.any():
            keys = _quantile_keys(values[binned])
            fitted, baseline = _holdout_scores(keys, answers, half, classification)
            chosen = [c for c, b in zip(block, binned, strict=True) if b]
            scores |= {c: (float(v), baseline) for c, v in zip(chosen, fitted, strict=True)}
    for column in features:
        if column not in scores:
            keys = pd.factorize(frame[column], use_na_sentinel=False)[0].astype(np.int64)
            fitted, baseline = _holdout_scores(keys[None, :], answers, half, classification)
            scores[column] = (float(fitted[0]), baseline)
    if not classification:  # a linear copy of the target scores its R²
        for block in _blocks([c for c in features if frame[c].dtype.kind in "iufb"]):
            values = _column_rows(frame[block])
            for column, r2 in zip(block, _squared_correlations(values, answers), strict=True):
                score, baseline = scores[column]
                scores[column] = (max(score, float(r2)), baseline)
    return scores


def _blocks(columns: list[str]) -> list[list[str]]:
    return [columns[i : i + COLUMN_BLOCK] for i in range(0, len(columns), COLUMN_BLOCK)]


def _column_rows(frame: pd.DataFrame) -> np.ndarray:
    """The numbers of each column as one contiguous row of floats (missing: NaN)."""
    return np.ascontiguousarray(frame.to_numpy(dtype=float, na_value=np.nan).T)


def _quantile_keys(values: np.ndarray) -> np.ndarray:
    """Integer keys of a (columns, rows) float matrix: each value's quantile bin (0..BINS-1) by
    its rank, ties ranked in row order (pandas' `rank(method="first")`); NaN gets key BINS."""
    order = np.argsort(values, axis=1, kind="stable")  # NaN last
    ranks = np.empty_like(values)
    np.put_along_axis(ranks, order, np.arange(1.0, values.shape[1] + 1)[None, :], axis=1)
    missing = np.isnan(values)
    highest = (~missing).sum(axis=1, keepdims=True)  # the rank of each column's largest value
    keys = np.floor((ranks - 1) / highest * BINS)
    keys[missing] = BINS
    return keys.astype(np.int64)


def _holdout_scores(
    keys: np.ndarray, answers: np.ndarray, half: np.ndarray, classification: bool
) -> tuple[np.ndarray, float]:
    """Fit a lookup key → answer on one half, score it on the other, both ways round, for each
    row of `keys` (one per column); and the baseline's score. The answers are class codes
    (classification) or values (regression)."""
    columns = len(keys)
    n_keys = int(keys.max()) + 1
    n_classes = int(answers.max()) + 1 if classification else 0
    # one lookup table for all columns: column j's key k is entry j * n_keys + k
    keys = keys + (np.arange(columns) * n_keys)[:, None]
    scores, baselines = [], []
    for fit_on in (half, ~half):
        kf, ke = keys[:, fit_on], keys[:, ~fit_on]
        if classification:
            cf, ce = answers[fit_on], answers[~fit_on]
            counts = np.bincount(
                (kf * n_classes + cf).ravel(), minlength=columns * n_keys * n_classes
            ).reshape(columns * n_keys, n_classes)
            default = int(np.bincount(cf, minlength=n_classes).argmax())
            table = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), default)
            scores.append((table[ke] == ce).mean(axis=1))
            baselines.append(float((ce == default).mean()))
        else:
            vf, ve = answers[fit_on], answers[~fit_on]
            sums = np.bincount(kf.ravel(), np.tile(vf, columns), minlength=columns * n_keys)
            seen = np.bincount(kf.ravel(), minlength=columns * n_keys)
            table = np.where(seen > 0, sums / np.maximum(seen, 1), vf.mean())
            total = ((ve - ve.mean()) ** 2).sum()
            resid = ((ve - table[ke]) ** 2).sum(axis=1)
            scores.append(1.0 - resid / total if total > 0 else np.zeros(columns))
            baselines.append(0.0)
    return np.mean(scores, axis=0), float(np.mean(baselines))


def _squared_correlations(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each column's (row's of `values`) squared Pearson correlation with the target over the
    rows where the column is finite; 0 where it is undefined (a constant column, fewer than two
    rows)."""
    finite = np.isfinite(values)
    rows = finite.sum(axis=1, keepdims=True)
    y = np.where(finite, target[None, :], 0.0)
    x = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(finite, x - x.sum(axis=1, keepdims=True) / rows, 0.0)
        dy = np.where(finite, y - y.sum(axis=1, keepdims=True) / rows, 0.0)
        r = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    return np.where(np.isfinite(r), np.clip(r, -1.0, 1.0) ** 2, 0.0)


def class_imbalance(data: PreparedData, class_weight: str) -> list[Finding]:
    counts = data.summary.get("class_balance (train)")
    if not counts or len(counts) < 2:
        return []
    big, small = max(counts.values()), max(min(counts.values()), 1)
    ratio = big / small
    if ratio < IMBALANCE_RATIO:
        return []
    handled = class_weight == "balanced"
    return [
        Finding(
            "class_imbalance",
            "info" if handled else "warning",
            f"classes are heavily imbalanced ({big}:{small}, ratio {ratio:.0f}): accuracy is "
            "misleading and the rare class may be ignored"
            + ("; class weights already balance the loss" if handled else ""),
            {"class_counts (train)": counts, "ratio": ratio},
            "set train.class_weight=balanced, and judge by balanced_accuracy or f1_macro",
        )
    ]


def constant_features(data: PreparedData) -> list[Finding]:
    columns = data.summary.get("columns", {})
    constant = [name for name, c in columns.items() if c.get("kind") == "constant"]
    if not constant:
        return []
    shown = ", ".join(constant[:10]) + (
        f" and {len(constant) - 10} more" if len(constant) > 10 else ""
    )
    return [
        Finding(
            "constant_feature",
            "info",
            f"{len(constant)} constant column(s) carry no information and were dropped: {shown}",
            {"columns": constant},
            "nothing to do (they are ignored); check the data export if they should vary",
        )
    ]


def unscaled_features(data: PreparedData) -> list[Finding]:
    if not isinstance(data.train, TensorSplit):
        return []
    x = data.train.dense
    if x.ndim < 2 or not x.is_floating_point() or len(x) < 2:
        return []
    flat = x.reshape(len(x), -1).float()
    if flat.shape[1] == 0:  # e.g. text: the inputs are all token ids in `extra`
        return []
    std, mean = flat.std(dim=0), flat.mean(dim=0)
    big = ((std > UNSCALED) | (mean.abs() > UNSCALED)).nonzero().flatten().tolist()
    if not big:
        return []
    names = list(getattr(data.preprocessor, "feature_names", []) or [])
    label = [names[i] if i < len(names) else f"input {i}" for i in big]
    return [
        Finding(
            "unscaled_feature",
            "warning",
            f"{len(big)} model input(s) are far from unit scale (largest standard deviation "
            f"{float(std.max()):.3g}, largest |mean| {float(mean.abs().max()):.3g}): "
            + ", ".join(label[:10]),
            {"inputs": label, "std": [float(std[i]) for i in big[:20]]},
            "scale the features (data.clean.scale=standard): unscaled inputs slow training and "
            "make the learning rate hard to choose",
        )
    ]
