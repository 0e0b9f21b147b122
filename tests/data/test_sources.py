"""Tests for reading tables from files and for the built-in datasets."""

from __future__ import annotations

import gzip
import random
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainwise.data import builtin
from trainwise.data.builtin import BuiltinDataset, builtin_names, is_builtin, load_builtin
from trainwise.data.sources import MISSING_MARKERS, SUPPORTED_FORMATS, read_table
from trainwise.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, -2.0], "c": ["x", "y z", "w"]})


def _raises(path: Path | str, *words: str, **kwargs: object) -> str:
    """Read `path`, expect a DataError whose message names the file and every word."""
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert Path(path).name in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# --- round trips in every format ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("t.csv", lambda df, p: df.to_csv(p, index=False)),
        ("t.csv.gz", lambda df, p: df.to_csv(p, index=False)),
        ("t.tsv", lambda df, p: df.to_csv(p, sep="\t", index=False)),
        ("t.tab", lambda df, p: df.to_csv(p, sep="\t", index=False)),
        ("t.txt", lambda df, p: df.to_csv(p, sep=";", index=False)),
        ("t.data", lambda df, p: df.to_csv(p, sep="|", index=False)),
        ("t.parquet", lambda df, p: df.to_parquet(p)),
        ("t.pq", lambda df, p: df.to_parquet(p)),
        ("t.jsonl", lambda df, p: df.to_json(p, orient="records", lines=True)),
        ("t.ndjson", lambda df, p: df.to_json(p, orient="records", lines=True)),
        ("lines.json", lambda df, p: df.to_json(p, orient="records", lines=True)),
        ("array.json", lambda df, p: df.to_json(p, orient="records", indent=2)),
        ("columns.json", lambda df, p: df.to_json(p)),
        ("record.json", lambda df, p: df.iloc[:1].to_json(p, orient="records", lines=True)),
    ],
)
def test_round_trip(tmp_path: Path, frame: pd.DataFrame, name: str, write) -> None:
    path = tmp_path / name
    write(frame, path)
    expected = frame.iloc[:1] if name == "record.json" else frame
    pd.testing.assert_frame_equal(read_table(path), expected)
    pd.testing.assert_frame_equal(read_table(str(path)), expected)


def test_supported_formats_cover_every_documented_extension() -> None:
    extensions = {e for exts in SUPPORTED_FORMATS.values() for e in exts}
    expected = {".csv", ".tsv", ".tab", ".txt", ".data", ".parquet", ".pq", ".jsonl", ".ndjson"}
    assert expected | {".json"} == extensions


@pytest.mark.parametrize("fmt", ["csv", ".csv", "CSV"])
def test_fmt_overrides_the_extension(tmp_path: Path, frame: pd.DataFrame, fmt: str) -> None:
    path = tmp_path / "export.dat"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path, fmt=fmt), frame)


def test_dataframe_is_copied_and_column_names_stripped(frame: pd.DataFrame) -> None:
    source = frame.rename(columns={"a": " a "})
    result = read_table(source)
    assert list(result.columns) == ["a", "b", "c"]
    result.loc[0, "b"] = 99.0
    assert source.loc[0, "b"] == 0.5
    assert list(source.columns) == [" a ", "b", "c"]


def test_missing_markers_and_spaces(tmp_path: Path) -> None:
    markers = [m for m in MISSING_MARKERS if m]
    lines = ["name , value"] + [f"m{i}, {m}" for i, m in enumerate(markers)] + ["ok, 1.5", "e,"]
    path = tmp_path / "gaps.csv"
    path.write_text("\n".join(lines) + "\n")
    result = read_table(path)
    assert list(result.columns) == ["name", "value"]
    assert result["value"].isna().sum() == len(markers) + 1
    assert result["value"].dtype == np.float64
    assert result["name"].tolist()[:2] == ["m0", "m1"]  # spaces after the delimiter skipped


