"""The data stage: raw frames → cleaned, split, preprocessed tensors, with a report of each step.

Order matters and is fixed here: drop rows without a target, drop exact duplicates (before the
split, so no row can sit in both train and test), split, then fit every statistic on the training
rows alone and apply it to all splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.audio import AudioPreprocessor, audio_rows, audio_schema
from trainwise.data.builtin import load_builtin
from trainwise.data.image_columns import (
    explain_image_columns,
    image_column_kinds,
    mixed_image_columns,
    resolve_image_columns,
    set_aside,
    table_folder,
)
from trainwise.data.image_sources import (
    drop_duplicate_images,
    find_image_column,
    frame_from_image_arrays,
    read_image_folder,
    resolve_image_paths,
)
from trainwise.data.images import ImagePreprocessor, image_schema
from trainwise.data.kinds import audio_table, detect_kind, source_folder
from trainwise.data.prepared import PreparedData, TensorSplit, tensorise
from trainwise.data.schema import Schema, infer_schema
from trainwise.data.sequence import SequencePreprocessor
from trainwise.data.sources import check_unique_columns, read_table
from trainwise.data.split import split_rows
from trainwise.data.streaming import decoded_split, should_stream
from trainwise.data.target import TargetEncoder
from trainwise.data.text_kinds import resolve_kind, text_preprocessor, text_preprocessor_from_state
from trainwise.data.timeseries import TimeseriesPreprocessor, prepare_timeseries
from trainwise.data.transforms import Preprocessor, TabularPreprocessor
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec

IMBALANCE_RATIO = 10.0


@dataclass(frozen=True)
class Frames:
    """Raw tables before any cleaning, plus the target and task they imply."""

    name: str
    frame: pd.DataFrame
    validation: pd.DataFrame | None
    test: pd.DataFrame | None
    target: str | list[str]
    task: str
    kind: str = "tabular"  # auto | tabular | sequence | text | mixed | image | audio | timeseries
    image_column: str | None = None
    image_columns: tuple[str, ...] = ()  # image-path columns of a mixed table


def load_frames(
    spec: DataSpec,
    frame: pd.DataFrame | None = None,
    validation: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
) -> Frames:
    """Resolve the data named by the spec (file or built-in) or passed in by the caller."""
    target, task, name, kind = spec.target, spec.task, "data", spec.kind
    for given, label in ((frame, "training"), (validation, "validation"), (test, "test")):
        if given is not None:  # files are checked as they are read
            check_unique_columns(list(given.columns), f"the {label} DataFrame")
    if frame is not None:
        frame, kind, target = detect_kind(spec, frame, kind, target, Path.cwd())
    else:
        if spec.source is None:
            raise DataError(
                "no data given",
                "data.source: a CSV/TSV/Parquet/JSON-lines file or a built-in dataset name",
                "pass --data FILE (or a built-in name such as digits) or set data.source",
            )
        if not _exists(spec.source) and not _looks_like_path(spec.source):
            builtin = load_builtin(spec.source)  # an unknown name gets "did you mean"
            frame, name = builtin.frame, builtin.name
            kind = builtin.kind if kind == "auto" else kind
            if target is None or target == builtin.target:
                target = builtin.target
                task = task if task != "auto" else builtin.task
            if test is None and builtin.test_frame is not None and spec.test is None:
                test = builtin.test_frame
        elif (rows := audio_rows(spec.source, spec.audio)) is not None:
            frame, name, kind = rows, _stem(spec.source), "audio"
            target = target or "label"
        elif _exists(spec.source) and Path(spec.source).is_dir():
            frame, name, kind = read_image_folder(spec.source), _stem(spec.source), "image"
            target = "label" if target is None else target
        else:
            frame = read_table(spec.source, fmt=spec.format)
            name = _stem(spec.source)
            if kind in {"auto", "image"}:
                column = find_image_column(frame, spec.image.column, arrays=False)
                if column is not None:
                    base = Path(spec.source).resolve().parent
                    frame, kind = resolve_image_paths(frame, column, base), "image"
            if kind != "image":
                base = source_folder(spec.source)
                frame, kind, target = detect_kind(spec, frame, kind, target, base)
    if validation is None and spec.validation:
        validation = read_table(spec.validation, fmt=spec.format)
    if test is None and spec.test:
        test = read_table(spec.test, fmt=spec.format)
    if kind == "audio":  # separate validation/test tables list their clips the same way
        validation, test = audio_table(validation, spec.validation), audio_table(test, spec.test)
    image_column = None
    if kind in {"auto", "image"}:
        # arrays are images only when marked so (N×H×W / N×C×H×W input) or asked for: a
        # column of 2-D arrays may equally be sequences of varying length (steps × channels)
        arrays = kind == "image" or bool(frame.attrs.get("images"))
        image_column = find_image_column(frame, spec.image.column, arrays)
        if image_column is None and kind == "image":
            raise DataError(
                "data.kind is image but no column holds image paths or arrays",
                "a folder of class sub-folders, or a column of image file paths",
                "set data.image.column to the column of paths",
            )
        kind = "image" if image_column is not None else kind
        if image_column is not None:
            validation = _image_paths(validation, image_column, spec.validation)
            test = _image_paths(test, image_column, spec.test)
        others = [c for c in frame.columns if c != image_column]
        if image_column is not None and target is None and len(others) == 1:
            target = others[0]  # a table of (path, label): the label is the target
    image_columns: tuple[str, ...] = ()
    if spec.kind in {"auto", "mixed"} and not frame.attrs.get("images"):
        if image_column is not None and set_aside(image_column, spec):
            kind, image_column = "auto", None  # dropped, or given another kind in data.kinds
        # image paths beside other features: a mixed table, each column with its own encoder
        image_columns = tuple(mixed_image_columns(frame, spec, target))
        if image_columns:
            kind, image_column = "mixed", None
            frame = resolve_image_columns(frame, list(image_columns), table_folder(spec.source))
            for column in image_columns:
                validation = _image_paths(validation, column, spec.validation)
                test = _image_paths(test, column, spec.test)
    if target is None:
        raise DataError(
            "no target column named",
            f"data.target: one of the columns {', '.join(map(str, frame.columns[:40]))}",
            "pass --target COLUMN (or data.target in the spec)",
        )
    return Frames(name, frame, validation, test, target, task, kind, image_column, image_columns)


def prepare(spec: DataSpec, frames: Frames, seed: int) -> PreparedData:
    """Clean, split, fit preprocessing on train, and tensorise every split."""
    if frames.kind == "timeseries":  # time order rules its split, windows and scaling
        return prepare_timeseries(spec, frames)
    targets = [frames.target] if isinstance(frames.target, str) else list(frames.target)
    summary: dict[str, Any] = {"dataset": frames.name, "rows_in": len(frames.frame), "cleaning": {}}
    frame = _infinite_to_missing(frames.frame, summary)
    frame = _check_and_drop_missing_target(frame, targets, summary, "training data")
    image = frames.image_column
    if spec.clean.duplicates and image is not None:
        frame, dropped = drop_duplicate_images(frame, image)
        summary["cleaning"]["duplicate_rows_dropped"] = dropped
    elif spec.clean.duplicates:
        before = len(frame)
        try:
            frame = frame.drop_duplicates(ignore_index=True)
        except TypeError:  # a column of arrays (variable-length sequences) is not hashable
            hashable = frame.map(lambda v: tuple(v) if isinstance(v, list | np.ndarray) else v)
            frame = frame[~hashable.duplicated()].reset_index(drop=True)
        summary["cleaning"]["duplicate_rows_dropped"] = before - len(frame)
    schema = (
        audio_schema(frame, targets[0], frames.task)
        if frames.kind == "audio"
        else image_schema(frame, image, frames.target, frames.task)
        if image is not None
        else infer_schema(
            frame,
            frames.target,
            frames.task,
            image_column_kinds(spec.kinds, frames.image_columns),
            spec.drop,
            spec.split.group,
        )
    )
    if frames.image_columns:
        schema = explain_image_columns(schema, frames.image_columns, spec.kinds)

    split = spec.split
    fractions = (
        split.train,
        0.0 if frames.validation is not None else split.validation,
        0.0 if frames.test is not None else split.test,
    )
    total = sum(fractions)
    fractions = (fractions[0] / total, fractions[1] / total, fractions[2] / total)
    classification = schema.task in {"binary", "multiclass"}
    indices = split_rows(
        frame,
        fractions,
        seed=split.seed if split.seed is not None else seed,
        stratify_on=frame[targets[0]] if classification and split.stratify else None,
        group_on=frame[split.group] if split.group else None,
    )
    train = frame.iloc[indices.train].reset_index(drop=True)
    val = (
        _check_and_drop_missing_target(frames.validation, targets, summary, "validation data")
        if frames.validation is not None
        else frame.iloc[indices.validation].reset_index(drop=True)
    )
    test = (
        _check_and_drop_missing_target(frames.test, targets, summary, "test data")
        if frames.test is not None
        else frame.iloc[indices.test].reset_index(drop=True)
    )
    kind = resolve_kind(frames.kind, schema, frame)
    pre: Preprocessor = (
        AudioPreprocessor(schema, spec.audio)
        if kind == "audio"
        else ImagePreprocessor(schema, spec.image, image)
        if image is not None
        else text_preprocessor(kind, schema, spec)
        or (
            SequencePreprocessor(schema)
            if kind == "sequence"
            else TabularPreprocessor(schema, spec.clean)
        )
    ).fit(train)
    target = TargetEncoder(schema).fit(train)
    decoder = pre if isinstance(pre, ImagePreprocessor | AudioPreprocessor) else None  # files
    stream = decoder is not None and should_stream(spec, decoder, len(train) + len(val) + len(test))

    def split_tensors(rows: pd.DataFrame) -> TensorSplit | None:
        if not len(rows):
            return None
        if decoder is not None:
            return decoded_split(decoder, target, rows, stream, spec.workers)  # type: ignore[return-value]
        return tensorise(pre, target, rows)

    described = _describe(schema, pre, train, val, test, indices.notes)
    described["cleaning"] = summary["cleaning"] | described["cleaning"]
    summary.update(described)
    summary["kind"] = kind
    # splits cut here from the one deduplicated table hold distinct records; given files may not
    summary["splits_given"] = [
        name
        for name, given in (("validation", frames.validation), ("test", frames.test))
        if given is not None
    ]
    if decoder is not None:
        summary["loading"] = "stream" if stream else "memory"
    train_split = split_tensors(train)
    assert train_split is not None  # split_rows guarantees training rows
    return PreparedData(
        schema=schema,
        preprocessor=pre,
        target=target,
        train=train_split,
        validation=split_tensors(val),
        test=split_tensors(test),
        test_rows=test if len(test) else None,
        summary=summary,
    )


def preprocessor_from_state(schema: Schema, raw: dict[str, Any]) -> Preprocessor:
    """Rebuild a fitted preprocessor from its JSON state (a saved model bundle)."""
    if raw.get("kind") == "image":
        return ImagePreprocessor.from_state(schema, raw)
    if raw.get("kind") == "sequence":
        return SequencePreprocessor.from_state(schema, raw)
    if raw.get("kind") == "audio":
        return AudioPreprocessor.from_state(schema, raw)
    if raw.get("kind") == "timeseries":
        return TimeseriesPreprocessor.from_state(schema, raw)
    if raw.get("kind") in {"text", "mixed", "varseq"}:
        return text_preprocessor_from_state(schema, raw)
    return TabularPreprocessor.from_state(schema, raw)


def _image_paths(frame: pd.DataFrame | None, column: str, source: str | None) -> Any:
    """Image paths of a separate validation or test table, resolved like the training table's."""
    if frame is None or column not in frame.columns:
        return frame
    base = Path(source).resolve().parent if source else Path.cwd()
    return resolve_image_paths(frame, column, base)


