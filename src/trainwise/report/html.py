"""The run report: one self-contained HTML page per run, built from the run folder's files.

It reads only what a run folder holds (spec.yaml, data_summary.json, history.jsonl,
metrics.json, run.json, the prediction tables and, when the doctor wrote them, findings.json and
gradients.json), so `trainwise report RUN` rebuilds it at any time without loading the model.
The page has no script and no external reference: figures are inline PNGs and the style sheet
is inline, so it opens offline and can be mailed as one file. Every string that comes from the
data (column names, class labels, file names) is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from trainwise.errors import RunError

REPORT_NAME = "report.html"

# (anchor, heading): the page's sections, in order. Every one is always present; a section
# whose inputs the run lacks says so instead of disappearing.
SECTIONS = (
    ("overview", "Overview"),
    ("data", "Data and cleaning"),
    ("spec", "Spec"),
    ("learning-curves", "Learning curves"),
    ("learning-rate", "Learning rate"),
    ("gradient-flow", "Gradient flow"),
    ("evaluation", "Evaluation"),
    ("findings", "Doctor's findings"),
    ("reproduce", "Reproduce this run"),
)
# present only in runs that hold a search's results (`fit --auto` copies them into tuning/)
TUNING = ("tuning", "Tuning")

# metrics shown in the overview table, in this order, when the task has them
HEADLINE = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "subset_accuracy",
    "rmse",
    "mae",
    "r2",
)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
margin:0;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 28px 60px;background:#fff}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;border-bottom:2px solid #e5e5e5;
padding-bottom:4px;margin-top:34px}h3{font-size:15px;margin:18px 0 6px}
nav a{margin-right:12px;font-size:13px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #e2e2e2;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px;border:1px solid #e5e5e5}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.muted{color:#777}.sev{font-weight:600;padding:1px 6px;border-radius:3px;color:#fff}
.sev-error{background:#c62828}.sev-warning{background:#ef6c00}.sev-info{background:#1565c0}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #e2e2e2;padding:6px 12px;
border-radius:4px;min-width:110px}.card b{display:block;font-size:17px}
tr.best td{background:#e8f5e9}tr.chosen td{background:#fff8e1}
.note{border-left:4px solid #ef6c00;background:#fff8f0;padding:4px 10px}.scroll{overflow-x:auto}
"""


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's report.html (or `out`) and return its path."""
    folder = Path(run_dir)
    from trainwise.report import tuning

    if tuning.is_study_folder(folder):  # `trainwise tune`'s folder: a page of its own
        return tuning.build_study_report(folder, out)
    if not folder.is_dir() or not (folder / "spec.yaml").is_file():
        raise RunError(
            f"{str(folder)!r} is not a run folder",
            "a folder written by `trainwise fit` (it holds spec.yaml)",
            "pass the run folder printed at the end of training",
        )
    run = RunFiles(folder)
    from trainwise.report import sections  # matplotlib is imported only when a report is built

    builders: dict[str, Callable[[RunFiles], str]] = {
        "overview": sections.overview,
        "data": sections.data,
        "spec": sections.spec,
        "learning-curves": sections.learning_curves,
        "learning-rate": sections.learning_rate,
        "gradient-flow": sections.gradient_flow,
        "evaluation": sections.evaluation,
        "findings": sections.findings,
        "reproduce": sections.reproduce,
        "tuning": lambda run: tuning.section(run.folder / "tuning"),
    }
    order = list(SECTIONS)
    if (folder / "tuning").is_dir():
        order.insert(3, TUNING)  # after the spec: the search came before the final training
    parts = []
    for anchor, title in order:
        try:
            body = builders[anchor](run)
        except Exception as exc:  # one broken input must not cost the rest of the report
            body = para(f"This section could not be drawn: {type(exc).__name__}: {exc}", "muted")
        parts.append(f'<section id="{anchor}"><h2>{esc(title)}</h2>\n{body}\n</section>')
    nav = " ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in order)
    # a report written just before the run finishes is named after the finished folder
    final = folder.resolve().with_name(folder.resolve().name.removesuffix(".partial"))
    name = final.name
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>trainwise report: {esc(name)}</title><style>{STYLE}</style></head>\n"
        f"<body><main><h1>Run report: {esc(name)}</h1>"
        f'<p class="muted">{esc(str(final))}</p><nav>{nav}</nav>\n'
        + "\n".join(parts)
        + "\n</main></body></html>\n"
    )
    target = Path(out) if out is not None else folder / REPORT_NAME
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


class RunFiles:
    """The run folder's files, each read (and parsed) once, absent ones as None."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, Any] = {}

    def json(self, name: str) -> Any:
        if name not in self._cache:
            path = self.folder / name
            self._cache[name] = (
                json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            )
        return self._cache[name]

    def text(self, name: str) -> str | None:
        path = self.folder / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def history(self) -> list[dict[str, Any]]:
        text = self.text("history.jsonl") or ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def table(self, name: str) -> pd.DataFrame | None:
        path = self.folder / name
        # labels stay text: a class "01" must not become the number 1
        if not path.is_file():
            return None
        return pd.read_csv(path, dtype={"truth": str, "prediction": str})


# --- small HTML helpers, used by the sections ---------------------------------------------


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def para(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def figure(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A table of escaped cells; numbers right-aligned and shortened."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            numeric = isinstance(cell, int | float) and not isinstance(cell, bool)
            if numeric:
                cells.append(f'<td class="num">{number(cell)}</td>')
            else:
                cells.append(f"<td>{cell_text(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def cell_text(cell: Any) -> str:
    if isinstance(cell, Raw):
        return cell.html
    if isinstance(cell, dict):
        return ", ".join(f"{esc(k)}: {number(v)}" for k, v in cell.items())
    if isinstance(cell, list | tuple):
        return ", ".join(number(v) for v in cell)
    return esc("" if cell is None else cell)


class Raw:
    """Markup built from escaped parts, passed through a table cell as is."""

    def __init__(self, markup: str) -> None:
        self.html = markup
