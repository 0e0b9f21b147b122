"""The automatic `mixed` decision (text_kinds.PROSE_WORDS) on real tables.

Titanic's passenger names (4.1 words on average) must stay on the tabular path as TF-IDF
features; SMS messages (15.6 words) beside numbers must get a token encoder. Measured with
defaults, three seeds each (docs/text.md): titanic tabular 0.843 / 0.753 / 0.832 test accuracy,
forced `mixed` 0.742 / 0.764 / 0.798, so the names are better as TF-IDF features.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import trainwise
from trainwise.data.prepare import load_frames, prepare
from trainwise.data.schema import infer_schema
from trainwise.data.text_kinds import PROSE_WORDS, prose_columns
from trainwise.spec.model import DataSpec

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [
    Path(os.environ.get("TRAINWISE_DATASETS", REPO.parent / "shared" / "datasets")),
    REPO.parent / "shared" / "datasets",
    REPO.parent.parent / "shared" / "datasets",  # a worktree one level further down
]


def dataset(name: str) -> Path:
    found = next((d / name for d in CANDIDATES if (d / name).is_file()), None)
    if found is None:
        pytest.skip(f"{name} not found in the shared datasets folder ({CANDIDATES[-1]})")
    return found


def sms_with_numbers() -> pd.DataFrame:
    """The real messages plus two numbers read off them: text beside other features."""
    frame = pd.read_csv(dataset("sms_spam.tsv"), sep="\t", header=None, names=["label", "text"])
    return frame.assign(length=frame["text"].str.len(), digits=frame["text"].str.count(r"\d"))


def test_the_prose_threshold_separates_names_from_messages():
    titanic = pd.read_csv(dataset("titanic.csv"))
    names = infer_schema(titanic, "Survived")
    assert names.of_kind("text") == ["Name"]
    assert prose_columns(names, titanic) == []
    sms = sms_with_numbers()
    messages = infer_schema(sms, "label")
    assert prose_columns(messages, sms) == ["text"]
    words = lambda s: s.dropna().astype(str).str.split().str.len().mean()  # noqa: E731
    assert words(titanic["Name"]) < PROSE_WORDS <= words(sms["text"])


def test_titanic_stays_tabular_with_names_as_tfidf_features():
    spec = DataSpec(source=str(dataset("titanic.csv")), target="Survived")
    data = prepare(spec, load_frames(spec), seed=0)
    assert data.summary["kind"] == "tabular"
    assert data.summary["columns"]["Name"]["kind"] == "text"
    assert data.summary["cleaning"]["text_columns"]["Name"] > 0  # TF-IDF vocabulary


def test_messages_beside_numbers_become_a_mixed_table():
    frame = sms_with_numbers()
    frames = load_frames(DataSpec(target="label"), frame)
    data = prepare(DataSpec(target="label"), frames, seed=0)
    assert data.summary["kind"] == "mixed"
    assert [t["columns"] for t in data.summary["cleaning"]["text"]] == [["text"]]
    assert data.train.dense.shape[1] == 2  # length and digits, scaled
    assert data.train.extra[0].dtype.is_floating_point is False  # token ids


@pytest.mark.slow
def test_titanic_defaults_beat_forcing_the_names_through_a_token_encoder():
    titanic = str(dataset("titanic.csv"))
    scores: dict[str, list[float]] = {"auto": [], "mixed": []}
    for seed in (0, 1, 2):
        for kind in scores:
            run = trainwise.fit(
                titanic, "Survived", kind=kind, seed=seed, save=False, progress=False
            )
            scores[kind].append(run.metrics["test"]["accuracy"])
    mean = {k: sum(v) / len(v) for k, v in scores.items()}
    assert mean["auto"] >= mean["mixed"], scores
    assert mean["auto"] >= 0.78, scores
