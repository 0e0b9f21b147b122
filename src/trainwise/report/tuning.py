"""The report's Tuning section, and the study report that `trainwise tune` writes.

Both are drawn from a study's result files alone: `trials.json` (one row per trial),
`importances.json`, `selection.json` (which trial was handed on, by which rule, against the
defaults) and `best_spec.yaml`. A run of `fit --auto` holds copies of them in `RUN/tuning/`; a
study folder (`runs/tune-<study>/`) holds them itself and gets its own `report.html`, since a
search alone trains no final model and so has no run folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainwise.evaluate.metrics import GREATER_IS_BETTER
from trainwise.report import plots, tuning_plots
from trainwise.report.html import REPORT_NAME, STYLE, RunFiles, esc, figure, number, para

MAX_ROWS = 50  # trials listed in the page; trials.csv holds them all
CHOSEN_ROW = '<tr class="chosen">'

RULES = {
    "best": "tune.select=best: the trial with the best objective is handed on.",
    "one_se": "tune.select=one_se: the defaults are kept unless the best trial beats them by more "
    "than one standard error of its score (the 1-SE rule).",
}


def is_study_folder(folder: Path) -> bool:
    return (folder / "trials.json").is_file() and not (folder / "spec.yaml").is_file()


def section(folder: Path) -> str:
    """The Tuning section for the study files in `folder` (RUN/tuning or a study folder)."""
    files = RunFiles(folder)
    rows: list[dict[str, Any]] = files.json("trials.json") or []
    chosen: dict[str, Any] = files.json("selection.json") or {}
    metric = chosen.get("metric", "score")
    maximize = chosen.get("direction", _direction(metric)) == "maximize"
    if not rows:
        return para(f"No trials were recorded in {folder.name}/trials.json.", "muted")
    html = _summary(rows, chosen, metric, maximize)
    html += "<h3>Selection</h3>" + _selection(chosen, rows, metric, maximize)
    html += "<h3>Trials</h3>" + _trials(rows, chosen, metric, maximize)
    html += "<h3>Optimisation history</h3>" + figure(
        plots.data_uri(
            tuning_plots.history(rows, metric, maximize, chosen.get("baseline"), _chosen(chosen))
        ),
        "Optimisation history",
    )
    imp = files.json("importances.json") or {}
    html += "<h3>Parameter importances</h3>"
    if imp:
        html += figure(plots.data_uri(tuning_plots.importances(imp)), "Parameter importances")
    else:
        html += para("Importances need 3 or more completed trials whose values differ.", "muted")
    params = chosen.get("params") or _params(rows)
    complete = [r for r in rows if r.get("state") == "complete"]
    html += "<h3>Parallel coordinates</h3>"
    if params and len(complete) >= 2:
        fig = tuning_plots.parallel_coordinates(rows, params, metric, maximize, _chosen(chosen))
        html += figure(plots.data_uri(fig), "Parallel coordinates")
    else:
        html += para("Parallel coordinates need 2 or more completed trials.", "muted")
    return html


def build_study_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write a study folder's report.html (or `out`): the Tuning section, the chosen spec and
    how to use it."""
    folder = Path(folder)
    name = (RunFiles(folder).json("selection.json") or {}).get("study") or folder.name
    parts = [
        ("tuning", "Tuning", section(folder)),
        ("best-spec", "Chosen spec", _best_spec(folder)),
        ("reproduce", "Use it", _commands(folder)),
    ]
    nav = " ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in parts)
    body = "\n".join(f'<section id="{a}"><h2>{esc(t)}</h2>\n{b}\n</section>' for a, t, b in parts)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>trainwise study: {esc(name)}</title><style>{STYLE}</style></head>\n"
        f"<body><main><h1>Study report: {esc(name)}</h1>"
        f'<p class="muted">{esc(str(folder.resolve()))}</p><nav>{nav}</nav>\n'
        f"{body}\n</main></body></html>\n"
    )
    target = Path(out) if out is not None else folder / REPORT_NAME
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


def _summary(
    rows: list[dict[str, Any]], chosen: dict[str, Any], metric: str, maximize: bool
) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.get("state", "?")] = counts.get(r.get("state", "?"), 0) + 1
    states = ", ".join(f"{n} {s}" for s, n in counts.items())
    study = f"Study {chosen['study']}" if chosen.get("study") else "The study"
    objective = chosen.get("objective", "validation split")
    better = "higher" if maximize else "lower"
    return para(
        f"{study}: {len(rows)} trials ({states}). Objective: validation {metric}, "
        f"{objective} ({better} is better)."
    )


