"""Read a table from a file (or pass a DataFrame through) with one clear error per mistake.

This is the boundary where user files enter trainwise, so every failure a user can cause (a wrong
path, an empty or garbled file, an unknown extension, repeated column names) becomes a `DataError`
that names the file; no pandas or pyarrow traceback escapes. Delimited text gets the same
treatment whatever the extension: common missing markers ("", "NA", "?", ...) become missing,
spaces after delimiters are skipped, and a header row is detected rather than assumed, because
headerless files (UCI `.data`, `np.savetxt` output) are common and would otherwise lose their first
row silently.
"""

from __future__ import annotations

import bz2
import csv
import difflib
import gzip
import lzma
import os
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from trainwise.errors import DataError

SUPPORTED_FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "txt": (".txt", ".data"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".ndjson"),
    "json": (".json",),
}
"""Format name → file extensions. Text formats may also end in .gz, .bz2 or .xz."""

MISSING_MARKERS: tuple[str, ...] = ("", "NA", "N/A", "nan", "NaN", "null", "None", "?")
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SAMPLE_BYTES = 64 * 1024  # enough rows to sniff a delimiter and a header, cheap on any file
_WHITESPACE = r"\s+"


def read_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    fmt: str | None = None,
    header: bool | None = None,
) -> pd.DataFrame:
    """Read a data file into a DataFrame; a DataFrame is copied and checked the same way.

    `fmt` overrides the extension (a name from `SUPPORTED_FORMATS` or an extension). `header`
    (delimited text only) says whether the first row holds column names; by default it is
    detected, and a headerless file gets the columns `col0, col1, ...`.

    >>> read_table(pd.DataFrame({" a ": [1, 2]})).columns.tolist()
    ['a']
    """
    if isinstance(source, pd.DataFrame):
        return _checked(source.copy(), "the DataFrame")
    if not isinstance(source, str | os.PathLike):
        raise DataError(
            f"cannot read data from an object of type {type(source).__name__}",
            "a file path or a pandas DataFrame",
            "pass a path such as 'data/train.csv', or wrap arrays in pd.DataFrame(...)",
        )
    try:
        path = Path(source).expanduser()
        _check_is_file(path)
    except (OSError, RuntimeError) as exc:  # a name too long; ~user with no such user
        raise DataError(
            f"cannot open {str(source)[:120]!r}: {getattr(exc, 'strerror', None) or exc}",
            "a path to an existing data file",
            "check the path",
        ) from None
    kind = _resolve_format(path, fmt)
    if header is not None and kind not in ("csv", "tsv", "txt"):
        raise DataError(f"header= was given for {kind} file '{path}'", "csv, tsv or txt", "drop it")
    try:
        if path.stat().st_size == 0:
            raise _empty(path)
        if kind == "parquet":
            frame = pd.read_parquet(path, engine="pyarrow")
        elif kind in ("json", "jsonl"):
            frame = _read_json(path, lines_only=kind == "jsonl")
        else:
            frame = _read_delimited(path, kind, header)
    except pd.errors.EmptyDataError:
        raise _empty(path) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"cannot read '{path}': it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
            f"at position {exc.start})",
            f"a UTF-8 encoded {kind} file",
            "re-save it as UTF-8 (spreadsheets: 'CSV UTF-8'), or name its format with data.format",
        ) from None
    except (
        ValueError,
        TypeError,
        OSError,
        EOFError,
        csv.Error,
        zlib.error,
        lzma.LZMAError,
        pa.ArrowException,
    ) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.removeprefix("Error tokenizing data. C error: ")
        raise DataError(
            f"cannot read '{path}' as {kind}: {reason[:200]}",
            f"a well-formed {kind} file",
            "check the file is complete and really is that format, or set data.format",
        ) from None
    return _checked(frame, f"'{path}'")


def _check_is_file(path: Path) -> None:
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if _known_format(p))[:5]
        fix = f"point to a file inside it, e.g. '{path / inside[0]}'" if inside else "pass a file"
        raise DataError(f"'{path}' is a folder, not a file", "a path to one data file", fix)
    if path.exists():
        return
    where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
    folder = path.parent
    if not folder.is_dir():
        raise DataError(
            f"file '{path}' not found: its folder '{folder}' does not exist{where}",
            "an existing file",
            "check the path",
        )
    names = {p.name.lower(): p.name for p in folder.iterdir() if p.is_file()}
    close = difflib.get_close_matches(path.name.lower(), list(names), n=5, cutoff=0.6)
    fix = "check the path"
    if close:
        fix = f"similar files in '{folder}': " + ", ".join(names[c] for c in close)
    raise DataError(f"file '{path}' not found{where}", "an existing file", fix)


def _known_format(path: Path) -> bool:
    return any(path.name.lower().endswith(e) for exts in SUPPORTED_FORMATS.values() for e in exts)


