"""The streaming path gives the in-memory path's batches, in the same order, for the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from image_fixtures import write_folder
from streaming_checks import assert_same_ordered_rows, assert_same_shuffled_batches

import trainwise
from trainwise.data.image_sources import read_image_folder
from trainwise.data.images import ImagePreprocessor, image_schema
from trainwise.data.path_column import PathColumn
from trainwise.data.prepare import load_frames, prepare
from trainwise.data.streaming import StreamingSplit, image_split, should_stream
from trainwise.data.target import TargetEncoder
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec, ImageSpec


def _fitted(root):
    frame = read_image_folder(root)
    schema = image_schema(frame, "image", "label", "auto")
    pre = ImagePreprocessor(schema, ImageSpec(), "image").fit(frame)
    return frame, pre, TargetEncoder(schema).fit(frame)


@pytest.mark.parametrize("workers", [0, 2])
def test_same_batches_in_the_same_order_on_both_paths(tmp_path, workers):
    frame, pre, target = _fitted(write_folder(tmp_path, n_per_class=11))  # 33 rows: tail of 1
    memory = image_split(pre, target, frame, stream=False, workers=None)
    stream = image_split(pre, target, frame, stream=True, workers=workers)
    assert_same_shuffled_batches(memory, stream, 8, 4)  # 33 rows, batch 8: 4 and a tail of 1
    # resumed mid-epoch and in-order evaluation batches agree as well
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    tail_a, tail_b = list(memory.batches(8, g1, 2)), list(stream.batches(8, g2, 2))
    assert all(torch.equal(x[0][0], y[0][0]) for x, y in zip(tail_a, tail_b, strict=True))
    assert_same_ordered_rows(memory, stream, 10)
    assert torch.equal(stream.inputs(slice(3, 5))[0], memory.inputs(slice(3, 5))[0])


def test_loading_auto_streams_above_the_memory_limit(tmp_path):
    _, pre, _ = _fitted(write_folder(tmp_path, n_per_class=4))
    c, h, w = pre.input_shape
    rows = (2 * 2**20) // (c * h * w * 4) + 1  # just over 2 MB decoded
    assert should_stream(DataSpec(memory_limit_mb=2), pre, rows)
    assert not should_stream(DataSpec(memory_limit_mb=2), pre, rows - 2)
    assert not should_stream(DataSpec(memory_limit_mb=2, loading="memory"), pre, rows)
    assert should_stream(DataSpec(loading="stream"), pre, 1)


def test_prepare_streams_when_told_and_records_it(tmp_path):
    spec = DataSpec(source=str(write_folder(tmp_path)), loading="stream", workers=0)
    data = prepare(spec, load_frames(spec), seed=0)
    assert isinstance(data.train, StreamingSplit) and data.summary["loading"] == "stream"
    assert data.input_shape == (1, 12, 12) and data.n_features == 1


def test_a_corrupt_file_met_while_streaming_is_a_data_error_naming_it(tmp_path):
    frame, pre, target = _fitted(write_folder(tmp_path, n_per_class=4))
    bad = tmp_path / "c0" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    frame = pd.concat([frame, pd.DataFrame({"image": [str(bad)], "label": ["c0"]})])
    split = image_split(pre, target, frame, stream=True, workers=1)
    with pytest.raises(DataError, match=r"broken\.png"):
        list(split.batches(4))


def test_the_split_holds_its_paths_as_one_path_column(tmp_path):
    frame, pre, target = _fitted(write_folder(tmp_path, n_per_class=5))
    split = image_split(pre, target, frame, stream=True, workers=0)
    assert isinstance(split.values, PathColumn)
    assert list(split.values) == frame["image"].tolist()
    assert isinstance(split.to(torch.device("cpu")).values, PathColumn)
    gaps = pd.concat([frame, pd.DataFrame({"image": [None], "label": ["c0"]})], ignore_index=True)
    with_gap = image_split(pre, target, gaps, stream=True, workers=0)
    assert isinstance(with_gap.values, list)  # not all paths: the values as they are
    with pytest.raises(DataError, match="neither a file path nor an array"):
        list(with_gap.batches(4))


@pytest.mark.parametrize("workers", [0, 1])
def test_a_streamed_fit_gives_the_in_memory_fit_s_predictions(tmp_path, workers):
    root = write_folder(tmp_path / "imgs", n_per_class=15)
    common = {"save": False, "epochs": 2, "seed": 7, "channels": [8, 16], "progress": False}
    memory = trainwise.fit(str(root), loading="memory", **common)
    stream = trainwise.fit(str(root), loading="stream", workers=workers, **common)
    assert stream.summary["loading"] == "stream" and memory.summary["loading"] == "memory"
    assert memory.history == stream.history
    assert memory.metrics["validation"] == stream.metrics["validation"]
    assert memory.metrics["test"] == stream.metrics["test"]
    files = read_image_folder(root)
    assert np.array_equal(memory.predict_proba(files), stream.predict_proba(files))
