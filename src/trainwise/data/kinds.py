"""Which kind of data a table holds, when the spec leaves `data.kind` at `auto`.

Two shapes are recognised, both conservatively and both overridable with `data.kind`:

- audio: a column whose values (90 % or more) are paths ending in .wav. The table then lists
  clips; the column becomes `path` (absolute), the target defaults to `label` or the one other
  column.
- timeseries: a `data.timeseries` setting differs from its default, or exactly one column holds
  dates/times and every other column (after `data.drop`) is numeric. Such a table is a series in
  time order, and splitting its rows at random would let the model see the future; so it is
  forecast from windows instead.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainwise.data.audio import LABEL, PATH, rows_from_table, wav_column
from trainwise.data.timeseries import looks_like_timeseries, resolve_columns
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec, TimeseriesSpec


def detect_kind(
    spec: DataSpec,
    frame: pd.DataFrame,
    kind: str,
    target: str | list[str] | None,
    base: Path,
) -> tuple[pd.DataFrame, str, str | list[str] | None]:
    """The frame (paths made absolute for audio), its kind and its target."""
    if kind in ("auto", "audio"):
        column = wav_column(frame)
        if column is not None:
            frame = rows_from_table(frame, column, base)
            if target is None:
                others = [c for c in frame.columns if c != PATH]
                target = LABEL if LABEL in others else (others[0] if len(others) == 1 else None)
            return frame, "audio", target
        if kind == "audio":
            raise DataError(
                "data.kind is audio but no column lists .wav files",
                "a folder of .wav files, or a table with a column of .wav paths",
                "point data.source at the folder of recordings or at such a table",
            )
    wanted = kind == "timeseries" or (
        kind == "auto"
        and (spec.timeseries != TimeseriesSpec() or looks_like_timeseries(frame, spec.drop, target))
    )
    if wanted:
        _, _, targets = resolve_columns(frame, spec.timeseries, target, spec.drop)
        return frame, "timeseries", targets[0] if len(targets) == 1 else targets
    return frame, kind, target


def audio_table(frame: pd.DataFrame | None, source: str | None) -> pd.DataFrame | None:
    """A separate validation/test table of an audio dataset, its paths made absolute."""
    if frame is None or (PATH in frame.columns and wav_column(frame) == PATH and source is None):
        return frame
    column = wav_column(frame)
    if column is None:
        return frame
    return rows_from_table(frame, column, source_folder(source) if source else Path.cwd())


def source_folder(source: str) -> Path:
    """The folder of a data file, where relative audio paths in it are read from."""
    try:
        return Path(source).expanduser().parent
    except RuntimeError:  # "~user" with no such user: read_table reports the file itself
        return Path(source).parent
