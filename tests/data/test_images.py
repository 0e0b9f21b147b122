"""Image sources (folder, table of paths, arrays) and the fitted image preprocessing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from image_fixtures import shapes_images, write_folder
from PIL import Image

from trainwise.data.image_sources import frame_from_image_arrays, read_image_folder
from trainwise.data.images import ImagePreprocessor, image_schema
from trainwise.data.prepare import load_frames, prepare, preprocessor_from_state
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec, ImageSpec


def _fit(frame: pd.DataFrame, **image) -> ImagePreprocessor:
    schema = image_schema(frame, "image", "label", "auto")
    return ImagePreprocessor(schema, ImageSpec(**image), "image").fit(frame)


def test_a_class_folder_becomes_sorted_rows_of_path_and_label(tmp_path):
    frame = read_image_folder(write_folder(tmp_path, n_per_class=3))
    assert list(frame.columns) == ["image", "label"]
    assert frame["label"].tolist() == ["c0"] * 3 + ["c1"] * 3 + ["c2"] * 3
    assert all(p.startswith(str(tmp_path.resolve())) for p in frame["image"])


def test_grey_files_give_one_standardised_channel_at_their_own_size(tmp_path):
    frame = read_image_folder(write_folder(tmp_path, n_per_class=5, size=12))
    pre = _fit(frame)
    dense = pre.transform(frame).dense
    assert dense.shape == (15, 1, 12, 12) and dense.dtype == np.float32
    assert abs(float(dense.mean())) < 1e-4 and abs(float(dense.std()) - 1) < 1e-3


def test_colour_jpegs_of_varied_sizes_are_cropped_to_one_size(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i, (h, w) in enumerate([(40, 60), (50, 50), (64, 30), (45, 47)]):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        rows.append({"image": str(path), "label": i % 2})
    frame = pd.DataFrame(rows)
    pre = _fit(frame)
    assert pre.input_shape == (3, 42, 42)  # the median short side (40, 50, 30, 45)
    assert pre.transform(frame).dense.shape == (4, 3, 42, 42)
    fixed = _fit(frame, size=[16, 24], channels=1, resize="stretch")
    assert fixed.transform(frame).dense.shape == (4, 1, 16, 24)


def test_the_state_round_trips_through_json(tmp_path):
    frame = read_image_folder(write_folder(tmp_path, n_per_class=3, colour=True))
    pre = _fit(frame)
    import json

    again = preprocessor_from_state(pre.schema, json.loads(json.dumps(pre.state_dict())))
    assert np.array_equal(again.transform(frame).dense, pre.transform(frame).dense)


def test_arrays_nhw_and_nchw_are_image_rows():
    images, labels = shapes_images(4, size=10)
    frame = frame_from_image_arrays(images, labels)
    pre = ImagePreprocessor(image_schema(frame, "image", "target", "auto"), ImageSpec(), "image")
    assert pre.fit(frame).transform(frame).dense.shape == (12, 1, 10, 10)
    colour = frame_from_image_arrays(np.repeat(images[:, None], 3, axis=1), labels)
    pre = ImagePreprocessor(image_schema(colour, "image", "target", "auto"), ImageSpec(), "image")
    assert pre.fit(colour).transform(colour).dense.shape == (12, 3, 10, 10)  # C given: kept
    with pytest.raises(DataError, match="channels last"):
        frame_from_image_arrays(np.zeros((4, 10, 10, 3)), labels[:4])


def test_a_csv_of_relative_paths_is_read_relative_to_the_csv(tmp_path):
    root = write_folder(tmp_path / "imgs", n_per_class=6)
    frame = read_image_folder(root)
    frame["image"] = [str(p).replace(str(tmp_path.resolve()) + "/", "") for p in frame["image"]]
    frame.rename(columns={"image": "file", "label": "kind"}).to_csv(tmp_path / "x.csv", index=False)
    spec = DataSpec(source=str(tmp_path / "x.csv"))
    frames = load_frames(spec)
    assert frames.kind == "image" and frames.image_column == "file" and frames.target == "kind"
    data = prepare(spec, frames, seed=0)
    assert data.input_shape == (1, 12, 12) and data.schema.task == "multiclass"


def test_bad_image_sources_are_data_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_frames(DataSpec(source=str(tmp_path / "empty")))
    root = write_folder(tmp_path / "mixed", n_per_class=2)
    (root / "c0" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not images"):
        load_frames(DataSpec(source=str(root)))
    (root / "c0" / "notes.txt").unlink()
    (root / "c1" / "bad.png").write_bytes(b"not a png at all")
    spec = DataSpec(source=str(root))
    with pytest.raises(DataError, match=r"bad\.png"):
        prepare(spec, load_frames(spec), seed=0)
    pd.DataFrame({"image": ["nope/1.png", "nope/2.png"], "label": [0, 1]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    with pytest.raises(DataError, match="do not exist"):
        load_frames(DataSpec(source=str(tmp_path / "t.csv")))
