"""Columns of image file paths inside a table of other features (the `mixed` kind).

A table with one column of image paths and a label is an image dataset (data/image_sources.py).
A table whose image-path column sits beside other feature columns (numbers, categories, text) is
a mixed table instead: every column keeps its own encoder and the image column gets a
convolutional one (models/combiner.py), so a label that depends on the picture *and* the numbers
can be learned.

A column is an image column when a sample of its values are all strings ending in an image
extension, or when `data.kinds` marks it `image`. Its paths are resolved relative to the table's
folder (or absolute), and every file must exist: a typo fails at once, naming the column and the
first missing path, rather than turning the column into a category of file names.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from trainwise.data.image_sources import IMAGE_EXTENSIONS, resolve_image_paths
from trainwise.data.schema import Column, Schema, infer_kind
from trainwise.spec.model import DataSpec

SAMPLE = 20  # values checked per column: enough to tell paths from names, cheap on any table
REASON = "image file paths"


def image_path_columns(frame: pd.DataFrame, kinds: dict[str, str] | None = None) -> list[str]:
    """Columns holding image file paths: marked `image` in `kinds`, or whose sampled values all
    end in an image extension (a column `kinds` gives another kind is never one)."""
    kinds = kinds or {}
    found = []
    for name, dtype in frame.dtypes.items():
        if name in kinds:
            if kinds[name] == "image":
                found.append(str(name))
            continue
        if dtype.kind in "biufcmM":  # numbers, booleans, times: never paths
            continue
        values = frame[name].dropna()
        step = max(1, len(values) // SAMPLE)
        sample = values.iloc[::step].head(SAMPLE)
        if len(sample) and all(
            isinstance(v, str) and v.strip().lower().endswith(IMAGE_EXTENSIONS) for v in sample
        ):
            found.append(str(name))
    return found


def mixed_image_columns(
    frame: pd.DataFrame, spec: DataSpec, target: str | list[str] | None
) -> list[str]:
    """The image columns of a table that also has other feature columns; [] for a plain image
    dataset (paths and a label, nothing else used) or a table without image paths.

    Other features are the columns besides the image columns, the target(s), `data.drop` and
    the split group that would be used (an id column or a constant does not count). Without a
    target the one remaining column would be the label, so two or more make the table mixed.
    """
    columns = [c for c in image_path_columns(frame, spec.kinds) if not set_aside(c, spec)]
    if not columns:
        return []
    targets = [target] if isinstance(target, str) else list(target or [])
    excluded = {*columns, *targets, *spec.drop} | (
        {spec.split.group} if spec.split.group else set()
    )
    others = [c for c in frame.columns if c not in excluded]
    if not targets:
        return columns if len(others) >= 2 else []
    used = [c for c in others if _used(c, spec.kinds.get(c) or infer_kind(frame[c])[0])]
    return columns if used else []


def set_aside(column: str, spec: DataSpec) -> bool:
    """Whether the spec keeps a column of paths from being read as images: it is dropped, or
    `data.kinds` gives it another kind (file names as a category, say)."""
    return column in spec.drop or spec.kinds.get(column, "image") != "image"


def _used(name: str, kind: str) -> bool:
    return Column(name, kind, "", 0, 0).used


def resolve_image_columns(frame: pd.DataFrame, columns: list[str], base: Path) -> pd.DataFrame:
    """Every listed column's paths made absolute (relative ones read from `base`, the table's
    folder); a missing file is a DataError naming the column and the first missing path."""
    for column in columns:
        if column in frame.columns:
            frame = resolve_image_paths(frame, column, base)
    return frame


def table_folder(source: str | None) -> Path:
    """Where relative image paths of a table are read from: its folder, else the working one."""
    if source:
        path = Path(source).expanduser()
        if path.is_file():
            return path.resolve().parent
    return Path.cwd()


def image_column_kinds(kinds: dict[str, str], columns: tuple[str, ...]) -> dict[str, str]:
    """`data.kinds` with the detected image columns marked `image` for schema inference."""
    return {**kinds, **{c: "image" for c in columns}}


def explain_image_columns(
    schema: Schema, columns: tuple[str, ...], kinds: dict[str, str]
) -> Schema:
    """The schema with each detected image column's reason in words (the data summary shows
    it), rather than "set in data.kinds" for a column the user never marked."""
    cols = tuple(
        replace(c, reason=REASON) if c.name in columns and c.name not in kinds else c
        for c in schema.columns
    )
    return replace(schema, columns=cols)


def resolve_for_prediction(frame: pd.DataFrame, schema: Schema, source: Path) -> pd.DataFrame:
    """A table read for prediction: its image columns' relative paths read from its folder."""
    return resolve_image_columns(frame, schema.of_kind("image"), source.resolve().parent)
