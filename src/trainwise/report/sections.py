"""The report's sections: each takes the run folder's files and returns escaped HTML.

A section never fails for a missing optional input (no validation split, no doctor files, no
LR finder): it says what is absent and how to get it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from trainwise.report import plots
from trainwise.report.html import HEADLINE, Raw, RunFiles, esc, figure, para, table
from trainwise.train.epoch_clock import typical_epoch_seconds


def overview(run: RunFiles) -> str:
    summary = run.json("data_summary.json") or {}
    metrics = run.json("metrics.json") or {}
    spec = _spec(run)
    model = (run.json("model/bundle.json") or {}).get("model") or {}
    cards = [
        ("dataset", summary.get("dataset", "?")),
        ("task", summary.get("task", "?")),
        ("model", model.get("name", spec.get("model", {}).get("name", "?"))),
        ("epochs", metrics.get("epochs", "?")),
        ("stopped", metrics.get("stop_reason", "?")),
        ("seconds", metrics.get("train_seconds", "?")),
    ]
    typical = typical_epoch_seconds(metrics.get("epoch_seconds") or [])
    if typical is not None:
        cards.append(("seconds per epoch", f"{typical:.3g}"))
    html = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
            for k, v in cards
        )
        + "</div>"
    )
    splits = [s for s in ("validation", "test") if isinstance(metrics.get(s), dict)]
    if splits:
        names = [m for m in HEADLINE if any(m in metrics[s] for s in splits)]
        rows = [
            [s, *[metrics[s].get(m, "") for m in names], metrics[s].get("n", "")] for s in splits
        ]
        html += "<h3>Scores</h3>" + table(["split", *names, "rows"], rows)
        if "test" in splits:
            html += para(
                "The test split was scored once, after training; it played no part in early "
                "stopping or model selection.",
                "muted",
            )
    else:
        html += para("No validation or test scores were recorded.", "muted")
    if model:
        shown = {k: v for k, v in model.items() if v not in (None, [], {})}
        count = _parameter_count(run.folder / "model" / "weights.safetensors")
        if count is not None:
            shown["weights and buffers"] = f"{count:,} values"
        html += "<h3>Model</h3>" + table(
            ["", "value"], [[k, Raw(_value_html(v))] for k, v in shown.items()]
        )
    faults = metrics.get("numeric_faults")
    if faults:
        html += "<h3>Numeric faults</h3>" + para(json_text(faults))
    return html


def data(run: RunFiles) -> str:
    s = run.json("data_summary.json")
    if not s:
        return para("This run folder has no data_summary.json.", "muted")
    splits = s.get("splits", {})
    html = table(
        [
            "dataset",
            "kind",
            "task",
            "target",
            "rows read",
            "train",
            "validation",
            "test",
            "model inputs",
        ],
        [
            [
                s.get("dataset", ""),
                s.get("kind", ""),
                s.get("task", ""),
                ", ".join(map(str, s.get("target", []))),
                s.get("rows_in", ""),
                splits.get("train", ""),
                splits.get("validation", ""),
                splits.get("test", ""),
                s.get("n_features", ""),
            ]
        ],
    )
    balance = s.get("class_balance (train)")
    if balance:
        total = sum(balance.values()) or 1
        html += "<h3>Class balance (training split)</h3>" + table(
            ["class", "rows", "share"],
            [[k, v, f"{100 * v / total:.1f}%"] for k, v in balance.items()],
        )
    columns = s.get("columns", {})
    if columns:
        dropped = s.get("dropped_columns", {})
        rows = [
            [
                name,
                info.get("kind", ""),
                info.get("missing", ""),
                info.get("unique", ""),
                info.get("reason", ""),
                "dropped" if name in dropped else "used",
            ]
            for name, info in columns.items()
        ]
        html += "<h3>Columns</h3>" + table(
            ["column", "kind", "missing", "distinct", "why this kind", "use"], rows
        )
    cleaning = s.get("cleaning", {})
    if cleaning:
        rows = [[key.replace("_", " "), Raw(_value_html(value))] for key, value in cleaning.items()]
        html += "<h3>Cleaning and preprocessing</h3>" + table(["step", "detail"], rows)
    notes = s.get("notes") or []
    if notes:
        html += "<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
    return html


def spec(run: RunFiles) -> str:
    text = run.text("spec.yaml")
    if text is None:
        return para("This run folder has no spec.yaml.", "muted")
    return (
        para("The resolved spec, every default included (spec.yaml in the run folder).")
        + f"<details open><summary>spec.yaml</summary><pre>{esc(text)}</pre></details>"
    )


def learning_curves(run: RunFiles) -> str:
    history = run.history()
    if not history:
        return para("No epoch finished, so there are no learning curves.", "muted")
    monitor = _spec(run).get("train", {}).get("early_stopping", {}).get("monitor", "val_loss")
    html = figure(plots.data_uri(plots.learning_curves(history, monitor)), "learning curves")
    last = history[-1]
    gap = last.get("val_loss", float("nan")) - last.get("loss", float("nan"))
    if gap == gap:  # both present and finite
        html += para(
            f"Last epoch: training loss {last['loss']:.4g}, validation loss "
            f"{last['val_loss']:.4g} (gap {gap:+.3g}). Training loss is averaged over the "
            "epoch with dropout active, so it can sit above the validation loss."
        )
    return html


def learning_rate(run: RunFiles) -> str:
    history = run.history()
    html = ""
    if history:
        train = _spec(run).get("train", {})
        budget = (run.json("data_summary.json") or {}).get("training_budget") or {}
        schedule = budget.get("schedule") or train.get("schedule", {}).get("name", "?")
        html += figure(plots.data_uri(plots.lr_schedule(history)), "learning rate per epoch")
        text = f"Optimizer {train.get('optimizer', '?')}, schedule {schedule}"
        if budget:
            text += f", up to {budget.get('epochs', '?')} epochs ({budget.get('why', '')})"
        if budget.get("batch_size"):
            text += f", batches of {budget['batch_size']} ({budget.get('batch_size_why', '')})"
        html += para(text + ".")
    finder = run.json("lr_finder.json")
    if finder:
        html += "<h3>LR range test</h3>" + figure(
            plots.data_uri(plots.lr_finder(finder)), "LR range test"
        )
        steepest = finder.get("steepest_lr")
        html += para(
            f"train.lr was auto: the range test suggested {finder['suggestion']:.3g} "
            f"(rule: {finder.get('rule', '')}; loss minimum at {finder['minimum_lr']:.3g}"
            + (f", steepest descent at {steepest:.3g}" if steepest else "")
            + f"). The sweep {finder.get('stopped', '')}."
        )
    elif not history:
        html += para("No epoch finished, so no learning rate was recorded.", "muted")
    else:
        html += para(
            "The learning rate was set by hand. `train.lr=auto` (or `trainwise lr-find`) runs a "
            "range test and draws it here.",
            "muted",
        )
    return html


def gradient_flow(run: RunFiles) -> str:
    grads = run.json("gradients.json")
    if not grads or not grads.get("layers") or not grads.get("epochs"):
        return para(
            "No gradient statistics in this run (gradients.json is written by the training "
            "doctor's probes).",
            "muted",
        )
    html = figure(plots.data_uri(plots.gradient_flow(grads)), "gradient flow per layer")
    last = grads["grad_norm"][-1]
    ratios = (grads.get("update_ratio") or [[None] * len(last)])[-1]
    rows = [
        [name, norm, ratio if ratio is not None else ""]
        for name, norm, ratio in zip(grads["layers"], last, ratios, strict=False)
    ]
    html += table(["layer", f"grad norm (epoch {grads['epochs'][-1]})", "update / weight"], rows)
    return html


def evaluation(run: RunFiles) -> str:
    summary = run.json("data_summary.json") or {}
    metrics = run.json("metrics.json") or {}
    task = summary.get("task")
    html = ""
    for split in ("test", "validation"):
        predictions = run.table(f"predictions_{split}.csv")
        scores = metrics.get(split)
        if predictions is None and not isinstance(scores, dict):
            continue
        html += f"<h3>{esc(split.capitalize())} split</h3>"
        if predictions is not None:
            html += _evaluation_plots(task, predictions, summary, split)
        if isinstance(scores, dict):
            html += _per_class(scores)
    return html or para(
        "No validation or test predictions were recorded (a run without those splits).", "muted"
    )


def findings(run: RunFiles) -> str:
    found = run.json("findings.json")
    if found is None:
        return para(
            "No findings.json in this run folder: the training doctor did not run.", "muted"
        )
    items = found.get("findings", [])
    if not items:
        return para("The training doctor found nothing to report.")
    order = {"error": 0, "warning": 1, "info": 2}
    items = sorted(items, key=lambda f: order.get(f.get("severity"), 3))
    rows = []
    for f in items:
        severity = str(f.get("severity", "info"))
        badge = Raw(f'<span class="sev sev-{esc(severity)}">{esc(severity)}</span>')
        where = ", ".join(f"{k} {f[k]}" for k in ("epoch", "step", "layer") if f.get(k) is not None)
        evidence = Raw(_value_html(f.get("evidence") or {}))
        applied = f.get("applied") or ""
        rows.append(
            [
                badge,
                f.get("rule", ""),
                f.get("what", ""),
                evidence,
                f.get("fix", ""),
                where,
                applied,
            ]
        )
    counts = {s: sum(f.get("severity") == s for f in items) for s in order}
    head = para(", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n))
    return head + table(["severity", "rule", "what", "evidence", "fix", "where", "applied"], rows)


def reproduce(run: RunFiles) -> str:
    info = run.json("run.json") or {}
    summary = run.json("data_summary.json") or {}
    spec_data = _spec(run)
    source = spec_data.get("data", {}).get("source")
    finder = run.json("lr_finder.json")
    html = para("From inside the run folder:")
    commands = ["trainwise fit spec.yaml"]
    if finder:
        commands.append(f"trainwise fit spec.yaml train.lr={finder['suggestion']:.6g}")
    html += f"<pre>{esc(chr(10).join(commands))}</pre>"
    if finder:
        html += para(
            "The first line reruns the LR range test (same seed, same suggestion on the same "
            "hardware); the second skips it and uses the LR it chose."
        )
    if not source:
        html += para(
            "This run was trained on data passed from Python; pass the same DataFrame or "
            "arrays to trainwise.fit(spec='spec.yaml') to reproduce it."
        )
    rows = [
        ["data", source or f"in-memory data ({summary.get('dataset', '')})"],
        *[
            [k, info[k]]
            for k in (
                "seed",
                "deterministic",
                "device",
                "trainwise",
                "torch",
                "python",
                "platform",
                "epochs_run",
                "steps",
            )
            if k in info
        ],
    ]
    html += table(["", "value"], rows)
    if not info.get("deterministic", False):
        html += para(
            "train.deterministic was off: reruns match closely but not bit for bit on GPUs "
            "(set train.deterministic=true for identical reruns).",
            "muted",
        )
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in run.folder.iterdir())
    html += "<h3>Files in the run folder</h3>" + para(", ".join(files))
    return html


def _evaluation_plots(task: Any, predictions: Any, summary: dict[str, Any], split: str) -> str:
    if task in {"binary", "multiclass"}:
        classes = [c.removeprefix("proba_") for c in predictions.columns if c.startswith("proba_")]
        fig = plots.classification(predictions, classes, split)
        return figure(plots.data_uri(fig), f"confusion matrix, ROC and calibration ({split})")
    if task == "regression":
        targets = [str(t) for t in summary.get("target", [])]
        html = ""
        if "truth" in predictions.columns:
            pairs = [("", "truth", "prediction")]
        else:
            pairs = [(t, f"truth_{t}", t) for t in targets]
        for name, truth, predicted in pairs:
            fig = plots.residuals(predictions[truth], predictions[predicted], split, name)
            html += figure(plots.data_uri(fig), f"residuals {name} ({split})")
        return html
    return para(f"No plots are drawn for a {task} task; the table below has its scores.", "muted")


def _per_class(scores: dict[str, Any]) -> str:
    per_class = scores.get("per_class")
    flat = [[k, v] for k, v in scores.items() if isinstance(v, int | float) and k != "n"]
    html = table(["metric", "value"], flat) if flat else ""
    if isinstance(per_class, dict) and per_class:
        fields = list(next(iter(per_class.values())).keys())
        rows = [[name, *[v.get(f, "") for f in fields]] for name, v in per_class.items()]
        html += table(["class", *fields], rows)
    return html


def _parameter_count(weights: Path) -> int | None:
    """Number of values in a safetensors file, read from its JSON header (not the tensors)."""
    if not weights.is_file():
        return None
    with weights.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < 100_000_000:
            return None
        header = json.loads(f.read(size))
    return sum(
        math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__"
    )


def _spec(run: RunFiles) -> dict[str, Any]:
    text = run.text("spec.yaml")
    loaded = yaml.safe_load(text) if text else None
    return loaded if isinstance(loaded, dict) else {}


def _value_html(value: Any) -> str:
    """A JSON value from a summary or finding, escaped, nested dicts as `key: value` lists."""
    if isinstance(value, dict):
        if not value:
            return "none"
        return "<br>".join(f"{esc(k)}: {_value_html(v)}" for k, v in value.items())
    if isinstance(value, list):
        shown = ", ".join(_value_html(v) for v in value[:20])
        return shown + (f" … ({len(value)} in all)" if len(value) > 20 else "")
    if isinstance(value, float):
        return esc(f"{value:.4g}")
    return esc(value)


def json_text(value: Any) -> str:
    return json.dumps(value, default=str)[:2000]