def test_headerless_files_are_detected(tmp_path: Path) -> None:
    adult_like = tmp_path / "adult.data"  # UCI style: ", " separated, no header, "?" missing
    adult_like.write_text(
        "39, State-gov, 77516, <=50K\n50, ?, 83311, >50K\n38, Private, 1, <=50K\n"
    )
    result = read_table(adult_like)
    assert list(result.columns) == ["col0", "col1", "col2", "col3"]
    assert result.shape == (3, 4)
    assert result["col0"].tolist() == [39, 50, 38]
    assert result["col1"].isna().tolist() == [False, True, False]

    numbers = tmp_path / "numbers.txt"
    np.savetxt(numbers, np.arange(6.0).reshape(2, 3))  # space separated, no header
    assert read_table(numbers).to_numpy().tolist() == [[0, 1, 2], [3, 4, 5]]


def test_header_detection_keeps_pandas_integer_names(tmp_path: Path) -> None:
    path = tmp_path / "array.csv"
    pd.DataFrame(np.arange(6.0).reshape(2, 3)).to_csv(path, index=False)  # header "0,1,2"
    result = read_table(path)
    assert list(result.columns) == ["0", "1", "2"]
    assert len(result) == 2


def test_header_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "years.csv"
    path.write_text("2019,2020\n1,2\n3,4\n")
    assert read_table(path).shape == (3, 2)  # numbers over numbers: looks headerless
    assert list(read_table(path, header=True).columns) == ["2019", "2020"]
    words = tmp_path / "words.tsv"
    words.write_text("ham\thello there\nspam\twin now\n")
    assert read_table(words, header=False).shape == (2, 2)


def test_tsv_stray_quotes_do_not_merge_lines(tmp_path: Path) -> None:
    path = tmp_path / "sms.tsv"
    path.write_text('label\ttext\nham\t"Hi, see you\nspam\tWin a "prize" now\nham\tok\n')
    result = read_table(path)
    assert result["text"].tolist() == ['"Hi, see you', 'Win a "prize" now', "ok"]


# --- every user mistake is one DataError naming the file ------------------------------------


def test_missing_file_lists_similar_names(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("a\n1\n")
    (tmp_path / "test.csv").write_text("a\n1\n")
    message = _raises(tmp_path / "trian.csv", "not found", "train.csv")
    assert "zzz" not in message
    _raises(tmp_path / "nothing_like_it.parquet", "not found")


def test_missing_folder(tmp_path: Path) -> None:
    _raises(tmp_path / "no_such_dir" / "train.csv", "not found", "no_such_dir", "does not exist")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("a\n1\n")
    _raises(tmp_path, "is a folder", "train.csv")


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet", "empty.jsonl", "empty.txt"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    _raises(tmp_path / name, "is empty")


def test_blank_file(tmp_path: Path) -> None:
    (tmp_path / "blank.csv").write_text("\n  \n\n")
    _raises(tmp_path / "blank.csv", "is empty")


def test_header_only(tmp_path: Path, frame: pd.DataFrame) -> None:
    (tmp_path / "head.csv").write_text("a,b,c\n")
    _raises(tmp_path / "head.csv", "column names but no rows")
    frame.iloc[:0].to_parquet(tmp_path / "head.parquet")
    _raises(tmp_path / "head.parquet", "no rows")
    (tmp_path / "none.json").write_text("[]")
    _raises(tmp_path / "none.json", "no rows")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.parquet", b"this is not parquet at all", ("cannot read", "parquet", "magic bytes")),
        ("ragged.csv", b"a,b\n1,2\n1,2,3\n", ("cannot read", "Expected 2 fields")),
        ("latin1.csv", b"name,city\nJos\xe9,M\xfcnchen\n", ("not UTF-8", "0xe9")),
        ("bad.jsonl", b'{"a": 1}\n{"a": \n', ("cannot read", "jsonl")),
        ("bad.json", b"{not json", ("cannot read", "json")),
        ("fake.csv.gz", b"a,b\n1,2\n", ("cannot read", "csv")),
    ],
)
def test_garbled_content(tmp_path: Path, name: str, content: bytes, words: tuple[str]) -> None:
    (tmp_path / name).write_bytes(content)
    message = _raises(tmp_path / name, *words)
    assert "Traceback" not in message
    assert len(message) < 500


