"""Listing a folder of files gives exactly what the plain pathlib listing gave.

The listings were rewritten to leave no Python object per file behind (a folder of a million
images is scanned on every `fit`); these tests pin them to the straightforward pathlib versions
they replaced, on trees with the awkward cases: hidden and OS clutter files, symbolic links to
files and to folders, names that sort differently as strings and as path parts, non-ASCII
names, and files in nested folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from image_fixtures import write_folder

from trainwise.data.audio import AUDIO_SUFFIXES, _audio_files
from trainwise.data.image_sources import (
    IGNORED_FILES,
    IMAGE_EXTENSIONS,
    drop_duplicate_images,
    read_image_folder,
)
from trainwise.errors import DataError


def _pathlib_image_folder(root: Path) -> pd.DataFrame:
    """The listing as it was written before: a Path and a resolve() per file."""
    paths, labels = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name in sorted(os.listdir(sub)):
            file = sub / name
            if name.startswith(".") or name.lower() in IGNORED_FILES or not file.is_file():
                continue
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(str(file.resolve()))
                labels.append(sub.name)
    return pd.DataFrame({"image": paths, "label": labels})


def _awkward_image_tree(tmp_path: Path) -> Path:
    root = write_folder(tmp_path / "images", n_per_class=3)
    elsewhere = write_folder(tmp_path / "elsewhere", n_per_class=1)
    c0 = root / "c0"
    (c0 / ".hidden.png").write_bytes((c0 / os.listdir(c0)[0]).read_bytes())
    (c0 / "Thumbs.db").write_bytes(b"clutter")
    (c0 / "été_猫.PNG").write_bytes((c0 / os.listdir(c0)[0]).read_bytes())
    (c0 / "linked.png").symlink_to(elsewhere / "c1" / os.listdir(elsewhere / "c1")[0])
    (c0 / "a-b.png").write_bytes((c0 / os.listdir(c0)[0]).read_bytes())
    (c0 / "sub.png").mkdir()  # a folder named like an image is not a file
    (root / "c3").symlink_to(elsewhere / "c2", target_is_directory=True)  # a linked class
    (root / ".cache").mkdir()
    return root


def test_image_folder_rows_equal_the_pathlib_listing(tmp_path):
    root = _awkward_image_tree(tmp_path)
    rows = read_image_folder(root)
    expected = _pathlib_image_folder(root)
    assert len(rows) == 3 * 3 + 3 + 1  # 3 classes of 3, 3 more files in c0, 1 linked class
    assert rows["image"].tolist() == expected["image"].tolist()
    assert rows["label"].tolist() == expected["label"].tolist()
    assert any("elsewhere" in p for p in rows["image"])  # links resolved to their targets
    # through a linked root the paths are still the real ones
    (tmp_path / "via").symlink_to(root, target_is_directory=True)
    assert read_image_folder(tmp_path / "via")["image"].tolist() == expected["image"].tolist()


def test_a_stray_file_and_an_empty_tree_are_still_refused(tmp_path):
    root = write_folder(tmp_path / "images", n_per_class=2)
    (root / "c1" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"1 file\(s\).*not images"):
        read_image_folder(root)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        read_image_folder(tmp_path / "empty")


def test_duplicate_paths_with_the_same_label_are_dropped_once(tmp_path):
    rows = read_image_folder(write_folder(tmp_path, n_per_class=2))
    doubled = pd.concat([rows, rows.iloc[[1, 4]]], ignore_index=True)
    kept, dropped = drop_duplicate_images(doubled, "image")
    assert dropped == 2 and kept.equals(rows)
    relabelled = doubled.assign(label=["x"] * 6 + ["y"] * 2)  # same path, another label: kept
    assert drop_duplicate_images(relabelled, "image")[1] == 0
    same, none = drop_duplicate_images(rows, "image")
    assert none == 0 and same.equals(rows)


def test_audio_file_search_equals_rglob(tmp_path):
    root = tmp_path / "clips"
    for rel in [
        "a/1.wav",
        "a/2.WAV",
        "b/x/3.wave",
        "b/.h.wav",
        "c/.wav",
        "c/note.txt",
        "top.wav",
        "a-b/4.wav",
        "d.wav/5.wav",
        "é/猫.wav",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    (root / "linked").symlink_to(root / "a", target_is_directory=True)
    (root / "loose.wav").symlink_to(root / "a" / "1.wav")
    expected = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    assert _audio_files(root) == expected
    assert len(expected) == 10  # the folder d.wav is listed too, as rglob lists it
    assert _audio_files(tmp_path / "nothing") == []
