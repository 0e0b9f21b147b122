"""Many file paths as one UTF-8 byte buffer and an offsets array, instead of a list of `str`.

The streaming path holds the paths of every row of a split for the whole run, and its DataLoader
workers are forked from the training process. A Python list of a million paths is a million
objects of ~100 bytes spread over the heap, and every worker that reads one (or whose garbage
collector walks them) copies the pages they sit on: copy-on-write turns the list into per-worker
memory. Two NumPy arrays are two objects whatever the number of rows, and reading a row only
reads its bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import pandas as pd
import pyarrow as pa

ENCODING, ERRORS = "utf-8", "surrogatepass"  # every str round-trips, undecodable names too


class PathColumn(Sequence[str]):
    """Rows of strings: `column[i]` is the i-th path, `column.take(rows)` a list of them.

    >>> column = PathColumn.from_strings(["/data/cat/1.png", "/data/dog/2.png"])
    >>> len(column), column[1], column.take([1, 0])
    (2, '/data/dog/2.png', ['/data/dog/2.png', '/data/cat/1.png'])
    """

    __slots__ = ("data", "offsets")

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        """`data`: the UTF-8 bytes of all rows (uint8); `offsets`: int64 of length rows + 1,
        row i being `data[offsets[i]:offsets[i + 1]]`."""
        self.data = np.ascontiguousarray(data, dtype=np.uint8)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)

    @classmethod
    def from_strings(cls, values: Iterable[str]) -> PathColumn:
        encoded = [v.encode(ENCODING, ERRORS) for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets)

    @classmethod
    def from_series(cls, values: pd.Series) -> PathColumn | None:
        """The column's values, or None when some value is not a string (a missing path, an
        array): those rows keep their Python objects, and the decoder reports them."""
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            array = pa.array(values)  # the column's own Arrow buffers: no Python objects
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            return None if array.null_count else cls._from_arrow(array)
        if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
            return None
        if not all(isinstance(v, str) for v in values):
            return None
        return cls.from_strings(values)

    @classmethod
    def _from_arrow(cls, array: pa.Array) -> PathColumn:
        array = array.cast(pa.large_string())  # int64 offsets
        _, offsets_buffer, data_buffer = array.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
            array.offset : array.offset + len(array) + 1
        ]
        start, stop = int(offsets[0]), int(offsets[-1])
        data = np.zeros(0, dtype=np.uint8)
        if stop > start:  # (a column of empty strings may have no data buffer at all)
            data = np.frombuffer(data_buffer, dtype=np.uint8)[start:stop]
        # copies: the column then owns plain NumPy memory, and Arrow's pool can be released
        return cls(data.copy(), offsets - start)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> PathColumn: ...

    def __getitem__(self, index: int | slice) -> str | PathColumn:
        if isinstance(index, slice):
            return PathColumn.from_strings(self.take(range(len(self))[index]))
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"row {index} of a column of {n}")
        index = index % n if index < 0 else index
        start, stop = self.offsets[index], self.offsets[index + 1]
        return self.data[start:stop].tobytes().decode(ENCODING, ERRORS)

    def take(self, rows: Iterable[int]) -> list[str]:
        """The paths of `rows`, in that order (a batch for the decoder)."""
        return [self[int(i)] for i in rows]

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, PathColumn):
            return np.array_equal(self.offsets, other.offsets) and np.array_equal(
                self.data, other.data
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PathColumn({len(self)} paths, {self.data.nbytes} bytes)"


def path_values(values: pd.Series) -> PathColumn | list[Any]:
    """A split's file column as a `PathColumn` when every value is a path, else a list."""
    column = PathColumn.from_series(values)
    return column if column is not None else values.tolist()
