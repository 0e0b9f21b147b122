"""Optuna studies: where they live, how they sample and prune, and how they are opened safely.

The default storage is one SQLite file per study (`<root>/tune-<study>/study.db`): embedded, and
every finished trial is committed as it ends, so a crash or Ctrl-C loses only the trials that were
running. A storage URL (PostgreSQL, MySQL) shares one study between worker processes on several
machines. Heartbeats mark the trials of a killed worker as failed after a grace period; they are
then queued again with the same values.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from trainwise.errors import SpecError, TrainwiseError
from trainwise.evaluate.metrics import GREATER_IS_BETTER, primary_metric
from trainwise.spec.model import Spec
from trainwise.tune.space import SearchSpace

HEARTBEAT_S = 2
GRACE_S = 10
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SKIPPED = "skipped"  # user attribute of a trial claimed after the budget was already full

optuna.logging.set_verbosity(optuna.logging.ERROR)  # we report trials ourselves, briefly


class StorageError(TrainwiseError):
    """A study's storage cannot be opened or does not hold the study."""


@dataclass(frozen=True)
class StudyPlan:
    """Everything a worker needs to join a study: plain values, so it crosses processes."""

    name: str
    storage: str
    folder: str
    metric: str
    direction: str
    strategy: str
    pruner: str
    trials: int
    seed: int
    startup_trials: int
    max_steps: int

    @property
    def monitor(self) -> str:
        return f"val_{self.metric}"


# The validation metrics a run reports for each task: what `tune.metric` may name.
TASK_METRICS = {
    "binary": ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "precision_macro",
               "recall_macro", "f1_macro", "roc_auc", "log_loss"),
    "multiclass": ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro",
                   "f1_macro", "roc_auc", "log_loss"),
    "regression": ("rmse", "mse", "mae", "r2"),
    "multilabel": ("subset_accuracy", "f1_micro", "f1_macro", "hamming_loss", "roc_auc_macro"),
}  # fmt: skip


def make_plan(spec: Spec, task: str, dataset: str, storage: str | None = None) -> StudyPlan:
    """Resolve the tune section: study name, storage URL, metric and its direction."""
    t = spec.tune
    metric = (t.metric or primary_metric(task)).removeprefix("val_")
    allowed = TASK_METRICS.get(task, ())
    if metric not in allowed or metric not in GREATER_IS_BETTER:
        options = ", ".join(allowed)
        raise SpecError(
            f"tune.metric {t.metric!r} is not a validation metric of a {task} task",
            f"one of {options}",
            f"set tune.metric={primary_metric(task)}",
        )
    name = t.study or re.sub(r"[^A-Za-z0-9_.-]", "-", dataset)
    folder = Path(spec.output.root) / f"tune-{name}"
    url = storage or t.storage or f"sqlite:///{(folder / 'study.db').as_posix()}"
    epochs = spec.train.epochs if isinstance(spec.train.epochs, int) else 200  # `auto`: ≤ 200
    steps = spec.evaluate.cv if spec.evaluate.cv else epochs
    return StudyPlan(
        name=name,
        storage=url,
        folder=str(folder),
        metric=metric,
        direction="maximize" if GREATER_IS_BETTER[metric] else "minimize",
        strategy=t.strategy,
        pruner=t.pruner,
        trials=t.trials,
        seed=t.sampler_seed if t.sampler_seed is not None else spec.train.seed,
        startup_trials=t.startup_trials,
        max_steps=steps,
    )


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats and retry of failed trials; one clear error when the URL
    is wrong or the server cannot be reached."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # N local workers wait for the write lock
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": 10}
        kwargs["pool_pre_ping"] = True
    for attempt in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat/retry are marked experimental
                return optuna.storages.RDBStorage(
                    _with_installed_driver(url),
                    engine_kwargs=kwargs,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=1),
                )
        except Exception as exc:  # SQLAlchemy and drivers raise many kinds
            text = str(exc).strip()
            # workers that start together on an empty database race to create its tables:
            # the loser sees a duplicate and succeeds on the next try
            # (SQLite may also report its lock held by the other creator, or the version row
            # the other creator inserted first)
            racing = (
                "duplicate key",
                "already exists",
                "database is locked",
                "UNIQUE constraint failed",
            )
            if attempt < 3 and any(mark in text for mark in racing):
                time.sleep(0.5 + attempt)
                continue
            reason = text.splitlines()[0][:200] if text else type(exc).__name__
            raise StorageError(
                f"cannot open the study storage {_redact(url)} ({reason})",
                "a reachable database URL, e.g. sqlite:///study.db or "
                "postgresql://user:password@host:5432/dbname",
                "check the host, port, database name and credentials, and that the server runs",
            ) from None
    raise AssertionError("unreachable")  # the loop returns or raises


