"""Image data as rows: a folder of class sub-folders, a table of paths, or NumPy arrays.

Every image source becomes a frame with one image column (a file path, or one array per row)
and a label column, so the rest of the pipeline (splits, stratification, target encoding, raw-row
prediction, `trainwise predict` on a CSV of paths) works on images exactly as on tables. Nothing
is decoded here: decoding belongs to the fitted `ImagePreprocessor` (in memory or streamed).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.heap import release_arrow_memory, trim_heap
from trainwise.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
IGNORED_FILES = {"thumbs.db", "desktop.ini"}  # operating-system clutter, never data
IMAGE_COLUMN, LABEL_COLUMN = "image", "label"


def read_image_folder(path: str | Path) -> pd.DataFrame:
    """One row per image file: its absolute path and its class (the sub-folder's name).

    Files are listed in sorted order so the frame, and so the split, is the same on every
    machine. Hidden files and OS clutter are skipped; any other non-image file is an error,
    because silently leaving out data (or training on a stray file) hides mistakes.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"image folder {str(root)!r} does not exist",
            "a folder with one sub-folder of images per class",
            "check the path",
        )
    paths: list[pd.Series] = []
    labels: list[pd.Series] = []
    strays: list[str] = []
    for sub in _class_dirs(root):
        found = _class_images(sub, strays)
        paths.append(found)
        labels.append(pd.Series(sub.name, index=range(len(found)), dtype="str"))
    if strays:
        raise DataError(
            f"{len(strays)} file(s) in {str(root)!r} are not images, e.g. {strays[0]!r}",
            f"only image files ({', '.join(IMAGE_EXTENSIONS)}) in the class sub-folders",
            "move the other files out of the class folders",
        )
    if not sum(len(found) for found in paths):
        raise DataError(
            f"image folder {str(root)!r} holds no images",
            "one sub-folder per class, each holding image files (PNG, JPEG, ...)",
            "put the images in class sub-folders, e.g. data/cat/1.png, data/dog/2.png",
        )
    frame = pd.DataFrame(
        {
            IMAGE_COLUMN: pd.concat(paths, ignore_index=True),
            LABEL_COLUMN: pd.concat(labels, ignore_index=True),
        }
    )
    release_arrow_memory()  # the per-class pieces, in Arrow's pool (see data/heap.py)
    trim_heap()
    return frame


def _class_images(folder: Path, strays: list[str]) -> pd.Series:
    """The absolute paths of one class folder's images, sorted by name, as a `str` column; other
    files are added to `strays`.

    One folder at a time, each finished as a column before the next: a folder of N images
    leaves no Python objects per image behind (no `Path` per file, no list of every path of the
    tree), so the heap after listing does not grow with the folder. Entries come from
    `os.scandir`, whose type comes with the listing (no `stat` per file on most file systems).
    """
    real = folder.resolve()
    paths = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = entry.name
        if name.startswith(".") or name.lower() in IGNORED_FILES or not entry.is_file():
            continue
        if not name.lower().endswith(IMAGE_EXTENSIONS):
            strays.append(str(folder / name))
        elif entry.is_symlink():  # resolved to its target, as Path.resolve() does
            paths.append(os.path.realpath(entry.path))
        else:  # in a resolved folder a plain file's real path is the joined path
            paths.append(os.path.join(real, name))
    return pd.Series(paths, dtype="str")


def find_image_column(
    frame: pd.DataFrame, named: str | None = None, arrays: bool = True
) -> str | None:
    """The column holding image paths (or arrays, when `arrays`): `named` if given, else the
    first that does."""
    if named is not None:
        if named not in frame.columns:
            raise DataError(
                f"data.image.column {named!r} is not in the data",
                f"one of the columns {', '.join(map(str, frame.columns[:40]))}",
                "set data.image.column to the column of image paths",
            )
        return named
    for name, dtype in frame.dtypes.items():
        if dtype.kind in "biufcmM":  # numbers, booleans, times: neither paths nor arrays
            continue
        values = frame[name].dropna().head(20)
        if len(values) and all(_is_image_value(v, arrays) for v in values):
            return str(name)
    return None


