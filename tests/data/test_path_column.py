"""PathColumn: many paths as one byte buffer, read back exactly as the strings went in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwise.data.path_column import PathColumn, path_values

PATHS = ["/data/cat/1.png", "/data/chat/été.png", "/数据/狗/2.jpg", "", "/d/🐕.webp", "/x"]


def test_round_trip_of_ascii_unicode_and_empty_strings():
    column = PathColumn.from_strings(PATHS)
    assert len(column) == len(PATHS)
    assert list(column) == PATHS
    assert [column[i] for i in range(len(PATHS))] == PATHS
    assert column[-1] == "/x" and column[-len(PATHS)] == PATHS[0]
    assert column.data.dtype == np.uint8 and column.offsets.dtype == np.int64


def test_take_gathers_rows_in_the_order_asked_repeats_included():
    column = PathColumn.from_strings(PATHS)
    rows = [4, 0, 4, 2]
    assert column.take(rows) == [PATHS[i] for i in rows]
    assert column.take(np.array(rows)) == [PATHS[i] for i in rows]
    assert column.take([]) == []
    assert list(column[1:4]) == PATHS[1:4]


def test_out_of_range_rows_raise_index_error():
    column = PathColumn.from_strings(PATHS)
    with pytest.raises(IndexError):
        column[len(PATHS)]
    with pytest.raises(IndexError):
        column[-len(PATHS) - 1]


def test_names_that_are_not_valid_utf8_round_trip():
    name = "/data/caf\udce9.png"  # how os.listdir gives a Latin-1 byte on a UTF-8 system
    assert list(PathColumn.from_strings([name, "/ok"])) == [name, "/ok"]


def test_empty_column():
    for column in (PathColumn.from_strings([]), PathColumn.from_series(pd.Series([], dtype=str))):
        assert column is not None and len(column) == 0 and list(column) == []
        assert column.take([]) == []
    blanks = PathColumn.from_series(pd.Series(["", ""], dtype="str"))  # Arrow: no data buffer
    assert blanks is not None and list(blanks) == ["", ""]


@pytest.mark.parametrize("dtype", ["str", object, "string"])
def test_from_a_frame_column_of_any_string_dtype_and_a_slice_of_it(dtype):
    series = pd.Series(PATHS * 3, dtype=dtype)
    part = series.iloc[[7, 2, 16, 5]]  # a gathered split: offsets not starting at 0
    column = PathColumn.from_series(part)
    assert column is not None and list(column) == part.tolist()
    assert PathColumn.from_series(series) == PathColumn.from_strings(PATHS * 3)


def test_columns_with_gaps_or_arrays_stay_lists_of_their_values():
    gaps = pd.Series(["/a.png", None, "/b.png"], dtype="str")
    values = path_values(gaps)
    assert isinstance(values, list) and values[0] == "/a.png" and pd.isna(values[1])
    arrays = pd.Series([np.zeros((2, 2)), np.ones((2, 2))])
    assert isinstance(path_values(arrays), list)
    assert isinstance(path_values(pd.Series(["/a.png", "/b.png"])), PathColumn)


def test_memory_is_two_arrays_whatever_the_number_of_rows():
    paths = [f"/data/class{i % 4}/{i:06d}.png" for i in range(10_000)]
    column = PathColumn.from_strings(paths)
    assert column.data.nbytes == sum(len(p) for p in paths)
    assert column.offsets.nbytes == 8 * (len(paths) + 1)
    assert column.take([9_999, 0]) == [paths[9_999], paths[0]]
