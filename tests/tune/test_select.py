"""`tune.select`: which trial a study hands on, and its margin over the defaults, on studies
built trial by trial with known scores (so that "within one standard error" is exact)."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from trainwise.tune.select import BASELINE, select

DIST = {"train.lr": FloatDistribution(1e-4, 1e-1, log=True)}


def cv_trial(lr: float, scores: list[float], baseline: bool = False) -> optuna.trial.FrozenTrial:
    """A completed trial scored by K-fold CV, with the attributes a worker records."""
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
    attrs = {"cv_std": {"accuracy": std}, "cv_folds": len(scores), "cv_scores": scores}
    if baseline:
        attrs[BASELINE] = True
    return create_trial(value=mean, params={"train.lr": lr}, distributions=DIST, user_attrs=attrs)


def split_trial(
    lr: float, value: float, rows: int, baseline: bool = False
) -> optuna.trial.FrozenTrial:
    """A completed trial scored on one validation split of `rows` rows (no folds to compare)."""
    attrs: dict[str, object] = {"validation_rows": rows}
    if baseline:
        attrs[BASELINE] = True
    return create_trial(value=value, params={"train.lr": lr}, distributions=DIST, user_attrs=attrs)


def study_of(*trials: optuna.trial.FrozenTrial, direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for t in trials:
        study.add_trial(t)
    return study


DEFAULTS = [0.90, 0.92, 0.94, 0.90, 0.94]  # mean 0.92, std 0.02: SE 0.02 / sqrt(5) = 0.00894
CLEARLY_BETTER = [0.97, 0.99, 0.99, 0.97, 0.98]  # mean 0.98: +0.06


@pytest.mark.parametrize("rule", ["best", "one_se"])
def test_a_lead_within_one_standard_error(rule):
    slightly = [0.905, 0.925, 0.945, 0.905, 0.945]  # mean 0.925: +0.005 < SE 0.00894
    study = study_of(cv_trial(1e-3, DEFAULTS, baseline=True), cv_trial(3e-3, slightly))
    chosen = select(study, "accuracy", rule)
    assert chosen.best == 1 and chosen.baseline == 0 and chosen.within_se
    assert chosen.se_best == pytest.approx(0.02 / math.sqrt(5))
    assert chosen.difference == pytest.approx(0.005)
    # every fold moved by the same +0.005: the paired difference has no spread at all
    assert chosen.se_difference == pytest.approx(0.0, abs=1e-12) and chosen.paired_folds == 5
    if rule == "one_se":  # the 1-SE rule keeps the defaults
        assert chosen.chosen == 0 and "keeping the defaults" in chosen.note
    else:  # the best trial, with one sentence saying the gain may be noise
        assert chosen.chosen == 1 and chosen.note.endswith("the gain may be noise.")


@pytest.mark.parametrize("rule", ["best", "one_se"])
def test_a_lead_beyond_one_standard_error_takes_the_best_trial(rule):
    study = study_of(cv_trial(1e-3, DEFAULTS, baseline=True), cv_trial(3e-3, CLEARLY_BETTER))
    chosen = select(study, "accuracy", rule)
    assert chosen.chosen == chosen.best == 1 and not chosen.within_se
    assert chosen.difference == pytest.approx(0.06)
    diffs = [b - a for a, b in zip(DEFAULTS, CLEARLY_BETTER, strict=True)]
    mean = sum(diffs) / 5
    paired = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 4 / 5)
    assert chosen.se_difference == pytest.approx(paired)
    assert "more than one standard error" in chosen.note


def test_when_the_defaults_are_best_they_are_chosen_by_either_rule():
    study = study_of(cv_trial(1e-3, CLEARLY_BETTER, baseline=True), cv_trial(3e-3, DEFAULTS))
    for rule in ("best", "one_se"):
        chosen = select(study, "accuracy", rule)
        assert chosen.chosen == chosen.best == chosen.baseline == 0
        assert chosen.note == "The defaults (trial 0) were the best trial."


def test_one_validation_split_uses_the_binomial_standard_error():
    base = split_trial(1e-3, 0.90, rows=200, baseline=True)
    best = split_trial(3e-3, 0.91, rows=200)
    chosen = select(study_of(base, best), "accuracy", "one_se")
    assert chosen.se_best == pytest.approx(math.sqrt(0.91 * 0.09 / 200))  # 0.0202 > 0.01
    assert chosen.chosen == 0 and chosen.se_difference == pytest.approx(
        math.sqrt(0.91 * 0.09 / 200 + 0.90 * 0.10 / 200)
    )


def test_lower_is_better_metrics_compare_in_their_direction():
    base = cv_trial(1e-3, [0.50, 0.52, 0.54, 0.50, 0.54], baseline=True)
    best = cv_trial(3e-3, [0.30, 0.31, 0.33, 0.30, 0.31])
    base.user_attrs["cv_std"] = {"rmse": base.user_attrs["cv_std"]["accuracy"]}
    best.user_attrs["cv_std"] = {"rmse": best.user_attrs["cv_std"]["accuracy"]}
    chosen = select(study_of(base, best, direction="minimize"), "rmse", "one_se")
    assert chosen.direction == "minimize" and chosen.chosen == chosen.best == 1
    assert chosen.difference == pytest.approx(0.31 - 0.52) and not chosen.within_se


def test_without_a_defaults_trial_the_best_is_chosen_and_the_report_says_why():
    study = study_of(cv_trial(1e-3, DEFAULTS), cv_trial(3e-3, CLEARLY_BETTER))
    chosen = select(study, "accuracy", "one_se")
    assert chosen.chosen == 1 and chosen.baseline is None and chosen.difference is None
    assert "nothing to compare" in chosen.note


def test_folds_that_all_agree_have_a_standard_error_of_zero_not_an_unknown_one():
    perfect = cv_trial(3e-3, [1.0] * 5)
    chosen = select(study_of(cv_trial(1e-3, DEFAULTS, baseline=True), perfect), "accuracy")
    assert chosen.se_best == 0.0 and not chosen.within_se and chosen.chosen == 1
    assert "more than one standard error (0.0000)" in chosen.note


def test_an_unknown_standard_error_takes_the_best_trial_and_says_so():
    base = split_trial(1e-3, 0.6, rows=80, baseline=True)
    best = split_trial(3e-3, 0.5, rows=80)
    chosen = select(study_of(base, best, direction="minimize"), "rmse", "one_se")
    assert chosen.se_best is None and chosen.se_difference is None and not chosen.within_se
    assert chosen.chosen == 1 and "cannot be said" in chosen.note
