"""A whole search: resolve the study, run its workers (in this process or N spawned ones), write
the results, and return the best spec.

The function that trains one spec is passed in (`run_fn`, the pipeline's `run`): this package
sits below the pipeline and never imports it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from trainwise.data.prepare import Frames
from trainwise.errors import Interrupted, SpecError, TrainingFailed, TrainwiseError
from trainwise.spec.io import dump_yaml
from trainwise.spec.model import Spec
from trainwise.tune.cv import Development, development_rows
from trainwise.tune.results import write_results, write_selection
from trainwise.tune.select import BASELINE, Selection, select
from trainwise.tune.space import SearchSpace, apply, decode_params, encode
from trainwise.tune.study import StudyPlan, counts, create_or_load, make_plan
from trainwise.tune.worker import Job, run_worker

__all__ = ["BASELINE", "SearchResult", "search"]


@dataclass
class SearchResult:
    """The chosen trial's values and spec (`tune.select`: the best, or the defaults under the
    1-SE rule), the study's place, the files written and how the choice was made."""

    plan: StudyPlan
    best_value: float
    best_params: dict[str, Any]
    best_spec: Spec
    best_attrs: dict[str, Any]
    counts: dict[str, int]
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
    selection: Selection | None = None


def search(
    spec: Spec,
    run_fn: Callable[..., Any],
    frames: Frames,
    *,
    storage: str | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    reserve: float = 0.0,
    log: Callable[[str], None] = print,
    study_report: bool = True,
) -> SearchResult:
    """Tune `spec.tune.space` on `frames` with `run_fn` scoring each trial's spec; with
    `study_report` (and `output.report`), the study folder gets its own report.html."""
    started = time.time()
    space = SearchSpace.from_spec(spec)
    dev = development_rows(spec, frames)
    plan = make_plan(spec, dev.task, frames.name, storage)
    if not spec.evaluate.cv and frames.validation is None and spec.data.split.validation == 0:
        raise SpecError(
            "tuning needs validation rows to score trials, and data.split.validation is 0",
            "data.split.validation > 0, a validation file, or evaluate.cv=K",
            "set data.split.validation=0.2 or evaluate.cv=5",
        )
    if spec.tune.strategy == "grid" and "trials" not in spec.tune.model_fields_set:
        plan = _replace(plan, trials=space.grid_size())  # the whole grid, once
    study = create_or_load(plan, space)  # fails here, once, on a bad URL or another space
    _enqueue_base(study, spec, space)
    before = counts(study)
    done = before["COMPLETE"] + before["PRUNED"]
    if done:
        log(f"study {plan.name}: resuming with {done} finished trial(s) in {plan.storage}")
    timeout = timeout if timeout is not None else spec.tune.timeout
    job = Job(
        plan=plan,
        spec=spec.model_dump(mode="json"),
        frames=frames,
        dev=_cv_rows(spec, dev),
        run_fn=run_fn,
        deadline=started + timeout if timeout else None,
        reserve=reserve,
        shared=bool(storage or spec.tune.storage),
    )
    n = workers or spec.tune.worker_processes
    try:
        if n > 1:
            _spawn(job, n, log)
        else:
            run_worker(job, 0, log)
    except (Interrupted, KeyboardInterrupt):
        c = counts(study)
        raise Interrupted(
            "SIGINT",
            plan.folder,
            f"the same `trainwise tune` command (study {plan.name!r} keeps its "
            f"{c['COMPLETE'] + c['PRUNED']} finished trials)",
        ) from None
    return _finish(study, plan, spec, started, log, study_report and spec.output.report)


def _cv_rows(spec: Spec, dev: Development) -> Development | None:
    return dev if spec.evaluate.cv else None


def _spawn(job: Job, n: int, log: Callable[[str], None]) -> None:
    """N worker processes on this machine, each joining the study through its storage."""
    ctx = mp.get_context("spawn")  # a clean interpreter: no forked torch or DB state
    threads = max(1, (os.cpu_count() or 1) // n)
    procs = [ctx.Process(target=_worker_main, args=(job, i, threads)) for i in range(n)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=30)
        raise
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed:
        log(f"{len(failed)} worker(s) ended with exit code(s) {failed}")


def _worker_main(job: Job, worker: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        run_worker(job, worker, lambda line: print(f"[worker {worker}] {line}", flush=True))
    except TrainwiseError as err:  # one line, like the command itself; the parent goes on
        print(f"trainwise: error: [worker {worker}] {err.message}", file=sys.stderr, flush=True)
        sys.exit(2)


def _finish(
    study: optuna.Study,
    plan: StudyPlan,
    spec: Spec,
    started: float,
    log: Callable[[str], None],
    report: bool,
) -> SearchResult:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    files = write_results(study, plan.folder)
    if not complete:
        raise TrainingFailed(
            f"study {plan.name!r} has no completed trial",
            "at least one trial that trains to the end",
            "raise tune.timeout or tune.trials, or look at trials.csv in " + plan.folder,
        )
    chosen = select(study, plan.metric, spec.tune.select)
    best = study.get_trials(deepcopy=False)[chosen.chosen]
    params = decode_params(best.params)
    best_spec = apply(spec, params)
    raw = best_spec.model_dump(mode="json")
    raw["output"]["dir"] = None
    text = dump_yaml(Spec.model_validate(raw))
    path = Path(plan.folder) / "best_spec.yaml"
    path.write_text(text, encoding="utf-8")
    files["best_spec"] = path
    files.update(write_selection(chosen, study, plan.folder, report, log))
    c = counts(study)
    log(
        f"study {plan.name}: {c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed; "
        f"best {plan.metric}={chosen.best_value:.4f} (trial {chosen.best})"
    )
    if chosen.within_se or chosen.chosen != chosen.best:
        log(chosen.note)
    return SearchResult(
        plan, float(best.value), params, best_spec, dict(best.user_attrs), c,
        round(time.time() - started, 2), files, chosen,
    )  # fmt: skip


def _enqueue_base(study: optuna.Study, spec: Spec, space: SearchSpace) -> None:
    """Try the spec's own values first when the space holds them, so the search starts from
    the defaults and its best is never worse than them on the objective."""
    if spec.tune.strategy == "grid" or study.trials:
        return
    raw = spec.model_dump(mode="json")
    params: dict[str, Any] = {}
    for dist in space.dists:
        if dist.when:
            continue
        node: Any = raw
        for part in dist.path.split("."):
            node = node[part]
        if dist.kind == "choice":
            if node not in dist.choices:
                continue
            params[dist.path] = encode(node)
        elif isinstance(node, int | float) and dist.low <= node <= dist.high:
            params[dist.path] = node
    if params:
        study.enqueue_trial(params, user_attrs={BASELINE: True}, skip_if_exists=True)


def _replace(plan: StudyPlan, **changes: Any) -> StudyPlan:
    return replace(plan, **changes)
