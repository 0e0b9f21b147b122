"""The grammar of a search space: `tune.space` entries as plain, validated data.

A space maps a dotted spec path to a distribution. It lives in the spec layer so that a bad space
fails when the spec is read, like any other field, and never after an hour of tuning. Text is
parsed with `ast` into literals only: a space never executes code.

>>> parse_entry("train.lr", "loguniform(1e-5, 1e-1)")
Dist(path='train.lr', kind='float', low=1e-05, high=0.1, log=True, step=None, choices=(), when=())
>>> parse_entry("model.hidden", [[64], [128, 64]]).choices
([64], [128, 64])
>>> parse_entry("model.channels", {"choice": [[32, 64]], "when": {"model.name": "cnn1d"}}).when
(('model.name', ('cnn1d',)),)
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

FORMS = (
    "loguniform(LOW, HIGH)",
    "uniform(LOW, HIGH[, step=S])",
    "int(LOW, HIGH[, step=S][, log=true])",
    "choice([A, B, ...])",
    "a list of values (a choice)",
    "{dist: ..., when: {PATH: VALUE}} / {choice: [...], when: {...}}",
)


@dataclass(frozen=True)
class Dist:
    """One searched field. `kind` is float, int or choice; `when` lists (path, allowed values):
    the field is sampled only in trials where every condition holds."""

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def boundary_values(self) -> list[Any]:
        """The values whose validity proves every sampled value valid (ranges are convex)."""
        if self.kind == "choice":
            return list(self.choices)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]

    def grid_values(self) -> list[Any] | None:
        """Every value of a finite distribution, or None for a continuous range."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "float" and self.step:
            n = round((self.high - self.low) / self.step)
            return [round(self.low + i * self.step, 12) for i in range(n + 1)]
        return None

    def describe(self) -> str:
        if self.kind == "choice":
            return f"choice({list(self.choices)})"
        name = {"float": "loguniform" if self.log else "uniform", "int": "int"}[self.kind]
        extra = f", step={self.step:g}" if self.step else ""
        extra += ", log=true" if self.kind == "int" and self.log else ""
        return f"{name}({self.low:g}, {self.high:g}{extra})"


def parse_entry(path: str, value: Any) -> Dist:
    """One `tune.space` entry → `Dist`; raises ValueError naming the path and the forms allowed."""
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    if isinstance(value, dict):
        keys = set(value)
        if not keys <= {"dist", "choice", "when"} or len(keys & {"dist", "choice"}) != 1:
            raise ValueError(
                f"tune.space[{path!r}] is a mapping with keys {sorted(keys)}; expected exactly "
                "one of 'dist' or 'choice', and optionally 'when'"
            )
        when = _parse_when(path, value.get("when", {}))
        value = value["dist"] if "dist" in value else list(value["choice"] or [])
    if isinstance(value, list | tuple):
        return _choice(path, list(value), when)
    if not isinstance(value, str):
        raise ValueError(f"tune.space[{path!r}] is {value!r}; expected one of: {'; '.join(FORMS)}")
    name, args, kwargs = _parse_call(path, value)
    if name == "choice":
        if len(args) != 1 or not isinstance(args[0], list | tuple) or kwargs:
            raise ValueError(f"tune.space[{path!r}]: choice takes one list, e.g. choice([1, 2])")
        return _choice(path, list(args[0]), when)
    if name not in {"uniform", "loguniform", "int"}:
        raise ValueError(
            f"tune.space[{path!r}]: unknown distribution {name!r}; expected one of: "
            + "; ".join(FORMS)
        )
    if len(args) != 2 or not all(_is_number(a) for a in args):
        raise ValueError(f"tune.space[{path!r}]: {name} takes two numbers, LOW and HIGH")
    unknown = set(kwargs) - {"step", "log"}
    if (
        unknown
        or (name != "int" and "log" in kwargs)
        or (name == "loguniform" and "step" in kwargs)
    ):
        raise ValueError(f"tune.space[{path!r}]: {name} does not take {sorted(kwargs)}")
    low, high = args
    log = name == "loguniform" or bool(kwargs.get("log", False))
    step = kwargs.get("step")
    if name == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ValueError(f"tune.space[{path!r}]: int bounds must be whole numbers")
    if not low < high:
        raise ValueError(f"tune.space[{path!r}]: LOW must be below HIGH, got {low} and {high}")
    if log and low <= 0:
        raise ValueError(f"tune.space[{path!r}]: a log scale needs LOW > 0, got {low}")
    if step is not None and (not _is_number(step) or step <= 0 or step > high - low):
        raise ValueError(f"tune.space[{path!r}]: step must be in (0, HIGH - LOW], got {step}")
    if step is not None and log:
        raise ValueError(f"tune.space[{path!r}]: step and log cannot be combined")
    kind = "int" if name == "int" else "float"
    return Dist(path, kind, float(low), float(high), log, step, (), when)