def create_or_load(plan: StudyPlan, space: SearchSpace) -> optuna.Study:
    """Create the study, or resume it when it exists with the same space and direction."""
    storage = open_storage(plan.storage)
    study = optuna.create_study(
        storage=storage,
        study_name=plan.name,
        direction=plan.direction,
        sampler=make_sampler(plan, space),
        pruner=make_pruner(plan),
        load_if_exists=True,
    )
    attrs = study.user_attrs
    mine = {"space": space.fingerprint(), "metric": plan.metric}
    if not attrs:
        for key, value in {**mine, "space_text": [d.describe() for d in space.dists]}.items():
            study.set_user_attr(key, value)
    elif any(attrs.get(k) != v for k, v in mine.items()):
        raise SpecError(
            f"study {plan.name!r} in {_redact(plan.storage)} was started with another search "
            "space or metric",
            "the same tune.space and tune.metric to resume a study",
            "pass --study NEW_NAME (or tune.study) to start a new study",
        )
    return study


def load_existing(url: str, name: str | None) -> optuna.Study:
    """Open a study that must already exist (for `--show`)."""
    storage = open_storage(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if not names:
        raise StorageError(f"{_redact(url)} holds no study", "a study written by trainwise tune")
    if name is None:
        if len(names) > 1:
            raise StorageError(
                f"{_redact(url)} holds {len(names)} studies",
                "one study name: " + ", ".join(names),
                "pass --study NAME",
            )
        name = names[0]
    if name not in names:
        raise StorageError(
            f"no study {name!r} in {_redact(url)}",
            "one of " + ", ".join(names),
            "pass the right --study NAME",
        )
    return optuna.load_study(study_name=name, storage=storage)


def make_sampler(
    plan: StudyPlan, space: SearchSpace, seed: int | None = None
) -> optuna.samplers.BaseSampler:
    seed = plan.seed if seed is None else seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some samplers' options are marked experimental
        if plan.strategy == "grid":
            return optuna.samplers.GridSampler(space.grid(), seed=seed)
        if plan.strategy == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if plan.strategy == "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=seed, n_startup_trials=plan.startup_trials, warn_independent_sampling=False
            )
        if plan.strategy == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=plan.startup_trials)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=plan.startup_trials,
            multivariate=True,
            group=True,  # conditional spaces: model the fields that occur together
            constant_liar=True,  # parallel workers do not all sample the same point
        )


def make_pruner(plan: StudyPlan) -> optuna.pruners.BasePruner:
    if plan.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=plan.startup_trials, n_warmup_steps=min(5, plan.max_steps // 4)
        )
    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=plan.max_steps)
    return optuna.pruners.NopPruner()


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state, not counting those skipped because the budget was already full."""
    out = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        if SKIPPED not in t.user_attrs:
            out[t.state.name] += 1
    return out


def _with_installed_driver(url: str) -> str:
    """SQLAlchemy reads `postgresql://` as psycopg 3; use psycopg2 when only it is installed."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