def test_unsupported_extension(tmp_path: Path) -> None:
    (tmp_path / "book.xlsx").write_bytes(b"PK")
    _raises(tmp_path / "book.xlsx", "unsupported file type '.xlsx'", ".csv", ".parquet", "fmt=")
    (tmp_path / "README").write_text("a\n1\n")
    _raises(tmp_path / "README", "no file extension", "fmt=")


def test_unknown_fmt(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "t.csv", index=False)
    _raises(tmp_path / "t.csv", "fmt='excel'", "csv, tsv", fmt="excel")


def test_header_option_only_for_delimited_text(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(tmp_path / "t.parquet")
    _raises(tmp_path / "t.parquet", "header=", header=False)


def test_duplicate_column_names(tmp_path: Path) -> None:
    (tmp_path / "dup.csv").write_text("id, price,price ,id2\n1,2,3,4\n")
    _raises(tmp_path / "dup.csv", "duplicate column names: price")
    with pytest.raises(DataError, match="the DataFrame has duplicate column names: a"):
        read_table(pd.DataFrame([[1, 2]], columns=["a", "a "]))


def test_bad_source_type_and_empty_dataframe() -> None:
    with pytest.raises(DataError, match="object of type ndarray"):
        read_table(np.zeros((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="the DataFrame has column names but no rows"):
        read_table(pd.DataFrame({"a": []}))


def test_real_files_read_cleanly() -> None:
    root = Path("/work/shared/datasets")
    if not (root / "adult.data").exists():
        pytest.skip("shared datasets not on this machine")
    adult = read_table(root / "adult.data")
    assert adult.shape == (32561, 15)
    assert adult.isna().sum().sum() == 1836 + 1843 + 583
    assert read_table(root / "titanic.csv").shape == (891, 12)
    assert read_table(root / "sms_spam.tsv", header=False).shape == (5574, 2)


# --- built-in datasets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "task", "classes"),
    [
        ("iris", (150, 5), "multiclass", 3),
        ("wine", (178, 14), "multiclass", 3),
        ("digits", (1797, 65), "multiclass", 10),
        ("breast_cancer", (569, 31), "binary", 2),
        ("diabetes", (442, 11), "regression", None),
    ],
)
def test_sklearn_builtins(name: str, shape: tuple[int, int], task: str, classes: int | None):
    ds = load_builtin(name)
    assert isinstance(ds, BuiltinDataset)
    assert (ds.name, ds.frame.shape, ds.task, ds.target) == (name, shape, task, "target")
    assert ds.test_frame is None
    assert f"{shape[0]:,} rows" in ds.description
    target = ds.frame["target"]
    if classes is None:
        assert target.dtype == np.float64
    else:
        assert target.dtype == np.int64
        assert sorted(target.unique()) == list(range(classes))


def test_mnist1d_has_its_predefined_test_split() -> None:
    ds = load_builtin("mnist1d")
    assert ds.task == "multiclass" and ds.target == "target"
    assert ds.frame.shape == (4000, 41)
    assert ds.test_frame is not None and ds.test_frame.shape == (1000, 41)
    assert list(ds.frame.columns) == [f"x{i}" for i in range(40)] + ["target"]
    assert ds.frame["target"].dtype == np.int64
    assert sorted(ds.frame["target"].unique()) == list(range(10))
    assert "4,000 train + 1,000" in ds.description


def test_mnist1d_is_cached_but_callers_get_copies() -> None:
    first = load_builtin("mnist1d")
    first.frame.loc[0, "x0"] = 1e9
    assert first.test_frame is not None
    first.test_frame.drop(columns="x1", inplace=True)
    again = load_builtin("mnist1d")
    assert again.frame.loc[0, "x0"] != 1e9
    assert again.test_frame is not None and again.test_frame.shape == (1000, 41)


def test_mnist1d_is_kept_in_the_cache_folder_exactly_as_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINWISE_CACHE", str(tmp_path / "cache"))
    builtin._mnist1d_frames.cache_clear()
    generated = load_builtin("mnist1d")  # nothing cached yet: generated, then written
    files = list((tmp_path / "cache").iterdir())
    assert [f.name for f in files] == [builtin._mnist1d_cache_file().name]
    stored = builtin._read_mnist1d(files[0])
    assert stored is not None
    pd.testing.assert_frame_equal(builtin._mnist1d_frame(stored["x"], stored["y"]), generated.frame)
    builtin._mnist1d_frames.cache_clear()
    cached = load_builtin("mnist1d")  # a new process would read this file
    pd.testing.assert_frame_equal(cached.frame, generated.frame)
    assert cached.test_frame is not None and generated.test_frame is not None
    pd.testing.assert_frame_equal(cached.test_frame, generated.test_frame)
    builtin._mnist1d_frames.cache_clear()


def test_a_damaged_or_foreign_mnist1d_cache_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "mnist1d.npz"
    arrays = {
        "x": np.ones((3, 4)),
        "y": np.arange(3),
        "x_test": np.zeros((2, 4)),
        "y_test": np.arange(2),
    }
    builtin._write_mnist1d(path, arrays)
    read = builtin._read_mnist1d(path)
    assert read is not None and all(np.array_equal(read[k], v) for k, v in arrays.items())
    assert [p.name for p in tmp_path.iterdir()] == ["mnist1d.npz"]  # no temporary file left
    path.write_bytes(path.read_bytes()[:100])  # truncated
    assert builtin._read_mnist1d(path) is None
    np.savez(path, x=np.ones((3, 4)), y=np.arange(3))  # another file under the name
    assert builtin._read_mnist1d(path) is None
    np.savez(path, **{**arrays, "y": np.arange(4)})  # rows that do not pair up
    assert builtin._read_mnist1d(path) is None
    with open(path, "wb") as file:
        np.save(file, np.ones(3))  # one bare array, not an archive
    assert builtin._read_mnist1d(path) is None
    assert builtin._read_mnist1d(tmp_path / "absent.npz") is None


def test_an_unwritable_cache_folder_only_costs_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    arrays = {
        "x": np.ones((3, 4)),
        "y": np.arange(3),
        "x_test": np.zeros((2, 4)),
        "y_test": np.arange(2),
    }
    builtin._write_mnist1d(blocker / "mnist1d.npz", arrays)  # no exception
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-folder"]


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINWISE_CACHE", "/somewhere/tw")
    assert builtin.cache_folder() == Path("/somewhere/tw")
    monkeypatch.delenv("TRAINWISE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert builtin.cache_folder() == Path("/xdg/trainwise")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert builtin.cache_folder() == Path.home() / ".cache" / "trainwise"


def test_mnist1d_leaves_global_random_state_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINWISE_CACHE", str(tmp_path))  # empty: the data is generated
    builtin._mnist1d_frames.cache_clear()
    np.random.seed(7)
    random.seed(7)
    expected = (np.random.rand(), random.random())
    np.random.seed(7)
    random.seed(7)
    load_builtin("mnist1d")
    assert (np.random.rand(), random.random()) == expected


def test_builtins_need_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a built-in dataset tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    builtin._mnist1d_frames.cache_clear()
    for name in builtin_names():
        assert len(load_builtin(name).frame) > 0


def test_builtin_names_and_lookup() -> None:
    assert builtin_names() == sorted(
        ["breast_cancer", "diabetes", "digits", "iris", "mnist1d", "wine"]
    )
    assert is_builtin("iris") and is_builtin("Breast-Cancer")
    assert not is_builtin("iris.csv") and not is_builtin("california_housing")
    assert load_builtin("Breast-Cancer").name == "breast_cancer"


def test_unknown_builtin_suggests_a_name() -> None:
    with pytest.raises(DataError) as info:
        load_builtin("irsi")
    message = str(info.value)
    assert "unknown built-in dataset 'irsi'" in message
    assert "did you mean 'iris'?" in message
    assert "mnist1d" in message and "wine" in message


def test_gzip_written_by_python_round_trips(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "t.data.gz"
    with gzip.open(path, "wt") as fh:
        frame.to_csv(fh, sep=";", index=False)
    pd.testing.assert_frame_equal(read_table(path), frame)
