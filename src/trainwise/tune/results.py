"""What a study found, in files and words: the trials table, parameter importances, plots.

Written into the study's folder: `trials.csv` and `trials.json` (one row per trial: number,
state, score, seconds, each searched field), `importances.json`, PNG plots of the
optimisation history, the importances and the parallel coordinates (Optuna's matplotlib plots),
`selection.json` (the chosen trial against the defaults) and the study's `report.html`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from trainwise.tune.select import Selection
from trainwise.tune.study import SKIPPED

PLOTS = {
    "history.png": "plot_optimization_history",
    "importances.png": "plot_param_importances",
    "parallel_coordinate.png": "plot_parallel_coordinate",
}


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial (budget-skipped claims left out), searched fields as columns."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if SKIPPED in t.user_attrs:
            continue
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name.lower(),
            "score": t.value if t.value is not None and math.isfinite(t.value) else None,
            "seconds": round(t.duration.total_seconds(), 2) if t.duration else None,
            "epochs": t.user_attrs.get("epochs", t.user_attrs.get("best_epoch")),
        }
        cv_std = t.user_attrs.get("cv_std")
        metric = study.user_attrs.get("metric")
        if cv_std and metric in cv_std:
            row["score_std"] = round(cv_std[metric], 4)
        row.update({k: _cell(v) for k, v in t.params.items()})
        if t.state == TrialState.FAIL:
            row["error"] = t.user_attrs.get("error", "")
        rows.append(row)
    return pd.DataFrame(rows)


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importance of each searched field over the completed trials ({} when too few)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial used one value
        return {}
    return {k: round(float(v), 4) for k, v in found.items()}


def write_results(study: optuna.Study, folder: str | Path) -> dict[str, Path]:
    """Write the table, importances and plots; returns what was written, by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    table = trials_frame(study)
    table.to_csv(folder / "trials.csv", index=False)
    rows = json.loads(table.to_json(orient="records"))
    (folder / "trials.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    imp = importances(study)
    (folder / "importances.json").write_text(json.dumps(imp, indent=2) + "\n", encoding="utf-8")
    written.update(
        trials_csv=folder / "trials.csv",
        trials_json=folder / "trials.json",
        importances=folder / "importances.json",
    )
    written.update(_plots(study, folder, have_importances=bool(imp)))
    return written


def write_selection(
    selection: Selection,
    study: optuna.Study,
    folder: str | Path,
    report: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """`selection.json` (which trial was chosen, by which rule, against the defaults) and, with
    `report`, the study's own `report.html` (the run report's Tuning section on its own page);
    a report that cannot be drawn costs a warning, never the study."""
    folder = Path(folder)
    chosen = study.get_trials(deepcopy=False)[selection.chosen]
    folds = chosen.user_attrs.get("cv_folds")
    info = {
        "study": study.study_name,
        "objective": f"{folds}-fold cross-validation mean" if folds else "validation split",
        "counts": {s.name.lower(): n for s, n in _state_counts(study).items()},
        **selection.to_json(),
    }
    path = folder / "selection.json"
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    written = {"selection": path}
    if report:
        from trainwise.report.tuning import build_study_report

        try:
            written["report"] = build_study_report(folder)
        except Exception as exc:  # the study's results are written; only the page is lost
            log(f"warning: the study report could not be written ({type(exc).__name__}: {exc})")
    return written


def _state_counts(study: optuna.Study) -> dict[TrialState, int]:
    out: dict[TrialState, int] = {}
    for t in study.get_trials(deepcopy=False):
        if SKIPPED not in t.user_attrs:
            out[t.state] = out.get(t.state, 0) + 1
    return out


def show(study: optuna.Study, limit: int = 30) -> str:
    """The study as text: counts, best trial, the best `limit` trials, importances."""
    table = trials_frame(study)
    metric = study.user_attrs.get("metric", "score")
    lines = [f"study {study.study_name}: {_count_text(table)}"]
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if done:
        best = study.best_trial
        lines.append(f"best trial {best.number}: {metric}={best.value:.4f}")
        for k, v in best.params.items():
            lines.append(f"  {k} = {v}")
    if len(table):
        shown = table.copy()
        if "score" in shown and done:
            ascending = study.direction == optuna.study.StudyDirection.MINIMIZE
            shown = shown.sort_values("score", ascending=ascending, na_position="last")
        shown = shown.drop(columns=["error"], errors="ignore").head(limit)
        lines += ["", shown.rename(columns={"score": metric}).to_string(index=False)]
    imp = importances(study)
    if imp:
        lines += ["", "parameter importances (fANOVA):"]
        lines += [f"  {k:<30} {v:.3f}" for k, v in imp.items()]
    return "\n".join(lines)


def _count_text(table: pd.DataFrame) -> str:
    if not len(table):
        return "no trials yet"
    counts = table["state"].value_counts()
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def _plots(study: optuna.Study, folder: Path, have_importances: bool) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as oplt

    from trainwise.report.plots import tight

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: dict[str, Path] = {}
    # Optuna's plots switch matplotlib to its ggplot style for the whole process; keep that
    # inside this block, or every later figure (the run report's) is drawn in it too
    with plt.rc_context():
        for name, fn in PLOTS.items():
            if not complete or (name == "importances.png" and not have_importances):
                continue
            if name == "parallel_coordinate.png" and len(complete) < 2:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                try:
                    ax = getattr(oplt, fn)(study)
                except (ValueError, RuntimeError, ZeroDivisionError):
                    continue
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(9, 5)
            tight(fig)
            fig.savefig(folder / name, dpi=100)
            plt.close(fig)
            out[name.replace(".", "_")] = folder / name
    return out


def _cell(value: Any) -> Any:
    return value if isinstance(value, int | float | bool) or value is None else str(value)