def _infinite_to_missing(frame: pd.DataFrame, summary: dict[str, Any]) -> pd.DataFrame:
    """±inf (and numbers beyond float32's range) carry no usable value: count them, treat them
    as missing, so imputation or the missing-target rule handles them."""
    numeric = frame.select_dtypes(include="number").columns
    if len(numeric) == 0:
        return frame
    values = frame[numeric].astype(float)
    beyond = ~(values.abs() < 1e38) & values.notna()
    if not beyond.to_numpy().any():
        return frame
    summary["cleaning"]["infinite_values_set_missing"] = {
        str(c): int(n) for c, n in beyond.sum().items() if n
    }
    frame = frame.copy()
    frame[numeric] = values.mask(beyond)
    return frame


def _check_and_drop_missing_target(
    frame: pd.DataFrame, targets: list[str], summary: dict[str, Any], what: str
) -> pd.DataFrame:
    absent = [t for t in targets if t not in frame.columns]
    if absent:
        raise DataError(
            f"target column {absent[0]!r} not found in the {what}",
            f"one of the columns there: {', '.join(map(str, frame.columns[:40]))}",
            "pass the right --target (names are case-sensitive)",
        )
    keep = frame[targets].notna().all(axis=1)
    dropped = int((~keep).sum())
    if dropped:
        key = f"rows_without_target_dropped ({what})"
        summary["cleaning"][key] = summary["cleaning"].get(key, 0) + dropped
    if not keep.any():
        raise DataError(
            f"the {what} has no rows with a target value",
            f"values in column {targets[0]!r}",
            "check the file and the target column",
        )
    return frame.loc[keep].reset_index(drop=True)


