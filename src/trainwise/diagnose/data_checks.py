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
from trainwise.diagnose.findings import Finding

LEAK_SCORE = 0.99  # a single feature predicts held-out targets this well (accuracy or R²)
IMBALANCE_RATIO = 10.0
UNSCALED = 10.0  # a model input with a standard deviation or mean beyond this
MAX_ROWS = 20_000  # rows the leakage check looks at (a sample of larger tables)
BINS = 32
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
    out = []
    for column in schema.features:
        if column not in frame.columns:
            continue
        keys = _lookup_keys(frame[column])
        score, baseline = _holdout_score(keys, answers, half, classification)
        if not classification and pd.api.types.is_numeric_dtype(frame[column]):
            x = pd.to_numeric(frame[column], errors="coerce").astype(float)
            r = x.where(np.isfinite(x)).corr(y)
            score = max(score, float(r * r) if r == r else 0.0)  # a linear copy
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


def _lookup_keys(x: pd.Series) -> np.ndarray:
    """Integer keys: the quantile bin of a many-valued number, else the value itself."""
    numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    if numeric and x.nunique() > BINS:
        ranks = x.rank(method="first").to_numpy()
        keys = np.floor((ranks - 1) / np.nanmax(ranks) * BINS)
        return np.where(np.isnan(keys), BINS, keys).astype(np.int64)
    return pd.factorize(x, use_na_sentinel=False)[0].astype(np.int64)


def _holdout_score(
    keys: np.ndarray, answers: np.ndarray, half: np.ndarray, classification: bool
) -> tuple[float, float]:
    """Fit a lookup key → answer on one half, score it on the other, both ways round. The
    answers are class codes (classification) or values (regression)."""
    n_keys = int(keys.max()) + 1
    n_classes = int(answers.max()) + 1 if classification else 0
    scores, baselines = [], []
    for fit_on in (half, ~half):
        kf, ke = keys[fit_on], keys[~fit_on]
        if classification:
            cf, ce = answers[fit_on], answers[~fit_on]
            counts = np.bincount(kf * n_classes + cf, minlength=n_keys * n_classes)
            counts = counts.reshape(n_keys, n_classes)
            default = int(np.bincount(cf, minlength=n_classes).argmax())
            table = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), default)
            scores.append(float((table[ke] == ce).mean()))
            baselines.append(float((ce == default).mean()))
        else:
            vf, ve = answers[fit_on], answers[~fit_on]
            sums = np.bincount(kf, weights=vf, minlength=n_keys)
            seen = np.bincount(kf, minlength=n_keys)
            table = np.where(seen > 0, sums / np.maximum(seen, 1), vf.mean())
            total = ((ve - ve.mean()) ** 2).sum()
            resid = ((ve - table[ke]) ** 2).sum()
            scores.append(1.0 - resid / total if total > 0 else 0.0)
            baselines.append(0.0)
    return float(np.mean(scores)), float(np.mean(baselines))


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