def flatten_space(space: Any) -> Any:
    """Nested YAML (`train: {lr: ...}`) and dotted overrides (`tune.space.train.lr=...`) both
    mean the path `train.lr`; a mapping is a path segment unless it is an entry (dist, choice,
    when)."""
    if not isinstance(space, dict):
        return space
    flat: dict[str, Any] = {}
    for key, value in space.items():
        if isinstance(value, dict) and value and not set(value) & {"dist", "choice", "when"}:
            for sub, entry in flatten_space(value).items():
                flat[f"{key}.{sub}"] = entry
        else:
            flat[str(key)] = value
    return flat


def parse_space(space: dict[str, Any]) -> list[Dist]:
    """Every entry, in order; a `when` must name a field sampled earlier or a fixed spec field
    (checked against the spec by the caller), and a searched field may not also be a condition
    on itself."""
    dists = [parse_entry(str(path), value) for path, value in space.items()]
    seen: dict[str, Dist] = {}
    for dist in dists:
        for cond_path, allowed in dist.when:
            if cond_path == dist.path:
                raise ValueError(f"tune.space[{dist.path!r}] has a condition on itself")
            earlier = seen.get(cond_path)
            if cond_path in space and earlier is None:
                raise ValueError(
                    f"tune.space[{dist.path!r}]: its condition on {cond_path!r} must come after "
                    f"{cond_path!r} in the space (fields are sampled in order)"
                )
            if earlier is not None:
                possible = earlier.grid_values()
                if possible is not None and not any(v in possible for v in allowed):
                    raise ValueError(
                        f"tune.space[{dist.path!r}] is sampled only when {cond_path} is one of "
                        f"{list(allowed)}, which {cond_path}'s own space {earlier.describe()} "
                        "never yields"
                    )
        seen[dist.path] = dist
    return dists


def _choice(path: str, values: list[Any], when: tuple) -> Dist:
    if not values:
        raise ValueError(f"tune.space[{path!r}]: an empty choice leaves nothing to search")
    return Dist(path, "choice", choices=tuple(values), when=when)


def _parse_when(path: str, when: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(when, dict) or not when:
        raise ValueError(
            f"tune.space[{path!r}]: 'when' must map a spec path to a value or a list of values, "
            "e.g. {model.name: cnn1d}"
        )
    out = []
    for cond, allowed in when.items():
        values = tuple(allowed) if isinstance(allowed, list | tuple) else (allowed,)
        if not values:
            raise ValueError(f"tune.space[{path!r}]: the condition on {cond!r} allows no value")
        out.append((str(cond), values))
    return tuple(out)


def _parse_call(path: str, text: str) -> tuple[str, list[Any], dict[str, Any]]:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        node = None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"tune.space[{path!r}] is {text!r}; expected one of: {'; '.join(FORMS)}")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: _literal_kw(k.value) for k in node.keywords if k.arg}
    except ValueError:
        raise ValueError(
            f"tune.space[{path!r}]: the arguments of {text!r} must be plain numbers, strings "
            "or lists"
        ) from None
    return node.func.id, args, kwargs


def _literal_kw(node: ast.expr) -> Any:
    if isinstance(node, ast.Name) and node.id.lower() in {"true", "false"}:
        return node.id.lower() == "true"
    return ast.literal_eval(node)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
