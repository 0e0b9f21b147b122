"""A validated `tune.space` as Optuna distributions: sample a trial's values, apply them to a spec.

Optuna's categorical distributions hold only None, bool, int, float and str; a choice of lists
(`model.hidden: [[64], [128, 64]]`) is stored as JSON text (`"[128, 64]"`) and decoded here, so
the trials table stays readable and the storage holds only plain values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import optuna

from trainwise.errors import SpecError
from trainwise.spec.io import parse_spec
from trainwise.spec.model import Spec
from trainwise.spec.space import Dist, parse_space

_PLAIN = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class SearchSpace:
    """The searched fields of a spec, in sampling order."""

    dists: tuple[Dist, ...]

    @classmethod
    def from_spec(cls, spec: Spec) -> SearchSpace:
        if not spec.tune.space:
            raise SpecError(
                "the spec's tune.space is empty, so there is nothing to tune",
                "at least one field, e.g. tune.space: {train.lr: loguniform(1e-4, 1e-1)}",
                "add fields to tune.space (see docs/tuning.md), or use `trainwise fit --auto`",
            )
        return cls(tuple(parse_space(spec.tune.space)))

    @property
    def paths(self) -> list[str]:
        return [d.path for d in self.dists]

    def fingerprint(self) -> str:
        """Identifies the space, so a study is never resumed with a different one."""
        text = json.dumps([d.describe() + repr(d.when) for d in self.dists])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def sample(self, trial: optuna.Trial, base: Spec) -> dict[str, Any]:
        """Draw the trial's values in order; a conditional field is drawn only when its
        condition holds (on a value drawn earlier in this trial, or the base spec's)."""
        values: dict[str, Any] = {}
        raw = base.model_dump(mode="json")
        for dist in self.dists:
            if not all(_lookup(values, raw, path) in allowed for path, allowed in dist.when):
                continue
            values[dist.path] = _suggest(trial, dist)
        return values

    def grid(self) -> dict[str, list[Any]]:
        """The search space for grid search: every value of every field, encoded for Optuna."""
        out: dict[str, list[Any]] = {}
        for dist in self.dists:
            values = dist.grid_values()
            if values is None:
                raise SpecError(
                    f"grid search cannot enumerate tune.space[{dist.path!r}] = {dist.describe()}",
                    "finite fields only: choice([...]), int(LOW, HIGH) or uniform(LOW, HIGH, "
                    "step=S)",
                    f"give {dist.path} a choice or a step, or use tune.strategy=tpe",
                )
            if dist.when:
                raise SpecError(
                    f"grid search cannot use the conditional field {dist.path!r}",
                    "a grid of unconditional fields (each combination is one trial)",
                    "drop the 'when', or use tune.strategy=tpe or random",
                )
            out[dist.path] = [encode(v) for v in values]
        return out

    def grid_size(self) -> int:
        size = 1
        for values in self.grid().values():
            size *= len(values)
        return size


def apply(base: Spec, values: dict[str, Any]) -> Spec:
    """The base spec with a trial's values set (validated as a whole)."""
    raw = base.model_dump(mode="json")
    for path, value in values.items():
        node = raw
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return parse_spec(raw)


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    """A stored trial's params (JSON text for lists) as spec values."""
    return {k: _decode(v) for k, v in params.items()}


def _suggest(trial: optuna.Trial, dist: Dist) -> Any:
    if dist.kind == "choice":
        return _decode(trial.suggest_categorical(dist.path, [encode(c) for c in dist.choices]))
    if dist.kind == "int":
        step = int(dist.step or 1)
        return trial.suggest_int(dist.path, int(dist.low), int(dist.high), step=step, log=dist.log)
    return trial.suggest_float(dist.path, dist.low, dist.high, step=dist.step, log=dist.log)


def encode(value: Any) -> Any:
    return value if isinstance(value, _PLAIN) else json.dumps(value)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _lookup(values: dict[str, Any], raw: dict[str, Any], path: str) -> Any:
    if path in values:
        return values[path]
    node: Any = raw
    for part in path.split("."):
        node = node[part]
    return node
