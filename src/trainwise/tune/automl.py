"""`trainwise fit --auto`: choose the model family and size from the data, tune within a time
budget, refit the best spec on training + validation rows, and test once.

The space follows the data's kind and size (an MLP for tables; a 1-D CNN or an MLP for
sequences), the defaults are always the first trial (so the search never ends below them on its
objective), small data (under `CV_BELOW` development rows) is scored by 5-fold cross-validation,
and the budget keeps room for the final refit, which stops at the deadline plus at most the
chosen trial's length. The trial
handed on to the refit follows `tune.select` (see select.py).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainwise.data.prepare import Frames
from trainwise.report.html import build_report
from trainwise.runs.folder import PARTIAL
from trainwise.spec.io import dump_yaml, parse_spec
from trainwise.spec.model import Spec
from trainwise.train.callbacks import Callback
from trainwise.train.state import TrainState
from trainwise.tune.cv import development_rows
from trainwise.tune.pruning import TrialReporter
from trainwise.tune.results import PLOTS
from trainwise.tune.search import SearchResult, search
from trainwise.tune.study import load_existing

CV_BELOW = 5000  # development rows under which trials are scored by 5-fold CV
CV_FOLDS = 5
DEFAULT_BUDGET_S = 600.0


@dataclass
class AutoResult:
    """The final run (refitted best spec, tested once) and the search behind it."""

    run: Any
    search: SearchResult
    spec_path: Path


def auto_space(kind: str, rows: int) -> dict[str, Any]:
    """The search space for a data kind and size: family, width/depth, and the optimiser and
    regularisation fields that matter most for small networks."""
    small = rows < 2000
    widths = (
        [[64], [128], [256], [128, 64], [256, 128], [512, 256]]
        if small
        else [[128], [256, 128], [512, 256], [512, 256, 128], [1024, 512]]
    )
    space: dict[str, Any] = {}
    if kind == "sequence":
        space["model.name"] = ["cnn1d", "mlp"]
        space["model.channels"] = {
            "choice": [[32, 64], [32, 64, 128], [64, 128, 256]],
            "when": {"model.name": "cnn1d"},
        }
        space["model.blocks"] = {"dist": "int(1, 2)", "when": {"model.name": "cnn1d"}}
        space["model.hidden"] = {"choice": widths, "when": {"model.name": "mlp"}}
    else:
        space["model.hidden"] = widths
    space.update(
        {
            "train.lr": "loguniform(1e-4, 1e-2)",
            "train.weight_decay": "loguniform(1e-6, 1e-2)",
            "model.dropout": "uniform(0.0, 0.5)",
            "train.batch_size": [16, 32, 64, 128] if small else [64, 128, 256, 512],
            "model.activation": ["relu", "gelu", "silu"],
        }
    )
    return space


def auto_spec(spec: Spec, frames: Frames) -> Spec:
    """The user's spec with an automatic `tune` section (a user-given space wins)."""
    dev = development_rows(spec, frames)
    raw = spec.model_dump(mode="json")
    tune = raw["tune"]
    if not spec.tune.space:
        tune["space"] = auto_space(frames.kind, len(dev.frame))
        if frames.kind == "sequence":
            raw["model"]["name"] = "cnn1d"  # the default family: the first trial
    tune["trials"] = spec.tune.trials if "trials" in spec.tune.model_fields_set else 10_000
    if "startup_trials" not in spec.tune.model_fields_set:
        tune["startup_trials"] = 2  # a budget of minutes holds few trials: model and prune early
    if tune["study"] is None:
        tune["study"] = f"auto-{frames.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if spec.evaluate.cv is None and len(dev.frame) < CV_BELOW:
        raw["evaluate"]["cv"] = CV_FOLDS
    es = raw["train"]["early_stopping"]
    if "early_stopping" not in spec.train.model_fields_set:
        es["patience"] = 15  # trials are many and short; a finished search refits anyway
    return parse_spec(raw)


def refit_spec(best: Spec, epochs: int) -> Spec:
    """The best spec trained on training + validation rows for the epochs its trials kept
    (scaled by 10% for the larger set): no validation rows remain, so no early stopping."""
    raw = best.model_dump(mode="json")
    split = raw["data"]["split"]
    if split["test"] > 0:
        split.update(train=round(1.0 - split["test"], 10), validation=0.0)
    raw["train"]["epochs"] = max(1, round(epochs * 1.1))
    raw["train"]["early_stopping"]["enabled"] = False
    if raw["train"]["schedule"]["name"] in ("plateau", "auto"):
        raw["train"]["schedule"]["name"] = "cosine"  # no validation loss to watch
    raw["evaluate"].update(cv=None, test=True)
    return parse_spec(raw)