def _resolve_format(path: Path, fmt: str | None) -> str:
    extensions = ", ".join(e for exts in SUPPORTED_FORMATS.values() for e in exts)
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        for name, exts in SUPPORTED_FORMATS.items():
            if key == name or f".{key}" in exts:
                return name
        raise DataError(
            f"unknown format fmt={fmt!r} for '{path}'",
            f"one of: {', '.join(SUPPORTED_FORMATS)}",
            "set data.format (fmt= in Python) to one of these names, e.g. csv",
        )
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    for name, exts in SUPPORTED_FORMATS.items():
        if ext in exts:
            return name
    what = f"unsupported file type '{ext}'" if ext else "no file extension"
    raise DataError(
        f"cannot read '{path}': {what}",
        f"one of: {extensions}",
        "rename the file, or name its format: data.format=csv (fmt='csv' in Python)",
    )


def _head_text(path: Path) -> str:
    """The first few KB as text, cut at the last full line (for sniffing only)."""
    with _OPENERS.get(path.suffix.lower(), open)(path, "rb") as fh:
        raw = fh.read(_SAMPLE_BYTES)
    text = raw.decode("utf-8-sig", errors="replace")
    return text[: text.rfind("\n")] if len(raw) == _SAMPLE_BYTES and "\n" in text else text


def _read_delimited(path: Path, kind: str, header: bool | None) -> pd.DataFrame:
    # TSV by its definition (IANA) has no quoting: raw text fields may hold stray quotes (GLUE,
    # SMS spam), and treating those as quotes would silently merge lines.
    quoting: Literal[0, 3] = csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL
    sample = _head_text(path)
    sep = {"csv": ",", "tsv": "\t"}.get(kind) or _sniff_delimiter(sample)
    if sep == _WHITESPACE:
        rows = [line.split() for line in sample.splitlines() if line.strip()]
    else:
        reader = csv.reader(  # splitlines: \n, \r\n and classic-Mac \r endings alike
            sample.splitlines(), delimiter=sep, quoting=quoting, skipinitialspace=True
        )
        rows = [row for row in reader if row]
    has_header = _first_row_is_header(rows[:200]) if header is None else header
    if has_header and rows:
        check_unique_columns([cell.strip() for cell in rows[0] if cell.strip()], f"'{path}'")
    frame = pd.read_csv(
        path,
        sep=sep,
        header=0 if has_header else None,
        skipinitialspace=True,
        na_values=list(MISSING_MARKERS),
        keep_default_na=True,
        quoting=quoting,
    )
    if not has_header:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    return frame


def _sniff_delimiter(sample: str) -> str:
    try:
        sep = csv.Sniffer().sniff(sample, delimiters=",\t;| ").delimiter
    except csv.Error:
        return ","
    return _WHITESPACE if sep == " " else sep  # aligned columns use runs of spaces


def _first_row_is_header(rows: list[list[str]]) -> bool:
    """Vote over numeric columns: a number on top of numbers is data, a word is a name."""
    if len(rows) < 2:
        return True
    head = [cell.strip() for cell in rows[0]]
    if head == [str(i) for i in range(len(head))]:
        return True  # pandas' default names for a frame saved from an array
    votes = 0
    for i, name in enumerate(head):
        values = [r[i].strip() for r in rows[1:] if i < len(r)]
        values = [v for v in values if v not in MISSING_MARKERS]
        if values and name not in MISSING_MARKERS and all(map(_is_number, values)):
            votes += -1 if _is_number(name) else 1
        elif values and name and not _is_number(name):
            votes -= _text_cell_is_data(name, values)
    return votes >= 0


def _text_cell_is_data(cell: str, values: list[str]) -> int:
    """1 when a text cell on the first row reads as data rather than a column name: it recurs
    among the values below (a class label such as `ham`), or it is a sentence (names are short).
    Headerless text files (label<TAB>message) would otherwise lose their first row to the header.
    """
    if len(values) >= 5 and cell in set(values):
        return 1
    return int(len(cell.split()) >= 6 or len(cell) > 60)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_json(path: Path, *, lines_only: bool) -> pd.DataFrame:
    if lines_only:
        return pd.read_json(path, lines=True)
    if _head_text(path).lstrip().startswith("["):
        return pd.read_json(path, orient="records")  # a JSON array of records
    try:
        return pd.read_json(path)  # one object of columns, as DataFrame.to_json() writes
    except ValueError:
        return pd.read_json(path, lines=True)  # one record per line ("trailing data" above)


def _checked(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    frame.columns = [c.strip() if isinstance(c, str) else c for c in frame.columns]
    check_unique_columns(list(frame.columns), label)
    if len(frame) == 0:
        what = "has column names but no rows" if frame.shape[1] else "has no rows"
        raise DataError(f"{label} {what}", "at least one row of data", "check the data was saved")
    return frame


def check_unique_columns(names: list[object], label: str) -> None:
    """Each column name once: a repeated name makes `frame[name]` a table, not a column."""
    repeated = sorted(str(name) for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(
            f"{label} has duplicate column names: {', '.join(repeated)}",
            "each column name once",
            "rename or drop the repeated columns",
        )


def _empty(path: Path) -> DataError:
    return DataError(
        f"'{path}' is empty",
        "a header row and at least one row of data",
        "check the file was written completely",
    )
