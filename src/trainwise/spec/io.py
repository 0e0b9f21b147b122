"""Spec input and output: YAML files, Python keyword arguments, dotted command-line overrides.

All three paths end in `parse_spec`, which turns pydantic's validation errors into one
`SpecError` that names the field, the value, what is allowed and, for misspelt keys, the closest
valid name. YAML is always read with the safe loader: a spec never executes code.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from trainwise.errors import SpecError
from trainwise.spec.model import Spec

SECTIONS = tuple(Spec.model_fields)


def load_spec(path: str | Path, overrides: list[str] | None = None) -> Spec:
    """Read a YAML spec file, apply `key.path=value` overrides, validate."""
    raw = read_yaml(path)
    return parse_spec(apply_overrides(raw, overrides or []))


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not is_existing_file(path):
        raise SpecError(
            f"spec file {str(path)!r} does not exist",
            "a YAML file with sections data, model, train, evaluate, output",
            "check the path, or run `trainwise spec --show` for a template",
        )
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(
            f"spec file {str(path)!r} is not valid YAML ({reason})",
            "a YAML mapping of sections",
            "fix the syntax at the position given",
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpecError(
            f"spec file {str(path)!r} holds a {type(raw).__name__}, not a mapping",
            f"a mapping with sections {', '.join(SECTIONS)}",
            "start the file with e.g. `data:` on its own line",
        )
    return raw


def dump_yaml(spec: Spec) -> str:
    """The resolved spec, every default included, as YAML."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.field=value` strings; values parse as YAML (`[128,64]`, `3e-4`, `true`)."""
    result = _deep_copy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise SpecError(
                f"override {item!r} is not of the form key.path=value",
                "e.g. train.lr=3e-4 or model.hidden=[128,64]",
                "write the dotted field name, '=', then the value",
            )
        try:
            value = parse_yaml(text) if text.strip() else None
        except ValueError:
            value = text
        if isinstance(value, float) is False and isinstance(value, str):
            value = _maybe_number(value)
        _set_path(result, key.split("."), value, item)
    return result


def spec_from_kwargs(base: dict[str, Any] | None = None, **kwargs: Any) -> Spec:
    """Build a spec from section dicts (`train={"lr": 1e-3}`) and flat keywords (`lr=1e-3`).

    A flat keyword must name exactly one field across all sections; nested sections are reached
    by their own name (`early_stopping={"patience": 5}`).
    """
    raw = _deep_copy(base or {})
    for key, value in kwargs.items():
        if key in SECTIONS:
            if isinstance(value, BaseModel):
                value = value.model_dump()
            if not isinstance(value, dict):
                raise SpecError(
                    f"section {key!r} given as {type(value).__name__}",
                    "a dict of that section's fields",
                    f"pass {key}={{...}}",
                )
            _merge(raw.setdefault(key, {}), value)
            continue
        _set_path(raw, _locate_flat_key(key), value, key)
    return parse_spec(raw)


def parse_spec(raw: dict[str, Any]) -> Spec:
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        raise spec_error_from(exc) from None


def spec_error_from(exc: ValidationError) -> SpecError:
    """Turn pydantic's report into one message about the first problem (and a count of others)."""
    errors = _merge_union_errors(exc.errors())
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    field = ".".join(loc) or "spec"
    value = first.get("input")
    kind = first["type"]
    more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5)
        parent = ".".join(loc[:-1]) or "the spec"
        fix = f"did you mean {'.'.join([*loc[:-1], close[0]])!r}?" if close else "remove it"
        return SpecError(
            f"unknown field {field!r} in {parent}{more}",
            f"one of {', '.join(allowed)}",
            fix,
        )
    expected = first["msg"]
    fix = "change the value, or run `trainwise spec --show` to see every field and its default"
    ctx = first.get("ctx") or {}
    if kind == "literal_error" and "expected" in ctx:
        options = [o.strip(" '") for o in str(ctx["expected"]).replace(" or ", ",").split(",")]
        options = [o for o in options if o]
        expected = f"one of {', '.join(options)}"
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        if close:
            fix = f"did you mean {close[0]!r}?"
    elif kind == "value_error":
        expected = str(ctx.get("error", first["msg"]))
        if not loc or loc[0] == "tune":  # a check across fields: its own words say it best
            where = field if loc else "tune"
            return SpecError(f"spec field {where!r}: {expected}{more}", "", "fix that section")
    return SpecError(
        f"spec field {field!r} has invalid value {short_repr(value)}{more}", expected, fix
    )


_UNION_TAGS = {"int", "float", "str", "bool", "none"}