def resolve_image_paths(frame: pd.DataFrame, column: str, base: Path) -> pd.DataFrame:
    """Absolute paths: a relative path is read relative to the table's own folder (where such
    tables are written), or the working directory when it exists only there. Every file must
    exist, so a typo fails now rather than mid-training."""
    values = frame[column]
    if not all(isinstance(v, str) for v in values.dropna()):
        return frame
    resolved = []
    for value in values:
        if not isinstance(value, str):
            resolved.append(value)
            continue
        path = Path(value)
        if not path.is_absolute() and (base / path).exists():
            path = base / path
        resolved.append(str(path.resolve()))
    missing = [p for p in resolved if isinstance(p, str) and not os.path.isfile(p)]
    if missing:
        raise DataError(
            f"{len(missing)} image file(s) listed in column {column!r} do not exist, "
            f"e.g. {missing[0]!r}",
            "paths to existing image files (relative paths are read relative to the table)",
            "fix the paths in the table or restore the files",
        )
    out = frame.copy()
    out[column] = resolved
    return out


def frame_from_image_arrays(x: np.ndarray, y: Any | None = None) -> pd.DataFrame:
    """N×H×W (grey) or N×C×H×W arrays as a frame with one array per row in column `image`.

    The rows are views into `x`: nothing is copied until the preprocessor builds tensors.
    """
    if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        raise DataError(
            f"image array has shape {x.shape} (channels last)",
            "N×C×H×W with C = 1 or 3 (or N×H×W for grey)",
            "pass x.transpose(0, 3, 1, 2)",
        )
    if x.ndim == 4 and x.shape[1] not in (1, 3):
        raise DataError(
            f"image array has {x.shape[1]} channels",
            "N×C×H×W with C = 1 (grey) or 3 (colour), or N×H×W",
            "reshape the array",
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"image array has dtype {x.dtype}", "numbers", "convert with astype")
    frame = pd.DataFrame({IMAGE_COLUMN: list(x)})
    frame.attrs["images"] = True  # tells load_frames these arrays are images, not sequences
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(x):
            raise DataError(
                f"X has {len(x)} images but y has {len(y)} targets",
                "one target per image",
                "pass X and y of the same length",
            )
        frame["target"] = y
    return frame


def holds_arrays(frame: pd.DataFrame) -> bool:
    """Whether some column holds arrays (which a CSV cannot keep)."""
    return any(
        frame[c].dtype == object and isinstance(frame[c].iloc[0], np.ndarray)
        for c in frame.columns
        if len(frame)
    )


def drop_duplicate_images(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, int]:
    """Drop rows repeating the same image (same file path, or same array bytes) and label."""
    if isinstance(frame[column].dtype, pd.StringDtype):  # paths only: the path is the key,
        keep = ~frame.duplicated()  # compared in the column's own buffers (no str per row)
    else:
        keys = frame[column].map(_image_key)
        others = [c for c in frame.columns if c != column]
        keep = ~frame[others].assign(_key=keys).duplicated()
    if keep.all():  # the usual case: no copy of every row (copy-on-write)
        return frame.reset_index(drop=True), 0
    return frame.loc[keep].reset_index(drop=True), int((~keep).sum())


def _image_key(value: Any) -> str:
    if isinstance(value, np.ndarray):
        digest = hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=16)
        return f"{value.shape}{value.dtype}{digest.hexdigest()}"
    return str(value)


def _is_image_value(value: Any, arrays: bool) -> bool:
    if isinstance(value, np.ndarray):
        return arrays and value.ndim in (2, 3)
    return isinstance(value, str) and value.lower().endswith(IMAGE_EXTENSIONS)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
