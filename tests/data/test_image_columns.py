"""Image-path columns inside tables: which tables become mixed, how their paths are read, what
the preprocessor hands the model, its JSON state, and the seeded augmentation of those columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mixed_image_fixtures import write_mixed_table
from trainwise.data.augment import build_augment
from trainwise.data.image_column_augment import with_image_columns
from trainwise.data.prepare import load_frames, prepare, preprocessor_from_state
from trainwise.errors import DataError
from trainwise.spec.model import AugmentSpec, DataSpec


@pytest.fixture
def table(tmp_path: Path) -> Path:
    write_mixed_table(tmp_path, n=60)
    return tmp_path / "table.csv"


def frames_of(path: Path, **data) -> object:
    return load_frames(DataSpec(source=str(path), **data))


def test_image_paths_beside_other_features_make_a_mixed_table(table: Path):
    frames = frames_of(table, target="label")
    assert frames.kind == "mixed" and frames.image_columns == ("photo",)
    assert frames.image_column is None
    paths = frames.frame["photo"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in paths)
    assert Path(paths[0]).parent == table.parent / "img"


def test_without_a_target_two_other_columns_still_make_it_mixed(table: Path):
    with pytest.raises(DataError, match="no target column named"):
        frames_of(table)
    pd.read_csv(table)[["photo", "label"]].to_csv(table.parent / "two.csv", index=False)
    frames = frames_of(table.parent / "two.csv")
    assert frames.kind == "image" and frames.target == "label"


def test_columns_that_cannot_be_features_leave_an_image_dataset(table: Path):
    frame = pd.read_csv(table)
    frame["row_id"] = range(len(frame))  # an id: dropped by the schema, so no feature
    frame["source"] = "camera"  # a constant
    frame[["photo", "row_id", "source", "label"]].to_csv(table.parent / "ids.csv", index=False)
    frames = frames_of(table.parent / "ids.csv", target="label")
    assert frames.kind == "image" and frames.image_column == "photo"
    assert frames_of(table, target="label", drop=["x", "colour"]).kind == "image"


def test_kinds_override_marks_or_unmarks_an_image_column(table: Path):
    frame = pd.read_csv(table)
    for old in frame["photo"]:  # files without an extension: found only when marked
        (table.parent / old).rename(table.parent / old.removesuffix(".png"))
    frame["photo"] = frame["photo"].str.removesuffix(".png")
    frame.to_csv(table.parent / "bare.csv", index=False)
    spec = DataSpec(source=str(table.parent / "bare.csv"), target="label")
    assert load_frames(spec).kind == "auto"
    marked = spec.model_copy(update={"kinds": {"photo": "image"}})
    data = prepare(marked, load_frames(marked), seed=0)
    assert data.summary["kind"] == "mixed"
    assert data.summary["columns"]["photo"]["kind"] == "image"
    assert data.train.extra[-1].shape[1:] == (1, 16, 16)


def test_a_category_of_file_names_when_asked(table: Path):
    spec = DataSpec(source=str(table), target="label", kinds={"photo": "categorical"})
    frames = load_frames(spec)
    assert frames.kind == "auto" and frames.image_columns == ()


def test_a_missing_file_names_the_column_and_the_first_missing_path(table: Path):
    frame = pd.read_csv(table)
    (table.parent / frame["photo"][3]).unlink()
    (table.parent / frame["photo"][9]).unlink()
    with pytest.raises(DataError) as err:
        frames_of(table, target="label", kind="mixed")  # the mixed path checks files too
    message = str(err.value)
    assert "2 image file(s)" in message and "'photo'" in message
    assert "0003.png" in message and "0009.png" not in message


def test_the_preprocessor_decodes_each_image_column_with_train_statistics(table: Path):
    spec = DataSpec(source=str(table), target="label")
    data = prepare(spec, load_frames(spec), seed=0)
    pre = data.preprocessor
    images = data.train.extra[-1]
    assert images.dtype == torch.float32 and images.shape == (len(data.train), 1, 16, 16)
    # standardised with the training images' statistics: mean 0, std 1 on the training split
    assert abs(float(images.mean())) < 0.05 and abs(float(images.std()) - 1) < 0.05
    assert data.train.dense.shape[1] == 4  # x and one-hot colour: the paths are not a feature
    assert pre.model_inputs["image_shapes"] == [[1, 16, 16]]
    assert "photo" in pre.feature_names

    state = json.loads(json.dumps(pre.state_dict()))  # plain JSON, no pickle
    again = preprocessor_from_state(data.schema, state)
    rows = data.test_rows
    assert rows is not None
    first, second = pre.transform(rows), again.transform(rows)
    assert np.array_equal(first.dense, second.dense)
    assert all(np.array_equal(a, b) for a, b in zip(first.extra, second.extra, strict=True))


def test_image_columns_are_augmented_per_batch_with_a_seed(table: Path):
    spec = DataSpec(source=str(table), target="label")
    data = prepare(spec, load_frames(spec), seed=0)
    augment = with_image_columns(
        build_augment(spec.augment, "mixed", seed=0), spec.augment, data.preprocessor, seed=0
    )
    assert augment is not None
    inputs = data.train.inputs(slice(0, 16))
    once, again, other = augment(inputs, 0, 0), augment(inputs, 0, 0), augment(inputs, 0, 1)
    assert torch.equal(once[0], inputs[0])  # the table's numbers are left alone
    assert not torch.equal(once[-1], inputs[-1])
    assert torch.equal(once[-1], again[-1]) and not torch.equal(once[-1], other[-1])

    off = AugmentSpec(enabled=False)
    assert with_image_columns(None, off, data.preprocessor, seed=0) is None


def test_image_columns_refuse_a_kind_that_cannot_read_them(table: Path):
    spec = DataSpec(source=str(table), target="label", kind="tabular", kinds={"photo": "image"})
    with pytest.raises(DataError, match=r"data\.kind=mixed"):
        prepare(spec, load_frames(spec), seed=0)