def run_auto(
    spec: Spec,
    run_fn: Callable[..., Any],
    frames: Frames,
    budget: float | None,
    log: Callable[[str], None] = print,
) -> AutoResult:
    """Search within `budget` seconds, refit the best, test once; writes best_spec.yaml into
    the run folder and the study folder."""
    started = time.time()
    budget = budget or spec.tune.timeout or DEFAULT_BUDGET_S
    tuned = auto_spec(spec, frames)
    k = tuned.evaluate.cv
    log(
        f"auto: {frames.kind} data, searching {len(tuned.tune.space)} fields for {budget:.0f} s"
        + (f" ({k}-fold cross-validation)" if k else " (validation split)")
    )
    found = search(
        tuned,
        run_fn,
        frames,
        timeout=budget,
        reserve=(1.5 / k) if k else 1.0,  # a refit costs about one fold (or one trial)
        log=log,
        study_report=False,  # the final run's report holds the Tuning section
    )
    epochs = int(found.best_attrs.get("best_epoch") or 100)
    final = refit_spec(found.best_spec, epochs)
    # the refit may run past the budget by at most the chosen trial's length (within the
    # budget's stated tolerance of one trial), so a busy machine cannot cut it to a few epochs
    deadline = started + budget + _trial_seconds(found)
    left = max(0.0, started + budget - time.time())
    log(f"auto: refitting the best spec on training + validation rows for {final.train.epochs} "
        f"epochs ({left:.0f} s of the budget left)")  # fmt: skip
    clock = TrialReporter(None, "", deadline=deadline)
    dev = development_rows(final, frames)
    pinned = _pinned(final, frames)
    run = run_fn(
        pinned,
        frame=dev.frame,  # training + validation rows
        validation=None,
        test=dev.test,  # the same rows every trial kept apart
        callbacks=[clock, _ResultsBeside(Path(found.plan.folder), pinned.output.dir)],
        log=log,
    )
    text = dump_yaml(_rerunnable(final))
    path = Path(found.plan.folder) / "best_spec.yaml"
    path.write_text(text, encoding="utf-8")
    if run.path is not None:
        (Path(run.path) / "best_spec.yaml").write_text(text, encoding="utf-8")
        path = Path(run.path) / "best_spec.yaml"
        if not (Path(run.path) / "tuning").is_dir():  # not copied while the run was open
            _copy_results(Path(found.plan.folder), Path(run.path) / "tuning")
            if final.output.report:
                _rebuild_report(Path(run.path), log)
    log(f"auto: best spec written to {path} (edit it and run `trainwise fit {path}`)")
    return AutoResult(run, found, path)


def _trial_seconds(found: SearchResult) -> float:
    """How long the chosen trial took (all its folds), 0 when unknown."""
    study = load_existing(found.plan.storage, found.plan.name)
    number = found.selection.chosen if found.selection is not None else study.best_trial.number
    trial = study.get_trials(deepcopy=False)[number]
    return trial.duration.total_seconds() if trial.duration is not None else 0.0


def _pinned(spec: Spec, frames: Frames) -> Spec:
    """The refit gets the rows passed in: their kind, target and task stay what they were, and
    the run folder keeps the dataset's name."""
    raw = spec.model_dump(mode="json")
    raw["data"].update(
        kind=frames.kind, target=frames.target, task=frames.task, validation=None, test=None
    )
    if raw["output"]["dir"] is None and raw["output"]["save"]:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        raw["output"]["dir"] = str(Path(raw["output"]["root"]) / f"{frames.name}-auto-{stamp}")
    return parse_spec(raw)


class _ResultsBeside(Callback):
    """Copies the study's results into the refit's run folder when training ends, before the
    pipeline writes the run's report, so that the report is drawn once, with its Tuning
    section. The run folder is `<output.dir>.partial` until the run finishes."""

    def __init__(self, study_folder: Path, run_dir: str | None) -> None:
        self.study_folder = study_folder
        self.open = Path(run_dir + PARTIAL) if run_dir else None

    def on_fit_end(self, state: TrainState) -> None:
        if self.open is not None and self.open.is_dir():
            _copy_results(self.study_folder, self.open / "tuning")


def _copy_results(study_folder: Path, into: Path) -> None:
    """The study's table, importances and plots beside the final run, for its report."""
    into.mkdir(exist_ok=True)
    for name in ("trials.csv", "trials.json", "importances.json", "selection.json", *PLOTS):
        if (study_folder / name).is_file():
            shutil.copyfile(study_folder / name, into / name)


def _rebuild_report(folder: Path, log: Callable[[str], None]) -> None:
    try:
        build_report(folder)
    except Exception as exc:  # the run is finished; only its page is lost
        log(f"warning: the report could not be rebuilt ({type(exc).__name__}: {exc}); "
            f"rebuild it with `trainwise report {folder}`")  # fmt: skip


def _rerunnable(spec: Spec) -> Spec:
    raw = spec.model_dump(mode="json")
    raw["output"]["dir"] = None
    raw["tune"]["study"] = None
    return parse_spec(raw)