def _selection(
    chosen: dict[str, Any], rows: list[dict[str, Any]], metric: str, maximize: bool
) -> str:
    if not chosen:  # results written before selection.json existed
        best = _best_row(rows, maximize)
        where = f" (trial {best['trial']}, {metric} {number(best['score'])})" if best else ""
        return para(
            f"The best trial was handed on{where}; no comparison with the defaults "
            "was recorded for this study."
        )
    html = para(RULES.get(chosen.get("rule", ""), f"tune.select={chosen.get('rule')}"))
    se_best = chosen.get("se_best")
    lines = []
    if chosen.get("baseline") is not None:
        se_base = chosen.get("se_baseline")
        lines.append(["defaults", chosen["baseline"], chosen["baseline_value"], se_base])
    lines.append(["best", chosen["best"], chosen["best_value"], se_best])
    role = "defaults" if chosen["chosen"] == chosen.get("baseline") else "best"
    head = ["", "trial", metric, "one standard error"]
    body = "".join(
        (CHOSEN_ROW if r[0] == role else "<tr>")
        + f"<td>{esc(r[0])}{' (chosen)' if r[0] == role else ''}</td>"
        + "".join(_cell(c) for c in r[1:])
        + "</tr>"
        for r in lines
    )
    html += (
        "<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
    diff = chosen.get("difference")
    if diff is not None and chosen["best"] != chosen.get("baseline"):
        se_diff = chosen.get("se_difference")
        how = (
            f"paired over the same {chosen['paired_folds']} folds"
            if chosen.get("paired_folds")
            else "the two trials' errors combined"
        )
        text = f"Best − defaults: {diff:+.4f} {metric}"
        if se_diff is not None:
            text += f", standard error of the difference {se_diff:.4f} ({how})"
        if se_best is not None:
            text += f"; one standard error of the best score: {se_best:.4f}"
        html += para(text + ".")
    if chosen.get("note"):
        cls = "note" if chosen.get("within_se") else ""
        html += para(chosen["note"], cls)
    return html


def _trials(rows: list[dict[str, Any]], chosen: dict[str, Any], metric: str, maximize: bool) -> str:
    params = chosen.get("params") or _params(rows)
    best = chosen.get("best", (_best_row(rows, maximize) or {}).get("trial"))
    picked, base = _chosen(chosen), chosen.get("baseline")
    sign = -1.0 if maximize else 1.0
    rank = {"complete": 0, "pruned": 1}

    def key(r: dict[str, Any]) -> tuple[int, float, int]:
        score = r.get("score")
        finite = isinstance(score, int | float) and math.isfinite(score)
        return (rank.get(r.get("state", ""), 2), sign * score if finite else 0.0, r["trial"])

    shown = sorted(rows, key=key)[:MAX_ROWS]
    has_std = any(r.get("score_std") is not None for r in rows)
    has_error = any(r.get("error") for r in shown)
    head = [
        "trial",
        "",
        "state",
        metric,
        *(["± std"] if has_std else []),
        "seconds",
        "epochs",
        *params,
        *(["error"] if has_error else []),
    ]
    body = []
    for r in shown:
        t = r["trial"]
        tags = [
            n
            for n, hit in (("best", t == best), ("chosen", t == picked), ("defaults", t == base))
            if hit
        ]
        cls = ' class="best"' if t == best else ' class="chosen"' if t == picked else ""
        cells = [t, ", ".join(tags), r.get("state", ""), r.get("score")]
        cells += [r.get("score_std")] if has_std else []
        cells += [r.get("seconds"), r.get("epochs"), *(r.get(p) for p in params)]
        cells += [r.get("error") or ""] if has_error else []
        body.append(f"<tr{cls}>" + "".join(_cell(c) for c in cells) + "</tr>")
    html = (
        '<div class="scroll"><table><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
    if len(rows) > MAX_ROWS:
        html += para(
            f"Showing the best {MAX_ROWS} of {len(rows)} trials (completed by score, then pruned, "
            "then failed); trials.csv holds every one.",
            "muted",
        )
    return html


def _best_spec(folder: Path) -> str:
    text = RunFiles(folder).text("best_spec.yaml")
    if text is None:
        return para("This study folder has no best_spec.yaml.", "muted")
    return (
        para("best_spec.yaml: the full spec of the chosen trial (every default included).")
        + f"<pre>{esc(text)}</pre>"
    )


def _commands(folder: Path) -> str:
    commands = [
        f"trainwise fit {folder / 'best_spec.yaml'}      # train the chosen spec",
        f"trainwise tune --show {folder}                  # the trials as text",
        f"trainwise report {folder}                       # rebuild this page",
    ]
    return (
        para(
            "A search trains no final model: fit the chosen spec to get one (with its own run "
            "report). Running the same `trainwise tune` command again resumes the study."
        )
        + f"<pre>{esc(chr(10).join(commands))}</pre>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{number(value)}</td>'
    return f"<td>{esc('' if value is None else value)}</td>"


def _chosen(selection: dict[str, Any]) -> int | None:
    return selection.get("chosen")


def _best_row(rows: list[dict[str, Any]], maximize: bool) -> dict[str, Any] | None:
    done = [
        r for r in rows if r.get("state") == "complete" and isinstance(r.get("score"), int | float)
    ]
    if not done:
        return None
    return (max if maximize else min)(done, key=lambda r: r["score"])


def _params(rows: list[dict[str, Any]]) -> list[str]:
    """Searched fields are spec paths: the dotted columns of the trials table."""
    return sorted({k for r in rows for k in r if "." in k})


def _direction(metric: str) -> str:
    return "minimize" if GREATER_IS_BETTER.get(metric) is False else "maximize"
