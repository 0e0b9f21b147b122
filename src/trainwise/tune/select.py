"""Which trial a study hands on (`tune.select`), and how far it stands from the defaults.

`best` takes the trial with the best objective, as Optuna and AutoGluon do. `one_se` keeps the
defaults (the study's first trial) unless the best trial beats them by more than one standard
error of its score (the 1-SE rule): with a budget of minutes a search holds few trials, and the
best of a few noisy scores is often a lucky draw. Either way the comparison is written to
`selection.json` for the report, and a lead within one standard error is said to be noise.

Standard errors: of a cross-validated score, std / sqrt(K) over its folds; of a proportion on
one validation split, sqrt(p (1 - p) / n); otherwise unknown (None, and the rule takes the best).
The difference between two cross-validated trials is paired over the same folds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

BASELINE = "baseline"  # user attribute of the trial that runs the spec's own values
PROPORTIONS = {"accuracy", "balanced_accuracy", "subset_accuracy"}  # binomial standard error


@dataclass(frozen=True)
class Selection:
    """The chosen trial, the best and the defaults' trial, and the margin between the last two.

    `difference` is best − defaults in the metric's units (negative is better for rmse);
    `se_best` is one standard error of the best score (the 1-SE rule's margin), `se_baseline`
    that of the defaults' score;
    `se_difference` the standard error of the difference (paired over folds when both trials
    were cross-validated on the same folds)."""

    rule: str
    metric: str
    direction: str
    chosen: int
    best: int
    best_value: float
    baseline: int | None = None
    baseline_value: float | None = None
    difference: float | None = None
    se_best: float | None = None
    se_baseline: float | None = None
    se_difference: float | None = None
    paired_folds: int | None = None
    within_se: bool = False
    note: str = ""
    params: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def select(study: optuna.Study, metric: str, rule: str = "best") -> Selection:
    """Apply `rule` (`best` or `one_se`) to the study's completed trials."""
    best = study.best_trial
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    direction = "maximize" if maximize else "minimize"
    params = sorted({k for t in study.get_trials(deepcopy=False) for k in t.params})
    common = dict(rule=rule, metric=metric, direction=direction, params=params)
    base = _baseline(study)
    if base is None:
        return Selection(
            chosen=best.number,
            best=best.number,
            best_value=float(best.value),
            note="No trial ran the spec's own values (grid search, values outside the space, "
            "or the defaults' trial did not complete), so there is nothing to compare with.",
            **common,
        )
    se_best = standard_error(best, metric)
    se_diff, folds = _se_difference(best, base, metric)
    difference = float(best.value) - float(base.value)
    within = base.number != best.number and se_best is not None and abs(difference) <= se_best
    keep_defaults = rule == "one_se" and within
    chosen = base if keep_defaults else best
    return Selection(
        chosen=chosen.number,
        best=best.number,
        best_value=float(best.value),
        baseline=base.number,
        baseline_value=float(base.value),
        difference=difference,
        se_best=se_best,
        se_baseline=standard_error(base, metric),
        se_difference=se_diff,
        paired_folds=folds,
        within_se=within,
        note=_note(best, base, metric, difference, se_best, rule, within),
        **common,
    )


def standard_error(trial: FrozenTrial, metric: str) -> float | None:
    """Of the mean over folds (std / sqrt(K)); for a proportion on one validation split,
    sqrt(p (1 - p) / n); None when unknown. (0 is known: every fold scored the same.)"""
    attrs = trial.user_attrs
    if attrs.get("cv_std") and metric in attrs["cv_std"]:
        return float(attrs["cv_std"][metric]) / math.sqrt(attrs.get("cv_folds", 1))
    n = attrs.get("validation_rows")
    value = trial.value
    if n and metric in PROPORTIONS and value is not None and 0.0 <= value <= 1.0:
        return math.sqrt(value * (1 - value) / n)
    return None


def _baseline(study: optuna.Study) -> FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get(BASELINE) and t.value is not None and math.isfinite(t.value):
            return t
    return None


def _se_difference(
    best: FrozenTrial, base: FrozenTrial, metric: str
) -> tuple[float | None, int | None]:
    """Paired over folds when both trials hold their per-fold scores on the same K folds
    (their fold noise is shared and cancels); otherwise both errors added in quadrature."""
    a, b = best.user_attrs.get("cv_scores"), base.user_attrs.get("cv_scores")
    if best.number == base.number:
        return 0.0, None
    if a and b and len(a) == len(b) >= 2:
        d = [x - y for x, y in zip(a, b, strict=True)]
        mean = sum(d) / len(d)
        var = sum((x - mean) ** 2 for x in d) / (len(d) - 1)
        return math.sqrt(var / len(d)), len(d)
    se_a, se_b = standard_error(best, metric), standard_error(base, metric)
    if se_a is None or se_b is None:
        return None, None
    return math.sqrt(se_a**2 + se_b**2), None


def _note(
    best: FrozenTrial,
    base: FrozenTrial,
    metric: str,
    difference: float,
    se: float | None,
    rule: str,
    within: bool,
) -> str:
    if best.number == base.number:
        return f"The defaults (trial {base.number}) were the best trial."
    margin = f"{abs(difference):.4f} {metric}"
    if se is None:
        return (
            f"Trial {best.number} beats the defaults (trial {base.number}) by {margin}; the "
            f"standard error of {metric} on one validation split is unknown, so whether that is "
            "noise cannot be said (cross-validation, evaluate.cv=5, would tell)."
        )
    if not within:
        return (
            f"Trial {best.number} beats the defaults (trial {base.number}) by {margin}, more "
            f"than one standard error ({se:.4f})."
        )
    if rule == "one_se":
        return (
            f"Trial {best.number} beats the defaults (trial {base.number}) by only {margin}, "
            f"within one standard error ({se:.4f}): keeping the defaults (tune.select=one_se)."
        )
    return (
        f"Trial {best.number} beats the defaults (trial {base.number}) by {margin}, within one "
        f"standard error ({se:.4f}): the gain may be noise."
    )