def _describe(
    schema: Schema,
    pre: Preprocessor,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    notes: tuple[str, ...],
) -> dict[str, Any]:
    """The data summary saved with every run: what each column is and what cleaning did."""
    features = schema.features
    counts = train[list(features)].isna().sum()  # one pass over all features
    missing = {c: int(n) for c, n in counts.items() if n}
    out: dict[str, Any] = {
        "task": schema.task,
        "target": list(schema.target),
        "splits": {"train": len(train), "validation": len(val), "test": len(test)},
        "columns": {
            c.name: {"kind": c.kind, "reason": c.reason, "missing": c.missing, "unique": c.unique}
            for c in schema.columns
        },
        "dropped_columns": {c.name: c.reason for c in schema.columns if not c.used},
        "cleaning": {"missing_values_imputed (train)": missing, **pre.describe()},
        "n_features": len(pre.feature_names) + len(pre.embedding_cardinalities),
        "notes": list(notes),
    }
    if schema.task in {"binary", "multiclass"}:
        counts = train[schema.target[0]].value_counts()
        out["class_balance (train)"] = {str(k): int(v) for k, v in counts.items()}
        if counts.max() / max(counts.min(), 1) >= IMBALANCE_RATIO:
            out["notes"].append(
                f"classes are imbalanced ({counts.max()}:{counts.min()}); consider "
                "train.class_weight=balanced and watch balanced_accuracy"
            )
    return out