def _is_union_tag(part: object) -> bool:
    """pydantic names the member of a union it tried (`constrained-int`, `literal['auto']`)."""
    text = str(part)
    return text in _UNION_TAGS or "[" in text or "-" in text


def _merge_union_errors(errors: list[Any]) -> list[Any]:
    """One error per field: a value that fits no member of `int | 'auto'` is one problem, with
    the members' expectations joined by "or" (pydantic reports one error per member)."""
    merged: list[Any] = []
    for error in errors:
        if error["type"] == "extra_forbidden":  # the last part is the user's own key
            merged.append(error)
            continue
        loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
        if merged and merged[-1]["loc"] == loc and len(loc) < len(error["loc"]):
            previous = merged[-1]
            if previous["type"] == "literal_error":  # keep the number's message first
                previous, error = error, previous
            merged[-1] = previous | {"loc": loc, "msg": f"{previous['msg']}, or {error['msg']}"}
            merged[-1]["type"] = "union"
            continue
        merged.append(error | {"loc": loc})
    return merged


def _allowed_fields(path: list[str]) -> list[str]:
    model: type[BaseModel] = Spec
    for part in path:
        info = model.model_fields.get(part)
        annotation = getattr(info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _flat_index() -> dict[str, list[list[str]]]:
    index: dict[str, list[list[str]]] = {}

    def walk(model: type[BaseModel], prefix: list[str]) -> None:
        for name, info in model.model_fields.items():
            index.setdefault(name, []).append([*prefix, name])
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, [*prefix, name])

    for section in SECTIONS:
        walk(Spec.model_fields[section].annotation, [section])  # type: ignore[arg-type]
    return index


def _locate_flat_key(key: str) -> list[str]:
    if "." in key or "__" in key:
        return key.replace("__", ".").split(".")
    index = _flat_index()
    paths = index.get(key, [])
    if paths:  # the shallowest field wins (train.seed over data.split.seed) when it is unique
        shallowest = [p for p in paths if len(p) == min(map(len, paths))]
        if len(shallowest) == 1:
            return shallowest[0]
        paths = shallowest
    if len(paths) > 1:
        options = ", ".join(".".join(p) for p in paths)
        raise SpecError(
            f"keyword {key!r} is ambiguous",
            f"one of {options}",
            f"name the path with double underscores, e.g. {'__'.join(paths[-1])}=...",
        )
    close = difflib.get_close_matches(key, list(index), n=1, cutoff=0.6)
    raise SpecError(
        f"unknown keyword {key!r}",
        "a spec field name such as lr, epochs, hidden, batch_size, target",
        f"did you mean {close[0]!r}?" if close else "run `trainwise spec --show` to list fields",
    )


def _set_path(raw: dict[str, Any], parts: list[str], value: Any, original: str) -> None:
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SpecError(
                f"override {original!r} goes inside {part!r}, which holds a value, not a section",
                "a dotted path to a field",
                "check the field name with `trainwise spec --show`",
            )
        node = child
    if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
        _merge(node[parts[-1]], value)  # a section given twice: merge, don't replace
    else:
        node[parts[-1]] = value


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def parse_yaml(text: str) -> Any:
    """Safe YAML that fails only with ValueError.

    PyYAML's own constructors raise IndexError, KeyError or AttributeError on some tags and
    dates (`!!int`, `2001-13-45`), deep nesting exhausts the recursion limit, and an anchor that
    contains itself builds a cyclic object; all of these are the user's text, not our bug.
    """
    try:
        value = yaml.safe_load(text)
        json.dumps(value, default=str)  # rejects self-referencing anchors (cycles)
    except yaml.MarkedYAMLError as exc:
        raise ValueError(_yaml_problem(exc)) from None
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        raise ValueError(f"cannot read a value ({type(exc).__name__}: {exc})"[:200]) from None
    return value


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """What PyYAML found wrong and where (1-based line and column), on one line.

    Its own first line is only the context ("while parsing a flow sequence"), without the
    problem or the position a user needs to find the mistake.
    """

    def at(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""

    problem = exc.problem or exc.context or "invalid YAML"
    where = at(exc.problem_mark)
    text = f"{problem} at {where}" if where else problem
    if exc.context and exc.problem:
        started = at(exc.context_mark)
        text += f", {exc.context}" + (f" started at {started}" if started else "")
    return text


def short_repr(value: Any, limit: int = 80) -> str:
    """A value for an error message: never huge, never itself an error."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4,300 digits
        return "<a number too long to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_existing_file(path: str | Path) -> bool:
    """Path.is_file() without raising for names too long for the file system."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def _deep_copy(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in raw.items()}


def _maybe_number(text: str) -> Any:
    """YAML 1.1 reads `3e-4` as a string; users mean a number."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text
