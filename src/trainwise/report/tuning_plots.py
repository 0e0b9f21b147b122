"""The Tuning section's figures, drawn from a study's `trials.json` rows and importances.

Drawn here rather than copied from Optuna's plot files so that they match the rest of the report
and mark what the study's own plots cannot: the defaults' trial and the trial that was chosen.
Each function returns a matplotlib Figure; `plots.data_uri` makes it an inline PNG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from trainwise.report.plots import ACCENT, TRAIN, VALIDATION, _axes, _short, tight

BASELINE_COLOUR = "#7f7f7f"


def history(
    rows: Sequence[dict[str, Any]],
    metric: str,
    maximize: bool,
    baseline: int | None = None,
    chosen: int | None = None,
) -> Figure:
    """Each completed trial's score by trial number, the best so far as a step line, pruned and
    failed trials as ticks on the axis, the defaults and the chosen trial marked."""
    fig, (ax,) = _axes(1, width=7.0, height=3.6)
    done = sorted(
        (r["trial"], float(r["score"])) for r in rows if r.get("state") == "complete" and _num(r)
    )
    if done:
        numbers, scores = zip(*done, strict=True)
        ax.scatter(numbers, scores, s=18, color=TRAIN, alpha=0.75, label="trial", zorder=3)
        running = np.maximum.accumulate(scores) if maximize else np.minimum.accumulate(scores)
        ax.step(numbers, running, where="post", color=VALIDATION, label="best so far")
        marks = {t: s for t, s in done}
        if baseline in marks:
            ax.scatter(
                [baseline],
                [marks[baseline]],
                s=80,
                marker="s",
                facecolors="none",
                edgecolors=BASELINE_COLOUR,
                linewidths=1.6,
                label="defaults",
                zorder=4,
            )
        if chosen in marks:
            ax.scatter(
                [chosen], [marks[chosen]], s=140, marker="*", color=ACCENT, label="chosen", zorder=5
            )
    stopped = [r["trial"] for r in rows if r.get("state") in ("pruned", "fail")]
    if stopped:
        ax.plot(
            stopped,
            [0] * len(stopped),
            "|",
            color="grey",
            markersize=10,
            transform=ax.get_xaxis_transform(),
            label="pruned or failed",
            clip_on=False,
        )
    better = "higher" if maximize else "lower"
    ax.set(title=f"Optimisation history ({better} is better)", xlabel="trial", ylabel=metric)
    ax.legend(fontsize=8)
    return tight(fig)


def importances(values: dict[str, float]) -> Figure:
    """fANOVA importance of each searched field, largest on top."""
    names = sorted(values, key=lambda k: values[k])
    fig, (ax,) = _axes(1, width=6.0, height=max(2.2, 0.35 * len(names) + 1.0))
    ax.barh(range(len(names)), [values[n] for n in names], color=TRAIN)
    ax.set_yticks(range(len(names)), [_short(n, 32) for n in names], fontsize=8)
    ax.set(title="Parameter importances (fANOVA)", xlabel="share of the score's variance")
    return tight(fig)


def parallel_coordinates(
    rows: Sequence[dict[str, Any]],
    params: Sequence[str],
    metric: str,
    maximize: bool,
    chosen: int | None = None,
) -> Figure:
    """One vertical axis per searched field and one for the score; each completed trial is a
    line coloured by its score (the chosen one drawn thick). Numbers keep their scale (log when
    they span two decades); choices sit at ordered, evenly spaced positions."""
    done = [r for r in rows if r.get("state") == "complete" and _num(r)]
    axes_spec = [_axis(name, [r.get(name) for r in done]) for name in params]
    scores = np.array([float(r["score"]) for r in done])
    axes_spec.append(_axis(metric, list(scores)))
    fig, (ax,) = _axes(1, width=max(6.0, 1.6 * len(axes_spec) + 1.0), height=4.2)
    ax.grid(False)
    low, high = (scores.min(), scores.max()) if len(scores) else (0.0, 1.0)
    span = (high - low) or 1.0
    cmap = colormaps["Blues"]  # light for the worst trials, dark for the best (read on white)
    order = np.argsort(scores if maximize else -scores)  # the best drawn last, on top
    for i in order:
        ys = [a["position"](done[i].get(a["name"])) for a in axes_spec[:-1]]
        ys.append(axes_spec[-1]["position"](scores[i]))
        thick = done[i]["trial"] == chosen
        ax.plot(
            range(len(ys)),
            ys,
            color=ACCENT if thick else cmap(0.3 + 0.7 * _goodness(scores[i], low, span, maximize)),
            linewidth=3.0 if thick else 1.2,
            alpha=1.0 if thick else 0.7,
            zorder=3 if thick else 2,
        )
    for x, a in enumerate(axes_spec):
        ax.axvline(x, color="#444444", linewidth=0.8)
        for position, label in a["ticks"]:
            ax.text(x + 0.03, position, label, fontsize=7, va="center", ha="left")
    ax.set_xticks(
        range(len(axes_spec)),
        [a["label"] for a in axes_spec],
        fontsize=8,
        rotation=20 if len(axes_spec) > 5 else 0,
    )
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes_spec) - 0.4)
    ax.set_ylim(-0.06, 1.06)
    ax.set_title("Parallel coordinates (completed trials; the chosen one thick)")
    return tight(fig)


def _goodness(score: float, low: float, span: float, maximize: bool) -> float:
    """0 for the worst completed score, 1 for the best."""
    share = (score - low) / span
    return share if maximize else 1.0 - share


def _axis(name: str, values: list[Any]) -> dict[str, Any]:
    """How one field's values map to heights in [0, 1], and the labels drawn along its axis."""
    present = [v for v in values if v is not None and not _nan(v)]
    numeric = present and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )
    if numeric and len(set(present)) > 1:
        log = min(present) > 0 and max(present) / min(present) >= 100
        f = math.log10 if log else float
        low, high = f(min(present)), f(max(present))

        def position(v: Any) -> float:
            return math.nan if v is None or _nan(v) else (f(v) - low) / (high - low)

        ticks = [
            (
                k / 4,
                _tick(10 ** (low + k / 4 * (high - low)) if log else low + k / 4 * (high - low)),
            )
            for k in range(5)
        ]
        return {
            "name": name,
            "label": _short(name, 22) + ("\n(log)" if log else ""),
            "position": position,
            "ticks": ticks,
        }
    levels = sorted({_key(v) for v in present}, key=_order)
    where = {v: (k / (len(levels) - 1) if len(levels) > 1 else 0.5) for k, v in enumerate(levels)}

    def level(v: Any) -> float:
        return math.nan if v is None or _nan(v) else where[_key(v)]

    ticks = [(where[v], _short(v, 16)) for v in levels]
    return {"name": name, "label": _short(name, 22), "position": level, "ticks": ticks}


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _order(text: str) -> tuple[Any, ...]:
    """Numbers by value, lists of numbers by length then values (`[64]` before `[128, 64]`),
    anything else by its text."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return (2, text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), text)
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return (1, len(value), tuple(float(v) for v in value), text)
    return (2, text)


def _tick(value: float) -> str:
    return f"{value:.3g}"


def _num(row: dict[str, Any]) -> bool:
    v = row.get("score")
    return isinstance(v, int | float) and math.isfinite(v)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