def _exists(source: str) -> bool:
    try:
        return Path(source).exists()
    except (OSError, ValueError):  # a name too long for the file system
        return False


def _looks_like_path(source: str) -> bool:
    return any(sep in source for sep in ("/", "\\", ".")) and not source.isidentifier()


def _stem(source: str) -> str:
    stem = source.replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem) or "data"


def frame_from_arrays(x: Any, y: Any | None = None) -> pd.DataFrame:
    """NumPy arrays (X 2-D, y 1-D or 2-D) as a frame with columns x0.. and target(s); images
    (X N×H×W or N×C×H×W) as a frame with one array per row in column `image`."""
    x = np.asarray(x)
    if x.ndim in (3, 4):
        return frame_from_image_arrays(x, y)
    if x.ndim != 2:
        raise DataError(
            f"X has shape {x.shape}",
            "a 2-D array (rows × features) for tabular data, N×H×W or N×C×H×W for images",
            "reshape X to (n_rows, n_features)",
        )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(x):
            raise DataError(
                f"X has {len(x)} rows but y has {len(y)}",
                "one target per row",
                "pass X and y of the same length",
            )
        if y.ndim == 1:
            frame["target"] = y
        else:
            for j in range(y.shape[1]):
                frame[f"target{j}"] = y[:, j]
    return frame
