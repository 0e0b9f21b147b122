"""Finding: one diagnosis of a run, in plain words, with its evidence and the advised fix.

Findings are plain data so they can be printed as they appear, saved in the run folder as
`findings.json` and read back by `trainwise doctor RUN` or the report, without any code running.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """What the doctor saw. `applied` says what auto-fix changed because of it (or None).

    >>> f = Finding("divergence", "warning", "the loss rose", {"loss": [0.5, 3.0]}, "lower lr")
    >>> f.line()
    'warning [divergence] the loss rose. Fix: lower lr'
    """

    rule: str
    severity: Severity
    what: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    epoch: int | None = None
    step: int | None = None
    layer: str | None = None
    applied: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["evidence"] = {k: _plain(v) for k, v in self.evidence.items()}
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Finding:
        return cls(
            **{k: raw.get(k) for k in cls.__dataclass_fields__}
            | {
                "evidence": raw.get("evidence") or {},
                "fix": raw.get("fix") or "",
            }
        )

    @property
    def key(self) -> tuple[str, str | None]:
        """Identity for de-duplication: a rule reports each layer (or the run) once."""
        return self.rule, self.layer

    def line(self) -> str:
        """One console line: severity, rule, what, and the fix (or what auto-fix did)."""
        text = f"{self.severity} [{self.rule}] {self.what.rstrip('.')}"
        if self.applied:
            return f"{text}. Applied: {self.applied}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def _plain(value: Any) -> Any:
    """Evidence as JSON: floats rounded to 4 significant digits, non-finite as strings."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return float(f"{value:.4g}")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):  # a NumPy or torch scalar
        return _plain(value.item())
    return value


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first; data findings (no epoch) before training ones; then by epoch."""
    return sorted(
        findings,
        key=lambda f: (-SEVERITY_RANK[f.severity], f.epoch is not None, f.epoch or 0, f.rule),
    )


def write_findings(path: Path, findings: list[Finding]) -> None:
    payload = {"findings": [f.to_json() for f in findings]}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def read_findings(path: Path) -> list[Finding]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [Finding.from_json(item) for item in raw.get("findings", [])]


def format_findings(findings: list[Finding]) -> str:
    """The text `trainwise doctor RUN` prints: one block per finding, worst first."""
    if not findings:
        return "no findings: nothing unusual in data or training"
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    lines = [", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())]
    for f in sort_findings(findings):
        where = ", ".join(
            part
            for part in (
                f"layer {f.layer}" if f.layer else "",
                f"epoch {f.epoch}" if f.epoch is not None else "",
                f"step {f.step}" if f.step is not None else "",
            )
            if part
        )
        lines.append("")
        lines.append(f"{f.severity.upper()} [{f.rule}]" + (f" ({where})" if where else ""))
        lines.append(f"  {f.what}")
        if f.evidence:
            shown = "; ".join(f"{k}={_short(v)}" for k, v in f.evidence.items())
            lines.append(f"  evidence: {shown}")
        if f.fix:
            lines.append(f"  fix: {f.fix}")
        if f.applied:
            lines.append(f"  applied: {f.applied}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, list) and len(value) > 8:
        return (
            "[" + ", ".join(map(str, value[:4])) + ", …, " + ", ".join(map(str, value[-2:])) + "]"
        )
    return str(value)
