"""One worker's loop: claim a trial, sample a spec, score it, until the study's budget is spent.

The trial budget counts finished trials (complete or pruned) in the *study*, not in this
process, so it holds across workers, machines and resumed sessions. The time budget is honoured
two ways: no trial starts unless a typical trial still fits, and a trial that runs past the
deadline stops training at its next epoch end and reports its best epoch.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from trainwise.data.prepare import Frames
from trainwise.errors import ModelError, SpecError, TrainingFailed
from trainwise.spec.io import parse_spec
from trainwise.spec.model import Spec
from trainwise.tune.cv import Development, cross_validate
from trainwise.tune.cv import best_epoch as kept_epoch
from trainwise.tune.pruning import TrialReporter
from trainwise.tune.space import SearchSpace, apply
from trainwise.tune.stale import StaleTrials, close_queued
from trainwise.tune.study import (
    GRACE_S,
    SKIPPED,
    StudyPlan,
    counts,
    create_or_load,
    make_sampler,
)

# A trial's own failure (diverged, a shape that does not fit): recorded, and the search goes on.
TRIAL_FAILURES = (TrainingFailed, ModelError)


class _BudgetFull(Exception):
    """This trial was claimed after other workers had filled the budget: it never runs."""


@dataclass(frozen=True)
class Job:
    """What a worker process needs, all of it picklable for a spawned process."""

    plan: StudyPlan
    spec: dict[str, Any]
    frames: Frames
    dev: Development | None  # set when the objective is cross-validated
    run_fn: Callable[..., Any]
    deadline: float | None
    reserve: float = 0.0  # typical trials' time kept free after the search (for the refit)
    shared: bool = False  # the storage was named: workers on other machines may join


def run_worker(job: Job, worker: int = 0, log: Callable[[str], None] = print) -> None:
    """Run trials until the study holds `plan.trials` finished ones or time runs short."""
    plan, base = job.plan, parse_spec(job.spec)
    space = SearchSpace.from_spec(base)
    study = create_or_load(plan, space)
    # a seed of its own per worker and per session: two workers (or a resumed session) must not
    # replay the same random draws, yet a rerun of the same state draws the same values; in a
    # shared study, processes on other machines also count as worker 0, so the pid tells them apart
    seed = plan.seed + 7919 * worker + len(study.trials) + (os.getpid() if job.shared else 0)
    study.sampler = make_sampler(plan, space, seed % 2**31)
    current: dict[str, int] = {}
    objective = _objective(job, base, space, study, current)
    stale = StaleTrials(GRACE_S)
    failures = 0
    while True:
        c = counts(study)
        finished = c["COMPLETE"] + c["PRUNED"]
        if finished >= plan.trials or _grid_exhausted(study):
            close_queued(study, SKIPPED)  # retries of dead trials that no longer have a place
            return
        if job.deadline is not None and not _fits(study, job.deadline, job.reserve):
            log(f"worker {worker}: stopping, the time budget cannot fit another trial")
            return
        if finished + c["RUNNING"] >= plan.trials:  # the rest is running elsewhere: wait
            stale.fail(study)  # ...unless its worker died: then its trial is queued again
            time.sleep(1.0)
            continue
        study.optimize(objective, n_trials=1, catch=(*TRIAL_FAILURES, _BudgetFull))
        trial = study.get_trials(deepcopy=False)[current["number"]]
        if trial.state == TrialState.FAIL and SKIPPED not in trial.user_attrs:
            failures += 1
            if failures >= min(plan.trials, 10) and finished == 0:
                raise TrainingFailed(
                    f"every trial failed; the last: {trial.user_attrs.get('error', '?')}",
                    "a search space in which training succeeds",
                    "narrow tune.space (e.g. a lower train.lr range)",
                )
        elif trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            log(_describe(trial, plan))


def _objective(
    job: Job, base: Spec, space: SearchSpace, study: optuna.Study, current: dict[str, int]
) -> Callable:
    plan = job.plan

    def objective(trial: optuna.Trial) -> float:
        current["number"] = trial.number
        if _claimed_before(study, trial.number) >= plan.trials or _enqueued_twice(study, trial):
            trial.set_user_attr(SKIPPED, True)
            raise _BudgetFull
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        values = space.sample(trial, base)
        spec = apply(base, values)
        try:
            score, info = (
                _cross_validated(job, spec, trial)
                if job.dev is not None
                else _holdout(job, spec, trial)
            )
        except TRIAL_FAILURES as exc:
            trial.set_user_attr("error", str(exc)[:500])
            raise
        for key, value in info.items():
            trial.set_user_attr(key, value)
        return score

    return objective


def _holdout(job: Job, spec: Spec, trial: optuna.Trial) -> tuple[float, dict[str, Any]]:
    plan = job.plan
    spec = _quiet(spec, job)
    reporter = TrialReporter(trial, plan.monitor, job.deadline, prune=plan.pruner != "none")
    f = job.frames
    run = job.run_fn(
        spec,
        frame=f.frame,
        validation=f.validation,
        test=f.test,
        callbacks=[reporter],
        log=_silent,
    )
    if reporter.pruned:
        raise optuna.TrialPruned()
    val = run.metrics.get("validation")
    if not val:
        raise SpecError(
            "tuning needs validation rows to score trials, and this spec has none",
            "data.split.validation > 0, a validation file, or evaluate.cv=K",
            "set data.split.validation=0.2 or evaluate.cv=5",
        )
    monitor = spec.train.early_stopping.monitor
    info = {
        "epochs": run.metrics["epochs"],
        "best_epoch": kept_epoch(run.history, monitor),
        "stop_reason": run.metrics.get("stop_reason"),
        "validation_rows": run.summary["splits"]["validation"],
        "validation": {k: v for k, v in val.items() if isinstance(v, int | float)},
    }
    return float(val[plan.metric]), info


def _cross_validated(job: Job, spec: Spec, trial: optuna.Trial) -> tuple[float, dict[str, Any]]:
    plan = job.plan
    assert job.dev is not None
    reporters: list[TrialReporter] = []

    def callbacks(fold: int) -> list[TrialReporter]:
        reporters.append(TrialReporter(None, plan.monitor, job.deadline))
        return reporters[-1:]

    def after_fold(fold: int, result: Any) -> None:
        if reporters[-1].out_of_time:
            raise optuna.TrialPruned()  # a fold cut short scores no whole CV
        trial.report(result.mean[plan.metric], fold)
        if plan.pruner != "none" and trial.should_prune():
            raise optuna.TrialPruned()

    result = cross_validate(job.run_fn, spec, job.dev, callbacks, after_fold)
    info = {
        "best_epoch": round(statistics.mean(result.best_epochs)),
        "cv_mean": result.mean,
        "cv_std": result.std,
        "cv_folds": len(result.folds),
        "cv_scores": [round(f[plan.metric], 6) for f in result.folds],  # paired comparisons
    }
    return result.mean[plan.metric], info


def _quiet(spec: Spec, job: Job) -> Spec:
    """The trial's spec: the frames are passed in, so their kind, target and task are pinned;
    no test, no run folder, no progress display."""
    raw = spec.model_dump(mode="json")
    f = job.frames
    raw["data"].update(kind=f.kind, target=f.target, task=f.task)
    raw["evaluate"]["test"] = False  # a trial never sees the test split
    raw["output"].update(save=False, progress=False)
    return parse_spec(raw)


def _claimed_before(study: optuna.Study, number: int) -> int:
    """Trials numbered below this one that finished or are running: they own budget first."""
    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=live)
        if t.number < number and SKIPPED not in t.user_attrs
    )


def _enqueued_twice(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Two workers that start a shared study together may both queue the defaults; the second
    copy is skipped, so no trial runs twice."""
    trials = study.get_trials(deepcopy=False)
    fixed = trials[trial.number].system_attrs.get("fixed_params")
    if not fixed:
        return False
    return any(
        t.number < trial.number
        and t.system_attrs.get("fixed_params") == fixed
        and SKIPPED not in t.user_attrs
        and t.state != TrialState.FAIL
        for t in trials
    )


def _fits(study: optuna.Study, deadline: float, reserve: float) -> bool:
    """Another trial fits when the time left exceeds a typical (median) trial, plus `reserve`
    typical trials kept for what follows the search."""
    left = deadline - time.time()
    durations = [
        t.duration.total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.duration is not None
    ]
    typical = statistics.median(durations) if durations else 0.0
    return left > typical * (1.0 + reserve) and left > 0


def _grid_exhausted(study: optuna.Study) -> bool:
    sampler = study.sampler
    if not isinstance(sampler, optuna.samplers.GridSampler):
        return False
    return sampler.is_exhausted(study)


def _describe(trial: Any, plan: StudyPlan) -> str:
    params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
    if trial.state == TrialState.PRUNED:
        return f"trial {trial.number}: pruned  ({params})"
    took = trial.duration.total_seconds() if trial.duration else 0.0
    return f"trial {trial.number}: {plan.metric}={trial.value:.4f}  {took:.1f} s  ({params})"


def _silent(*_: Any, **__: Any) -> None:
    return None
